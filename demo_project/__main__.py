"""``python -m demo_project [--rollback] [--quick]``: run the walkthrough, exit 1 on failure."""

from __future__ import annotations

import argparse
import sys

from .deployment import CommandFailed
from .walkthrough import main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo_project",
        description="Roll the bookshop from release 1 (blue) to release 2 (green) on one "
        "database, with both releases serving during the rollout.",
    )
    parser.add_argument(
        "--rollback",
        action="store_true",
        help="end with `compat rollback` (back to release 1) instead of `compat complete`",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="write only a handful of books (the default adds a shelf for the backfill to walk)",
    )
    return parser.parse_args(argv)


def run() -> int:
    args = parse_args()
    try:
        return main(rollback=args.rollback, quick=args.quick)
    except CommandFailed as exc:
        print(f"\n==> FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n==> interrupted; the demo database is gone", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(run())

"""``python -m demo_project [--rollback] [--quick] [--json PATH] [--html PATH]``, or
``python -m demo_project --rehearse [--reverse]``.

Runs the walkthrough, prints the summary, writes the HTML report (and the JSON result if
asked), and exits 0 only when no request failed and every written row was read back as
written. ``--break-trigger`` is left out of ``--help`` on purpose: it is for testing the
checker (it makes the sync trigger a no-op right after the expand, so the run must fail).

``--rehearse`` runs no walkthrough: release 1's suite is rehearsed against release 2
(``rehearsal``), and the rehearsal's exit status is the demo's. ``--new PATH``, also left
out of ``--help``, rehearses another release 2 instead, for testing that a rehearsal of an
unsafe one fails.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from . import rehearsal, report
from .walkthrough import Options, main, passed

OUT = Path(__file__).resolve().parent / "out"
# A --quick run is a smoke test: its report goes beside the full run's, never over it.
DEFAULT_HTML = {False: OUT / "report.html", True: OUT / "report-quick.html"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo_project",
        description="Roll the bookshop from release 1 (blue) to release 2 (green) on one "
        "database, with both releases serving traffic during the rollout.",
    )
    parser.add_argument(
        "--rollback",
        action="store_true",
        help="shift traffic back to release 1 and end with `compat rollback` instead of "
        "`compat complete`",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short phases and a small shelf: well under a minute",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the result as JSON")
    parser.add_argument(
        "--html",
        type=Path,
        metavar="PATH",
        help="where to write the HTML report (default: demo_project/out/report.html, "
        "with --quick demo_project/out/report-quick.html)",
    )
    parser.add_argument("--break-trigger", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--rehearse",
        action="store_true",
        help="no walkthrough: run release 1's test suite on a database release 2 expanded, "
        "then rolled back (`manage.py compat rehearse`); exit status 1 if the rollout breaks "
        "any of its tests",
    )
    parser.add_argument(
        "--reverse",
        action="store_true",
        help="with --rehearse: also run release 2's suite, as green, on the expanded database",
    )
    parser.add_argument("--new", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    walkthrough_only = {
        "--rollback": args.rollback,
        "--quick": args.quick,
        "--json": args.json,
        "--html": args.html,
        "--break-trigger": args.break_trigger,
    }
    rehearsal_only = {"--reverse": args.reverse, "--new": args.new}
    for option, value in (walkthrough_only if args.rehearse else rehearsal_only).items():
        if value:
            mode = "with --rehearse" if args.rehearse else "without --rehearse"
            parser.error(f"{option} means nothing {mode}: leave it out")
    return args


def report_path(args: argparse.Namespace) -> Path:
    """``--html`` if given, else the default for a full or a ``--quick`` run."""
    return args.html or DEFAULT_HTML[args.quick]


HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Unwind like Ctrl-C; ignore any further signal, so a second Ctrl-C cannot cut short
    the ``finally`` blocks that stop the servers and drop the database."""
    for handled in HANDLED:
        signal.signal(handled, signal.SIG_IGN)
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextmanager
def interruptible() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP all unwind through every cleanup, once; a signal the
    caller ignores (``nohup``, a background job's SIGINT) stays ignored."""
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    options = Options(rollback=args.rollback, quick=args.quick, break_trigger=args.break_trigger)
    try:
        with interruptible():
            if args.rehearse:
                return rehearsal.main(args.new or rehearsal.RELEASE2, reverse=args.reverse)
            result = main(options)
    except KeyboardInterrupt:
        gone = "the rehearsal" if args.rehearse else "the servers"
        print(f"\n==> interrupted; {gone} and the demo database are gone", file=sys.stderr)
        return 130
    print("\n" + report.render_terminal(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"result: {args.json}")
    html_path = report_path(args)
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(report.render_html(result))
    print(f"report: {html_path}")
    return 0 if passed(result) else 1


if __name__ == "__main__":
    sys.exit(run())

"""Our errors reach the terminal as one message, not a traceback, from real ``manage.py`` runs.

Each test runs ``python -m django …`` in a subprocess against the test database (settings
``tests.errors_settings``), as a deploy would run ``manage.py``, and checks the exit
status, that the message says what happened and what to do, and that neither stream
holds a traceback. ``--traceback`` still shows one. Django's common options work after
``compat``'s subcommand as well as before it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connections, models

from compat_views.errors import ConfigurationError, LockTimeoutExhausted
from compat_views.management.commands.compat import Command
from compat_views.operations import AddCompatColumn
from tests.conftest import TEMPLATE, admin
from tests.harness import applied, apply_operations, migrate, rows

ROOT = Path(__file__).resolve().parent.parent


def manage(conninfo: str, *args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """``python -m django *args`` as the green colour; ``variables`` are the
    ``COMPAT_VIEWS_SUBPROCESS_*`` variables of ``tests/errors_settings.py``, lowercased."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPAT_VIEWS_")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.errors_settings",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        COMPAT_VIEWS_SUBPROCESS_DSN=conninfo,
        **{f"COMPAT_VIEWS_SUBPROCESS_{name.upper()}": value for name, value in variables.items()},
    )
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def output(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit {done.returncode}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"


def one_message(done: subprocess.CompletedProcess[str], error: str) -> str:
    """The message of the ``<error>: <message>`` that ``done`` failed with, which must be
    all it said about it: no traceback on either stream."""
    assert done.returncode == 1, output(done)
    assert "Traceback" not in done.stderr + done.stdout, output(done)
    head, found, message = f"\n{done.stderr}".partition(f"\n{error}: ")
    assert found, output(done)
    return message


def test_an_invalid_operation_stops_migrate(db, conninfo):
    migrate("shop", "0001", database="legacy")  # release 1, as blue
    done = manage(conninfo, "migrate", "shop", shop="tests.error_migrations.bad_up")
    message = one_message(done, "InvalidOperation")
    assert message.startswith("AddCompatColumn('order', 'amount'): the expression ")
    assert 'column "amount_in_cents" does not exist' in message
    assert "Fix the expression; nothing was changed." in message
    assert applied("shop") == ["0001_initial"]
    assert rows("SELECT count(*) FROM compat_views_rollout") == [(0,)]


def test_a_non_atomic_migration_is_refused_before_migrate_runs_anything(db, conninfo):
    done = manage(conninfo, "migrate", "wrapped")  # pre_migrate's refuse_non_atomic
    message = one_message(done, "InvalidOperation")
    assert message.startswith("Migration(s) wrapped.0003_wrapped_non_atomic hold compat ")
    assert "Nothing was changed." in message
    assert applied("wrapped") == []


def test_makemigrations_names_an_unknown_model(db, conninfo):
    done = manage(
        conninfo,
        "makemigrations",
        "shop",
        "--check",
        "--dry-run",
        shop="tests.error_migrations.bad_model",
    )
    message = one_message(done, "InvalidOperation")
    assert message.startswith("AddCompatColumn: app 'shop' has no model 'ordr'")
    assert "Fix the model_name." in message


def test_the_other_colour_cannot_start_a_rollout_while_one_is_pending(db, conninfo):
    migrate("shop", "0001")
    migrate("shop", "0002")  # green's rollout
    migrate("library", "0001")
    done = manage(conninfo, "migrate", "library", "0002", colour="blue")
    message = one_message(done, "RolloutConflict")
    assert message.startswith("A rollout from blue to green is pending and this process is blue.")
    assert "`manage.py compat complete`" in message and "`manage.py compat rollback`" in message
    assert applied("library") == ["0001_initial"]


@pytest.mark.parametrize(
    "command, where",
    [
        (("migrate", "shop"), {"colour": "purple"}),
        # A DATABASES entry's own colour, which the connection hook reads as it connects.
        (("migrate", "shop"), {"db_colour": "purple"}),
        (("compat", "status"), {"db_colour": "purple"}),
    ],
    ids=["setting", "database-migrate", "database-status"],
)
def test_an_unknown_colour_fails_as_the_first_session_opens(db, conninfo, command, where):
    done = manage(conninfo, *command, **where)
    message = one_message(done, "ConfigurationError")
    assert message == (
        "COMPAT_VIEWS_COLOUR is 'purple', which is not one of COMPAT_VIEWS_COLOURS "
        "('blue', 'green'): set it to one of them.\n"
    )
    assert applied("shop") == []


def test_a_compat_migration_needs_a_colour(db, conninfo):
    migrate("shop", "0001", database="legacy")  # release 1, as blue
    done = manage(conninfo, "migrate", "shop", colour="")
    message = one_message(done, "ConfigurationError")
    assert message.startswith("No colour is configured for this process: set COMPAT_VIEWS_COLOUR")
    assert applied("shop") == ["0001_initial"]


def test_complete_is_refused_while_legacy_sessions_are_connected(db, conninfo):
    migrate("shop", "0001")
    migrate("shop", "0002")
    rows("SELECT 1", alias="legacy")  # a blue session, left open
    done = manage(conninfo, "compat", "complete")
    message = one_message(done, "SessionsConnected")
    assert message.startswith("1 blue session(s) are still connected and would break on complete:")
    assert "Stop the blue release first (or pass --force to complete anyway)." in message
    assert rows("SELECT status FROM compat_views_rollout") == [("pending",)]


def test_rollback_with_nothing_pending(db, conninfo):
    done = manage(conninfo, "compat", "rollback")
    message = one_message(done, "RolloutConflict")
    assert message == "No rollout is pending: there is nothing to complete or roll back.\n"


def test_a_backfill_that_fails_on_existing_rows_stops_migrate(db, conninfo):
    migrate("lookup", "0001")
    rows("INSERT INTO lookup_category (name) VALUES ('c')")
    rows(
        "INSERT INTO lookup_item (name, category_id, price_cents, quantity) "
        "SELECT name, (SELECT id FROM lookup_category), 100, quantity "
        "FROM (VALUES ('a', 4), ('b', 0)) AS v(name, quantity)"
    )
    done = manage(conninfo, "migrate", "lookup")  # the backfill runs at commit (on_commit)
    message = one_message(done, "BackfillFailed")
    assert "Applying lookup.0002_unit_price..." in done.stdout
    assert message.startswith("The backfill of lookup_item.unit_cents failed: ")
    assert "'division by zero'" in message
    assert "Run `manage.py compat rollback`, correct `up` and migrate again" in message
    assert applied("lookup") == ["0001_initial", "0002_unit_price"]

    # The next migrate says what is pending, tries to finish it, and fails the same way.
    again = manage(conninfo, "migrate", "lookup")
    assert "backfill of lookup_item.unit_cents: " in again.stdout, output(again)
    assert one_message(again, "BackfillFailed") == message


@pytest.mark.parametrize(
    "args",
    [("compat", "rollback", "--traceback"), ("compat", "--traceback", "rollback")],
    ids=["after", "before"],
)
def test_traceback_shows_where_the_error_came_from(db, conninfo, args):
    done = manage(conninfo, *args)
    assert done.returncode == 1, output(done)
    assert "Traceback (most recent call last):" in done.stderr
    assert "in _require_pending" in done.stderr
    assert done.stderr.rstrip().endswith(
        "compat_views.errors.RolloutConflict: "
        "No rollout is pending: there is nothing to complete or roll back."
    )


def parse(*args: str) -> dict:
    return vars(Command().create_parser("manage.py", "compat").parse_args(args))


def test_common_options_parse_after_the_subcommand_as_before_it():
    defaults = parse("status")
    assert (defaults["database"], defaults["verbosity"], defaults["traceback"]) == (
        "default",
        1,
        False,
    )
    for subcommand in ("status", "backfill", "complete", "rollback"):
        after = parse(subcommand, "--database", "other", "-v", "2", "--traceback", "--no-color")
        before = parse("--database", "other", "-v", "2", "--traceback", "--no-color", subcommand)
        for options in (after, before):
            picked = [options[k] for k in ("database", "verbosity", "traceback", "no_color")]
            assert picked == ["other", 2, True, True], (subcommand, options)
    assert parse("--database", "other", "status", "--database", "third")["database"] == "third"
    assert parse("-v", "3", "status")["verbosity"] == 3
    assert parse("status", "--json", "--skip-checks")["skip_checks"] is True


def test_common_options_after_the_subcommand_in_a_real_run(pg_server, db, conninfo):
    other = f"{db}_other"
    admin(pg_server, f"CREATE DATABASE {other} TEMPLATE {TEMPLATE}")
    try:
        migrate("shop", "0001")
        migrate("shop", "0002")  # a rollout on the default database, none on the other

        def status(*args: str) -> str:
            done = manage(conninfo, "compat", *args, other_db=other)
            assert done.returncode == 0, output(done)
            return done.stdout

        assert status("status").startswith("Rollout ")
        assert status("status", "--database", "other", "-v", "2").startswith("No rollout is ")
        assert status("--database", "other", "status").startswith("No rollout is pending.\n")
        assert status("--database", "other", "status", "--database", "default").startswith(
            "Rollout "
        )
        settings = ("--settings", "tests.errors_settings", "--pythonpath", str(ROOT))
        assert status("status", *settings, "--no-color", "--traceback").startswith("Rollout ")
        assert status("backfill", "--database", "other", "--verbosity", "0") == (
            "Backfill done: 0 rows filled.\n"
        )

        done = manage(conninfo, "compat", "status", "--database", "nope", other_db=other)
        assert one_message(done, "CommandError").startswith("No database 'nope' in DATABASES")
    finally:
        admin(pg_server, f"DROP DATABASE {other} WITH (FORCE)")


def test_a_session_whose_colour_hook_failed_is_not_kept(db):
    """Django keeps a connection whose connection_created receiver raised; used again, it
    would run with no colour, as a new-shape writer. The hook closes it, so each use
    connects again and fails the same way."""
    legacy = connections["legacy"]
    legacy.settings_dict["COMPAT_VIEWS_COLOUR"] = "purple"
    for _ in range(2):
        with pytest.raises(ConfigurationError, match="COMPAT_VIEWS_COLOUR is 'purple'"):
            legacy.ensure_connection()
        assert legacy.connection is None


def test_a_concurrent_build_that_keeps_timing_out_is_one_of_our_errors(db, conninfo, settings):
    migrate("shop", "0001")
    code = models.CharField(max_length=40, null=True, unique=True)
    apply_operations([AddCompatColumn("order", "code", code)], "shop", "0001_initial")
    # The unique index the add built at commit, as if an interrupted run never built it.
    (index,) = [name for (name,) in rows(BUILT) if name.startswith("_compat_")]
    rows(f'DROP INDEX "{index}"')
    settings.COMPAT_VIEWS_DDL_ATTEMPTS = 1
    with psycopg.connect(conninfo) as holder:  # a long transaction on the table
        holder.execute("LOCK TABLE shop_order IN SHARE UPDATE EXCLUSIVE MODE")
        with pytest.raises(
            LockTimeoutExhausted, match="(?s)^Gave up after 1 tries: .*CONCURRENTLY"
        ) as raised:
            call_command("compat", "backfill", verbosity=0)
        holder_pid = holder.info.backend_pid
    # The message names the session that kept the lock, and what it holds.
    assert re.search(
        rf"pid {holder_pid} \(client backend\), idle in transaction for [\d.]+ s, "
        r"locks [^:]*\bshop_order\b",
        str(raised.value),
    ), str(raised.value)
    call_command("compat", "backfill", verbosity=0)  # once it is gone, the build goes through
    assert index in [name for (name,) in rows(BUILT)]


BUILT = (
    "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
    "WHERE i.indrelid = 'shop_order'::regclass AND i.indisunique AND i.indisvalid"
)

"""Defaults survive a rollout exactly: what an INSERT that leaves a column out gets.

The legacy colour's code sends every column its model has, so for it the columns
that matter are those the rollout adds; the new colour's code never sends the
columns the rollout removes, which the legacy colour still reads. A Python callable
default is never frozen into one value: a well-known one runs as its SQL twin for
each row, any other is refused where a NOT NULL column would need it. A db_default
stays a database default for both colours, and rollback and complete leave what
plain Django leaves.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import django
import pytest
from django.db import connections, models
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from compat_views import catalog
from compat_views.errors import InvalidOperation
from compat_views.operations import AddCompatColumn, AlterCompatColumn, RemoveCompatColumn
from tests.harness import apply_operations, compat, leftovers, migrate, model_at, rows
from tests.scenarios.stamps.models import next_ref
from tests.test_alter_remove import Case, plain_catalog, release1, table_catalog
from tests.test_bad_input import snapshot

TICKETS = "stamps_ticket"


def model_after(app_label: str, at: str, model_name: str, operations: list):
    """The new colour's historical model: the state after ``at`` plus ``operations``."""
    loader = MigrationExecutor(connections["default"]).loader
    state = loader.project_state((app_label, at), at_end=True)
    for operation in operations:
        operation.state_forwards(app_label, state)
    return state.apps.get_model(app_label, model_name)


def tickets(operations: list):
    """The legacy colour's and the new colour's ticket managers around ``operations``."""
    legacy = model_at("stamps", "0001_initial", "Ticket").objects.using("legacy")
    new = model_after("stamps", "0001_initial", "Ticket", operations).objects.using("default")
    return legacy, new


def defaults(table: str = TICKETS) -> dict[str, str | None]:
    return {c.name: c.default for c in catalog.columns(connections["default"], "public", table)}


def now() -> datetime:
    return rows("SELECT clock_timestamp()")[0][0]


def assert_created_now(Legacy, New) -> None:
    """A ticket the new colour's ORM creates shows the legacy colour when it was created."""
    before = now()
    ticket = New.create(label="orm")
    assert before <= Legacy.get(pk=ticket.pk).created <= now()


def test_removed_uuid_default_gives_every_new_row_its_own(db):
    migrate("stamps", "0001")
    operations = [RemoveCompatColumn("ticket", "token")]
    Legacy, New = tickets(operations)
    Legacy.create(label="seeded")
    release1_defaults = defaults()

    apply_operations(operations, "stamps", "0001_initial")
    New.create(label="a")
    New.create(label="b")  # the aside column is still unique: one frozen value fails here
    rows(f"INSERT INTO {TICKETS} (label, created, ref) VALUES ('c', now(), 'R-c')")
    tokens = set(Legacy.values_list("token", flat=True))
    assert len(tokens) == 4 and None not in tokens

    compat("rollback")
    assert defaults() == release1_defaults
    assert leftovers() == {}
    assert set(Legacy.values_list("token", flat=True)) == tokens

    apply_operations(operations, "stamps", "0001_initial")
    New.create(label="d")
    compat("complete")
    assert leftovers() == {}
    assert "token" not in defaults()


def test_removed_timestamp_default_is_the_insert_time(db):
    migrate("stamps", "0001")
    operations = [RemoveCompatColumn("ticket", "created")]
    Legacy, New = tickets(operations)
    apply_operations(operations, "stamps", "0001_initial")

    assert_created_now(Legacy, New)
    raw, inserted_at = rows(
        f"INSERT INTO {TICKETS} (label, token, ref) VALUES ('raw', gen_random_uuid(), 'R-raw') "
        "RETURNING id, statement_timestamp()"
    )[0]
    assert Legacy.get(pk=raw).created == inserted_at

    compat("complete")
    assert leftovers() == {}
    assert "created" not in defaults()


def test_altered_timestamp_default_is_the_insert_time(db):
    migrate("stamps", "0001")
    altered = models.DateTimeField(default=timezone.now, db_index=True)
    operations = [AlterCompatColumn("ticket", "created", altered, up="created", down="created")]
    Legacy, New = tickets(operations)
    apply_operations(operations, "stamps", "0001_initial")

    assert_created_now(Legacy, New)
    legacy = Legacy.create(label="legacy")
    assert New.get(pk=legacy.pk).created == legacy.created

    compat("complete")
    assert leftovers() == {}
    assert defaults()["created"] is None  # as AlterField leaves it


def test_added_callable_defaults_are_per_row_for_the_legacy_colour(db):
    migrate("stamps", "0001")
    operations = [
        AddCompatColumn("ticket", "serial", models.UUIDField(default=uuid.uuid4)),
        AddCompatColumn("ticket", "opened", models.DateTimeField(default=timezone.now)),
    ]
    Legacy, New = tickets(operations)
    seeded = [Legacy.create(label=f"seeded {i}").pk for i in range(2)]
    release1_defaults = defaults()

    apply_operations(operations, "stamps", "0001_initial")
    # Existing rows get the default evaluated once, as a plain AddField gives them.
    assert New.filter(pk__in=seeded).values("serial", "opened").distinct().count() == 1
    before = now()
    written = [Legacy.create(label=f"legacy {i}").pk for i in range(2)]
    after = now()
    values = New.filter(pk__in=written)
    assert len(set(values.values_list("serial", flat=True))) == 2
    assert all(before <= opened <= after for opened in values.values_list("opened", flat=True))

    compat("rollback")
    assert defaults() == release1_defaults
    assert leftovers() == {}

    apply_operations(operations, "stamps", "0001_initial")
    compat("complete")
    assert leftovers() == {}
    assert {defaults()[name] for name in ("serial", "opened")} == {None}  # as AddField


@pytest.mark.parametrize(
    "operation, message",
    [
        (RemoveCompatColumn("ticket", "ref"), "next_ref.*Pass `down`"),
        (
            AddCompatColumn("ticket", "code", models.CharField(max_length=20, default=next_ref)),
            "next_ref.*Pass `up`",
        ),
    ],
    ids=["remove", "add"],
)
def test_unknown_callable_on_a_not_null_column_is_refused(db, operation, message):
    migrate("stamps", "0001")
    before = snapshot()
    with pytest.raises(InvalidOperation, match=f"(?s){message}"):
        apply_operations([operation], "stamps", "0001_initial")
    assert snapshot() == before


@dataclass
class DbDefault:
    operations: Callable[[], list]  # built in the test: Django 4.2's fields have no db_default
    column: str
    default: int  # what a row that leaves the column out gets
    legacy: int  # what the seeded row and the legacy colour's row (qty 7) get
    legacy_reads: dict = field(default_factory=dict)  # of the new colour's rows


DB_DEFAULTS = {
    "add": DbDefault(
        lambda: [AddCompatColumn("item", "batch", models.IntegerField(db_default=5))],
        column="batch",
        default=5,
        legacy=5,
    ),
    "add with up": DbDefault(
        lambda: [
            AddCompatColumn("item", "batch", models.IntegerField(db_default=5), up="qty * 10")
        ],
        column="batch",
        default=5,
        legacy=70,
    ),
    "alter": DbDefault(
        lambda: [
            AlterCompatColumn(
                "item", "qty", models.BigIntegerField(db_default=1), up="qty", down="qty"
            )
        ],
        column="qty",
        default=1,
        legacy=7,
        legacy_reads={"qty": 1},
    ),
}
ITEM = {"sku": "S", "qty": 7, "price_cents": 100, "code": "C"}


@pytest.mark.skipif(django.VERSION < (5, 0), reason="db_default is new in Django 5.0")
@pytest.mark.parametrize("name", list(DB_DEFAULTS))
def test_db_default_is_a_database_default_for_both_colours(db, name):
    case = DB_DEFAULTS[name]
    plain = Case(case.operations(), legacy_sees={}, new_row={}, legacy_reads={})
    expected = plain_catalog(plain)
    release1(plain)
    before = table_catalog()
    Legacy = model_at("inventory", "0001_initial", "Item").objects.using("legacy")
    New = model_after("inventory", "0001_initial", "Item", plain.operations).objects.using(
        "default"
    )
    seeded = Legacy.create(**ITEM)

    apply_operations(plain.operations, "inventory", "0001_initial")
    legacy = Legacy.create(**ITEM)
    left_out = {k: v for k, v in ITEM.items() if k != case.column}
    orm = New.create(**left_out)
    names = ", ".join(left_out)
    marks = ", ".join(["%s"] * len(left_out))
    ((raw,),) = rows(
        f"INSERT INTO inventory_item ({names}) VALUES ({marks}) RETURNING id",
        list(left_out.values()),
    )
    new_rows = [orm.pk, raw]
    got = dict(New.values_list("pk", case.column))
    assert [got[pk] for pk in (seeded.pk, legacy.pk)] == [case.legacy] * 2
    assert [got[pk] for pk in new_rows] == [case.default] * 2
    for pk in new_rows:
        read = Legacy.get(pk=pk)
        assert {k: getattr(read, k) for k in case.legacy_reads} == case.legacy_reads

    compat("rollback")
    assert table_catalog() == before
    assert leftovers() == {}
    assert Legacy.count() == 4

    apply_operations(plain.operations, "inventory", "0001_initial")
    compat("complete")
    assert leftovers() == {}
    assert table_catalog() == expected

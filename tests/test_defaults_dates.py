"""Clock defaults give rows inserted during a rollout what Django itself would store.

Django stores ``timezone.now()`` in a date column as the date in TIME_ZONE, in a
``timestamp without time zone`` column as the wall time of the connection's zone (UTC
with USE_TZ, TIME_ZONE without), and ``date.today()`` as the date in TIME_ZONE (Django
sets the process's zone to it). The per-row SQL twin must give the same value whichever
TimeZone the inserting session has: a Django session of either colour, or any other client.

Each test takes TIME_ZONE twelve hours from UTC, on the side where today's date differs
from UTC's, and has non-Django clients insert in UTC and in the zone 24 hours from
TIME_ZONE. A value taken in a wrong zone is then another date, or 12 or 24 hours off,
and falls outside the values Django's own default stores just before and just after it.
"""

from __future__ import annotations

from datetime import date, datetime
from datetime import timezone as dt_timezone

import psycopg
import pytest
from django.db import models
from django.db.migrations.operations import AddField
from django.test import override_settings
from django.utils import timezone

from compat_views.errors import InvalidOperation
from compat_views.operations import AddCompatColumn, RemoveCompatColumn
from tests.harness import apply_operations, migrate, rows
from tests.test_bad_input import snapshot
from tests.test_defaults import model_after, tickets


class NaiveDateTimeField(models.DateTimeField):
    """A DateTimeField on a ``timestamp without time zone`` column, as older schemas have."""

    def db_type(self, connection):
        return "timestamp"


CLOCKS = {
    "date, timezone.now": lambda: models.DateField(default=timezone.now),
    "date, date.today": lambda: models.DateField(default=date.today),
    "timestamp, timezone.now": lambda: NaiveDateTimeField(default=timezone.now),
    "time, timezone.now": lambda: models.TimeField(default=timezone.now),
}


def far_zones() -> tuple[str, tuple[str, str]]:
    """TIME_ZONE for the test, and the zones of the non-Django clients."""
    if datetime.now(dt_timezone.utc).hour < 12:
        return "Etc/GMT+12", ("UTC", "Etc/GMT-12")
    return "Etc/GMT-12", ("UTC", "Etc/GMT+12")


def raw_inserts(conninfo: str, schema: str, zones: tuple[str, ...]) -> list[int]:
    """Tickets inserted without the clock column by non-Django clients, one per zone."""
    pks = []
    for zone in zones:
        options = f"-c search_path={schema},public -c TimeZone={zone}"
        with psycopg.connect(conninfo, autocommit=True, options=options) as conn:
            row = conn.execute(
                "INSERT INTO stamps_ticket (label, token, created, ref) "
                "VALUES ('raw', gen_random_uuid(), now(), 'R-raw') RETURNING id"
            ).fetchone()
        pks.append(row[0])
    return pks


def assert_between_django_values(pks: list[int], alias: str = "default") -> None:
    """The first and last tickets got the column from Django; the ones between from SQL."""
    values = [
        rows("SELECT stamp FROM stamps_ticket WHERE id = %s", [pk], alias)[0][0] for pk in pks
    ]
    assert values == sorted(values), values


@pytest.mark.parametrize("use_tz", [True, False], ids=["USE_TZ", "no USE_TZ"])
@pytest.mark.parametrize("kind", CLOCKS)
def test_added_clock_default_is_what_django_stores(db, conninfo, kind, use_tz):
    zone, client_zones = far_zones()
    with override_settings(TIME_ZONE=zone, USE_TZ=use_tz):
        migrate("stamps", "0001")
        operations = [AddCompatColumn("ticket", "stamp", CLOCKS[kind]())]
        Legacy, New = tickets(operations)
        apply_operations(operations, "stamps", "0001_initial")
        first = New.create(label="first").pk
        legacy = Legacy.create(label="legacy").pk
        raw = raw_inserts(conninfo, "compat_blue", client_zones)
        last = New.create(label="last").pk
        assert_between_django_values([first, legacy, *raw, last])


@pytest.mark.parametrize("kind", CLOCKS)
def test_removed_clock_default_is_what_django_stores(db, conninfo, kind):
    zone, client_zones = far_zones()
    with override_settings(TIME_ZONE=zone):
        migrate("stamps", "0001")
        release1 = [AddField("ticket", "stamp", CLOCKS[kind]())]
        removal = [RemoveCompatColumn("ticket", "stamp")]
        apply_operations([*release1, *removal], "stamps", "0001_initial", migrations=2)
        Legacy = model_after("stamps", "0001_initial", "Ticket", release1).objects.using("legacy")
        New = model_after("stamps", "0001_initial", "Ticket", [*release1, *removal]).objects
        first = Legacy.create(label="first").pk
        new = New.using("default").create(label="new").pk
        raw = raw_inserts(conninfo, "public", client_zones)
        last = Legacy.create(label="last").pk
        assert_between_django_values([first, new, *raw, last], alias="legacy")


def test_a_time_zone_the_server_does_not_know_is_refused_before_any_ddl(db):
    """As when TIME_ZONE names a zone newer than the server's time zone data: every legacy
    insert of the rollout would fail on it."""
    migrate("stamps", "0001")
    before = snapshot()
    operations = [AddCompatColumn("ticket", "stamp", models.DateField(default=date.today))]
    with override_settings(TIME_ZONE="Atlantis/Poseidonia"):
        with pytest.raises(InvalidOperation, match="pg_timezone_names") as refused:
            apply_operations(operations, "stamps", "0001_initial")
    assert "Atlantis/Poseidonia" in str(refused.value)
    assert snapshot() == before

"""The connection contract: compat_<colour> in front of the search_path, and nothing else."""

import psycopg
import pytest
from django.db import connections
from django.test import override_settings

from compat_views import conf
from compat_views.checks import check_colour
from compat_views.errors import ConfigurationError
from tests.harness import migrate, rows


def test_django_sessions_join_their_colour(db):
    assert rows("SHOW search_path", alias="legacy")[0][0].startswith("compat_blue, ")
    assert rows("SHOW application_name", alias="legacy") == [("compat_blue",)]
    assert rows("SHOW search_path")[0][0].startswith("compat_green, ")
    # Reconnecting does not stack the schema twice.
    connections["legacy"].close()
    assert rows("SHOW search_path", alias="legacy")[0][0].count("compat_blue") == 1


def test_open_sessions_and_prepared_statements_switch_to_the_view(db, conninfo):
    migrate("library", "0001")
    query = "SELECT title FROM library_book WHERE isbn = %s"
    with psycopg.connect(
        conninfo, autocommit=True, options="-c search_path=compat_blue,public"
    ) as blue:
        blue.execute(
            "INSERT INTO library_book (isbn, title, price_cents, stock) VALUES ('1', 'Dune', 0, 0)"
        )
        assert blue.execute(query, ["1"], prepare=True).fetchone() == ("Dune",)
        migrate("library", "0002")  # the column is renamed under the open session
        # `title` no longer exists on the base table: only the legacy view can answer this.
        assert blue.execute(query, ["1"], prepare=True).fetchone() == ("Dune",)


def test_colour_settings_are_checked():
    with override_settings(COMPAT_VIEWS_COLOUR="purple"):
        with pytest.raises(ConfigurationError, match="not one of COMPAT_VIEWS_COLOURS"):
            conf.colour()
        assert [e.id for e in check_colour()] == ["compat_views.E001"]
    with override_settings(COMPAT_VIEWS_COLOUR=None):
        assert [e.id for e in check_colour()] == ["compat_views.W001"]
    with override_settings(COMPAT_VIEWS_COLOURS=("blue", "green", "red")):
        with pytest.raises(ConfigurationError, match="COMPAT_VIEWS_LEGACY_COLOUR"):
            conf.legacy_colour_for("green")
        with override_settings(COMPAT_VIEWS_LEGACY_COLOUR="red"):
            assert conf.legacy_colour_for("green") == "red"
    with override_settings(COMPAT_VIEWS_COLOURS=("Blue", "green")):
        with pytest.raises(ConfigurationError, match="lowercase identifier"):
            conf.colours()

"""Tests for the throwaway PostgreSQL provisioning (plain pytest, no Django)."""

from __future__ import annotations

import gc
import os
import pwd
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from compat_views.testing.postgres import (
    BINDIR_ENV,
    DSN_ENV,
    PostgresUnavailable,
    Server,
    docker_available,
    server_from_dsn,
    throwaway_server,
)

NO_DOCKER = "unix:///nonexistent/compat-views-test/docker.sock"


@pytest.fixture
def local_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Force the local-cluster path whatever the machine has configured."""
    monkeypatch.delenv(DSN_ENV, raising=False)
    monkeypatch.delenv(BINDIR_ENV, raising=False)
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)
    yield


def _accepts_connections(server: Server) -> bool:
    try:
        with psycopg.connect(server.conninfo(), connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def test_local_cluster_serves_and_is_removed_afterwards(local_only: None) -> None:
    with throwaway_server() as server:
        assert server.source == "local"
        with psycopg.connect(server.conninfo()) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            (version_num,) = conn.execute("show server_version_num").fetchone() or ()
            (data_directory,) = conn.execute("show data_directory").fetchone() or ()
        assert int(version_num) >= 150000
        assert server.version_num == int(version_num)
        tmpdir = Path(data_directory).parent
        assert tmpdir.name.startswith("compat_views_pg_")
        if os.geteuid() == 0:
            assert Path(data_directory).stat().st_uid == pwd.getpwnam("postgres").pw_uid

    assert not _accepts_connections(server)
    assert not tmpdir.exists()


def test_local_cluster_is_removed_when_the_block_raises(local_only: None) -> None:
    with pytest.raises(RuntimeError, match="boom"), throwaway_server() as server:
        with psycopg.connect(server.conninfo()) as conn:
            (data_directory,) = conn.execute("show data_directory").fetchone() or ()
        raise RuntimeError("boom")

    assert not _accepts_connections(server)
    assert not Path(data_directory).parent.exists()


def test_env_dsn_is_used_as_is_and_left_running(
    local_only: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with throwaway_server() as local:
        url = f"postgresql://{local.user}@{local.host}:{local.port}/{local.dbname}"
        monkeypatch.setenv(DSN_ENV, url)
        with throwaway_server() as server:
            assert server.source == "env"
            assert (server.host, server.port, server.user) == (local.host, local.port, local.user)
            with psycopg.connect(server.conninfo()) as conn:
                assert conn.execute("select 1").fetchone() == (1,)
        assert _accepts_connections(local)


def test_server_from_dsn_keeps_extra_libpq_options() -> None:
    server = server_from_dsn("postgresql://alice:p%40ss@db.example:6543/maint?sslmode=require")

    assert (server.host, server.port, server.user, server.password, server.dbname) == (
        "db.example",
        6543,
        "alice",
        "p@ss",
        "maint",
    )
    assert "sslmode=require" in server.conninfo()
    assert "dbname=other" in server.conninfo("other")
    settings = server.django_settings("testdb")
    assert settings["NAME"] == "testdb"
    assert settings["PORT"] == "6543"
    assert settings["OPTIONS"] == {"sslmode": "require"}


def test_server_from_dsn_rejects_garbage() -> None:
    with pytest.raises(PostgresUnavailable, match=DSN_ENV):
        server_from_dsn("not a dsn")


def test_docker_check_is_false_quick_and_quiet_without_an_engine(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DOCKER_HOST", NO_DOCKER)

    started = time.monotonic()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert docker_available("postgres:15") is False
        gc.collect()  # docker-py leaks a socket on failed connects; it must not warn later
    assert time.monotonic() - started < 5

    assert [w.message for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert capfd.readouterr() == ("", "")


def test_bad_bindir_says_what_to_do(
    local_only: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(BINDIR_ENV, str(tmp_path))

    with pytest.raises(PostgresUnavailable) as excinfo, throwaway_server():
        pass

    message = str(excinfo.value)
    assert f"{BINDIR_ENV}={tmp_path}" in message
    assert DSN_ENV in message
    assert "apt-get install postgresql" in message
    assert "docker pull postgres:15" in message

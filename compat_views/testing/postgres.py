"""Provide a throwaway PostgreSQL server for the test suite and the demo.

Sources, first usable wins:

1. ``COMPAT_VIEWS_TEST_DSN``: an existing server, used as is (never started or stopped here).
2. ``COMPAT_VIEWS_PG_BINDIR``: a local cluster from that directory's ``initdb``/``pg_ctl``.
   It is explicit, so it beats Docker (this is how a version matrix pins its binaries).
3. Testcontainers, when a Docker engine answers and ``postgres:<version>`` is already pulled.
4. A local cluster from server binaries found on PATH, via ``pg_config --bindir`` or in
   ``/usr/lib/postgresql/*/bin`` (newest first).

Otherwise ``PostgresUnavailable`` says what was tried and how to fix it. Only a local
cluster can be restarted (``Server.restart``, for fault tests): the others are not ours.
"""

from __future__ import annotations

import atexit
import gc
import getpass
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DSN_ENV = "COMPAT_VIEWS_TEST_DSN"
BINDIR_ENV = "COMPAT_VIEWS_PG_BINDIR"

_SUPERUSER = "postgres"
_MAINTENANCE_DB = "postgres"
_START_ATTEMPTS = 3  # a free port can be taken by someone else before postgres binds it
_LOG_TAIL_LINES = 20


class PostgresUnavailable(RuntimeError):
    """No server could be provided; the message is the fix, so callers can show it or skip."""


@dataclass(frozen=True)
class Server:
    """Where a running server is, split into fields because Django settings need them split."""

    host: str
    port: int
    user: str
    password: str
    dbname: str  # the maintenance database; tests create their own databases next to it
    source: str  # "env" | "testcontainers" | "local"
    # Extra libpq parameters from an env DSN (e.g. sslmode) that must survive the round trip.
    options: tuple[tuple[str, str], ...] = ()
    # Set for a local cluster only: the one source whose server we may stop and start.
    restarter: Callable[[], None] | None = field(default=None, repr=False, compare=False)
    # Set for a local cluster only: its binaries, so a standby (``standby.py``) matches it.
    bindir: Path | None = field(default=None, compare=False)

    @property
    def can_restart(self) -> bool:
        """Whether ``restart`` works here, so fault tests can skip (with this reason) where not."""
        return self.restarter is not None

    def restart(self) -> None:
        """Restart the server with a fast shutdown, on the same port: every session is cut
        as by a server crash or a failover, and the data survives (fault tests)."""
        if self.restarter is None:
            raise PostgresUnavailable(
                f"A server from {self.source!r} cannot be restarted here; only a local cluster "
                f"can (unset {DSN_ENV}, or set {BINDIR_ENV}, to get one)."
            )
        self.restarter()

    def conninfo(self, dbname: str | None = None) -> str:
        """A libpq key=value string, so psycopg and psql reach the same server Django does."""
        return make_conninfo(
            "",
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password or None,
            dbname=dbname or self.dbname,
            **dict(self.options),
        )

    def django_settings(self, dbname: str) -> dict[str, Any]:
        """A ``DATABASES`` entry, so test settings don't hard-code where the server is."""
        entry: dict[str, Any] = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": dbname,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": str(self.port),
        }
        if self.options:
            entry["OPTIONS"] = dict(self.options)
        return entry

    @cached_property
    def version_num(self) -> int:
        """``server_version_num``, for gating tests on features of newer servers."""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            return conn.info.server_version


def server_from_dsn(dsn: str) -> Server:
    """Split a libpq URL or key=value DSN into a ``Server``.

    Missing parts get fixed defaults (localhost, 5432, the OS user, the ``postgres``
    database) rather than libpq's socket-directory lookup, because Django needs a HOST.
    """
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise PostgresUnavailable(f"{DSN_ENV} is not a valid libpq DSN: {exc}") from exc
    core = {key: params.pop(key, None) for key in ("host", "port", "user", "password", "dbname")}
    return Server(
        host=str(core["host"] or "localhost"),
        port=int(core["port"] or 5432),
        user=str(core["user"] or getpass.getuser()),
        password=str(core["password"] or ""),
        dbname=str(core["dbname"] or _MAINTENANCE_DB),
        source="env",
        options=tuple(sorted((key, str(value)) for key, value in params.items())),
    )


def docker_available(image: str | None = None) -> bool:
    """Whether testcontainers can run (``image``, if given, without pulling); quiet and quick."""
    return _docker_problem(image) is None


@contextmanager
def throwaway_server(version: str = "15") -> Iterator[Server]:
    """Yield a server that exists only for the ``with`` block (except an env DSN's).

    ``version`` picks the Docker image tag; a local cluster runs whatever binaries are
    found, so pin those with ``COMPAT_VIEWS_PG_BINDIR``.
    """
    dsn = os.environ.get(DSN_ENV)
    if dsn:
        yield server_from_dsn(dsn)
        return
    tried = [f"{DSN_ENV}: not set"]
    image = f"postgres:{version}"
    bindir_override = os.environ.get(BINDIR_ENV)
    if bindir_override:
        tried.append(f"Docker: skipped because {BINDIR_ENV} is set")
    else:
        problem = _docker_problem(image)
        if problem is None:
            with _testcontainers_server(image) as server:
                yield server
            return
        tried.append(f"Docker (testcontainers, {image}): {problem}")
    bindir = _find_bindir(bindir_override, tried, image)
    with _local_server(bindir) as server:
        yield server


def _unavailable(tried: list[str], image: str) -> PostgresUnavailable:
    lines = "\n".join(f"  - {attempt}" for attempt in tried)
    return PostgresUnavailable(
        "No PostgreSQL server available for the tests. Tried:\n"
        f"{lines}\n"
        "Fix one of:\n"
        f"  - set {DSN_ENV} to a server you can create databases on, e.g. "
        "postgresql://postgres:secret@127.0.0.1:5432/postgres\n"
        "  - install PostgreSQL server binaries (e.g. `apt-get install postgresql`), or set "
        f"{BINDIR_ENV} to a directory containing initdb and pg_ctl\n"
        f"  - start Docker and pull the image once: `docker pull {image}`"
    )


def _postgres_container_class() -> Any:
    """The testcontainers class, which moved to ``testcontainers.community`` in 4.15."""
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        from testcontainers.postgres import PostgresContainer
    return PostgresContainer


def _docker_problem(image: str | None) -> str | None:
    """Why Docker can't be used, or None.

    Checked up front because constructing a testcontainers container already talks to
    Docker (and fails loudly), and because we never pull images behind the user's back.
    """
    with warnings.catch_warnings():
        # docker-py leaks the socket of a failed connect; collect it here, where an
        # unclosed-socket ResourceWarning can't surface later as unrelated noise.
        warnings.simplefilter("ignore", ResourceWarning)
        problem = _ask_docker(image)
        if problem is not None:
            gc.collect()
    return problem


def _ask_docker(image: str | None) -> str | None:
    try:
        import docker
        import docker.errors

        _postgres_container_class()
    except ImportError as exc:
        return f"not installed ({exc})"
    try:
        client = docker.from_env(timeout=2)
    except Exception as exc:  # the SDK raises assorted errors when no engine answers
        return f"no Docker engine answered ({exc})"
    try:
        client.ping()
        if image is not None:
            client.images.get(image)
    except docker.errors.ImageNotFound:
        return f"image {image} is not present locally"
    except Exception as exc:
        return f"no Docker engine answered ({exc})"
    finally:
        client.close()
    return None


@contextmanager
def _testcontainers_server(image: str) -> Iterator[Server]:
    import docker
    import docker.errors
    from testcontainers.core.config import testcontainers_config

    if not testcontainers_config.ryuk_disabled:
        client = docker.from_env(timeout=2)
        try:
            client.images.get(testcontainers_config.ryuk_image)
        except docker.errors.ImageNotFound:
            # The reaper would be pulled; our finally/atexit already remove the container.
            testcontainers_config.ryuk_disabled = True
        finally:
            client.close()
    container = _postgres_container_class()(
        image, username=_SUPERUSER, password=_SUPERUSER, dbname=_MAINTENANCE_DB
    )
    atexit.register(container.stop)
    try:
        container.start()
        yield Server(
            host=container.get_container_host_ip(),
            port=int(container.get_exposed_port(5432)),
            user=_SUPERUSER,
            password=_SUPERUSER,
            dbname=_MAINTENANCE_DB,
            source="testcontainers",
        )
    finally:
        container.stop()
        atexit.unregister(container.stop)


def _has_server_binaries(bindir: Path) -> bool:
    return all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl"))


def _find_bindir(override: str | None, tried: list[str], image: str) -> Path:
    """Locate initdb/pg_ctl; an explicit override must work rather than silently fall back."""
    if override:
        bindir = Path(override)
        if _has_server_binaries(bindir):
            return bindir
        tried.append(f"{BINDIR_ENV}={override}: no executable initdb and pg_ctl there")
        raise _unavailable(tried, image)

    initdb = shutil.which("initdb")
    if initdb:
        # Resolve symlinks: pg_ctl and postgres live next to the real initdb.
        bindir = Path(initdb).resolve().parent
        if _has_server_binaries(bindir):
            return bindir
    tried.append("initdb and pg_ctl on PATH: not found")

    try:
        out = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        tried.append("pg_config --bindir: pg_config not available")
    else:
        if out and _has_server_binaries(Path(out)):
            return Path(out)
        tried.append(f"pg_config --bindir: {out or '(empty)'} has no initdb and pg_ctl")

    def version_key(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in path.parent.name.split("."))

    debian_dirs = [
        path
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if path.parent.name.replace(".", "").isdigit() and _has_server_binaries(path)
    ]
    if debian_dirs:
        return max(debian_dirs, key=version_key)
    tried.append("/usr/lib/postgresql/*/bin: no server binaries")
    raise _unavailable(tried, image)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unprivileged_user() -> dict[str, Any]:
    """subprocess kwargs to drop root, because initdb and pg_ctl refuse to run as root."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam(_SUPERUSER)
    except KeyError as exc:
        raise PostgresUnavailable(
            f"Running as root, but initdb refuses root and there is no '{_SUPERUSER}' user to "
            f"run it as. Create one (`useradd --system {_SUPERUSER}`), run the tests as a "
            f"regular user, or set {DSN_ENV}."
        ) from exc
    return {
        "user": account.pw_uid,
        "group": account.pw_gid,
        # Without this the child keeps root's supplementary groups.
        "extra_groups": os.getgrouplist(account.pw_name, account.pw_gid),
    }


class _LocalCluster:
    """One initdb'd data directory; an object so the ``with`` block and atexit share cleanup."""

    def __init__(self, bindir: Path) -> None:
        self._bindir = bindir
        self._run_as = _unprivileged_user()
        self.tmpdir = Path(tempfile.mkdtemp(prefix="compat_views_pg_"))
        if self._run_as:
            os.chown(self.tmpdir, self._run_as["user"], self._run_as["group"])
        self.datadir = self.tmpdir / "data"
        self.logfile = self.tmpdir / "server.log"
        self.port = 0
        self._options = ""
        self._running = False

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self._bindir / tool), *args],
            cwd=self.tmpdir,  # the postgres user may not be able to enter our cwd
            capture_output=True,
            text=True,
            check=False,
            **self._run_as,
        )

    def _log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    def _pg_ctl_failed(
        self, action: str, result: subprocess.CompletedProcess[str]
    ) -> PostgresUnavailable:
        return PostgresUnavailable(
            f"{self._bindir / 'pg_ctl'} {action} failed (exit {result.returncode}):\n"
            f"{result.stderr}\nLast lines of the server log:\n{self._log_tail()}"
        )

    def start(self) -> None:
        """Make the data directory, then start a server on it on a free port."""
        self._create_datadir()
        self._launch()

    def _create_datadir(self) -> None:
        init = self._run(
            "initdb",
            *("-D", str(self.datadir), "-A", "trust", "-U", _SUPERUSER),
            *("--no-sync", "-E", "UTF8", "--locale=C"),
        )
        if init.returncode != 0:
            raise PostgresUnavailable(
                f"{self._bindir / 'initdb'} failed (exit {init.returncode}):\n{init.stderr}"
            )

    def _settings(self) -> str:
        """``-c`` options beyond the shared ones, for a cluster of another role (a standby)."""
        return ""

    def _launch(self) -> None:
        for _ in range(_START_ATTEMPTS):
            self.port = _free_port()
            self._options = (
                f"-p {self.port} -k {self.tmpdir} -c listen_addresses=127.0.0.1"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=200" + self._settings()
            )
            started = self._run(
                "pg_ctl",
                *("start", "-w", "-D", str(self.datadir), "-l", str(self.logfile)),
                *("-o", self._options),
            )
            if started.returncode == 0:
                self._running = True
                return
            if "could not bind" not in self._log_tail():
                break
        raise self._pg_ctl_failed("start", started)

    def restart(self) -> None:
        """``pg_ctl restart -m fast`` with the options (so the port) it was started with."""
        restarted = self._run(
            "pg_ctl",
            *("restart", "-w", "-m", "fast", "-D", str(self.datadir), "-l", str(self.logfile)),
            *("-o", self._options),
        )
        if restarted.returncode != 0:
            raise self._pg_ctl_failed("restart", restarted)

    def stop(self) -> None:
        """Idempotent, since both the ``with`` block and atexit may call it."""
        if self._running:
            self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate")
            self._running = False
        shutil.rmtree(self.tmpdir, ignore_errors=True)


@contextmanager
def _local_server(bindir: Path) -> Iterator[Server]:
    cluster = _LocalCluster(bindir)
    atexit.register(cluster.stop)
    try:
        cluster.start()
        yield Server(
            host="127.0.0.1",
            port=cluster.port,
            user=_SUPERUSER,
            password="",
            dbname=_MAINTENANCE_DB,
            source="local",
            restarter=cluster.restart,
            bindir=bindir,
        )
    finally:
        cluster.stop()
        atexit.unregister(cluster.stop)

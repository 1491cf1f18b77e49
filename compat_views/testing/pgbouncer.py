"""Run PgBouncer in front of a test server, so the pooler deployments use is tested for real.

``CONFIG`` is the pgbouncer.ini the README shows; tests render it with a free port and
their own userlist. PgBouncer refuses to run as root, so under root it runs as the
``postgres`` user, like the throwaway cluster, from a temporary directory of its own.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from .postgres import Server, _free_port, _unprivileged_user

ADMIN_USER = "pgbouncer_admin"
_START_ATTEMPTS = 3  # a free port can be taken by someone else before pgbouncer binds it
_READY_SECONDS = 10

CONFIG = """\
[databases]
* = host=%(server_host)s port=%(server_port)s

[pgbouncer]
listen_addr = %(listen_addr)s
listen_port = %(listen_port)s
auth_type = scram-sha-256
auth_file = %(auth_file)s
admin_users = %(admin_user)s
pool_mode = transaction
default_pool_size = %(pool_size)s
max_client_conn = 200
; Not run in transaction mode (server_reset_query_always = 0): a session-level SET
; stays on the server connection for the next client of the same (database, user).
server_reset_query = DISCARD ALL
"""


class PgBouncerFailed(RuntimeError):
    """PgBouncer was found but did not start; the message carries its log."""


def find_binary() -> str | None:
    """The pgbouncer executable: on PATH, or where Debian's package puts it."""
    found = shutil.which("pgbouncer")
    if found:
        return found
    debian = Path("/usr/sbin/pgbouncer")
    return str(debian) if debian.is_file() else None


def render(
    server_host: str,
    server_port: int,
    listen_port: int,
    auth_file: str,
    pool_size: int,
    listen_addr: str = "127.0.0.1",
) -> str:
    """``CONFIG`` filled in, so the README and the tests show one and the same file."""
    return CONFIG % {
        "server_host": server_host,
        "server_port": server_port,
        "listen_addr": listen_addr,
        "listen_port": listen_port,
        "auth_file": auth_file,
        "admin_user": ADMIN_USER,
        "pool_size": pool_size,
    }


@dataclass(frozen=True)
class PgBouncer:
    """A running PgBouncer; clients reach any database of the server through it."""

    host: str
    port: int
    admin_password: str

    def conninfo(self, dbname: str, user: str, password: str, **params: str) -> str:
        return make_conninfo(
            "",
            host=self.host,
            port=self.port,
            dbname=dbname,
            user=user,
            password=password,
            **params,
        )

    def admin(self, command: str) -> list[tuple]:
        """One command on the admin console (``RECONNECT``, ``SHOW POOLS`` …).

        The console speaks only the simple query protocol, which psycopg's client-side
        cursor uses for a query without parameters.
        """
        conninfo = self.conninfo("pgbouncer", ADMIN_USER, self.admin_password)
        with psycopg.connect(
            conninfo, autocommit=True, cursor_factory=psycopg.ClientCursor
        ) as conn:
            cursor = conn.execute(command)
            return cursor.fetchall() if cursor.description else []


@contextmanager
def pgbouncer(
    server: Server,
    users: dict[str, str],
    *,
    pool_size: int = 2,
    extra: str = "",
) -> Iterator[PgBouncer]:
    """PgBouncer in front of ``server`` for the ``with`` block.

    ``users`` maps each login to its password or its SCRAM secret (as ``pg_authid``
    stores it); ``extra`` is appended to the [pgbouncer] section.
    """
    binary = find_binary()
    if binary is None:
        raise PgBouncerFailed("pgbouncer is not installed: `apt-get install pgbouncer`")
    run_as = _unprivileged_user()
    tmpdir = Path(tempfile.mkdtemp(prefix="compat_views_pgbouncer_"))
    admin_password = "pgbouncer-admin-test"
    try:
        auth_file = tmpdir / "userlist.txt"
        entries = {**users, ADMIN_USER: admin_password}
        auth_file.write_text("".join(f'"{name}" "{secret}"\n' for name, secret in entries.items()))
        if run_as:
            shutil.chown(tmpdir, run_as["user"], run_as["group"])
            shutil.chown(auth_file, run_as["user"], run_as["group"])
        auth_file.chmod(0o600)
        process, bouncer = _start(binary, server, tmpdir, pool_size, extra, run_as, admin_password)
        atexit.register(process.kill)  # an interrupted run leaves no pooler listening
        try:
            yield bouncer
        finally:
            atexit.unregister(process.kill)
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _start(binary, server, tmpdir, pool_size, extra, run_as, admin_password):
    """Start on a free port, retrying when another process took it first."""
    output = tmpdir / "pgbouncer.log"  # it logs to stderr when not run as a daemon
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        ini = tmpdir / "pgbouncer.ini"
        ini.write_text(
            render(server.host, server.port, port, str(tmpdir / "userlist.txt"), pool_size)
            + f"unix_socket_dir =\n{extra}"
        )
        with output.open("w") as stderr:
            process = subprocess.Popen(
                [binary, str(ini)], cwd=tmpdir, stdout=stderr, stderr=stderr, **run_as
            )
        bouncer = PgBouncer("127.0.0.1", port, admin_password)
        deadline = time.monotonic() + _READY_SECONDS
        while process.poll() is None and time.monotonic() < deadline:
            try:
                bouncer.admin("SHOW VERSION")
                return process, bouncer
            except psycopg.OperationalError:
                time.sleep(0.05)
        if process.poll() is None:
            process.kill()
        process.wait()
        messages = output.read_text(errors="replace")
        if "Address already in use" not in messages:
            break
    raise PgBouncerFailed(f"{binary} did not start:\n{messages[-2000:]}")

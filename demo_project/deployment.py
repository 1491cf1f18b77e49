"""One release deployed as one colour: its ``manage.py`` commands and its gunicorn server.

Everything a release runs is a subprocess in the release's own directory, so the two
releases never share a Python process, an app registry or a ``bookshop`` module; only the
environment says which database and which colour, as a deploy tool would set it per slot.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .client import Address, RequestFailed, call

DEMO_DIR = Path(__file__).resolve().parent
REPO_ROOT = DEMO_DIR.parent
# Per release: 2 processes x 4 threads. Two releases, Postgres and the traffic share 2 cores.
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 30


class CommandFailed(RuntimeError):
    """A release's command or server failed; the message carries everything it printed,
    ``summary`` one line of it for the result."""

    def __init__(self, message: str, summary: str) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass(frozen=True)
class Deployment:
    release: str  # a directory of demo_project: "release1", "release2"
    colour: str
    database_url: str

    @property
    def directory(self) -> Path:
        return DEMO_DIR / self.release

    @property
    def label(self) -> str:
        return f"{self.colour} ({self.release})"

    def environment(self, program: str) -> dict[str, str]:
        """The caller's environment with the slot's settings forced, never inherited.

        ``program`` becomes the sessions' application_name (after compat_views' colour
        tag), so the lock watcher can tell ``migrate`` from the web server's requests.
        """
        python_path = filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
        return {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "COMPAT_VIEWS_COLOUR": self.colour,
            "DJANGO_SETTINGS_MODULE": "settings",
            "PYTHONPATH": os.pathsep.join(python_path),
            "PYTHONDONTWRITEBYTECODE": "1",  # leave no __pycache__ in the release trees
            "PGAPPNAME": program,
        }

    def manage(self, *args: str, echo: bool = True) -> str:
        """Run ``manage.py *args``; return its stdout, or raise with everything it printed."""
        if echo:
            print(f"  $ [{self.label}] manage.py {' '.join(args)}", flush=True)
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.directory,
            env=self.environment(f"manage.py {' '.join(args[:2])}"),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            what = f"[{self.label}] manage.py {' '.join(args)} exited {done.returncode}"
            last = (done.stderr.strip() or done.stdout.strip() or "(no output)").splitlines()[-1]
            raise CommandFailed(
                f"{what}\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}", f"{what}: {last}"
            )
        if echo:
            print_indented(done.stdout + done.stderr)
        return done.stdout

    @contextmanager
    def serve(self, log_dir: Path) -> Iterator[Server]:
        """Run the release under gunicorn on a free loopback port until the block ends."""
        server = Server(self, log_dir / f"gunicorn-{self.colour}.log")
        try:
            server.start()
            yield server
        finally:
            server.stop()


class Server:
    """One gunicorn master and its workers, in a process group of their own.

    Their own session keeps a terminal's Ctrl-C away from them, so the demo decides the
    order things stop in (traffic first, then servers, then the database); ``stop`` then
    ends the whole group, workers included.
    """

    def __init__(self, deployment: Deployment, log_path: Path) -> None:
        self.deployment = deployment
        self.log_path = log_path
        self.address = Address("127.0.0.1", _free_port())
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address.host}:{self.address.port}"

    def start(self) -> None:
        command = [
            sys.executable,
            *("-m", "gunicorn", "--bind", f"{self.address.host}:{self.address.port}"),
            *("--workers", str(GUNICORN_WORKERS), "--threads", str(GUNICORN_THREADS)),
            *("--worker-class", "gthread", "--preload", "--graceful-timeout", "10"),
            *("--name", f"bookshop-{self.deployment.colour}", *_no_control_socket()),
            "wsgi:application",
        ]
        print(f"  $ [{self.deployment.label}] gunicorn on {self.url}", flush=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                cwd=self.deployment.directory,
                env=self.deployment.environment("gunicorn"),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                call(self.address, "GET", "/api/books/?limit=0", timeout=2.0)
                return
            except RequestFailed:
                time.sleep(0.1)
        self.stop()
        what = f"[{self.deployment.label}] gunicorn did not start serving on {self.url}"
        raise CommandFailed(f"{what}\n--- last lines of its log\n{self.log_tail()}", what)

    def stop(self) -> None:
        """Stop gracefully (SIGTERM: finish requests in flight), then by force; idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        signal_group(process, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            signal_group(process, signal.SIGKILL)
            process.wait()
        signal_group(process, signal.SIGKILL)  # a worker the master left behind

    def log_tail(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-LOG_TAIL_LINES:])


def _no_control_socket() -> list[str]:
    """gunicorn 27 opens a control socket at one path in the home directory by default,
    which both releases' masters would share and leave behind; the demo needs none."""
    from gunicorn.config import KNOWN_SETTINGS

    known = {setting.name for setting in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in known else []


def signal_group(process: subprocess.Popen, signum: int) -> None:
    """Signal the process group ``process`` leads (started with ``start_new_session``)."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def print_indented(text: str) -> None:
    for line in text.rstrip().splitlines():
        print(f"      {line}")

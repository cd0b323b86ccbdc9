"""gunicorn processes for the benchmark: the service, the floors and the sample.

All run with the repository's gunicorn.conf.py, so they share every setting
(workers, timeouts, access log, limits); only the app differs. Each master is
started in its own session, so a Ctrl-C in the terminal reaches this script,
which then stops every master it started by its recorded pid.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.redis_servers import free_port
from tests.support.service import service_environment, terminate

REPO = Path(__file__).resolve().parent.parent
SERVICE_APP = "wsgi:app"
FLOOR_APP = "bench.floor:app"
FRAMEWORK_FLOOR_APP = "bench.framework_floor:app"
SAMPLE_APP = "bench.sample:app"
# The names run.py gives the sides, for the report.
SERVICE_NAME, FLOOR_NAME, FRAMEWORK_FLOOR_NAME = "service", "floor", "flask-floor"
SAMPLE_NAME = "sample"
# The sample has no health route: any answer below 500 (its 404 for an unknown id) means it serves.
SAMPLE_READY_PATH = "/customers/00000000-0000-4000-8000-000000000000"
_started: list[Gunicorn] = []


class Gunicorn:
    """One gunicorn master serving ``app`` on a free 127.0.0.1 port."""

    def __init__(
        self,
        name: str,
        app: str,
        *,
        database: tuple[str, int],
        log_dir: Path,
        workers: int,
        extra_args: tuple[str, ...] = (),
        extra_env: dict[str, str] | None = None,
        ready_path: str = "/healthz",
    ) -> None:
        self.name = name
        self.app = app
        self.ready_path = ready_path
        self.port = free_port()
        self.workers = workers
        self.extra_args = tuple(extra_args)
        self.log_path = log_dir / f"gunicorn-{name}.log"
        settings = {
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_CONCURRENCY": str(workers),
            "DBHOST": database[0],
            "DBPORT": str(database[1]),
            "DBTLS": "false",
            **(extra_env or {}),
        }
        # Without any of the service's variables from the shell: they must not reach the servers measured.
        self.env = service_environment(settings)
        self._process: subprocess.Popen[bytes] | None = None
        self._workers_seen: set[int] = set()

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", *self.extra_args, self.app]

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout: float = 30) -> Gunicorn:
        """Start the master and wait until ``ready_path`` answers."""
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self not in _started:
            _started.append(self)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name}: gunicorn exited:\n{self.log_tail()}")
            if self._healthy():
                self.worker_pids()
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: gunicorn did not answer in {timeout} s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{self.ready_path}", timeout=1):
                return True
        except urllib.error.HTTPError as error:
            return error.code < 500
        except OSError:
            return False

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def restart(self) -> None:
        """Stop and start again on the same port: drops the connections queued for it."""
        self.stop()
        self.start()

    def worker_pids(self) -> list[int]:
        """The master's current children (its workers), read from /proc."""
        if self.pid is None:
            return []
        try:
            text = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text()
        except OSError:
            return []
        pids = [int(p) for p in text.split()]
        self._workers_seen.update(pids)
        return pids

    def worker_class(self) -> str:
        """What gunicorn says it uses ("Using worker: sync"), from its log (plain or JSON lines)."""
        for line in self.log_path.read_text(errors="replace").splitlines():
            if "Using worker:" in line:
                message = line
                with contextlib.suppress(ValueError):
                    message = json.loads(line).get("message", line)
                return message.split("Using worker:", 1)[1].strip()
        return "unknown"

    def log_tail(self, lines: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM the master (graceful), SIGKILL after ``timeout``; then any worker left over."""
        if self._process is None:
            return
        self.worker_pids()
        process, self._process = self._process, None
        terminate(process, timeout)
        for pid in self._workers_seen:
            _kill_if_in_session(pid, process.pid)
        self._workers_seen.clear()


def _kill_if_in_session(pid: int, session: int) -> None:
    """SIGKILL a worker left by its gone master: only if that pid is still in the master's session.

    Each master leads its own session (start_new_session), so a pid reused by
    anyone else's process since is never touched.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return
    if int(fields[3]) == session:  # field 6 of stat: the session id
        os.kill(pid, signal.SIGKILL)


def stop_all_named(names: set[str]) -> None:
    """Stop the masters started under these names."""
    for server in [s for s in _started if s.name in names]:
        _started.remove(server)
        server.stop()


def stop_all() -> None:
    """Stop every master this process started, newest first."""
    while _started:
        _started.pop().stop()

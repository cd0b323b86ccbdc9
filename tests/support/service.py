"""Run the real service, as gunicorn, in a child process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from app.settings import VARIABLE_NAMES
from tests.support.redis_servers import free_port

REPO = Path(__file__).resolve().parents[2]
# Every variable the service reads (app/settings.py): the tests set them explicitly, never inherit them.
_SERVICE_VARIABLES = frozenset(VARIABLE_NAMES)


def service_environment(overrides: dict[str, str]) -> dict[str, str]:
    """The current environment without service settings, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in _SERVICE_VARIABLES}
    return {**env, **overrides}


class Service:
    """A gunicorn process serving ``wsgi:app`` on a free loopback port."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_env = env
        self._env = service_environment(
            {**env, "HOST": "127.0.0.1", "PORT": str(self.port), "WEB_CONCURRENCY": str(workers)}
        )
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> Service:
        with open(self._log_path, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "wsgi:app"],
                cwd=REPO,
                env=self._env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self._process.returncode}:\n{self.log()[-4000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout} s:\n{self.log()[-4000:]}")

    @property
    def pid(self) -> int:
        """The gunicorn master's pid (its workers are its children)."""
        assert self._process is not None, "the service is not running"
        return self._process.pid

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM (graceful), then SIGKILL after ``timeout``; return the exit code."""
        if self._process is None:
            return None
        process, self._process = self._process, None
        return terminate(process, timeout)

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class Http(requests.Session):
    """A requests session bound to one service's base URL."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", 10)
        return super().request(method, self.base_url + url, *args, **kwargs)


def terminate(process: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM a gunicorn master (graceful), SIGKILL it after ``timeout``; return its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def start_and_wait_for_exit(env: dict[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Start gunicorn with ``env`` and wait for it to exit: for services that must refuse to start."""
    env = service_environment({**env, "HOST": "127.0.0.1", "PORT": str(free_port())})
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "wsgi:app"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_customers(
    database_env: dict[str, str], *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``flask --app wsgi customers <args>`` with this database; return how it ended."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "customers", *args],
        cwd=REPO,
        env=service_environment(database_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def customers_command(database_env: dict[str, str], *args: str) -> str:
    """``run_customers``, which must succeed; return its output."""
    result = run_customers(database_env, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout

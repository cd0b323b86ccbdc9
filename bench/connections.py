"""Connections a side is still serving, or has queued, after wrk has stopped.

wrk stops at its deadline, but requests it sent remain in the listen queue
and sync workers still serve them (the sample's listing takes seconds each):
the next side measured must not share the cores with them. Read from
/proc/net/tcp, where a connection shows on both its ends: the
server's end has the side's port as its local address. Every side binds
127.0.0.1, so IPv4 is enough.
"""

from __future__ import annotations

import time
from pathlib import Path

# ESTABLISHED, SYN_RECV, and CLOSE_WAIT (the client has gone, the worker has not answered yet).
_BUSY_STATES = {"01", "03", "08"}


def open_to(port: int) -> int:
    """Connections to 127.0.0.1:``port`` being served or waiting for a worker."""
    local = f"0100007F:{port:04X}"
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == local and fields[3] in _BUSY_STATES:
            count += 1
    return count


def wait_closed(port: int, timeout: float) -> bool:
    """Wait until no connection to ``port`` is open or queued; False if some still are."""
    deadline = time.monotonic() + timeout
    while open_to(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True

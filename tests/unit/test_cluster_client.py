"""The cluster client's re-read of the slot map: one at a time, its outcome shared.

Timing against frozen nodes is proven on a real cluster
(tests/faults/test_outage.py::test_whole_cluster_frozen_then_resumed).
"""

from __future__ import annotations

import threading
import time

import pytest
from redis.exceptions import RedisClusterException

from app.store.client import _OneAtATime


def test_threads_arriving_during_a_failed_re_read_get_its_error_without_another_one():
    started, release = threading.Event(), threading.Event()
    calls = []

    def re_read():
        calls.append(threading.current_thread().name)
        started.set()
        release.wait(5)
        raise RedisClusterException("Redis Cluster cannot be connected")

    once = _OneAtATime(re_read)
    outcomes: list[str] = []

    def call():
        try:
            once()
        except RedisClusterException as error:
            outcomes.append(str(error))

    first = threading.Thread(target=call, name="first")
    first.start()
    started.wait(5)
    waiters = [threading.Thread(target=call, name=f"waiter-{n}") for n in range(3)]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.2)  # the waiters are queued on the re-read by now
    release.set()
    for thread in (first, *waiters):
        thread.join(5)
    assert calls == ["first"]  # one re-read, not four
    assert outcomes == ["Redis Cluster cannot be connected"] * 4

    # A thread that comes later re-reads again (the map may be back).
    with pytest.raises(RedisClusterException):
        once()
    assert len(calls) == 2

"""What counts as a plain-text Redis answering PING (real servers: tests/integration)."""

from __future__ import annotations

import socket

import pytest

from app.store import plaintext


def answers(reply: bytes | None) -> bool:
    """answers_ping against a peer that sends ``reply`` and hangs up (None: stays silent)."""
    ours, theirs = socket.socketpair()
    with ours, theirs:
        ours.settimeout(0.2)
        if reply is not None:
            theirs.sendall(reply)
            theirs.shutdown(socket.SHUT_WR)
        return plaintext.answers_ping(ours)


@pytest.mark.parametrize(
    "reply",
    [
        b"+PONG\r\n",
        b"-NOAUTH Authentication required.\r\n",
        b"-DENIED Redis is running in protected mode\r\n",
        b"-ERR unknown command 'PING'\r\n",
    ],
)
def test_a_redis_reply_means_plain_text(reply):
    assert answers(reply)


@pytest.mark.parametrize(
    "reply",
    [
        b"\x15\x03\x03\x00\x02\x02\x32",  # a TLS alert: the server speaks TLS
        b"",  # hung up
        b"HTTP/1.1 400 Bad Request\r\n",  # some other plain-text server
        None,  # silence
    ],
)
def test_anything_else_is_not_plain_text_redis(reply):
    assert not answers(reply)

"""Ask a server in plain text whether it is a Redis, once a TLS handshake failed.

A plain-text Redis reads a TLS ClientHello as the start of an inline command
and waits for the rest, so the handshake just times out, like a slow network.
Only asking tells the two apart: to ``PING`` in plain text a Redis answers
``+PONG`` or an error line (``-NOAUTH``, ``-DENIED``, ``-ERR``) at once; a TLS
server answers with a binary alert or hangs up. The question is only asked
after a failed handshake: a TLS server logs a warning for each one it gets.
"""

from __future__ import annotations

import re
import socket

_REPLY = re.compile(rb"[+-][A-Z]+[^\r\n]*\r\n")
_MAX_REPLY = 512


def connect(host: str, port: int, timeout: float) -> socket.socket | None:
    """A TCP connection to ``host:port``, or None if nothing there accepts one."""
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError:
        return None


def answers_ping(sock: socket.socket) -> bool:
    """Send PING on an unused connection: True if a plain-text Redis reply comes back."""
    reply = b""
    try:
        sock.sendall(b"PING\r\n")
        while b"\r\n" not in reply and len(reply) < _MAX_REPLY:
            chunk = sock.recv(_MAX_REPLY)
            if not chunk:
                break
            reply += chunk
    except OSError:
        return False
    return _REPLY.match(reply) is not None

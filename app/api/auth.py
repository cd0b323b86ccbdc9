"""API keys: ``Authorization: Bearer <key>`` on every customer route.

Keys come from ``API_KEYS`` or ``API_KEYS_FILE`` (see settings). They are
compared in constant time, as SHA-256 digests so that neither content nor
length leaks through timing, and never logged. Health probes stay open.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import g, request

from app.api.errors import Problem

OPEN_ENDPOINTS = frozenset({"healthz", "readyz", "openapi", "static"})

OPEN_API_WARNING = "API_KEYS is not set: the customer API is open to anyone who can reach it"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class ApiKeys:
    def __init__(self, keys: tuple[str, ...], open_metrics: bool = True) -> None:
        self._digests = [_digest(key) for key in keys]
        self._open = OPEN_ENDPOINTS | ({"metrics"} if open_metrics else set())

    def authenticate(self) -> None:
        """Let the request through, or raise 401; note whose key it was."""
        g.client_scope = ""
        if not self._digests or request.endpoint in self._open or request.endpoint is None:
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        candidate = _digest(token.strip())
        matched = False
        for digest in self._digests:  # no early exit: same time whichever key matches
            matched |= hmac.compare_digest(candidate, digest)
        if scheme.lower() != "bearer" or not matched:
            raise Problem(
                401,
                "A valid API key is required: Authorization: Bearer <key>.",
                kind="unauthorized",
                headers={"WWW-Authenticate": 'Bearer realm="customers"'},
            )
        # Idempotency keys are scoped per API key: two clients' keys never meet.
        g.client_scope = candidate.hex()[:32]

"""JSON in and out with exact decimals.

Balances are money: a JSON number is parsed straight into ``Decimal`` (never
through a float, which turns 999999999999999.99 into 1e15) and written back
digit for digit. ``NaN`` and ``Infinity`` are not JSON and are refused.

Parsing uses simplejson, the one parser that reads numbers into ``Decimal``.
Encoding uses orjson, about ten times faster per response (bench/, issue 5);
a ``Decimal`` goes in as an ``orjson.Fragment`` of its exact digits. Both
write compact UTF-8 JSON byte for byte alike (tests/unit/test_json_codec.py),
which matters: idempotency fingerprints stored before the switch still match.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
import simplejson


class MalformedJSON(ValueError):
    """The body is not a JSON document."""


def loads(body: bytes) -> Any:
    """Parse a request body, floats as ``Decimal``."""
    try:
        return simplejson.loads(body.decode("utf-8"), use_decimal=True)
    except UnicodeDecodeError:
        raise MalformedJSON("the body is not UTF-8") from None
    except simplejson.JSONDecodeError as exc:
        raise MalformedJSON(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise MalformedJSON("the document is nested too deeply") from None


def dumps(value: Any) -> bytes:
    """Serialize a body as compact UTF-8 JSON; ``Decimal`` values become exact JSON numbers."""
    try:
        return orjson.dumps(value, default=_exact_decimal)
    except orjson.JSONEncodeError:
        # Text that is not valid Unicode (a lone surrogate echoed in an error
        # message) cannot be UTF-8: escape it as \\udXXX instead.
        return simplejson.dumps(value, use_decimal=True, separators=(",", ":")).encode()


def _exact_decimal(value: object) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value))
    raise TypeError(f"{type(value).__name__} is not JSON serializable")

"""JSON in and out with exact decimals.

Balances are money: a JSON number is parsed straight into ``Decimal`` (never
through a float, which turns 999999999999999.99 into 1e15) and written back
digit for digit. ``NaN`` and ``Infinity`` are not JSON and are refused.
"""

from __future__ import annotations

from typing import Any

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


def dumps(value: Any) -> str:
    """Serialize a response body; ``Decimal`` values become exact JSON numbers."""
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, separators=(",", ":"))

"""Kinds of configuration values: how text from the environment becomes a value.

Each ``Kind`` parses the text of one variable, raising ``ValueError`` with a
message that follows the variable's name (``PORT: expected a whole number,
got 'abc'``), and says in words what it accepts, for the README's table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """A configuration variable is missing or malformed."""


@dataclass(frozen=True)
class Kind:
    accepts: str  # for the table, in words
    parse: Callable[[str], Any]  # raises ValueError with a message that follows the name


def text() -> Kind:
    return Kind("text", str)


def path() -> Kind:
    return Kind("a path", Path)


def existing_file() -> Kind:
    def parse(raw: str) -> str:
        if not Path(raw).is_file():
            raise ValueError(f"no such file: {raw}")
        return raw

    return Kind("the path of a file", parse)


def integer(low: int, high: int) -> Kind:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return Kind(f"a whole number, {low} to {high}", parse)


def seconds(most: float) -> Kind:
    return _positive(most, "seconds")


def hours(most: float) -> Kind:
    return _positive(most, "hours")


def _positive(most: float, unit: str) -> Kind:
    """A number of ``unit``, more than 0 and at most ``most``."""

    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"expected a number of {unit}, got {raw!r}") from None
        if not 0 < value <= most:
            raise ValueError(f"must be more than 0 and at most {most:g} {unit}")
        return value

    return Kind(f"{unit}, more than 0, at most {most:g}", parse)


def boolean() -> Kind:
    def parse(raw: str) -> bool:
        lowered = raw.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {raw!r}")

    return Kind("`true` or `false` (or `1`/`0`, `yes`/`no`, `on`/`off`)", parse)


def choice(*allowed: str) -> Kind:
    """One of ``allowed``, in any case (read as the case ``allowed`` is written in)."""

    def parse(raw: str) -> str:
        value = raw.upper() if allowed[0].isupper() else raw.lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
        return value

    quoted = [f"`{option}`" for option in allowed]
    return Kind(f"{', '.join(quoted[:-1])} or {quoted[-1]}", parse)


def redis_url() -> Kind:
    def parse(raw: str) -> str:
        if urlsplit(raw).scheme not in ("redis", "rediss"):
            raise ValueError("must start with redis:// or rediss://")
        return raw

    return Kind("a `redis://` or `rediss://` (TLS) URL; user and password allowed", parse)


def without_secrets(url: str) -> str:
    """``scheme://host:port`` of a Redis URL: no user, no password."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"


_API_KEY = re.compile(r"^[A-Za-z0-9._~+/=-]{16,256}$")
_KEY_CHARACTERS = "A-Z a-z 0-9 . _ ~ + / = -"


def api_keys() -> Kind:
    def parse(raw: str) -> tuple[str, ...]:
        return _checked_keys([key.strip() for key in raw.split(",") if key.strip()])

    return Kind(f"comma-separated keys, each 16-256 of `{_KEY_CHARACTERS}`", parse)


def read_api_keys(path: Path) -> tuple[str, ...]:
    """The keys in a file, one per line, ``#`` comments: as ``API_KEYS_FILE`` names them."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"API_KEYS_FILE: cannot read {path}: {error.strerror}") from None
    try:
        return _checked_keys(
            [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        )
    except ValueError as error:
        raise ConfigError(f"API_KEYS_FILE: {error}") from None


def _checked_keys(keys: list[str]) -> tuple[str, ...]:
    for number, key in enumerate(keys, 1):
        if not _API_KEY.match(key):
            # Never echo the key: say which one, and what is wrong.
            raise ValueError(f"key {number} must be 16-256 characters of {_KEY_CHARACTERS}")
    if not keys:
        raise ValueError("no keys found")
    return tuple(keys)

"""The Lua scripts in lua/, and how they are called and answer.

Each script touches keys of one slot only, so it is atomic on a cluster too.
Every change script is prefixed with lua/etag.lua, which computes the ETag
and checks an ``If-Match`` condition on the server, next to the data, and
lua/outbox.lua, which adds the change's event to the slot's outbox. The feed
scripts (relay, read_events) are prefixed with lua/stream_ids.lua.
"""

from __future__ import annotations

import re
from pathlib import Path

from app.customers.model import (
    CustomerNotFound,
    PreconditionFailed,
    ReadOnlyFieldDiffers,
    TooManyMetadataKeys,
)
from app.store.client import Client

_LUA = Path(__file__).with_name("lua")
_ETAG = re.compile(r"^[0-9a-f]{40}$")


class Scripts:
    """The scripts, registered with one client (redis-py loads them on NOSCRIPT)."""

    def __init__(self, client: Client) -> None:
        self.create = client.register_script(_source("etag", "outbox", "create"))
        self.create_idempotent = client.register_script(_source("etag", "outbox", "create_idempotent"))
        self.update = client.register_script(_source("etag", "outbox", "update"))
        self.delete = client.register_script(_source("etag", "outbox", "delete"))
        self.relay = client.register_script(_source("stream_ids", "relay"))
        self.read_events = client.register_script(_source("stream_ids", "read_events"))
        self.claim = client.register_script(_source("claim"))
        self.release = client.register_script(_source("release"))


def condition(if_match: list[str] | None) -> str:
    """The If-Match argument of update.lua and delete.lua (see etag.lua)."""
    if if_match is None:
        return ""
    if "*" in if_match:
        return "*"
    # Only well-formed tags reach the script; an empty list matches nothing.
    return " ".join(tag for tag in if_match if _ETAG.match(tag)) or "-"


def raise_for(reply: list[str], customer_id: str) -> None:
    """Raise the domain exception a script's refusal stands for; return if it succeeded."""
    if reply[0] == "missing":
        raise CustomerNotFound(customer_id)
    if reply[0] == "mismatch":
        raise PreconditionFailed(reply[1])
    if reply[0] == "readonly":
        raise ReadOnlyFieldDiffers(reply[1])
    if reply[0] == "toomany":
        raise TooManyMetadataKeys(int(reply[1]))


def flatten(record: dict[str, str]) -> list[str]:
    """Field/value pairs as the scripts take them: one flat list."""
    return [item for pair in record.items() for item in pair]


def _source(*names: str) -> str:
    return "".join((_LUA / f"{name}.lua").read_text() for name in names)

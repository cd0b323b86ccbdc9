"""One customer per email (``UNIQUE_EMAILS=true``): claims, and what makes one stale.

A write that gives a customer an email first claims it: lua/claim.lua on
``customers:email-claim:<address>`` takes a free claim, refreshes the
claimant's own, or names the holder. That one key serialises every writer
of one address on a cluster, so of two customers given one email at the
same moment at most one gets it. A delete frees the claim.

A delete, and an email change once the hash has the new email, free the
old claim. A crash can leave a claim behind: it is then stale, and may be
replaced (exactly the value that was checked, so a refresh in between
wins), when the holder's hash no longer has the address and either

* its ``email_token`` is newer than the claim's: the holder wrote another
  email after claiming this one, and a write of the holder back to this
  address would have refreshed the claim first; or
* the claim is older than ``ORPHAN_GRACE_SECONDS``: no request lives that
  long, so no create or change relying on it is still in flight.

Customers created before uniqueness was turned on hold no claim: a writer
that gets a claim also looks at the email index (read in the same round
trip as its entries) and refuses if another customer there is live with
this address.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import cast

from app.customers.model import EmailTaken
from app.store.client import Client
from app.store.durable import DurableWriter
from app.store.keys import (
    EMAIL_TOKEN,
    claim_key,
    claim_value,
    customer_key,
    email_lookup,
    id_of_member,
    split_claim,
    split_email_member,
    token_micros,
)
from app.store.listing import ORPHAN_GRACE_SECONDS
from app.store.scripts import Scripts
from app.store.timestamps import micros_since_epoch

_TAKEOVERS = 3


class EmailClaims:
    """Claim, check and free emails for UNIQUE_EMAILS."""

    def __init__(
        self, client: Client, writer: DurableWriter, scripts: Scripts, clock: Callable[[], datetime]
    ) -> None:
        self._client = client
        self._writer = writer
        self._scripts = scripts
        self._clock = clock

    def claim(self, email: str, customer_id: str, token: str) -> None:
        """Claim ``email`` for ``customer_id``, or raise ``EmailTaken``."""
        replace = ""
        for _ in range(_TAKEOVERS):
            reply = self._writer.run_script(
                self._scripts.claim, keys=[claim_key(email)], args=[customer_id, token, replace]
            )
            if reply[0] == "ok":
                return
            holder = cast(str, reply[1])
            if not self._is_stale(holder, email):
                raise EmailTaken(email)
            replace = holder
        raise EmailTaken(email)

    def release(self, email: str, customer_id: str, token: str = "") -> None:
        """Free the claim on ``email`` if ``customer_id`` holds it with ``token`` (with any, if '')."""
        self._scripts.release(keys=[claim_key(email)], args=[claim_value(customer_id, token)])

    def refuse_if_held(self, email: str, customer_id: str, members: list[str]) -> None:
        """Raise ``EmailTaken`` if an index entry names another live holder (one from before uniqueness)."""
        others = [m for m in members if id_of_member(m) != customer_id]
        if not others:
            return
        pipe = self._client.pipeline(transaction=False)
        for member in others:
            pipe.hmget(customer_key(id_of_member(member)), ["email", EMAIL_TOKEN])
        for member, (stored_email, stored_token) in zip(others, pipe.execute(), strict=True):
            if stored_token == split_email_member(member)[1] and email_lookup(
                stored_email or ""
            ) == email_lookup(email):
                raise EmailTaken(email)

    def _is_stale(self, holder: str, email: str) -> bool:
        holder_id, claimed_token = split_claim(holder)
        stored_email, stored_token = cast(
            list[str | None], self._client.hmget(customer_key(holder_id), ["email", EMAIL_TOKEN])
        )
        if stored_email is not None and email_lookup(stored_email) == email_lookup(email):
            return False
        if stored_token and claimed_token and token_micros(stored_token) > token_micros(claimed_token):
            return True
        cutoff = micros_since_epoch(self._clock() - timedelta(seconds=ORPHAN_GRACE_SECONDS))
        return not claimed_token or token_micros(claimed_token) < cutoff

"""The response encoder (orjson) writes what the old one (simplejson) wrote, byte for byte.

Idempotency fingerprints are SHA-256 digests of encoded bodies and are stored
for 24 h, so a replay across the switch must still match.
"""

from decimal import Decimal

import simplejson
from hypothesis import given, settings
from hypothesis import strategies as st

from app import json_codec

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
VALUES = st.one_of(
    TEXT,
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.decimals(allow_nan=False, allow_infinity=False),
    st.lists(TEXT, max_size=3),
)


def simplejson_compact(value):
    return simplejson.dumps(value, use_decimal=True, ensure_ascii=False, separators=(",", ":")).encode()


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(TEXT, VALUES, max_size=8))
def test_same_bytes_as_simplejson(document):
    assert json_codec.dumps(document) == simplejson_compact(document)


def test_decimals_keep_every_digit():
    assert json_codec.dumps({"balance": Decimal("999999999999999.99")}) == b'{"balance":999999999999999.99}'


def test_lone_surrogates_are_escaped_not_an_error():
    encoded = json_codec.dumps({"detail": "x\udad1y"})
    assert encoded == b'{"detail":"x\\udad1y"}'
    assert json_codec.loads(encoded) == {"detail": "x\udad1y"}


def test_a_round_trip_keeps_decimals_exact():
    document = {"name": "Ünïcode", "balance": Decimal("-0.10"), "tags": ["a", "b"]}
    assert json_codec.loads(json_codec.dumps(document)) == document

"""The OpenAPI document is valid for a strict validator, and its own values obey it."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.api.openapi import document

ROOT = "urn:customers:openapi"
# Keywords whose value is one subschema, or a list or a map of them (JSON Schema 2020-12).
_ONE = ("items", "not", "if", "then", "else", "contains", "propertyNames", "additionalProperties")
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")
_MAPS = ("properties", "patternProperties", "$defs", "dependentSchemas")


def test_the_document_validates_as_openapi_3_1(client):
    served = client.get("/openapi.json").get_json()
    assert served["openapi"].startswith("3.1")
    validate(served)


def schemas(node: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema object under ``node``, with its JSON pointer."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from schemas(item, f"{pointer}/{index}")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        where = f"{pointer}/{_escape(key)}"
        if key == "schema" or (pointer == "/components/schemas"):
            yield from subschemas(value, where)
        else:
            yield from schemas(value, where)


def subschemas(schema: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(schema, dict):
        return
    yield pointer, schema
    for key in _ONE:
        yield from subschemas(schema.get(key), f"{pointer}/{key}")
    for key in _LISTS:
        for index, item in enumerate(schema.get(key, [])):
            yield from subschemas(item, f"{pointer}/{key}/{index}")
    for key in _MAPS:
        for name, item in schema.get(key, {}).items():
            yield from subschemas(item, f"{pointer}/{key}/{_escape(name)}")


def _escape(name: str) -> str:
    return name.replace("~", "~0").replace("/", "~1")


def values_to_check() -> Iterator[tuple[str, str, Any]]:
    """(pointer of the schema, keyword, value) for each default, example and enum member."""
    for pointer, schema in schemas(document(), ""):
        for keyword in ("default", "example"):
            if keyword in schema:
                yield pointer, keyword, schema[keyword]
        for value in schema.get("examples", []):
            yield pointer, "examples", value
        for value in schema.get("enum", []):
            yield pointer, "enum", value


def test_the_walk_finds_the_values_it_checks():
    found = {(pointer, keyword) for pointer, keyword, _ in values_to_check()}
    assert ("/components/schemas/CustomerCreate/properties/balance", "default") in found
    assert ("/paths/~1customers/get/parameters/0/schema", "default") in found


@pytest.mark.parametrize(("pointer", "keyword", "value"), list(values_to_check()))
def test_every_default_example_and_enum_value_obeys_its_schema(pointer, keyword, value):
    # The value is checked against the schema it sits in, minus the keyword
    # itself, with every $ref resolved in the whole document.
    stripped = copy.deepcopy(document())
    schema = stripped
    for part in pointer.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        schema = schema[int(key)] if isinstance(schema, list) else schema[key]
    del schema[keyword]
    registry = Registry().with_resource(ROOT, Resource.from_contents(stripped, DRAFT202012))
    validator = Draft202012Validator(
        {"$ref": f"{ROOT}#{pointer}"}, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = [error.message for error in validator.iter_errors(value)]
    assert not errors, f"{keyword} {value!r} at {pointer}: {errors}"

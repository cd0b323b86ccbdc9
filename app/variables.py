"""Environment variables declared as data: parsed, shown and documented from one declaration.

``declare()`` makes a ``Settings`` field (app/settings.py) that carries its
``Variable``: the name, a ``Kind`` (app/kinds.py: how text becomes a value,
and what it accepts in words), the default, whether it is a secret, and a
one-line meaning. From those, ``read`` turns an environment into field
values, with a ``ConfigError`` of one line naming the variable and never a
secret's value; ``describe`` shows effective values for check-config;
app/settings_table.py renders the README's configuration table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from app.kinds import ConfigError, Kind


@dataclass(frozen=True)
class Variable:
    name: str
    kind: Kind
    meaning: str
    default: Any = None
    secret: bool = False
    factory: Callable[[], Any] | None = None  # a default computed when settings are made
    # A default computed from the fields read before this one (when read from an environment).
    derive: Callable[[Mapping[str, Any]], Any] | None = None
    default_text: str | None = None  # the table's default, when it is not simply the value
    show: Callable[[Any], str] | None = None  # check-config's view of a set value
    unset: str = "(unset)"  # check-config's view of no value

    def fallback(self, earlier: Mapping[str, Any]) -> Any:
        """The value when the variable is unset."""
        if self.derive is not None:
            return self.derive(earlier)
        return self.factory() if self.factory is not None else self.default


def declare(name: str, kind: Kind, meaning: str, default: Any = None, **options: Any) -> Any:
    """A dataclass field for the variable ``name``; a secret's field stays out of ``repr``."""
    variable = Variable(name, kind, meaning, default, **options)
    metadata = {"variable": variable}
    if variable.factory is not None:
        return dataclasses.field(
            default_factory=variable.factory, repr=not variable.secret, metadata=metadata
        )
    return dataclasses.field(default=default, repr=not variable.secret, metadata=metadata)


def declared(settings_class: type) -> tuple[tuple[str, Variable], ...]:
    """(field name, variable) of every declared field, in declaration order."""
    return tuple(
        (field.name, field.metadata["variable"])
        for field in dataclasses.fields(settings_class)
        if "variable" in field.metadata
    )


def read(settings_class: type, environ: Mapping[str, str]) -> dict[str, Any]:
    """Field values from ``environ``: blank means unset; errors name the variable."""
    values: dict[str, Any] = {}
    for field, variable in declared(settings_class):
        raw = environ.get(variable.name, "").strip()
        if not raw:
            values[field] = variable.fallback(values)
            continue
        try:
            values[field] = variable.kind.parse(raw)
        except ValueError as error:  # a secret's parser never puts the value in its message
            raise ConfigError(f"{variable.name}: {error}") from None
    return values


def describe(settings: object) -> list[tuple[str, str]]:
    """(variable, effective value) for display: secrets are masked."""
    return [
        (variable.name, _shown(variable, getattr(settings, field)))
        for field, variable in declared(type(settings))
    ]


def _shown(variable: Variable, value: Any) -> str:
    if value is None or value == ():
        return variable.unset
    if variable.show is not None:
        return variable.show(value)
    if variable.secret:
        return "(set, hidden)"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)

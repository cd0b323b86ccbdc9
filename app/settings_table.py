"""The README's configuration table, rendered from the declarations in app/settings.py.

``python -m app.settings_table`` prints it; the README holds it between
``<!-- settings-table:start -->`` and ``<!-- settings-table:end -->``, and
tests/unit/test_settings.py fails when the two disagree.
"""

from __future__ import annotations

from pathlib import Path

from app.settings import Settings
from app.variables import Variable, declared

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def markdown_table(settings_class: type = Settings) -> str:
    """The README's configuration table, one row per variable."""
    rows = ["| variable | default | accepts | meaning |", "|---|---|---|---|"]
    for _, variable in declared(settings_class):
        accepts = variable.kind.accepts + (" (secret)" if variable.secret else "")
        rows.append(f"| `{variable.name}` | {_default_text(variable)} | {accepts} | {variable.meaning} |")
    return "\n".join(rows) + "\n"


def _default_text(variable: Variable) -> str:
    value = variable.default
    if variable.default_text is not None:
        return variable.default_text
    if value is None or value == ():
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, Path) and not value.is_absolute():
        return f"`./{value}`"
    return f"`{value}`"


if __name__ == "__main__":
    print(markdown_table(), end="")

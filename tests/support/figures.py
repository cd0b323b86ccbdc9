"""Figures that tests measure and the run prints at its end (see tests/conftest.py)."""

from __future__ import annotations

FIGURES: dict[str, list[str]] = {}


def record(section: str, line: str) -> None:
    """Keep a line for the end-of-run summary, under ``section``."""
    FIGURES.setdefault(section, []).append(line)
    print(f"{section}: {line}")

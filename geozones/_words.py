"""Words of the messages a run prints: a count with its noun."""

from __future__ import annotations


def plural(n: int, noun: str) -> str:
    """``"1 cell"``, ``"2 cells"``."""
    return f"{int(n)} {noun}{'s' if int(n) != 1 else ''}"


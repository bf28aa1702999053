"""Words of the messages a run prints: a count with its noun, a list cut short."""

from __future__ import annotations


def plural(n: int, noun: str) -> str:
    """``"1 cell"``, ``"2 cells"``."""
    return f"{int(n)} {noun}{'s' if int(n) != 1 else ''}"


def some(items, n: int = 5, fmt=str) -> str:
    """The first ``n`` items, comma-separated, with ``", ..."`` when there are more."""
    items = list(items)
    return ", ".join(fmt(x) for x in items[:n]) + (", ..." if len(items) > n else "")


def number(x: float) -> str:
    """A threshold or count as people read it: ``30``, ``1,000,000``, ``2.5`` (not ``1e+06`` or ``20.0``)."""
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:g}"

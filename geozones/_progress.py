"""Notes of how far a long step is, for runs without a terminal (no progress bar there)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

#: Seconds between two notes of how far a step is.
HEARTBEAT_S = 60.0


def noted(items: Iterable[T], say: Callable[[int], str], every: float | None = None) -> Iterator[tuple[int, T]]:
    """``enumerate(items)``, logging ``say(i)`` (at INFO, logger ``geozones``) every
    ``every`` seconds (default :data:`HEARTBEAT_S`), ``i`` being how many items are done:
    a national audit's steps take minutes, and a scheduler's log would be silent.
    """
    i = 0
    beat = Heartbeat(lambda: say(i), every)
    for i, item in enumerate(items):  # (the heartbeat reads i)
        beat()
        yield i, item


class Heartbeat:
    """Call it as often as you like: it logs ``say()`` (at INFO, logger ``geozones``) at
    most every ``every`` seconds (default :data:`HEARTBEAT_S`; a step of few items, each of
    many solves, is as silent as a long loop).
    """

    def __init__(self, say: Callable[[], str], every: float | None = None):
        self.say, self.every, self.said = say, every, time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self.said > (HEARTBEAT_S if self.every is None else self.every):
            self.said = time.perf_counter()
            logging.getLogger("geozones").info(self.say())

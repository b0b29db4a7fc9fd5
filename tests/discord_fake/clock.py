"""The fake's clock: the monotonic clock plus an offset a test can advance."""

from __future__ import annotations

import time


class FakeClock:
    """Seconds on the monotonic clock (what asyncio's loop uses) plus an offset.

    The fake times the 3-second acknowledgement and the 15-minute token with it, so a test can
    make minutes pass at once with :meth:`advance` instead of sleeping.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.offset += seconds

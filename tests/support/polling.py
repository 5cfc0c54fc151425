"""The one way tests wait for something to happen."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def eventually(
    probe: Callable[[], T | None],
    *,
    timeout: float = 20.0,
    what: str | Callable[[], str] = "",
    every: float = 0.2,
) -> T:
    """Poll ``probe`` every ``every`` seconds until it returns something other than None.

    On timeout, AssertionError names ``what`` (a callable is asked then, to describe the
    state it last saw).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            described = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {described or probe}")
        time.sleep(every)

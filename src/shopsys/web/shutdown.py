"""Turn readiness off the moment SIGTERM arrives, before the server starts draining.

uvicorn owns SIGTERM: it stops accepting connections, lets in-flight requests finish, then
runs the lifespan shutdown (which flushes the producer). This module only puts a small
handler in front of uvicorn's, so ``/readyz`` answers ``503`` on any connection still open.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

Undo = Callable[[], None]


def run_before_sigterm(on_sigterm: Callable[[], None]) -> Undo:
    """Call ``on_sigterm`` then the previously installed handler; returns a function undoing it.

    Signals can only be handled in the main thread; elsewhere (an in-process test client)
    this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)
    restore = previous if previous is not None else signal.SIG_DFL

    def handler(signum: int, frame: FrameType | None) -> None:
        on_sigterm()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, handler)

    def undo() -> None:
        if signal.getsignal(signal.SIGTERM) is handler:
            signal.signal(signal.SIGTERM, restore)

    return undo

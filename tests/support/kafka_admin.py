"""A fake of what confluent-kafka's AdminClient hands back: its requests answer with futures."""

from __future__ import annotations

from typing import Any


class FakeFuture:
    """A request's future, already settled: ``outcome`` is its result, or the error it raises."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome

    def result(self, timeout: float) -> Any:
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

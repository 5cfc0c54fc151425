"""The one fake of `OffsetSource`: offsets and watermarks held in dicts."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

from shopsys.consumer.lag import OffsetSource, Partition

NOT_COMMITTED = -1001  # what the broker answers for a partition the group never committed


class FakeOffsets(OffsetSource):
    """A topic's partitions are those with a high watermark; a missing committed offset is
    none, a missing watermark 0. ``fail``, when set, is raised by every read; the partitions in
    ``lost`` are left out of watermark answers; ``deadlines`` records each deadline given."""

    def __init__(
        self,
        *,
        committed: Mapping[Partition, int] | None = None,
        high: Mapping[Partition, int] | None = None,
        low: Mapping[Partition, int] | None = None,
        fail: BaseException | None = None,
    ) -> None:
        self.committed_offsets = dict(committed or {})
        self.high = dict(high or {})
        self.low = dict(low or {})
        self.fail = fail
        self.lost: set[Partition] = set()
        self.deadlines: list[float] = []

    def _read(self) -> None:
        if self.fail is not None:
            raise self.fail

    def committed(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        self._read()
        return {p: self.committed_offsets.get(p, NOT_COMMITTED) for p in partitions}

    def watermarks(self, partitions: Iterable[Partition], *, latest: bool) -> dict[Partition, int]:
        self._read()
        source = self.high if latest else self.low
        return {p: source.get(p, 0) for p in partitions if p not in self.lost}

    def partitions(self, topic: str) -> set[Partition]:
        self._read()
        return {p for p in self.high if p[0] == topic}

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        self.deadlines.append(seconds)
        yield

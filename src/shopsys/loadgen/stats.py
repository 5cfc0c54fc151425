"""Latency and status bookkeeping, progress snapshots and the final summary."""

from __future__ import annotations

import math
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def percentile(ordered: array[float] | list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0.0 when empty)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True)
class Progress:
    elapsed: float
    requests: int
    interval_rps: float
    interval_p99_ms: float
    failures: int
    in_flight: int
    dropped: int


@dataclass(frozen=True)
class Summary:
    duration_s: float
    requests: int
    requests_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    endpoints: dict[str, int]
    dropped: int
    failures: int
    # every request's latency in seconds, in order: for a distribution beyond the percentiles
    latencies_s: array[float] = field(default_factory=lambda: array("d"), repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration_s, 3),
            "requests": self.requests,
            "requests_per_s": round(self.requests_per_s, 1),
            "latency_ms": {
                "p50": round(self.p50_ms, 2),
                "p95": round(self.p95_ms, 2),
                "p99": round(self.p99_ms, 2),
                "max": round(self.max_ms, 2),
            },
            "statuses": self.statuses,
            "endpoints": self.endpoints,
            "dropped": self.dropped,
            "failures": self.failures,
        }


def is_failure(outcome: str) -> bool:
    """Anything but a 2xx or an expected 404 (a purchase not stored yet, an unknown user)."""
    return not (outcome.startswith("2") or outcome == "404")


@dataclass
class Recorder:
    latencies: array[float] = field(default_factory=lambda: array("d"))
    statuses: Counter[str] = field(default_factory=Counter)
    endpoints: Counter[str] = field(default_factory=Counter)
    dropped: int = 0
    _interval: list[float] = field(default_factory=list)
    _interval_count: int = 0
    _failures: int = 0

    def record(self, endpoint: str, outcome: str, seconds: float) -> None:
        """``outcome`` is a status code (``"202"``) or an error name (``"timeout"``)."""
        self.latencies.append(seconds)
        self._interval.append(seconds)
        self.statuses[outcome] += 1
        self.endpoints[endpoint] += 1
        if is_failure(outcome):
            self._failures += 1

    def progress(self, elapsed: float, interval: float, in_flight: int) -> Progress:
        """A snapshot; starts a new interval for the per-second figures."""
        recent = sorted(self._interval)
        self._interval = []
        return Progress(
            elapsed=elapsed,
            requests=len(self.latencies),
            interval_rps=len(recent) / interval if interval > 0 else 0.0,
            interval_p99_ms=percentile(recent, 0.99) * 1000,
            failures=self._failures,
            in_flight=in_flight,
            dropped=self.dropped,
        )

    def summary(self, duration: float) -> Summary:
        ordered = array("d", sorted(self.latencies))
        return Summary(
            duration_s=duration,
            requests=len(ordered),
            requests_per_s=len(ordered) / duration if duration > 0 else 0.0,
            p50_ms=percentile(ordered, 0.50) * 1000,
            p95_ms=percentile(ordered, 0.95) * 1000,
            p99_ms=percentile(ordered, 0.99) * 1000,
            max_ms=(ordered[-1] if ordered else 0.0) * 1000,
            statuses=dict(sorted(self.statuses.items())),
            endpoints=dict(sorted(self.endpoints.items())),
            dropped=self.dropped,
            failures=self._failures,
            latencies_s=ordered,
        )


def format_progress(progress: Progress, duration: float) -> str:
    line = (
        f"[{progress.elapsed:5.1f}s/{duration:.0f}s] {progress.requests:>8,} requests  "
        f"{progress.interval_rps:8.1f} req/s  p99 {progress.interval_p99_ms:7.1f} ms  "
        f"in flight {progress.in_flight:4d}  failures {progress.failures:,}"
    )
    if progress.dropped:
        line += f"  dropped {progress.dropped:,}"
    return line


def format_summary(summary: Summary) -> str:
    statuses = "  ".join(f"{status}: {count:,}" for status, count in summary.statuses.items())
    endpoints = "  ".join(f"{name}: {count:,}" for name, count in summary.endpoints.items())
    lines = [
        f"requests   {summary.requests:,} in {summary.duration_s:.1f} s "
        f"= {summary.requests_per_s:,.1f} req/s",
        f"latency    p50 {summary.p50_ms:.1f} ms   p95 {summary.p95_ms:.1f} ms   "
        f"p99 {summary.p99_ms:.1f} ms   max {summary.max_ms:.1f} ms",
        f"statuses   {statuses or '-'}",
        f"endpoints  {endpoints or '-'}",
    ]
    if summary.failures:
        lines.append(f"failures   {summary.failures:,} (not 2xx/404)")
    if summary.dropped:
        lines.append(
            f"dropped    {summary.dropped:,} requests not sent: the in-flight limit was reached "
            "(the server cannot keep up with the target rate)"
        )
    return "\n".join(lines)

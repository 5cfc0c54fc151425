"""The cluster tier's pictures: a run as a timeline of replicas, lag and purchases, drawn from
what the recorders and the purchase streams saw (tests/support/plots.py draws)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tests.results import result_file
from tests.support.plots import Line, Mark, Panel, cumulative, timeline

from .scaling import PeriodicSampler, ScalingRecorder


def replicas(recorder: ScalingRecorder, role: str) -> list[Line]:
    """Wanted (the Deployment's spec.replicas) and ready pods of ``role``."""
    return [
        Line(f"{role}: wanted", [(s.at, s.replicas) for s in recorder.samples], step=True),
        Line(f"{role}: ready", [(s.at, s.ready) for s in recorder.samples], step=True, dashed=True),
    ]


def lag(recorder: ScalingRecorder) -> list[Line]:
    """The consumer group's lag as KEDA read it and as the consumer pods reported it."""
    keda = [(s.at, s.keda_lag) for s in recorder.samples if s.keda_lag is not None]
    pods = [(s.at, s.consumer_lag) for s in recorder.samples if s.consumer_lag is not None]
    return [Line("KEDA's view", keda), Line("the consumers' view", pods, dashed=True)]


def answers(started: float, seen: Iterable[tuple[float, str]], who: str) -> list[Line]:
    """Each answer a purchase stream got (monotonic time, status) since ``started`` (a
    recorder's), counted over time: the 202s, and the others when there were any."""
    seen = list(seen)
    accepted = [at - started for at, status in seen if status == "202"]
    refused = [at - started for at, status in seen if status != "202"]
    lines = [Line(f"{who}: answered 202", cumulative(accepted))]
    if refused:
        lines.append(Line(f"{who}: answered otherwise (retried)", cumulative(refused)))
    return lines


def stored(started: float, counts: PeriodicSampler[tuple[float, int]], who: str) -> list[Line]:
    """How many of the stream's purchases MongoDB held, sampled by ``counts``."""
    points = [(at - started, float(count)) for at, count in counts.samples]
    return [Line(f"{who}: stored", points, dashed=True)]


def plot(name: str, title: str, panels: Sequence[Panel], marks: Sequence[Mark]) -> Path:
    """The run's timeline as test-results/cluster/<name>.svg."""
    return timeline(result_file("cluster", f"{name}.svg"), title, panels, marks)

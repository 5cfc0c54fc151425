"""The plots are drawn from the samples given, the same samples give the same file."""

from __future__ import annotations

from pathlib import Path

from tests.support.plots import (
    Line,
    Mark,
    Panel,
    cumulative,
    latency_distribution,
    timeline,
)


def test_cumulative_counts_in_time_order() -> None:
    assert cumulative([3.0, 1.0, 2.0]) == [(1.0, 1.0), (2.0, 2.0), (3.0, 3.0)]


def test_cumulative_keeps_at_most_the_points_asked_for_and_the_last() -> None:
    points = cumulative([float(i) for i in range(10_001)], most=100)
    assert len(points) <= 101
    assert points[-1] == (10_000.0, 10_001.0)


def test_a_timeline_has_every_label_and_mark_and_is_reproducible(tmp_path: Path) -> None:
    panels = [
        Panel("replicas", [Line("wanted", [(0, 1), (10, 4), (30, 1)], step=True)]),
        Panel("lag", [Line("KEDA's lag", [(0, 0), (10, 900), (30, 0)])]),
    ]
    marks = [Mark(10, "scale-out"), Mark(30, "back to 1")]
    first = timeline(tmp_path / "a.svg", "A run", panels, marks).read_text()
    second = timeline(tmp_path / "b.svg", "A run", panels, marks).read_text()
    assert first == second
    assert first.startswith("<?xml")
    assert "<svg" in first
    for text in ("A run", "wanted", "KEDA", "scale-out", "back to 1", "replicas"):
        assert text in first, text


def test_a_latency_distribution_names_each_series_with_its_count(tmp_path: Path) -> None:
    svg = latency_distribution(
        tmp_path / "l.svg", "Latency", {"baseline": [0.001, 0.002], "purchases": [0.003] * 3}
    ).read_text()
    assert "baseline (2)" in svg
    assert "purchases (3)" in svg

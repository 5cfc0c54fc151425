"""SVG pictures of what a run measured, drawn with matplotlib from the samples the tests record
(never by hand): timelines of the scaling runs, latency distributions of the benchmarks.

The object API only (no pyplot and its global state), and no timestamp in the file, so the
same samples always give the same SVG.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("svg")
matplotlib.rcParams["svg.hashsalt"] = "shopsys"  # stable element ids
matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text: small, searchable

from matplotlib.figure import Figure  # noqa: E402  (after the backend is chosen)

Points = Sequence[tuple[float, float]]


@dataclass(frozen=True)
class Line:
    label: str
    points: Points
    step: bool = False  # a count that holds until the next sample (replicas)
    dashed: bool = False


@dataclass(frozen=True)
class Panel:
    ylabel: str
    lines: Sequence[Line]


@dataclass(frozen=True)
class Mark:
    """A moment of the run, drawn as a vertical line across every panel."""

    at: float
    label: str


def cumulative(times: Iterable[float], most: int = 500) -> list[tuple[float, float]]:
    """(time, how many so far) along ``times``: at most ``most`` points, the last always."""
    ordered = sorted(times)
    step = max(1, len(ordered) // most)
    return [
        (at, float(count))
        for count, at in enumerate(ordered, start=1)
        if count % step == 0 or count == len(ordered)
    ]


def timeline(path: Path, title: str, panels: Sequence[Panel], marks: Sequence[Mark]) -> Path:
    """Panels over one time axis (seconds), with ``marks`` across them; written to ``path``."""
    figure = Figure(figsize=(10.0, 1.6 + 2.1 * len(panels)), layout="constrained")
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels, strict=True):
        for line in panel.lines:
            xs = [x for x, _ in line.points]
            ys = [y for _, y in line.points]
            style = "--" if line.dashed else "-"
            if line.step:
                ax.step(xs, ys, where="post", label=line.label, linestyle=style)
            else:
                ax.plot(xs, ys, label=line.label, linestyle=style)
        for mark in marks:
            ax.axvline(mark.at, color="0.45", linestyle=":", linewidth=1.0)
        ax.set_ylabel(panel.ylabel)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    for mark in marks:  # above the top panel, where no line runs
        axes[0].annotate(
            mark.label,
            xy=(mark.at, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(0, 3),
            textcoords="offset points",
            rotation=35,
            va="bottom",
            ha="left",
            fontsize="small",
            color="0.25",
        )
    axes[-1].set_xlabel("seconds since the test started")
    figure.suptitle(title)
    return _save(figure, path)


def latency_distribution(path: Path, title: str, seconds: Mapping[str, Sequence[float]]) -> Path:
    """The share of requests answered within each latency (a CDF on a log axis), per label."""
    figure = Figure(figsize=(9.0, 4.2), layout="constrained")
    ax = figure.subplots()
    for label, latencies in seconds.items():
        ordered = sorted(latencies)
        if not ordered:
            continue
        shares = [(i + 1) / len(ordered) for i in range(len(ordered))]
        ax.plot([s * 1000 for s in ordered], shares, label=f"{label} ({len(ordered):,})")
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("share of requests answered")
    ax.set_ylim(0, 1.0)
    for share in (0.5, 0.99):
        ax.axhline(share, color="0.6", linestyle=":", linewidth=1.0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize="small")
    figure.suptitle(title)
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="svg", metadata={"Date": None})
    return path

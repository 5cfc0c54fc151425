"""What the machine was doing while a benchmark ran, and what one process used of it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a running process."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


@dataclass
class MachineLoad:
    """Started when made; ``describe()`` says how busy the CPUs were since."""

    load_before: float = field(default_factory=lambda: os.getloadavg()[0])
    _ticks: tuple[int, int] = field(default_factory=_cpu_ticks)

    def describe(self) -> str:
        busy, total = _cpu_ticks()
        share = (busy - self._ticks[0]) / max(total - self._ticks[1], 1)
        return (
            f"load average {self.load_before:.2f} before the run and "
            f"{os.getloadavg()[0]:.2f} after; all {os.cpu_count()} CPUs {share:.0%} busy "
            "during it (the benchmark's own processes included)"
        )


def thread_cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time of a running process by thread kind: ``main`` (the thread that runs the event
    loop), ``librdkafka`` (its own C threads, named ``rdk:*``) and ``other`` threads."""
    totals = {"main": 0.0, "librdkafka": 0.0, "other": 0.0}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        kind = (
            "main"
            if task.name == str(pid)
            else "librdkafka"
            if name.startswith("rdk:")
            else "other"
        )
        totals[kind] += (int(fields[11]) + int(fields[12])) / TICKS
    return totals

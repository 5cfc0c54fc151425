"""The operations page's script under Node, with the DOM, uPlot and fetch stubbed: what it
plots from a sequence of snapshots, as a Service balancing polls across replicas serves them.
The browser test covers the real page; this one runs in the unit tier, where Node is found."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from shopsys.management.operations.routes import STATIC_DIR

SCRIPT = STATIC_DIR / "operations.js"

# Feeds the snapshots (argv[1], JSON) to the page's polls one by one, then prints the series.
HARNESS = r"""
const fs = require("fs");
const snapshots = JSON.parse(process.argv[1]);
const elements = new Map();
const node = () => ({
  hidden: false, textContent: "", className: "", dataset: {}, clientWidth: 600,
  append() {}, replaceChildren() {}, querySelector: () => node(),
});
globalThis.window = globalThis;
globalThis.document = {
  body: node(), createElement: node,
  getElementById(id) {
    if (!elements.has(id)) elements.set(id, node());
    return elements.get(id);
  },
};
globalThis.ResizeObserver = class { observe() {} };
globalThis.uPlot = class { setData() {} destroy() {} setSize() {} };
let served = 0;
globalThis.fetch = async () => ({ ok: true, json: async () => snapshots[served++] });
const polls = [];
globalThis.setTimeout = (poll) => { polls.push(poll); };
(async () => {
  const started = new Function(fs.readFileSync(process.argv[2], "utf8"));
  started();
  while (served < snapshots.length) {
    await new Promise((resolve) => setImmediate(resolve));
    if (polls.length) await polls.shift()();
  }
  await new Promise((resolve) => setImmediate(resolve));
  const { series, snapshots: plotted } = window.shopsysOps;
  console.log(JSON.stringify({ time: series.time, latencyMean: series.latencyMean, plotted }));
})();
"""


def _snapshot(time: float, replica: str, writes: int, seconds: float) -> dict[str, Any]:
    unavailable = {"available": False, "reason": "not in Kubernetes"}
    return {
        "time": time,
        "replica": replica,
        "topic": "purchases",
        "group": "shopsys-consumer",
        "offsets": {
            "available": True,
            "partitions": [{"partition": 0, "high": 100, "position": 90, "lag": 10}],
            "lag_total": 10,
            "produced_total": 100,
            "processed_total": 90,
            "dead_lettered_total": 0,
        },
        "group_members": {"available": True, "state": "STABLE", "members": []},
        "write_latency": {
            "available": True,
            "count": writes,
            "sum_seconds": seconds,
            "buckets": [[0.1, writes], [1.0, writes]],
        },
        "replicas": unavailable,
    }


def _plot(snapshots: list[dict[str, Any]]) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is required to run the operations page's script (node on PATH)")
    run = subprocess.run(
        [node, "-e", HARNESS, json.dumps(snapshots), str(SCRIPT)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    plotted: dict[str, Any] = json.loads(run.stdout)
    return plotted


def test_polls_answered_by_different_replicas_plot_ascending_times_and_own_latencies() -> None:
    plotted = _plot(
        [
            _snapshot(10.0, "consumer-a", writes=10, seconds=1.0),
            _snapshot(11.0, "consumer-a", writes=20, seconds=2.0),  # 100 ms a write
            _snapshot(12.0, "consumer-b", writes=1000, seconds=500.0),  # another histogram
            _snapshot(11.5, "consumer-a", writes=30, seconds=3.0),  # older: skipped
            _snapshot(12.0, "consumer-b", writes=1000, seconds=500.0),  # the same: skipped
            _snapshot(13.0, "consumer-b", writes=1010, seconds=500.5),  # 50 ms a write
        ]
    )
    assert plotted["time"] == [10.0, 11.0, 12.0, 13.0]
    assert plotted["latencyMean"] == [None, pytest.approx(100.0), None, pytest.approx(50.0)]
    assert plotted["plotted"] == 4

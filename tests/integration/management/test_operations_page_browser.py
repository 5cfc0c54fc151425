"""The operations page in a real headless Chromium while `shopsys load` buys through the web
role: the lag plot rises above zero and falls back to zero, the rate plot shows the events,
and the counts end where the load's 202 answers say they must.

The consumer writes one event per batch (SHOPSYS_CONSUMER_BATCH_SIZE=1), so it stays behind
the load for a few seconds and the lag is there to see; nothing else about it is changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.results import result_file
from tests.support.browser import checked_page, chromium
from tests.support.polling import eventually
from tests.support.system import RunningSystem

pytestmark = pytest.mark.integration

SLOW_CONSUMER = {"SHOPSYS_CONSUMER_BATCH_SIZE": "1", "SHOPSYS_OPS_CACHE_SECONDS": "0.5"}
LOAD_SECONDS = 4


def _plotted(page: Page, plot: str, line: int) -> list[float | None]:
    """The values uPlot draws for one line of one plot (line 0 is the time axis)."""
    values: list[float | None] = page.evaluate(
        "([plot, line]) => Array.from(window.shopsysOps.plots[plot].data[line])", [plot, line]
    )
    return values


def _run_load(web_url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "shopsys", "load", "--web-url", web_url),
            *("--concurrency", "16", "--duration", str(LOAD_SECONDS)),
            *("--mix", "purchase=1", "--users", "200", "--json", "--quiet"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_the_lag_plot_follows_a_burst_of_purchases(system_factory: Any, tmp_path: Path) -> None:
    with system_factory(env=SLOW_CONSUMER) as system, chromium() as browser:
        run(browser, system)


def run(browser: Any, system: RunningSystem) -> None:
    with checked_page(browser, viewport={"width": 1280, "height": 900}) as page:
        page.goto(system.management_url + "/operations")
        expect(page.locator("#group")).not_to_have_text("…")
        lag = page.locator("#lag-card")
        expect(lag).to_have_attribute("data-lag-total", "0", timeout=30_000)
        expect(page.locator("#partitions tbody tr")).to_have_count(12)
        expect(page.locator("#members tbody tr")).to_have_count(1, timeout=30_000)
        expect(page.locator("#replicas-unavailable")).to_contain_text("not configured")
        before = len(_plotted(page, "lag", 1))

        load = _run_load(system.web_url)
        try:
            first = eventually(
                lambda: max((v or 0 for v in _plotted(page, "lag", 1)[before:]), default=0) or None,
                timeout=LOAD_SECONDS + 20,
                every=0.5,
                what="the plotted lag to rise above 0",
            )
            stdout, _ = load.communicate(timeout=LOAD_SECONDS + 60)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
        assert load.returncode == 0, stdout
        accepted = json.loads(stdout)["statuses"].get("202", 0)
        assert accepted > 0, stdout

        # The consumer catches up: the plotted lag comes back to 0 after its peak.
        def back_to_zero() -> list[float | None] | None:
            plotted = _plotted(page, "lag", 1)[before:]
            top = plotted.index(max(plotted, key=lambda v: v or 0))
            return plotted if plotted[-1] == 0 and any(v == 0 for v in plotted[top:]) else None

        plotted = eventually(back_to_zero, timeout=120, every=0.5, what="the lag back at 0")
        peak = max(v or 0 for v in plotted)
        assert peak >= first > 0
        expect(lag).to_have_attribute("data-lag-total", "0")

        produced_rate = [v for v in _plotted(page, "rates", 1)[before:] if v]
        processed_rate = [v for v in _plotted(page, "rates", 2)[before:] if v]
        assert produced_rate
        assert processed_rate
        # Rates integrate back to counts: roughly every accepted purchase, seen by the page.
        # Point i's rate covers (t[i-1], t[i]], so the first point after `before` counts too:
        # the burst may start before it is drawn.
        times, rates = _plotted(page, "rates", 0), _plotted(page, "rates", 1)
        produced = sum(
            (rates[i] or 0) * (float(times[i] or 0) - float(times[i - 1] or 0))
            for i in range(max(before, 1), len(times))
        )
        assert produced == pytest.approx(accepted, rel=0.05)

        snapshot = httpx.get(f"{system.management_url}/api/v1/operations", timeout=30).json()
        assert snapshot["offsets"]["produced_total"] == accepted
        assert snapshot["offsets"]["processed_total"] == accepted
        highs = page.locator("#partitions tbody tr td:nth-child(2)").all_inner_texts()
        assert sum(int(h) for h in highs) == accepted
        latency = [v for v in _plotted(page, "latency", 1) if v]
        assert latency
        assert all(0 < v < 10_000 for v in latency)  # milliseconds

        time.sleep(1.5)  # one more point at zero for the picture
        page.screenshot(path=str(result_file("integration", "ops-page.png")), full_page=True)
        print(f"\n[ops page] accepted={accepted} peak lag={peak} points={len(plotted)}")

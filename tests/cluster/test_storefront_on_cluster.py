"""The storefront page served from the cluster, in a real headless Chromium."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.integration.web.test_storefront_browser import browser, page

from .kit.cluster import ClusterInfo

pytestmark = pytest.mark.cluster
__all__ = ["browser", "page"]


def test_buy_from_the_storefront_served_by_the_cluster(
    page: Page, cluster: ClusterInfo, tmp_path: Path
) -> None:
    page.goto(cluster.web + "/")
    expect(page.locator("#products li[data-product-id]")).to_have_count(6)
    page.fill("#user-id", f"cluster-{uuid.uuid4().hex[:8]}")
    page.fill("#username", "Cluster Ann")
    page.locator('#products li[data-product-id="p-003"] button.buy').click()
    expect(page.locator("#status")).to_contain_text("Accepted", timeout=15_000)
    stored = page.locator("#purchases li[data-purchase-id]:not(.pending)")
    expect(stored).to_have_count(1, timeout=30_000)
    page.screenshot(path=str(tmp_path / "storefront-on-cluster.png"), full_page=True)

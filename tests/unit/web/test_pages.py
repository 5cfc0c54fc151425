"""The storefront page and its assets are served by the web role itself."""

from __future__ import annotations

import pytest

from tests.unit.web.conftest import WebUnderTest

pytestmark = pytest.mark.anyio


async def test_storefront_page_and_assets(web: WebUnderTest) -> None:
    page = await web.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    for needle in ('id="products"', 'id="purchases"', 'id="user-id"', "/static/app.js"):
        assert needle in page.text
    script = await web.client.get("/static/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "/api/v1/purchases" in script.text
    assert "innerHTML" not in script.text, "text goes in with textContent only"
    style = await web.client.get("/static/style.css")
    assert style.status_code == 200
    assert (await web.client.get("/static/missing.js")).status_code == 404

"""The storefront page in a real headless Chromium: buy, see the purchase appear, cancel it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.browser import checked_page, chromium
from tests.support.system import RunningSystem

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    with checked_page(browser) as opened:
        yield opened


def test_buy_from_the_storefront_see_it_in_my_purchases_and_cancel_it(
    page: Page, shared_system: RunningSystem, unique_user: str, tmp_path: Path
) -> None:
    page.goto(shared_system.web_url + "/")
    products = page.locator("#products li[data-product-id]")
    expect(products).to_have_count(6)
    expect(products.first).to_contain_text("Enamel mug")

    page.fill("#user-id", unique_user)
    page.fill("#username", "Browser Ann")
    mug = page.locator('#products li[data-product-id="p-002"]')
    mug.locator("input.quantity").fill("2")
    mug.locator("button.buy").click()
    expect(page.locator("#status")).to_contain_text("Accepted", timeout=15_000)

    stored = page.locator("#purchases li[data-purchase-id]:not(.pending)")
    expect(stored).to_have_count(1, timeout=20_000)
    expect(stored.first).to_contain_text("Canvas tote bag \u00d7 2")
    expect(stored.first).to_contain_text("36")

    page.locator('#products li[data-product-id="p-005"] button.buy').click()
    expect(stored).to_have_count(2, timeout=20_000)
    expect(stored.first).to_contain_text("Sticker pack \u00d7 1")  # newest first

    tote = stored.filter(has_text="Canvas tote bag")
    tote.locator("button.cancel").click()
    expect(page.locator("#status")).to_contain_text("Cancellation accepted", timeout=15_000)
    expect(tote.locator(".badge")).to_have_text("cancelled", timeout=20_000)
    expect(tote.locator("button.cancel")).to_have_count(0)
    expect(stored.first.locator("button.cancel")).to_have_count(1)  # the stickers stay
    page.screenshot(path=str(tmp_path / "storefront.png"), full_page=True)

    # a reload remembers the user and shows the history again
    page.reload()
    expect(page.locator("#user-id")).to_have_value(unique_user)
    expect(stored).to_have_count(2, timeout=10_000)


def test_invalid_user_id_is_explained_not_sent(page: Page, shared_system: RunningSystem) -> None:
    page.goto(shared_system.web_url + "/")
    expect(page.locator("#products li[data-product-id]")).to_have_count(6)
    page.fill("#user-id", "not valid!")
    page.locator("#products li button.buy").first.click()
    expect(page.locator("#status")).to_contain_text("Enter a user id")
    expect(page.locator("#status")).to_have_class("error")


def test_a_doubtful_answer_is_retried_with_the_same_key_and_buys_once(
    page: Page, shared_system: RunningSystem, unique_user: str
) -> None:
    """The first attempt reaches the real web and is stored, but the browser is told 503 (an
    answer lost or late): the storefront says it is retrying, sends the same order with the
    same Idempotency-Key, and the purchase is stored once."""
    keys: list[str] = []

    def lose_the_first_answer(route: Route) -> None:
        keys.append(route.request.headers["idempotency-key"])
        if len(keys) == 1:
            stored = route.fetch()  # the real web accepts and Kafka stores it...
            assert stored.status == 202
            route.fulfill(  # ...but the answer the browser gets is doubtful
                status=503,
                headers={"Content-Type": "application/json", "Retry-After": "1"},
                body='{"error": {"code": "kafka_unavailable", "message": "not accepted in time"}}',
            )
        else:
            route.continue_()

    page.route("**/api/v1/purchases", lose_the_first_answer)
    page.goto(shared_system.web_url + "/")
    page.fill("#user-id", unique_user)
    page.locator('#products li[data-product-id="p-001"] button.buy').click()
    expect(page.locator("#status")).to_contain_text("retrying", timeout=5_000)
    expect(page.locator("#status")).to_contain_text("Accepted", timeout=15_000)

    assert len(keys) == 2
    assert keys[0] == keys[1], "the retry must reuse the order's Idempotency-Key"
    stored = page.locator("#purchases li[data-purchase-id]:not(.pending)")
    expect(stored).to_have_count(1, timeout=20_000)
    page.wait_for_timeout(1_000)  # a second purchase, were there one, would show by now
    page.reload()
    expect(stored).to_have_count(1, timeout=10_000)

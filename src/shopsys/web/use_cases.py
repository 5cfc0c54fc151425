"""What the storefront does for a request, apart from HTTP: build the event, publish it.

Each use case answers only once Kafka acknowledged its event; ``NotAccepted`` otherwise.
"""

from __future__ import annotations

import logging
import uuid

from shopsys.events import (
    Event,
    PurchaseCancelled,
    PurchasePlaced,
    purchase_cancelled,
    purchase_placed,
)
from shopsys.kafka.producer import Headers, PublishError
from shopsys.models import ADHOC_PRODUCT_ID, Product, purchase_id_for
from shopsys.web.bodies import BuyRequest, PurchaseRequest
from shopsys.web.services import WebServices

logger = logging.getLogger(__name__)


class NotAccepted(Exception):
    """Kafka did not acknowledge the event: the client should retry."""


class UnknownProduct(Exception):
    def __init__(self, product_id: str) -> None:
        super().__init__(product_id)
        self.product_id = product_id


async def publish(services: WebServices, event: Event, headers: Headers) -> None:
    try:
        await services.publisher.publish(event, headers)
    except PublishError as error:
        services.metrics.events_failed.inc()
        logger.warning(
            "%s of purchase %s not accepted: %s", event.schema_, event.purchase_id, error
        )
        raise NotAccepted(str(error)) from error
    services.metrics.events_produced.inc()


async def place_purchase(
    services: WebServices, request: PurchaseRequest, idempotency_key: str | None
) -> PurchasePlaced:
    """Build the purchase of a catalog product at the catalog's price (nothing published)."""
    product = await _find_product(services, request.product_id)
    return purchase_placed(
        purchase_id=purchase_id_for(request.user_id, idempotency_key),
        user_id=request.user_id,
        username=request.username,
        product=product,
        quantity=request.quantity,
    )


def buy_adhoc_item(request: BuyRequest, idempotency_key: str | None) -> PurchasePlaced:
    """Compatibility with the original service: a client-priced ad-hoc item."""
    item = Product(id=ADHOC_PRODUCT_ID, name="Ad-hoc item", price_cents=request.price_cents)
    return purchase_placed(
        purchase_id=purchase_id_for(request.userid, idempotency_key),
        user_id=request.userid,
        username=request.username,
        product=item,
        quantity=1,
    )


def cancel_purchase(user_id: str, purchase_id: uuid.UUID) -> PurchaseCancelled:
    """A cancellation is idempotent by itself (keyed by the purchase), so a retried request,
    with or without an ``Idempotency-Key``, has the same effect. Whether the purchase exists
    and is the user's is decided where it is stored: it may still be on its way there."""
    return purchase_cancelled(purchase_id=purchase_id, user_id=user_id)


async def _find_product(services: WebServices, product_id: str) -> Product:
    for product in await services.reader.list_products():
        if product.id == product_id:
            return product
    raise UnknownProduct(product_id)

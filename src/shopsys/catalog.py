"""The catalog seeded into an empty ``products`` collection by ``shopsys init``."""

from __future__ import annotations

from shopsys.models import Product

DEFAULT_PRODUCTS: tuple[Product, ...] = (
    Product(id="p-001", name="Enamel mug", price_cents=1250),
    Product(id="p-002", name="Canvas tote bag", price_cents=1800),
    Product(id="p-003", name="Kafka in Action (book)", price_cents=4499),
    Product(id="p-004", name="Mechanical keyboard", price_cents=11900),
    Product(id="p-005", name="Sticker pack", price_cents=399),
    Product(id="p-006", name="Hooded sweatshirt", price_cents=5500),
)

"""What the management API's handlers depend on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.store import CatalogStore, PurchaseStore


@dataclass
class ConsumerServices:
    purchases: PurchaseStore
    catalog: CatalogStore
    ping_database: Callable[[], None]
    consumer_problems: Callable[[], list[str]] = lambda: []
    consumer_alive: Callable[[], bool] = lambda: True
    admin_token: str | None = None
    metrics: ConsumerMetrics = field(default_factory=ConsumerMetrics)
    close: Callable[[], None] = lambda: None  # what was opened for them (the MongoDB client)

    def readiness_problems(self) -> list[str]:
        problems = list(self.consumer_problems())
        try:
            self.ping_database()
        except Exception as error:  # any failure means "not ready", and says why
            problems.append(f"mongodb unreachable: {type(error).__name__}")
        return problems

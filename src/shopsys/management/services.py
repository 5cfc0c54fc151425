"""What the consumer role's composition root builds, once, for the management API and the
consumer loop that runs beside it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from anyio import CapacityLimiter

from shopsys.consumer.loop import ConsumerLoop
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.management.operations.snapshot import Operations
from shopsys.store import CatalogStore, PurchaseStore


@dataclass(frozen=True)
class ConsumerServices:
    purchases: PurchaseStore
    catalog: CatalogStore
    ping_database: Callable[[], None]
    loop: ConsumerLoop  # run beside the API in a thread
    operations: Operations  # the operations page's snapshots
    admin_token: str | None = None
    metrics: ConsumerMetrics = field(default_factory=ConsumerMetrics)
    close: Callable[[], None] = lambda: None  # what was opened for them (the MongoDB client)
    read_timeout: float | None = None  # the deadline of one database read of the API
    # Threads for database reads, apart from the health checks': readiness and metrics
    # never wait behind reads, nor the catalog (the web role's prices) behind histories.
    read_threads: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(32))
    catalog_threads: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(4))
    health_threads: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(2))

    def consumer_alive(self) -> bool:
        return not self.loop.crashed

    def readiness_problems(self) -> list[str]:
        problems = self.loop.problems()
        try:
            self.ping_database()
        except Exception as error:  # any failure means "not ready", and says why
            problems.append(f"mongodb unreachable: {type(error).__name__}")
        return problems

"""What the consumer role's composition root builds, once, for the management API and the
consumer loop that runs beside it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from anyio import CapacityLimiter

from shopsys.consumer.loop import ConsumerLoop
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.consumer.ops.snapshot import Operations
from shopsys.store import CatalogStore, PurchaseStore


@dataclass(frozen=True)
class ConsumerServices:
    purchases: PurchaseStore
    catalog: CatalogStore
    ping_database: Callable[[], None]
    loop: ConsumerLoop | None = None  # run beside the API in a thread; None: the API alone
    admin_token: str | None = None
    metrics: ConsumerMetrics = field(default_factory=ConsumerMetrics)
    operations: Operations | None = None  # the operations page's snapshots; None: not served
    close: Callable[[], None] = lambda: None  # what was opened for them (the MongoDB client)
    read_timeout: float | None = None  # the deadline of one database read of the API
    # Threads for database reads, apart from the health checks': readiness and metrics
    # never wait behind reads, nor the catalog (the web role's prices) behind histories.
    read_threads: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(32))
    catalog_threads: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(4))
    health_threads: CapacityLimiter = field(default_factory=lambda: CapacityLimiter(2))

    def consumer_alive(self) -> bool:
        return self.loop is None or not self.loop.crashed

    def readiness_problems(self) -> list[str]:
        problems = self.loop.problems() if self.loop is not None else []
        try:
            self.ping_database()
        except Exception as error:  # any failure means "not ready", and says why
            problems.append(f"mongodb unreachable: {type(error).__name__}")
        return problems

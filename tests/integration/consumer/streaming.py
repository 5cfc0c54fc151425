"""A stream of purchases through serve-web, retried with the same Idempotency-Key until 202,
with every n-th purchase cancelled once accepted (retried the same way).

Every key is retried until it is accepted, so the set of purchase ids answered 202 is
exactly the set of purchases that may exist, and the set of cancellations answered 202
exactly the purchases that must end cancelled: the fault tests compare both with MongoDB.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from typing import Any

import httpx

PRODUCTS = ("p-001", "p-002", "p-003", "p-004", "p-005", "p-006")


class PurchaseStream:
    """``total`` purchases from ``concurrency`` workers, at most ``rate`` per second."""

    def __init__(
        self,
        web_url: str,
        total: int,
        *,
        concurrency: int = 32,
        rate: float | None = None,
        users: int = 200,
        user_prefix: str = "user",
        deadline_seconds: float = 150.0,
        cancel_every: int = 0,
        catalog_only: bool = False,
        cancel_url: str | None = None,
    ) -> None:
        self.web_url = web_url
        self.total = total
        self.concurrency = concurrency
        self.rate = rate
        self.users = users
        self.user_prefix = user_prefix
        self.deadline_seconds = deadline_seconds
        self.cancel_every = cancel_every  # n: every n-th purchase is cancelled once accepted
        self.catalog_only = catalog_only  # no compatibility /buy requests
        self.cancel_url = cancel_url or web_url  # where cancellations go (another web process)
        self.totals: dict[str, int] = {}  # purchase id -> the total its 202 answered
        self.cancelled: set[str] = set()  # purchase ids whose cancellation was answered 202
        self.run_id = uuid.uuid4().hex[:8]
        self.accepted: dict[int, str] = {}
        self.statuses: Counter[str] = Counter()
        self.answers: list[tuple[float, str]] = []  # (monotonic time, status) of each attempt
        self.errors: list[str] = []
        self.started_at = 0.0
        self.finished_at = 0.0
        self.taken = 0  # purchases started
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="purchase-stream", daemon=True)

    # --- control from the test thread ---------------------------------------------------

    def start(self) -> PurchaseStream:
        self.started_at = time.monotonic()
        self._thread.start()
        return self

    def wait_for(self, accepted: int, timeout: float = 60.0) -> None:
        """Block until at least ``accepted`` purchases were answered 202."""
        deadline = time.monotonic() + timeout
        while len(self.accepted) < accepted:
            if not self._thread.is_alive():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(self.accepted)} of {accepted} accepted in time")
            time.sleep(0.05)

    def stop(self) -> None:
        """Start no more purchases; those started are still retried until accepted."""
        self._stopping = True

    def join(self) -> set[str]:
        """Wait for the end of the stream; the purchase ids answered 202."""
        self._thread.join(self.deadline_seconds + 30)
        assert not self._thread.is_alive(), "the purchase stream did not finish"
        assert not self.errors, f"unexpected answers: {self.errors[:5]}"
        expected = self.taken if self._stopping else self.total
        assert len(self.accepted) == expected, f"{len(self.accepted)} of {expected} accepted"
        ids = set(self.accepted.values())
        assert len(ids) == expected, "two purchases got the same id"
        return ids

    def summary(self) -> str:
        seconds = (self.finished_at or time.monotonic()) - self.started_at
        return (
            f"{len(self.accepted)} accepted in {seconds:.1f}s "
            f"({len(self.accepted) / max(seconds, 1e-9):.0f}/s), answers {dict(self.statuses)}"
        )

    # --- the stream -----------------------------------------------------------------------

    def _request(self, index: int) -> tuple[str, dict[str, Any]]:
        user = f"{self.user_prefix}-{index % self.users:03d}"
        if index % 2 and not self.catalog_only:
            return "/api/v1/buy", {"username": f"User {user}", "userid": user, "price": 2.5}
        product = PRODUCTS[index % len(PRODUCTS)]
        return "/api/v1/purchases", {"user_id": user, "product_id": product, "quantity": 1}

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as error:  # surfaced by join()
            self.errors.append(f"stream crashed: {error!r}")
        finally:
            self.finished_at = time.monotonic()

    async def _main(self) -> None:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(self.total):
            queue.put_nowait(index)
        await asyncio.gather(*(self._worker(queue) for _ in range(self.concurrency)))

    async def _worker(self, queue: asyncio.Queue[int]) -> None:
        # A client (one keep-alive connection) per worker: one shared pool serialises on its
        # lock and caps the stream near 100 purchases/s.
        async with httpx.AsyncClient(base_url=self.web_url, timeout=20) as client:
            await self._work(client, queue)

    async def _work(self, client: httpx.AsyncClient, queue: asyncio.Queue[int]) -> None:
        while not queue.empty() and not self._stopping:
            index = queue.get_nowait()
            self.taken += 1
            if self.rate is not None:
                start_at = self.started_at + index / self.rate
                await asyncio.sleep(max(0.0, start_at - time.monotonic()))
            await self._purchase(client, index)

    async def _purchase(self, client: httpx.AsyncClient, index: int) -> None:
        path, body = self._request(index)
        key = f"{self.run_id}-{index}"
        answer = await self._until_accepted(client, path, body, key)
        if answer is None:
            return
        purchase_id = answer["purchase_id"]
        self.accepted[index] = purchase_id
        self.totals[purchase_id] = answer.get("total_cents") or answer["data"]["total_cents"]
        if self.cancel_every and index % self.cancel_every == 0:
            user = body.get("user_id") or body["userid"]
            cancel = f"{self.cancel_url}/api/v1/users/{user}/purchases/{purchase_id}/cancel"
            if await self._until_accepted(client, cancel, None, f"{key}-cancel") is not None:
                self.cancelled.add(purchase_id)

    async def _until_accepted(
        self, client: httpx.AsyncClient, path: str, body: dict[str, Any] | None, key: str
    ) -> dict[str, Any] | None:
        """POST with one Idempotency-Key until 202 (its body), retrying 502-504 and
        connection errors; None (and an error) for any other answer or the deadline."""
        delay = 0.1
        while time.monotonic() - self.started_at < self.deadline_seconds:
            try:
                response = await client.post(path, json=body, headers={"Idempotency-Key": key})
            except httpx.TransportError as error:
                self.statuses[type(error).__name__] += 1
                self.answers.append((time.monotonic(), type(error).__name__))
            else:
                self.statuses[str(response.status_code)] += 1
                self.answers.append((time.monotonic(), str(response.status_code)))
                if response.status_code == 202:
                    answer: dict[str, Any] = response.json()
                    return answer
                if response.status_code not in (502, 503, 504):
                    self.errors.append(f"{path} -> {response.status_code} {response.text[:200]}")
                    return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        self.errors.append(f"{path} was never accepted")
        return None

"""The load loop: a fixed rate (open loop) or a fixed number of concurrent clients (closed loop).

Every run is bounded in time (``duration``) and, at a fixed rate, in requests in flight: when
the server falls behind, requests are counted as dropped instead of piling up.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import orjson

from shopsys.loadgen.endpoints import Context, Endpoint, Mix
from shopsys.loadgen.http import Connection, HttpFailure, Origin
from shopsys.loadgen.stats import Progress, Recorder, Summary


class LoadError(Exception):
    """The run could not start (no server, no catalog)."""


@dataclass(frozen=True)
class LoadPlan:
    base_url: str
    mix: Mix
    duration: float = 30.0
    rate: float | None = None
    concurrency: int = 16
    users: int = 100
    timeout: float = 10.0
    max_in_flight: int = 1_000
    progress_interval: float = 1.0
    seed: int | None = None
    user_prefix: str = "load-user"

    def in_flight_limit(self) -> int:
        return self.concurrency if self.rate is None else self.max_in_flight


ProgressCallback = Callable[[Progress], None]
ConnectionFactory = Callable[[], Connection]


class _Connections:
    """One keep-alive connection per request in flight, up to a limit."""

    def __init__(self, make_connection: ConnectionFactory, limit: int) -> None:
        self._make_connection = make_connection
        self._limit = limit
        self._idle: list[Connection] = []
        self._all: list[Connection] = []

    def acquire(self) -> Connection | None:
        if self._idle:
            return self._idle.pop()
        if len(self._all) >= self._limit:
            return None
        connection = self._make_connection()
        self._all.append(connection)
        return connection

    def release(self, client: Connection) -> None:
        self._idle.append(client)

    @property
    def busy(self) -> int:
        return len(self._all) - len(self._idle)

    async def aclose(self) -> None:
        await asyncio.gather(*(connection.close() for connection in self._all))


class _Run:
    def __init__(self, plan: LoadPlan, connections: _Connections, context: Context) -> None:
        self.plan = plan
        self.connections = connections
        self.context = context
        self.recorder = Recorder()
        self.rng = random.Random(plan.seed)  # noqa: S311 - simulated traffic, not secrets
        self.stopped = False

    def stop(self) -> None:
        """End early (Ctrl-C): no new requests; those in flight finish."""
        self.stopped = True

    def running(self, deadline: float) -> bool:
        return not self.stopped and time.perf_counter() < deadline

    async def one(self, connection: Connection, endpoint: Endpoint, started: float) -> None:
        """Send one request; latency counts from ``started`` (its scheduled time)."""
        spec = endpoint.build(self.rng, self.context)
        headers = list(spec.headers.items())
        body = None
        if spec.json is not None:
            body = orjson.dumps(spec.json)
            headers.append(("Content-Type", "application/json"))
        try:
            answer = await connection.request(spec.method, spec.path, body, headers)
        except HttpFailure as failure:
            outcome = failure.kind
        else:
            outcome = answer.outcome
            if answer.status == 202 and spec.on_accepted is not None:
                spec.on_accepted()
        self.recorder.record(endpoint.name, outcome, time.perf_counter() - started)

    async def closed_loop(self, deadline: float) -> None:
        async def client_loop() -> None:
            connection = self.connections.acquire()
            assert connection is not None, "one connection per client"
            while self.running(deadline):
                await self.one(connection, self.plan.mix.pick(self.rng), time.perf_counter())

        await asyncio.gather(*(client_loop() for _ in range(self.plan.concurrency)))

    async def open_loop(self, deadline: float, rate: float) -> None:
        tasks: set[asyncio.Task[None]] = set()
        interval = 1.0 / rate
        next_at = time.perf_counter()

        async def send(connection: Connection, scheduled: float) -> None:
            try:
                await self.one(connection, self.plan.mix.pick(self.rng), scheduled)
            finally:
                self.connections.release(connection)

        while next_at < deadline and not self.stopped:
            now = time.perf_counter()
            if next_at > now:
                await asyncio.sleep(next_at - now)
            # launch every request that is due, so a late wake-up does not lower the rate
            now = time.perf_counter()
            while next_at <= now and next_at < deadline:
                connection = self.connections.acquire()
                if connection is None:
                    self.recorder.dropped += 1
                else:
                    task = asyncio.create_task(send(connection, next_at))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                next_at += interval
        if tasks:
            await asyncio.wait(tasks, timeout=self.plan.timeout + 1)


async def _catalog(base_url: str, request_timeout: float) -> list[str]:
    try:
        async with httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=request_timeout
        ) as client:
            response = await client.get("/api/v1/products")
    except httpx.HTTPError as error:
        raise LoadError(f"cannot reach {base_url}: {type(error).__name__}: {error}") from None
    if response.status_code != 200:
        raise LoadError(f"GET /api/v1/products answered {response.status_code}: {response.text}")
    ids = [str(item["id"]) for item in response.json()]
    if not ids:
        raise LoadError("the catalog is empty: run `shopsys init` first")
    return ids


async def run_load(
    plan: LoadPlan,
    *,
    on_progress: ProgressCallback | None = None,
    stop_on_sigint: bool = False,
) -> Summary:
    """Run ``plan``; with ``stop_on_sigint`` Ctrl-C ends the run early and still summarises."""
    try:
        origin = Origin.parse(plan.base_url)
    except ValueError as error:
        raise LoadError(str(error)) from None
    tls = ssl.create_default_context() if origin.scheme == "https" else None
    connections = _Connections(
        lambda: Connection(origin, timeout=plan.timeout, tls=tls), plan.in_flight_limit()
    )
    products = await _catalog(plan.base_url, plan.timeout) if plan.mix.needs_catalog else []
    users = [f"{plan.user_prefix}-{index:05d}" for index in range(plan.users)]
    run = _Run(plan, connections, Context(users=users, product_ids=products))
    loop = asyncio.get_running_loop()
    if stop_on_sigint:
        loop.add_signal_handler(signal.SIGINT, run.stop)
    started = time.perf_counter()
    reporter = asyncio.create_task(_report(run, started, on_progress))
    try:
        if plan.rate is None:
            await run.closed_loop(started + plan.duration)
        else:
            await run.open_loop(started + plan.duration, plan.rate)
        elapsed = time.perf_counter() - started
    finally:
        if stop_on_sigint:
            loop.remove_signal_handler(signal.SIGINT)
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
        await connections.aclose()
    return run.recorder.summary(elapsed)


async def _report(run: _Run, started: float, on_progress: ProgressCallback | None) -> None:
    if on_progress is None:
        return
    last = started
    while True:
        await asyncio.sleep(run.plan.progress_interval)
        now = time.perf_counter()
        on_progress(run.recorder.progress(now - started, now - last, run.connections.busy))
        last = now

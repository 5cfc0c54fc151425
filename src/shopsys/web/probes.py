"""The web role's probes and metrics: what Kubernetes and Prometheus ask of each pod."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from shopsys.http.observability import metrics_response
from shopsys.http.responses import JSONResponse
from shopsys.web.bodies import Status
from shopsys.web.openapi import Answer, Operation
from shopsys.web.services import WebServices


def _services(request: Request) -> WebServices:
    services: WebServices = request.app.state.services
    return services


async def healthz(request: Request) -> Response:
    """Liveness: a producer that failed for good needs a new process."""
    problem = _services(request).publisher.problem()
    if problem is not None:
        return JSONResponse({"status": "failed", "problems": [problem]}, status_code=503)
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    # A Kafka outage is deliberately not a condition: during one the pod stays in its
    # Service, reads keep working and each purchase gets 503 with Retry-After, instead of
    # every web pod leaving the Service and clients getting connection refused. A producer
    # that can never publish again is.
    services = _services(request)
    if services.shutting_down:
        return JSONResponse({"status": "shutting down"}, status_code=503)
    problem = services.publisher.problem()
    if problem is not None:
        return JSONResponse({"status": "not ready", "problems": [problem]}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    services = _services(request)
    services.metrics.producer_queue.set(services.publisher.queue_length())
    services.metrics.kafka_reachable.set(1 if await services.publisher.is_ready() else 0)
    return metrics_response(services.metrics.registry)


def probe_operations() -> list[Operation]:
    return [
        Operation(
            "/healthz",
            "GET",
            healthz,
            "Liveness: the Kafka producer can still publish",
            {
                200: Answer("Alive", Status),
                503: Answer("The producer failed for good: restart the process", Status),
            },
        ),
        Operation(
            "/readyz",
            "GET",
            readyz,
            "Readiness: not shutting down, producer usable (a Kafka outage is answered per"
            " purchase)",
            {200: Answer("Ready", Status), 503: Answer("Not ready", Status)},
        ),
        Operation(
            "/metrics",
            "GET",
            metrics,
            "Prometheus metrics",
            {
                200: Answer(
                    "Prometheus text format", schema={"type": "string"}, media_type="text/plain"
                )
            },
        ),
    ]

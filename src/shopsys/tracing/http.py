"""The server span of an HTTP request, around everything the app does for it.

Added to a role's middleware (outermost) only when tracing is on. The caller's
``traceparent`` is the span's parent, so a client's trace goes on through the storefront,
Kafka and the consumer. Probes, scrapes, the operations page's polling and static files make
no spans: they would be most of the traces and tell nothing.

Attributes follow the OpenTelemetry HTTP semantic conventions; the span is named
``METHOD /route/{template}`` once the router has matched the request.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.trace import SpanKind, StatusCode, Tracer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shopsys.tracing.propagation import context_from_asgi_headers

UNTRACED_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics", "/api/v1/operations"})
UNTRACED_PREFIX: Final = "/static/"
KNOWN_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
REQUEST_ID_HEADER: Final = b"x-request-id"


class TracingMiddleware:
    def __init__(
        self, app: ASGIApp, tracer: Tracer, untraced_paths: frozenset[str] = UNTRACED_PATHS
    ) -> None:
        self.app = app
        self.tracer = tracer
        self.untraced_paths = untraced_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or path in self.untraced_paths
            or path.startswith(UNTRACED_PREFIX)
        ):
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in KNOWN_METHODS else "_OTHER"
        status = 0
        request_id = b""

        async def send_watching(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == REQUEST_ID_HEADER:
                        request_id = value
            await send(message)

        with self.tracer.start_as_current_span(
            "HTTP" if method == "_OTHER" else method,
            context=context_from_asgi_headers(scope["headers"]),
            kind=SpanKind.SERVER,
            attributes=_request_attributes(scope, method),
        ) as span:
            try:
                await self.app(scope, receive, send_watching)
            finally:
                template = getattr(scope.get("route"), "path", None)
                if template is not None:
                    span.set_attribute("http.route", str(template))
                    if method != "_OTHER":
                        span.update_name(f"{method} {template}")
                if status:
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(StatusCode.ERROR)
                if request_id:
                    span.set_attribute("shopsys.request_id", request_id.decode("latin-1"))


def _request_attributes(scope: Scope, method: str) -> dict[str, str | int]:
    attributes: dict[str, str | int] = {
        "http.request.method": method,
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    if method == "_OTHER":
        attributes["http.request.method_original"] = scope["method"]
    server = scope.get("server")
    if server:
        attributes["server.address"] = str(server[0])
        if server[1] is not None:
            attributes["server.port"] = int(server[1])
    client = scope.get("client")
    if client:
        attributes["client.address"] = str(client[0])
    return attributes

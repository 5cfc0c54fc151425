"""OpenTelemetry tracing, off unless the standard ``OTEL_*`` environment asks for it.

Off, nothing of it is on a request's or an event's path: the composition roots add the
tracing middleware, wrap the publisher and give the consumer loop its ``ConsumerTracing``
only when ``tracing_from_env`` returned a ``Tracing``. The span modules (``http``,
``messaging``) are imported by the composition roots only then.
"""

from __future__ import annotations

from shopsys.tracing.config import (
    CONSUMER_SERVICE_NAME,
    WEB_SERVICE_NAME,
    Tracing,
    TracingConfigError,
    requested_exporters,
    tracing_from_env,
    tracing_middleware,
)

__all__ = [
    "CONSUMER_SERVICE_NAME",
    "WEB_SERVICE_NAME",
    "Tracing",
    "TracingConfigError",
    "requested_exporters",
    "tracing_from_env",
    "tracing_middleware",
]

"""Whether and how a role traces: decided from the standard ``OTEL_*`` environment.

When tracing is on, the OpenTelemetry SDK does the work, configured from the environment the
SDK itself reads (exporter endpoint, headers, timeout, sampler, span limits, batch
processor, resource):

* ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none`` turn it off, whatever else is set;
* ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``) or ``OTEL_EXPORTER_OTLP_ENDPOINT`` /
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` turn it on;
* ``OTEL_SERVICE_NAME`` (or ``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``) names the
  service, ``shopsys-web`` / ``shopsys-consumer`` by default.

The SDK and the exporter (7 MiB of a process's memory) are imported only when tracing is on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from starlette.middleware import Middleware

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
    from opentelemetry.trace import Tracer

logger = logging.getLogger(__name__)

WEB_SERVICE_NAME: Final = "shopsys-web"
CONSUMER_SERVICE_NAME: Final = "shopsys-consumer"
INSTRUMENTATION_NAME: Final = "shopsys"
ENDPOINT_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
PROTOCOL_VARIABLES: Final = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
SUPPORTED_PROTOCOL: Final = "http/protobuf"
SUPPORTED_EXPORTERS: Final = ("otlp", "console")


class TracingConfigError(ValueError):
    """The OTEL_* environment asks for something this build cannot do."""


def _value(env: Mapping[str, str], name: str) -> str:
    return env.get(name, "").strip()


def requested_exporters(env: Mapping[str, str]) -> list[str]:
    """The span exporters the environment asks for; empty when tracing is off.

    Raises ``TracingConfigError`` for an exporter or OTLP protocol this build lacks (only
    OTLP over HTTP/protobuf ships: the gRPC exporter would pull in grpcio).
    """
    if _value(env, "OTEL_SDK_DISABLED").lower() == "true":
        return []
    named = [part.strip().lower() for part in _value(env, "OTEL_TRACES_EXPORTER").split(",")]
    named = [name for name in named if name]
    if "none" in named:
        return []
    if not named:
        if not any(_value(env, name) for name in ENDPOINT_VARIABLES):
            return []
        named = ["otlp"]
    unknown = [name for name in named if name not in SUPPORTED_EXPORTERS]
    if unknown:
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={_value(env, 'OTEL_TRACES_EXPORTER')}: "
            f"{', '.join(unknown)} not supported (use {' or '.join(SUPPORTED_EXPORTERS)})"
        )
    if "otlp" in named:
        for name in PROTOCOL_VARIABLES:
            protocol = _value(env, name)
            if protocol:
                if protocol != SUPPORTED_PROTOCOL:
                    raise TracingConfigError(
                        f"{name}={protocol}: only {SUPPORTED_PROTOCOL} is supported"
                    )
                break
    return list(dict.fromkeys(named))


def service_resource(default_service_name: str) -> Resource:
    """The SDK's resource from the environment, named ``default_service_name`` unless
    ``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES`` name the service."""
    from opentelemetry.sdk.resources import SERVICE_NAME, OTELResourceDetector, Resource

    named = OTELResourceDetector().detect().attributes.get(SERVICE_NAME)
    return Resource.create({} if named else {SERVICE_NAME: default_service_name})


@dataclass(frozen=True)
class Tracing:
    """A tracer provider of the process's own (not the global one), and its tracer."""

    provider: TracerProvider
    tracer: Tracer

    @classmethod
    def of(cls, provider: TracerProvider) -> Tracing:
        from shopsys import __version__

        return cls(provider, provider.get_tracer(INSTRUMENTATION_NAME, __version__))

    def shutdown(self) -> None:
        """Export what is still queued (bounded by the exporter's timeout), then stop."""
        try:
            self.provider.shutdown()
        except Exception:  # a collector that is gone must not fail the role's shutdown
            logger.exception("tracing shutdown failed")


def tracing_from_env(
    default_service_name: str, env: Mapping[str, str] | None = None
) -> Tracing | None:
    """The role's tracing as the ``OTEL_*`` environment configures it, or None when off."""
    exporters = requested_exporters(os.environ if env is None else env)
    if not exporters:
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider(resource=service_resource(default_service_name))
    for processor in _processors(exporters):
        provider.add_span_processor(processor)
    logger.info(
        "tracing on: exporters %s, service %s",
        ",".join(exporters),
        provider.resource.attributes.get(SERVICE_NAME),
    )
    return Tracing.of(provider)


def _processors(exporters: Iterable[str]) -> list[SpanProcessor]:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    processors: list[SpanProcessor] = []
    for name in exporters:
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            processors.append(BatchSpanProcessor(OTLPSpanExporter()))
        else:
            processors.append(BatchSpanProcessor(ConsoleSpanExporter()))
    return processors


def tracing_middleware(tracing: Tracing | None) -> list[Middleware]:
    """The server span's middleware, for the outermost place of a role's stack; none when
    tracing is off (its module, and OpenTelemetry's, are imported only when on)."""
    if tracing is None:
        return []
    from shopsys.tracing.http import TracingMiddleware

    return [Middleware(TracingMiddleware, tracer=tracing.tracer)]

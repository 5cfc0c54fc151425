"""The trace context across Kafka: W3C ``traceparent`` (and ``tracestate``, ``baggage``) in
message headers, through the globally configured propagator (``OTEL_PROPAGATORS``; W3C trace
context and baggage unless set otherwise)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter

# Kafka message headers as confluent-kafka hands them over (values are bytes), and as we give
# them to it.
MessageHeaders = Sequence[tuple[str, str | bytes | None]]
# An ASGI scope's request headers: lower-case names, both as bytes.
AsgiHeaders = Sequence[tuple[bytes, bytes]]


class _MessageHeaderGetter(Getter[MessageHeaders]):
    def get(self, carrier: MessageHeaders, key: str) -> list[str] | None:
        found = [_text(value) for name, value in carrier if name.lower() == key and value]
        return found or None

    def keys(self, carrier: MessageHeaders) -> list[str]:
        return [name for name, _ in carrier]


class _AsgiHeaderGetter(Getter[AsgiHeaders]):
    def get(self, carrier: AsgiHeaders, key: str) -> list[str] | None:
        wanted = key.encode("latin-1")
        found = [value.decode("latin-1") for name, value in carrier if name == wanted]
        return found or None

    def keys(self, carrier: AsgiHeaders) -> list[str]:
        return [name.decode("latin-1") for name, _ in carrier]


def _text(value: str | bytes | None) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value or ""


_MESSAGE_HEADERS: Final = _MessageHeaderGetter()
_ASGI_HEADERS: Final = _AsgiHeaderGetter()


def context_from_message_headers(
    headers: MessageHeaders | Mapping[str, str | bytes | None] | None,
) -> Context | None:
    """The trace context a Kafka message carries, or None when it carries no valid one."""
    if not headers:
        return None
    if isinstance(headers, Mapping):
        headers = list(headers.items())
    context = propagate.extract(headers, getter=_MESSAGE_HEADERS)
    if not trace.get_current_span(context).get_span_context().is_valid:
        return None
    return context


def context_from_asgi_headers(headers: AsgiHeaders) -> Context:
    """The caller's trace context (an empty context when the request carries none)."""
    return propagate.extract(headers, getter=_ASGI_HEADERS)


def headers_with_context(
    headers: MessageHeaders, context: Context | None = None
) -> list[tuple[str, str | bytes | None]]:
    """``headers`` with the trace context (the current one by default) written in, replacing
    the propagator's headers they carried."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    if not carrier:
        return list(headers)
    kept = [(name, value) for name, value in headers if name.lower() not in carrier]
    return [*kept, *((name, value.encode()) for name, value in carrier.items())]

"""When tracing is on (the OTEL_* environment decides), and its context across Kafka headers."""

from __future__ import annotations

import subprocess
import sys

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

from shopsys.tracing import (
    CONSUMER_SERVICE_NAME,
    WEB_SERVICE_NAME,
    TracingConfigError,
    requested_exporters,
    tracing_from_env,
)
from shopsys.tracing.config import service_resource
from shopsys.tracing.propagation import context_from_message_headers, headers_with_context
from tests.support.spans import MemoryTracing, hex_span_id, hex_trace_id

ENDPOINT = "http://collector:4318"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_SERVICE_NAME": "shop", "OTEL_RESOURCE_ATTRIBUTES": "a=b"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{ENDPOINT}/v1/traces"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, []),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),  # the SDK's default endpoint
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console,otlp"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, []),
        ({"OTEL_TRACES_EXPORTER": "NONE", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, []),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, []),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT}, ["otlp"]),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            },
            ["otlp"],
        ),
        (  # the traces-specific protocol wins over the general one
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/protobuf",
            },
            ["otlp"],
        ),
        ({"OTEL_TRACES_EXPORTER": "console", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, ["console"]),
    ],
)
def test_the_environment_turns_tracing_on_or_off(env: dict[str, str], expected: list[str]) -> None:
    assert requested_exporters(env) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "zipkin not supported"),
        ({"OTEL_TRACES_EXPORTER": "otlp,jaeger"}, "jaeger not supported"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL=grpc: only http/protobuf",
        ),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json",
        ),
    ],
)
def test_what_this_build_cannot_export_is_an_error_not_silence(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(TracingConfigError, match=message):
        requested_exporters(env)


def test_a_role_names_its_service_unless_the_environment_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"):
        monkeypatch.delenv(name, raising=False)
    assert service_resource(WEB_SERVICE_NAME).attributes["service.name"] == "shopsys-web"

    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=shop,k8s.namespace.name=prod")
    resource = service_resource(CONSUMER_SERVICE_NAME)
    assert resource.attributes["service.name"] == "shop"
    assert resource.attributes["k8s.namespace.name"] == "prod"

    monkeypatch.setenv("OTEL_SERVICE_NAME", "shop-consumer")
    assert service_resource(CONSUMER_SERVICE_NAME).attributes["service.name"] == "shop-consumer"


def test_off_is_none_and_on_is_an_sdk_provider_of_our_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert tracing_from_env(WEB_SERVICE_NAME, {}) is None
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    tracing = tracing_from_env(WEB_SERVICE_NAME, {"OTEL_EXPORTER_OTLP_ENDPOINT": ENDPOINT})
    assert tracing is not None
    try:
        assert tracing.provider.resource.attributes["service.name"] == WEB_SERVICE_NAME
        assert trace.get_tracer_provider() is not tracing.provider  # the global one is left alone
    finally:
        tracing.shutdown()  # nothing was recorded: nothing is sent


def test_no_opentelemetry_module_is_imported_while_tracing_is_off() -> None:
    """Off, a role pays no memory for them (the exporter alone is about 7 MiB, the API 0.4)."""
    probe = (
        "import sys; import shopsys.web.app, shopsys.management.app, shopsys.tracing;"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


def test_the_current_context_replaces_the_traceparent_in_message_headers() -> None:
    memory = MemoryTracing()
    headers = [("traceparent", TRACEPARENT.encode()), ("origin", b"web")]
    with memory.tracing.tracer.start_as_current_span("send") as span:
        written = headers_with_context(headers)
    made = span.get_span_context()
    traceparent = f"00-{made.trace_id:032x}-{made.span_id:016x}-{int(made.trace_flags):02x}"
    assert written == [("origin", b"web"), ("traceparent", traceparent.encode())]


def test_without_a_current_span_the_headers_are_left_as_they_are() -> None:
    headers = [("traceparent", TRACEPARENT.encode())]
    assert headers_with_context(headers) == headers


@pytest.mark.parametrize(
    "headers",
    [
        [("traceparent", TRACEPARENT.encode())],
        [("other", b"x"), ("Traceparent", TRACEPARENT.encode())],
        [("traceparent", TRACEPARENT)],
        {"traceparent": TRACEPARENT.encode()},
    ],
)
def test_a_message_context_is_read_from_its_header_bytes(headers: object) -> None:
    context = context_from_message_headers(headers)  # type: ignore[arg-type]
    assert context is not None
    span_context = trace.get_current_span(context).get_span_context()
    assert (f"{span_context.trace_id:032x}", f"{span_context.span_id:016x}") == (
        TRACE_ID,
        "00f067aa0ba902b7",
    )
    assert span_context.is_remote


@pytest.mark.parametrize(
    "headers",
    [None, [], [("origin", b"web")], [("traceparent", b"not-a-trace")], [("traceparent", None)]],
)
def test_a_message_without_a_valid_context_has_none(headers: object) -> None:
    assert context_from_message_headers(headers) is None  # type: ignore[arg-type]


def test_a_child_of_a_message_context_continues_its_trace() -> None:
    memory = MemoryTracing()
    parent = context_from_message_headers([("traceparent", TRACEPARENT.encode())])
    memory.tracing.tracer.start_span("store", context=parent).end()
    [span] = memory.spans()
    assert hex_trace_id(span) == TRACE_ID
    assert span.parent is not None
    assert f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert hex_span_id(span) != "00f067aa0ba902b7"
    assert otel_context.get_current() == {}  # nothing leaked into the caller's context

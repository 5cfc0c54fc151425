"""A real OTLP receiver for the tracing tests: the OpenTelemetry Collector, built from its Go
modules, with an OTLP/HTTP receiver and the contrib file exporter (nothing else).

The wrapper module beside this file (``otelcol_wrapper/``: main.go, go.mod, go.sum) pins
every collector module; the binary is built once into the shared provisioning cache by the
project's own cached Go build (``cached_go_build``), like FerretDB. The collector runs on a
free 127.0.0.1 port and writes every batch it receives to a file as one OTLP-JSON line;
``spans()`` reads them back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from shopsys.devtools.errors import ProvisionError
from shopsys.devtools.ports import HOST, free_port, port_open
from shopsys.devtools.process import ManagedProcess
from shopsys.devtools.provision.artifacts import build_go_wrapper
from shopsys.devtools.provision.build import Progress
from tests.support.go_flags import TEST_COMPONENT_GO_FLAGS

OTELCOL_VERSION: Final = "v0.161.0"  # the collector modules; their v1 modules are v1.67.0
OTELCOL_BINARY: Final = "otelcol-file"
WRAPPER_DIR: Final = Path(__file__).parent / "otelcol_wrapper"
WRAPPER_FILES: Final = ("main.go", "go.mod", "go.sum")

SPAN_KINDS: Final = {1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def ensure_otelcol(cache_dir: Path, progress: Progress) -> Path:
    """The collector binary, built once with Go from the wrapper module."""
    return build_go_wrapper(
        cache_dir,
        progress,
        name="otelcol",
        version=OTELCOL_VERSION,
        files={name: (WRAPPER_DIR / name).read_bytes() for name in WRAPPER_FILES},
        binary=OTELCOL_BINARY,
        purpose=f"build the OpenTelemetry Collector {OTELCOL_VERSION} for the tracing tests",
        label="OpenTelemetry Collector",
        flags=TEST_COMPONENT_GO_FLAGS,
        env={"GOWORK": "off", "GOFLAGS": "-mod=readonly"},
        takes="2-3 min",
    )


@dataclass(frozen=True)
class Span:
    """One received span, flattened from OTLP-JSON."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    service: str
    attributes: dict[str, Any]
    links: list[tuple[str, str]] = field(default_factory=list)  # (trace id, span id)
    status: str = "unset"
    resource: dict[str, Any] = field(default_factory=dict)


def _value(value: dict[str, Any]) -> Any:
    """An OTLP-JSON AnyValue as a Python value."""
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [_value(item) for item in value["arrayValue"].get("values", [])]
    return None


def _attributes(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items}


def parse_spans(lines: Sequence[str]) -> list[Span]:
    """Every span of the file exporter's OTLP-JSON lines (one ExportTraceServiceRequest each)."""
    spans = []
    for line in lines:
        if not line.strip():
            continue
        for resource_spans in json.loads(line).get("resourceSpans", []):
            resource = _attributes(resource_spans.get("resource", {}).get("attributes", []))
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    spans.append(
                        Span(
                            trace_id=span["traceId"],
                            span_id=span["spanId"],
                            parent_span_id=span.get("parentSpanId", ""),
                            name=span["name"],
                            kind=SPAN_KINDS.get(span.get("kind", 0), "unspecified"),
                            service=str(resource.get("service.name", "")),
                            attributes=_attributes(span.get("attributes", [])),
                            links=[
                                (link["traceId"], link["spanId"]) for link in span.get("links", [])
                            ],
                            status={1: "ok", 2: "error"}.get(
                                span.get("status", {}).get("code", 0), "unset"
                            ),
                            resource=resource,
                        )
                    )
    return spans


class OtelCollector(ManagedProcess):
    """The collector on a free 127.0.0.1 port (OTLP over HTTP only), writing what it receives
    to ``work_dir/traces.jsonl``. Its own metrics are off, so it opens no other port."""

    name = "OpenTelemetry Collector"

    def __init__(self, binary: Path, work_dir: Path) -> None:
        self.work_dir = Path(work_dir).resolve()
        super().__init__(self.work_dir / "otelcol.log", cwd=self.work_dir)
        self.binary = Path(binary).resolve()
        self.port = free_port()
        self.output = self.work_dir / "traces.jsonl"
        self.config_path = self.work_dir / "otelcol.json"

    @property
    def endpoint(self) -> str:
        """The base URL for ``OTEL_EXPORTER_OTLP_ENDPOINT`` (the SDK adds ``/v1/traces``)."""
        return f"http://{HOST}:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": f"{HOST}:{self.port}"}}}},
            "exporters": {
                "file": {"path": str(self.output), "format": "json", "flush_interval": "100ms"}
            },
            "service": {
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "info"}},
                "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["file"]}},
            },
        }

    def _command(self) -> Sequence[str]:
        if not os.access(self.binary, os.X_OK):
            raise ProvisionError(f"collector binary {self.binary} is missing or not executable")
        self.config_path.write_text(json.dumps(self.config(), indent=2))  # YAML reads JSON
        return [str(self.binary), f"--config=file:{self.config_path}"]

    def _ready(self, timeout: float) -> bool:
        return port_open(self.port, timeout=min(timeout, 0.5))

    def spans(self) -> list[Span]:
        """Everything received so far."""
        try:
            text = self.output.read_text()
        except FileNotFoundError:
            return []
        # The last line may still be being written: only whole lines count.
        lines = text.splitlines()
        if not text.endswith("\n") and lines:
            lines = lines[:-1]
        return parse_spans(lines)

"""How the tests build the Go programs they only run beside the system (KEDA, CoreDNS,
metrics-server, kube-router, the OpenTelemetry Collector): stripped, and without the
compiler's optimizations and inlining. That compiles about a fifth faster on 2 cores
(kube-router from an empty build cache: 191 s against 149 s), which a first run's hour
needs, and what these programs do during the tests costs little CPU. Kubernetes itself,
FerretDB and helm, which the tests keep busy, are built optimized."""

from __future__ import annotations

from typing import Final

TEST_COMPONENT_GO_FLAGS: Final = ("-trimpath", "-ldflags=-s -w", "-gcflags=all=-N -l")

"""A real Prometheus for the monitoring tests: Debian's package, unpacked into the cache.

Debian's build (2.42 on bookworm) instead of one from the Go module: the module takes 5 to 10
minutes of the 2 cores to build cold, and the cold test run is already at its limit. The
package holds both binaries the tests need, `prometheus` and `promtool`. It is unpacked, not
installed: no service is started and no package is installed (on a machine whose package
lists were never fetched, `apt-get update` fetches them first). The rules and queries under
test use nothing newer than 2.x's PromQL; kube-prometheus-stack runs 3.x, which reads them
the same way.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shopsys.devtools.ports import HOST, free_port
from shopsys.devtools.process import ManagedProcess

PACKAGE = "prometheus"


@dataclass(frozen=True)
class PrometheusTools:
    prometheus: Path
    promtool: Path
    version: str


def _run(args: Sequence[str | Path], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def _apt_get() -> list[str]:
    return ["apt-get"] if os.geteuid() == 0 else ["sudo", "-n", "apt-get"]


def ensure_prometheus(cache: Path) -> PrometheusTools:
    """Debian's prometheus package, downloaded once and unpacked under `cache`."""
    for done in sorted(cache.glob("prometheus-deb-*/.complete")):
        root = done.parent
        return PrometheusTools(
            root / "usr/bin/prometheus", root / "usr/bin/promtool", done.read_text().strip()
        )
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.fail("the monitoring tests take Prometheus from Debian's packages: no apt-get here")
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        download = _run([*_apt_get(), "download", PACKAGE], cwd=Path(scratch))
        if download.returncode != 0:  # a machine whose package lists were never fetched
            _run([*_apt_get(), "update", "-qq"])
            download = _run([*_apt_get(), "download", PACKAGE], cwd=Path(scratch))
        debs = list(Path(scratch).glob(f"{PACKAGE}_*.deb"))
        if download.returncode != 0 or len(debs) != 1:
            pytest.fail(f"apt-get download {PACKAGE} failed:\n{download.stderr}")
        version = _run(["dpkg-deb", "-f", debs[0], "Version"]).stdout.strip()
        if not version.startswith(("2.", "3.")):
            pytest.fail(f"Debian's prometheus is {version!r}; the tests expect Prometheus 2 or 3")
        root = cache / f"prometheus-deb-{version}"
        shutil.rmtree(root, ignore_errors=True)
        unpack = _run(["dpkg-deb", "-x", debs[0], root])
        if unpack.returncode != 0:
            pytest.fail(f"dpkg-deb -x {debs[0].name} failed:\n{unpack.stderr}")
    (root / ".complete").write_text(version)
    return PrometheusTools(root / "usr/bin/prometheus", root / "usr/bin/promtool", version)


@dataclass(frozen=True)
class ScrapeJob:
    """One static scrape target with the labels the Prometheus Operator would attach."""

    job: str
    url: str  # http://host:port of the role; /metrics is scraped
    labels: Mapping[str, str]

    def config(self) -> dict[str, Any]:
        target = urllib.parse.urlsplit(self.url).netloc
        return {
            "job_name": self.job,
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [target], "labels": dict(self.labels)}],
        }


class PrometheusServer(ManagedProcess):
    """Scrapes `jobs` every second and evaluates `rule_files` every second, on loopback."""

    name = "prometheus"

    def __init__(
        self, tools: PrometheusTools, workdir: Path, jobs: Sequence[ScrapeJob], rules: Path
    ) -> None:
        super().__init__(workdir / "prometheus.log", cwd=workdir)
        self.tools = tools
        self.workdir = workdir
        self.jobs = jobs
        self.rules = rules
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"

    def config(self) -> dict[str, Any]:
        return {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(self.rules)],
            "scrape_configs": [job.config() for job in self.jobs],
        }

    def _command(self) -> Sequence[str]:
        config = self.workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        return [
            str(self.tools.prometheus),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address={HOST}:{self.port}",
        ]

    def _ready(self, timeout: float) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, path: str, **params: str) -> Any:
        """GET /api/v1/<path>; the `data` of a successful answer."""
        body = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10).json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector: [{"metric": {...}, "value": [t, "v"]}, ...]."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", f"{expr}: {data['resultType']}"
        result: list[dict[str, Any]] = data["result"]
        return result

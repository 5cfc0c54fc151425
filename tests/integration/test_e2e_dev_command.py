"""``shopsys dev`` runs the whole system locally and stops everything on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from shopsys.devtools.ports import free_port
from shopsys.devtools.roles import shopsys_command
from tests.support.polling import eventually
from tests.support.reads import stored_purchase

pytestmark = pytest.mark.integration


def _read_endpoints(process: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    """The ``name=value`` lines ``shopsys dev`` prints once everything is up."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    endpoints: dict[str, str] = {}
    output: list[str] = []
    deadline = time.monotonic() + timeout
    while "mongodb" not in endpoints:
        try:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        output.append(line)
        key, sep, value = line.strip().partition("=")
        if sep and key in ("web", "management", "kafka", "mongodb"):
            endpoints[key] = value
    assert "mongodb" in endpoints, "shopsys dev did not come up:\n" + "".join(output)
    return endpoints


def test_dev_runs_the_system_and_sigterm_stops_everything(
    kafka_libs: Path, ferretdb_binary: Path
) -> None:
    web_port, management_port = free_port(), free_port()
    process = subprocess.Popen(
        [
            *shopsys_command(),
            "dev",
            "--web-port",
            str(web_port),
            "--management-port",
            str(management_port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "SHOPSYS_LOG_FORMAT": "text"},
    )
    try:
        endpoints = _read_endpoints(process, timeout=180)
        assert endpoints["web"] == f"http://127.0.0.1:{web_port}"
        assert endpoints["management"] == f"http://127.0.0.1:{management_port}"
        assert endpoints["kafka"].startswith("127.0.0.1:")
        assert endpoints["mongodb"].startswith("mongodb://127.0.0.1:")
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 4, "expected Kafka, FerretDB and both roles"

        with httpx.Client(base_url=endpoints["web"], timeout=30) as client:
            accepted = client.post(
                "/api/v1/purchases", json={"user_id": "dev-user", "product_id": "p-003"}
            )
            assert accepted.status_code == 202, accepted.text
            purchase_id = accepted.json()["purchase_id"]
            assert accepted.headers["location"].endswith(f"/api/v1/purchases/{purchase_id}")
            stored = eventually(
                lambda: stored_purchase(client, purchase_id), timeout=15, what="the purchase"
            )
            assert stored["product_id"] == "p-003"

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=90) == 0
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
    finally:
        if process.poll() is None:
            # A failed test must not leave `dev` or the servers it started behind.
            with contextlib.suppress(psutil.NoSuchProcess):
                for child in psutil.Process(process.pid).children(recursive=True):
                    child.kill()
            process.kill()
            process.wait(10)

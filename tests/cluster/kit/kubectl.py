"""kubectl, as the tier calls it: against the cluster's kubeconfig, failing with its output."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from shopsys.devtools.errors import ProvisionError


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 300, check: bool = True
    ) -> str:
        proc = self.run_raw(*args, stdin=stdin, timeout=timeout)
        if check and proc.returncode != 0:
            raise ProvisionError(
                f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}\n{proc.stdout[-2000:]}"
            )
        return proc.stdout

    def run_raw(
        self, *args: str, stdin: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self(
            "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(docs)
        )

    def rollout(self, namespace: str, kind_name: str, timeout: int = 300) -> None:
        self(
            "-n",
            namespace,
            "rollout",
            "status",
            kind_name,
            f"--timeout={timeout}s",
            timeout=timeout + 30,
        )

"""`shopsys load` run inside the cluster, as a Pod from the release's own image, so that the
load comes through the web Service the way in-cluster clients reach it."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from .kubectl import Kubectl
from .scaling import Release, get_json

# Outside the release's namespace: its default-deny policies would block the load pod's own
# egress, and the storefront is open to every namespace anyway.
NAMESPACE = "shopsys-load"


class LoadPod:
    """One `shopsys load` run; `summary()` waits for it and returns its --json summary."""

    def __init__(self, kubectl: Kubectl, release: Release, *args: str, duration: float) -> None:
        self.kubectl = kubectl
        self.duration = duration
        self.name = f"load-{uuid.uuid4().hex[:6]}"
        web = get_json(kubectl, "-n", release.namespace, "get", "deployment", release.web)
        image = web["spec"]["template"]["spec"]["containers"][0]["image"]
        url = f"http://{release.web}.{release.namespace}.svc.cluster.local"
        self.manifest = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "namespace": NAMESPACE},
            "spec": {
                "restartPolicy": "Never",
                "securityContext": {
                    "runAsNonRoot": True,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "load",
                        "image": image,
                        "args": [
                            "load",
                            f"--url={url}",
                            f"--duration={duration:g}",
                            "--json",
                            "--quiet",
                            *args,
                        ],
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        }

    def start(self) -> LoadPod:
        if self.kubectl("get", "namespace", NAMESPACE, check=False).strip() == "":
            self.kubectl("create", "namespace", NAMESPACE)
        self.kubectl.apply([self.manifest])
        return self

    def stop(self) -> None:
        """End the run now, as Ctrl-C would: `shopsys load` (the Pod's PID 1) stops sending and
        still prints its summary. A run that has ended already is left as it is."""
        interrupt = "import os, signal; os.kill(1, signal.SIGINT)"
        self.kubectl(
            "-n", NAMESPACE, "exec", self.name, "--", "python", "-c", interrupt, check=False
        )

    def summary(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.duration + 180
        while True:
            phase = get_json(self.kubectl, "-n", NAMESPACE, "get", "pod", self.name)["status"].get(
                "phase"
            )
            if phase in ("Succeeded", "Failed"):
                break
            assert time.monotonic() < deadline, f"the load pod is still {phase}"
            time.sleep(2)
        log = self.kubectl("-n", NAMESPACE, "logs", self.name, "-c", "load")
        self.kubectl("-n", NAMESPACE, "delete", "pod", self.name, "--wait=false")
        start = log.find("\n{")
        assert start >= 0, f"no JSON summary in the load pod's output:\n{log[-2000:]}"
        summary: dict[str, Any] = json.loads(log[start:])
        return summary

"""Replica counts of the web and consumer Deployments, read from the Kubernetes API.

One typed GET per Deployment with the pod's service-account token and CA, no Kubernetes
client library. It needs a Role granting ``get`` on the two Deployments (the chart's
``consumer.opsPage.kubernetesReplicas.enabled``); without one, or outside Kubernetes, the page
shows why instead.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shopsys.management.operations.model import ReplicaCounts, Replicas, ReplicasView, Unavailable

if TYPE_CHECKING:  # imported when first used: with typer's extras, httpx costs 7 MiB of RSS
    import httpx

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CHART_SWITCH = "consumer.opsPage.kubernetesReplicas.enabled"


class ReplicaSource:
    """Where the replica counts come from; tests substitute a subclass."""

    def replicas(self) -> ReplicaCounts:
        raise NotImplementedError

    def close(self) -> None:
        return None


class _Spec(BaseModel):
    model_config = ConfigDict(extra="ignore")
    replicas: int = 1  # the API's default when the field is absent


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    replicas: int = 0
    ready: int = Field(0, alias="readyReplicas")
    available: int = Field(0, alias="availableReplicas")
    updated: int = Field(0, alias="updatedReplicas")


class _Deployment(BaseModel):
    model_config = ConfigDict(extra="ignore")
    spec: _Spec = _Spec()
    status: _Status = _Status()


def api_server_url() -> str:
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    if not host:
        return "https://kubernetes.default.svc"
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


class KubernetesReplicas(ReplicaSource):
    def __init__(
        self,
        web: str | None,
        consumer: str | None,
        *,
        account_dir: Path = SERVICE_ACCOUNT_DIR,
        api_url: str | None = None,
        timeout: float = 2.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._names = {"web": web, "consumer": consumer}
        self._account_dir = account_dir
        self._api_url = api_url
        self._timeout = timeout
        self._transport = transport
        self._client: httpx.Client | None = None

    def replicas(self) -> ReplicaCounts:
        if not any(self._names.values()):
            return Unavailable(
                reason=f"not configured: the chart's {CHART_SWITCH} turns it on "
                "(SHOPSYS_OPS_WEB_DEPLOYMENT, SHOPSYS_OPS_CONSUMER_DEPLOYMENT)"
            )
        token_file = self._account_dir / "token"
        if not token_file.is_file():
            return Unavailable(
                reason=f"not running in Kubernetes with a service-account token ({token_file})"
            )
        try:
            token = token_file.read_text().strip()  # re-read: kubelet rotates projected tokens
            namespace = (self._account_dir / "namespace").read_text().strip()
            client = self._http()  # reads ca.crt; ssl.SSLError is an OSError
        except OSError as error:
            return Unavailable(reason=f"the service account's files cannot be read: {error}")
        web, consumer = (
            self._read(client, token, namespace, self._names[role]) for role in ("web", "consumer")
        )
        return ReplicasView(web=web, consumer=consumer)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _http(self) -> httpx.Client:
        import httpx

        if self._client is None:
            ca = self._account_dir / "ca.crt"
            verify: ssl.SSLContext | bool = (
                ssl.create_default_context(cafile=str(ca)) if ca.is_file() else True
            )
            self._client = httpx.Client(
                base_url=self._api_url or api_server_url(),
                verify=verify,
                timeout=self._timeout,
                transport=self._transport,
            )
        return self._client

    def _read(
        self, client: httpx.Client, token: str, namespace: str, name: str | None
    ) -> Replicas | Unavailable:
        if not name:
            return Unavailable(reason="no Deployment name configured")
        import httpx

        path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        try:
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as error:
            return Unavailable(reason=f"Kubernetes API unreachable: {type(error).__name__}")
        if response.status_code in (401, 403):
            return Unavailable(
                reason=f"no permission to read Deployment {name} "
                f"(HTTP {response.status_code}); the chart's {CHART_SWITCH} grants it"
            )
        if response.status_code == 404:
            return Unavailable(reason=f"Deployment {name} not found in {namespace}")
        if response.status_code != 200:
            return Unavailable(reason=f"Kubernetes API answered HTTP {response.status_code}")
        try:
            found = _Deployment.model_validate_json(response.content)
        except ValidationError:
            return Unavailable(reason=f"Deployment {name}: an answer this page cannot read")
        return Replicas(
            name=name,
            desired=found.spec.replicas,
            ready=found.status.ready,
            available_replicas=found.status.available,
            updated=found.status.updated,
        )

"""The cluster's certificates (openssl) and kubeconfigs: one CA, one front-proxy CA for the
aggregated APIs (KEDA's and metrics-server's), one service-account key pair, one certificate
per component with the identity Kubernetes' authorizers expect."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import versions

CURVE = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")
DAYS = "30"

# name -> (subject, signed by the front-proxy CA)
CLIENTS = {
    "admin": ("/O=system:masters/CN=shopsys-admin", False),
    "controller-manager": ("/CN=system:kube-controller-manager", False),
    "scheduler": ("/CN=system:kube-scheduler", False),
    "kubelet": (f"/O=system:nodes/CN=system:node:{versions.NODE_NAME}", False),
    "kube-proxy": ("/CN=system:kube-proxy", False),
    "apiserver-kubelet-client": ("/O=system:masters/CN=kube-apiserver-kubelet-client", False),
    "front-proxy-client": ("/CN=front-proxy-client", True),
}


@dataclass(frozen=True)
class Pki:
    directory: Path

    def crt(self, name: str) -> Path:
        return self.directory / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def kubeconfig(self, name: str) -> Path:
        return self.directory / f"{name}.kubeconfig"


def _openssl(*args: str) -> None:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {proc.stderr}")


def _ca(pki: Pki, name: str) -> None:
    _openssl(
        "req", "-x509", *CURVE, "-nodes", "-days", DAYS, "-subj", f"/CN={name}",
        "-keyout", str(pki.key(name)), "-out", str(pki.crt(name)),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )  # fmt: skip


def _leaf(pki: Pki, name: str, subject: str, ca: str, usage: str, sans: list[str]) -> None:
    csr = pki.directory / f"{name}.csr"
    ext = pki.directory / f"{name}.ext"
    lines = ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
    lines.append(f"extendedKeyUsage={usage}")
    if sans:
        lines.append("subjectAltName=" + ",".join(sans))
    ext.write_text("\n".join(lines) + "\n")
    _openssl(
        "req",
        "-new",
        *CURVE,
        "-nodes",
        "-subj",
        subject,
        "-keyout",
        str(pki.key(name)),
        "-out",
        str(csr),
    )
    _openssl(
        "x509", "-req", "-in", str(csr), "-CA", str(pki.crt(ca)), "-CAkey", str(pki.key(ca)),
        "-CAcreateserial", "-days", DAYS, "-extfile", str(ext), "-out", str(pki.crt(name)),
    )  # fmt: skip
    csr.unlink()
    ext.unlink()


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    _ca(pki, "ca")
    _ca(pki, "front-proxy-ca")
    dns = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{versions.CLUSTER_DOMAIN}",
        "localhost",
    ]
    ips = [versions.KUBERNETES_SERVICE_IP, versions.NODE_IP, "127.0.0.1"]
    sans = [f"DNS:{d}" for d in dns] + [f"IP:{ip}" for ip in ips]
    _leaf(pki, "apiserver", "/CN=kube-apiserver", "ca", "serverAuth", sans)
    kubelet_sans = [f"DNS:{versions.NODE_NAME}", f"IP:{versions.NODE_IP}"]
    _leaf(pki, "kubelet-serving", f"/CN={versions.NODE_NAME}", "ca", "serverAuth", kubelet_sans)
    for name, (subject, front_proxy) in CLIENTS.items():
        ca = "front-proxy-ca" if front_proxy else "ca"
        _leaf(pki, name, subject, ca, "clientAuth", [])
    _openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        str(pki.key("sa")),
    )
    _openssl("pkey", "-in", str(pki.key("sa")), "-pubout", "-out", str(directory / "sa.pub"))
    server = f"https://{versions.NODE_IP}:{versions.APISERVER_PORT}"
    for name in ("admin", "controller-manager", "scheduler", "kubelet", "kube-proxy"):
        write_kubeconfig(pki.kubeconfig(name), server, pki.crt("ca"), pki.crt(name), pki.key(name))
    return pki


def write_kubeconfig(path: Path, server: str, ca: Path, crt: Path, key: Path) -> None:
    context = versions.CONTEXT
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": context, "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [
            {"name": context, "user": {"client-certificate": str(crt), "client-key": str(key)}}
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))

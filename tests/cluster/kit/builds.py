"""Build, once, every binary of the cluster tier into the shared cache.

Each entry is a `cached_build` of shopsys' own provisioning: built in a temp dir, marked
complete last, rebuilt only when its recipe changes. Go builds share the machine's GOCACHE and
GOMODCACHE, so a rebuild after a recipe change takes minutes, not the cold half hour.

Past 300 lines: one recipe per binary of the tier, each short.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from shopsys.devtools.errors import ProvisionError, ToolchainMissingError
from shopsys.devtools.provision.build import BuildContext, Progress
from shopsys.devtools.provision.cache import cached_build, cached_go_build
from tests.support.go_flags import TEST_COMPONENT_GO_FLAGS

from . import versions

KUBERNETES_COMMANDS = (
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
)
KEDA_COMMANDS = {
    "operator": "keda",
    "adapter": "keda-adapter",
    "webhooks": "keda-admission-webhooks",
}
KEDA_MODULE = "github.com/kedacore/keda/v2"
STATIC = {"CGO_ENABLED": "0"}
GO_FLAGS = TEST_COMPONENT_GO_FLAGS

# The sandbox ("pause") image cannot be pulled here: a static program that waits for a
# signal and reaps its children is all a pod sandbox needs.
PAUSE_C = r"""
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void on_term(int sig) { (void)sig; _exit(0); }
static void on_child(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, on_term);
    signal(SIGTERM, on_term);
    signal(SIGCHLD, on_child);
    for (;;) pause();
}
"""


@dataclass(frozen=True)
class ClusterBinaries:
    kubernetes: Path  # kube-apiserver ... kubectl
    coredns: Path
    metrics_server: Path  # the binary; manifests/ beside it
    keda: Path  # keda, keda-adapter, keda-webhooks and config/
    pause: Path
    kube_router: Path

    @property
    def kubectl(self) -> Path:
        return self.kubernetes / "kubectl"


def _fingerprint(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _module_info(go: str, module: str, version: str, cwd: Path) -> dict[str, str]:
    proc = subprocess.run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "GOFLAGS": "-mod=mod", "GOWORK": "off"},
    )
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or "Dir" not in info:
        raise ProvisionError(
            f"go mod download {module}@{version} failed: {proc.stdout}{proc.stderr}"
        )
    return {str(k): str(v) for k, v in info.items()}


def _copy_module(info: dict[str, str], dest: Path) -> Path:
    """A writable copy of a module from the read-only module cache."""
    shutil.copytree(info["Dir"], dest, symlinks=True)
    for path in [dest, *dest.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    return dest


def kubernetes_go_mod(kubernetes_go_mod_text: str, version: str) -> str:
    """The wrapper module: kubernetes plus one `replace` per staging module it points at."""
    staging = sorted(
        set(re.findall(r"^\s*(k8s\.io/[\w.-]+) => \./staging/", kubernetes_go_mod_text, re.M))
    )
    if len(staging) < 20:
        raise ProvisionError(f"found only {len(staging)} staging modules in kubernetes' go.mod")
    staging_version = "v0." + version.removeprefix("v1.")
    lines = [
        "module shopsys.local/kubernetes-build",
        "",
        "go 1.24.0",
        "",
        f"require k8s.io/kubernetes {version}",
        "",
    ]
    lines += [f"replace {name} => {name} {staging_version}" for name in staging]
    return "\n".join(lines) + "\n"


def ensure_kubernetes(cache: Path, progress: Progress) -> Path:
    version = versions.KUBERNETES_VERSION
    purpose = f"build Kubernetes {version} for the cluster tier"
    minor = version.split(".")[1]
    base = "-X k8s.io/component-base/version"
    ldflags = f"-s -w {base}.gitVersion={version} {base}.gitMajor=1 {base}.gitMinor={minor}"

    def build(ctx: BuildContext, go: str) -> None:
        src = ctx.out_dir / "src"
        src.mkdir()
        info = _module_info(go, "k8s.io/kubernetes", version, src)
        (src / "go.mod").write_text(kubernetes_go_mod(Path(info["GoMod"]).read_text(), version))
        imports = "\n".join(f'\t_ "k8s.io/kubernetes/cmd/{c}"' for c in sorted(KUBERNETES_COMMANDS))
        (src / "tools.go").write_text(
            f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"
        )
        ctx.run([go, "mod", "tidy"], label="resolving the Kubernetes modules", cwd=src)
        packages = [f"k8s.io/kubernetes/cmd/{c}" for c in KUBERNETES_COMMANDS]
        bin_dir = ctx.out_dir / "bin"
        ctx.run(
            [go, "build", "-trimpath", f"-ldflags={ldflags}", "-o", f"{bin_dir}/", *packages],
            label=f"building Kubernetes {version}",
            cwd=src,
            env=STATIC,
        )
        shutil.rmtree(src)
        _require_executables(bin_dir, KUBERNETES_COMMANDS)

    fingerprint = _fingerprint(version, ldflags, *KUBERNETES_COMMANDS)
    entry = cached_go_build(
        cache,
        "kubernetes",
        version,
        fingerprint,
        build,
        progress,
        purpose=purpose,
        label="Kubernetes",
        takes="~10 min",
    )
    return entry / "bin"


def ensure_coredns(cache: Path, progress: Progress) -> Path:
    version = versions.COREDNS_VERSION
    package = f"github.com/coredns/coredns@{version}"
    return _go_install(cache, progress, "coredns", version, package, "coredns")


def ensure_kube_router(cache: Path, progress: Progress) -> Path:
    version = versions.KUBE_ROUTER_VERSION
    package = f"github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@{version}"
    return _go_install(cache, progress, "kube-router", version, package, "kube-router")


def ensure_metrics_server(cache: Path, progress: Progress) -> Path:
    """The metrics-server binary, with the module's own kustomize manifests/ beside it."""
    version = versions.METRICS_SERVER_VERSION
    package = f"sigs.k8s.io/metrics-server/cmd/metrics-server@{version}"
    binary = _go_install(
        cache,
        progress,
        "metrics-server",
        version,
        package,
        "metrics-server",
        extra=lambda ctx, go: shutil.copytree(
            Path(_module_info(go, "sigs.k8s.io/metrics-server", version, ctx.out_dir)["Dir"])
            / "manifests",
            ctx.out_dir / "manifests",
        ),
    )
    return binary


def _go_install(
    cache: Path,
    progress: Progress,
    name: str,
    version: str,
    package: str,
    binary: str,
    extra: object = None,
) -> Path:
    purpose = f"build {name} {version} for the cluster tier"

    def build(ctx: BuildContext, go: str) -> None:
        ctx.run(
            [go, "install", *GO_FLAGS, package],
            label=f"building {name} {version}",
            cwd=ctx.out_dir,
            env={**STATIC, "GOBIN": str(ctx.out_dir)},
        )
        if callable(extra):
            extra(ctx, go)
        _require_executables(ctx.out_dir, (binary,))

    fingerprint = _fingerprint(package, *GO_FLAGS, "manifests" if extra else "")
    entry = cached_go_build(cache, name, version, fingerprint, build, progress, purpose=purpose)
    return entry / binary


def ensure_keda(cache: Path, progress: Progress, version: str) -> Path:
    """KEDA's operator, metrics adapter and admission webhooks, and its kustomize config/."""
    purpose = f"build KEDA {version} for the cluster tier"

    def build(ctx: BuildContext, go: str) -> None:
        info = _module_info(go, KEDA_MODULE, f"v{version}", ctx.out_dir)
        src = _copy_module(info, ctx.out_dir / "src")
        outputs = []
        for command, output in KEDA_COMMANDS.items():
            ctx.run(
                [go, "build", *GO_FLAGS, "-o", str(ctx.out_dir / output), f"./cmd/{command}"],
                label=f"building KEDA {version} {command}",
                cwd=src,
                env=STATIC,
            )
            outputs.append(output)
        shutil.copytree(src / "config", ctx.out_dir / "config")
        shutil.rmtree(src)
        _require_executables(ctx.out_dir, outputs)

    fingerprint = _fingerprint(KEDA_MODULE, version, *GO_FLAGS, *KEDA_COMMANDS)
    return cached_go_build(
        cache,
        "keda",
        version,
        fingerprint,
        build,
        progress,
        purpose=purpose,
        label="KEDA",
        takes="~12 min",
    )


def ensure_pause(cache: Path, progress: Progress) -> Path:
    def build(ctx: BuildContext) -> None:
        gcc = shutil.which("gcc")
        if gcc is None:
            raise ToolchainMissingError("gcc is required to build the pod sandbox (pause) program")
        source = ctx.out_dir / "pause.c"
        source.write_text(PAUSE_C)
        ctx.run(
            [gcc, "-static", "-O2", "-o", str(ctx.out_dir / "pause"), str(source)],
            label="building the pause program",
        )

    entry = cached_build(
        cache,
        "pause-1",
        _fingerprint(PAUSE_C),
        build,
        progress,
        what="pause",
        start_message="building the pod sandbox (pause) program...",
    )
    return entry / "pause"


def _require_executables(directory: Path, names: tuple[str, ...] | list[str]) -> None:
    for name in names:
        if not os.access(directory / name, os.X_OK):
            raise ProvisionError(f"the build did not produce {directory / name}")


def ensure_binaries(cache: Path, progress: Progress, keda_version: str) -> ClusterBinaries:
    return ClusterBinaries(
        kubernetes=ensure_kubernetes(cache, progress),
        coredns=ensure_coredns(cache, progress),
        metrics_server=ensure_metrics_server(cache, progress),
        keda=ensure_keda(cache, progress, keda_version),
        pause=ensure_pause(cache, progress),
        kube_router=ensure_kube_router(cache, progress),
    )

"""Build and cache the Kafka jars, the FerretDB binary and the helm binary."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template

from ..errors import ProvisionError
from .build import BuildContext, Progress, no_progress
from .cache import cached_build, cached_go_build, default_cache_dir
from .toolchain import require_maven
from .versions import (
    FERRETDB_VERSION,
    HELM_PACKAGE,
    HELM_VERSION,
    KAFKA_VERSION,
    LOG4J_VERSION,
    MAVEN_DEPENDENCY_PLUGIN,
    SCALA_VERSION,
    SLF4J_VERSION,
)

FERRETDB_BINARY = "ferretdb-sqlite"
FERRETDB_WRAPPER_FILES = ("main.go", "go.mod", "go.sum")
HELM_LDFLAGS = f"-X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"


@dataclass(frozen=True)
class Provisioned:
    """Paths of the provisioned components."""

    kafka_libs: Path
    ferretdb: Path
    helm: Path | None


def _resource(*parts: str) -> bytes:
    return resources.files("shopsys.devtools.provision").joinpath(*parts).read_bytes()


def _fingerprint(*parts: str | bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def render_pom() -> str:
    """The pom.xml whose runtime dependencies are the broker's classpath."""
    template = Template(_resource("kafka_config", "pom.xml.in").decode())
    return template.substitute(
        kafka_version=KAFKA_VERSION,
        scala_version=SCALA_VERSION,
        slf4j_version=SLF4J_VERSION,
        log4j_version=LOG4J_VERSION,
    )


def _check_kafka_libs(libs: Path) -> None:
    names = {p.name for p in libs.glob("*.jar")}
    expected = f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar"
    if expected not in names:
        raise ProvisionError(f"Maven did not produce {expected} in {libs}")
    slf4j = sorted(n for n in names if n.startswith("slf4j-api-"))
    if slf4j != [f"slf4j-api-{SLF4J_VERSION}.jar"]:
        raise ProvisionError(f"expected only slf4j-api {SLF4J_VERSION} in {libs}, got {slf4j}")


def ensure_kafka(cache_dir: Path | None = None, progress: Progress = no_progress) -> Path:
    """The directory of Kafka broker jars (`<cache>/kafka-<v>/libs`), fetched with Maven once."""
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    pom = render_pom()
    purpose = f"fetch the Kafka {KAFKA_VERSION} jars for the test broker"

    def build(ctx: BuildContext) -> None:
        mvn = require_maven(purpose)
        (ctx.out_dir / "pom.xml").write_text(pom)
        libs = ctx.out_dir / "libs"
        ctx.run(
            [
                mvn,
                "-B",
                "-ntp",
                "-f",
                str(ctx.out_dir / "pom.xml"),
                f"{MAVEN_DEPENDENCY_PLUGIN}:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ],
            label=f"fetching Kafka {KAFKA_VERSION} jars",
            cwd=ctx.out_dir,
        )
        _check_kafka_libs(libs)

    entry = cached_build(
        cache,
        f"kafka-{KAFKA_VERSION}",
        _fingerprint(pom, MAVEN_DEPENDENCY_PLUGIN),
        build,
        progress,
        what=f"Kafka {KAFKA_VERSION}",
        start_message=f"fetching Kafka {KAFKA_VERSION} jars with Maven (first run only)...",
        preflight=lambda: require_maven(purpose),
    )
    return entry / "libs"


def build_go_wrapper(
    cache: Path,
    progress: Progress,
    *,
    name: str,
    version: str,
    files: Mapping[str, bytes],
    binary: str,
    purpose: str,
    label: str,
    flags: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    takes: str = "a few minutes",
) -> Path:
    """A binary built once by `go build` of a small committed wrapper module (its main.go,
    go.mod and go.sum in `files`) that pins a Go program's packages; rebuilt when they change."""

    def build(ctx: BuildContext, go: str) -> None:
        src = ctx.out_dir / "src"
        src.mkdir()
        for file_name, content in files.items():
            (src / file_name).write_bytes(content)
        output = ctx.out_dir / binary
        ctx.run(
            [go, "build", "-buildvcs=false", *flags, "-o", str(output), "."],
            label=f"building {label} {version}",
            cwd=src,
            env=env,
        )
        if not os.access(output, os.X_OK):
            raise ProvisionError(f"go build did not produce {output}")

    entry = cached_go_build(
        cache,
        name,
        version,
        _fingerprint(version, *flags, *files.values()),
        build,
        progress,
        purpose=purpose,
        label=label,
        takes=takes,
    )
    return entry / binary


def ensure_ferretdb(cache_dir: Path | None = None, progress: Progress = no_progress) -> Path:
    """The FerretDB (SQLite backend) binary, built once with Go from a tiny wrapper module."""
    return build_go_wrapper(
        cache_dir if cache_dir is not None else default_cache_dir(),
        progress,
        name="ferretdb",
        version=FERRETDB_VERSION,
        files={name: _resource("ferretdb_wrapper", name) for name in FERRETDB_WRAPPER_FILES},
        binary=FERRETDB_BINARY,
        purpose=f"build FerretDB {FERRETDB_VERSION} for the test MongoDB server (first run only)",
        label="FerretDB",
    )


def ensure_helm(cache_dir: Path | None = None, progress: Progress = no_progress) -> Path:
    """The pinned helm binary, built once with `go install helm.sh/helm/v3/cmd/helm@<pin>`."""
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    purpose = f"build helm {HELM_VERSION} for the chart tests (first run only)"

    def build(ctx: BuildContext, go: str) -> None:
        ctx.run(
            [go, "install", f"-ldflags={HELM_LDFLAGS}", f"{HELM_PACKAGE}@{HELM_VERSION}"],
            label=f"building helm {HELM_VERSION}",
            cwd=ctx.out_dir,
            env={"GOBIN": str(ctx.out_dir)},
        )
        if not os.access(ctx.out_dir / "helm", os.X_OK):
            raise ProvisionError(f"go install did not produce {ctx.out_dir / 'helm'}")

    fingerprint = _fingerprint(HELM_PACKAGE, HELM_VERSION, HELM_LDFLAGS)
    entry = cached_go_build(
        cache, "helm", HELM_VERSION, fingerprint, build, progress, purpose=purpose
    )
    return entry / "helm"


def provision_all(
    cache_dir: Path | None = None,
    progress: Progress = no_progress,
    include_helm: bool = True,
) -> Provisioned:
    """Ensure everything (Kafka jars, FerretDB, and helm unless `include_helm=False`)."""
    cache = cache_dir if cache_dir is not None else default_cache_dir()
    return Provisioned(
        kafka_libs=ensure_kafka(cache, progress),
        ferretdb=ensure_ferretdb(cache, progress),
        helm=ensure_helm(cache, progress) if include_helm else None,
    )


def copy_resource(parts: tuple[str, ...], dest: Path) -> Path:
    """Copy a package data file (e.g. ("kafka_config", "log4j2.xml")) to `dest`."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with resources.as_file(resources.files("shopsys.devtools.provision").joinpath(*parts)) as src:
        shutil.copyfile(src, dest)
    return dest

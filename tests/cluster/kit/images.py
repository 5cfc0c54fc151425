"""The local images of the cluster tier, built with the tier's dockerd and moved into the node.

No image registry is reachable here, so every image starts from a Debian root filesystem made
by debootstrap (from the machine's own Debian mirror) or from scratch with a static binary.
The shopsys image itself is not built here: setup-env.sh builds it from the project's
Dockerfile, with PYTHON_IMAGE pointing at `python_base`.

Past 300 lines: one recipe per local image of the tier, each short.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shopsys.devtools.errors import ProvisionError
from shopsys.devtools.provision import ensure_ferretdb, ensure_kafka
from shopsys.devtools.provision.artifacts import copy_resource
from shopsys.devtools.provision.build import BuildContext, Progress
from shopsys.devtools.provision.cache import cached_build
from shopsys.devtools.provision.versions import FERRETDB_VERSION, KAFKA_VERSION

from .builds import KEDA_COMMANDS, ClusterBinaries

FINGERPRINT_LABEL = "shopsys.cluster.fingerprint"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
SUITE = "bookworm"

DEBIAN = "shopsys-cluster/debian:bookworm"
PYTHON_BASE = "shopsys-cluster/python:3.11-bookworm"
KAFKA = f"shopsys-cluster/kafka:{KAFKA_VERSION}"
FERRETDB = f"shopsys-cluster/ferretdb:{FERRETDB_VERSION}"
PAUSE = "shopsys-cluster/pause:1"

# The official apache/kafka image starts through KafkaDockerWrapper (in the Kafka jars): it
# turns every KAFKA_* variable into a line of server.properties and formats the log dirs with
# CLUSTER_ID. This launcher does the same steps as the image's own `run` script.
KAFKA_LAUNCHER = """#!/bin/bash
set -euo pipefail
: "${CLUSTER_ID:?CLUSTER_ID is required}"
classpath='/opt/kafka/libs/*'
if ! result="$(java -cp "$classpath" kafka.docker.KafkaDockerWrapper setup \\
    --default-configs-dir /etc/kafka/docker \\
    --mounted-configs-dir /mnt/shared/config \\
    --final-configs-dir /opt/kafka/config 2>&1)"; then
  echo "$result"
  echo "$result" | grep -qi "already formatted" || exit 1
fi
echo "$result"
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xms1g -Xmx1g} -XX:+ExitOnOutOfMemoryError \\
  -Dlog4j2.configurationFile=/etc/kafka/docker/log4j2.xml \\
  -cp "$classpath" kafka.Kafka /opt/kafka/config/server.properties
"""

# The official image's bin/ scripts the chart and the tests call, over the same jars.
KAFKA_RUN_CLASS = """#!/bin/bash
classpath='/opt/kafka/libs/*'
# shellcheck disable=SC2086
exec java ${KAFKA_HEAP_OPTS:--Xmx256M} ${KAFKA_JVM_PERFORMANCE_OPTS:-} ${KAFKA_OPTS:-} \\
  -cp "$classpath" "$@"
"""
KAFKA_TOOLS = {
    "kafka-storage.sh": "kafka.tools.StorageTool",
    "kafka-topics.sh": "org.apache.kafka.tools.TopicCommand",
    "kafka-configs.sh": "kafka.admin.ConfigCommand",
    "kafka-acls.sh": "org.apache.kafka.tools.AclCommand",
    "kafka-consumer-groups.sh": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
}


def _tool_script(main_class: str) -> str:
    return f'#!/bin/bash\nexec "$(dirname "$0")/kafka-run-class.sh" {main_class} "$@"\n'


KAFKA_DOCKERFILE = f"""FROM {DEBIAN}
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
       openjdk-17-jre-headless openssl \\
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 1000 appuser && useradd --uid 1000 --gid 1000 --no-create-home appuser \\
    && mkdir -p /opt/kafka/config /etc/kafka/docker /mnt/shared/config /var/lib/kafka/data \\
    && chown -R 1000:1000 /opt/kafka /var/lib/kafka /mnt/shared
COPY libs /opt/kafka/libs
COPY log4j2.xml /etc/kafka/docker/log4j2.xml
COPY run /etc/kafka/docker/run
COPY kafka-run-class.sh {" ".join(KAFKA_TOOLS)} /opt/kafka/bin/
USER 1000:1000
ENTRYPOINT ["/etc/kafka/docker/run"]
"""

PYTHON_DOCKERFILE = f"""FROM {DEBIAN}
RUN apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
       python3 python3-venv python-is-python3 \\
    && rm -rf /var/lib/apt/lists/*
# The host's CA bundle (it trusts the machine's TLS proxy) and a pip that uses it.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY pip.conf /etc/pip.conf
"""

FERRETDB_DOCKERFILE = f"""FROM {DEBIAN}
COPY ferretdb /usr/local/bin/ferretdb
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ferretdb"]
"""


def scratch_dockerfile(binary: str) -> str:
    return f'FROM scratch\nCOPY {binary} /{binary}\nUSER 65532:65532\nENTRYPOINT ["/{binary}"]\n'


@dataclass(frozen=True)
class ImageSpec:
    name: str
    dockerfile: str
    files: dict[str, Path | str]  # name in the context -> file to copy or text

    def fingerprint(self) -> str:
        digest = hashlib.sha256(self.dockerfile.encode())
        for name, source in sorted(self.files.items(), key=lambda item: item[0]):
            digest.update(name.encode())
            if isinstance(source, Path) and source.is_dir():
                for path in sorted(source.rglob("*")):
                    digest.update(f"{path.relative_to(source)}:{path.stat().st_size}".encode())
            elif isinstance(source, Path):
                digest.update(hashlib.sha256(source.read_bytes()).digest())
            else:
                digest.update(source.encode())
        return digest.hexdigest()[:16]


def debian_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror this machine's apt uses (for debootstrap), read from its sources."""
    texts = [p.read_text() for p in sorted(sources_dir.glob("sources.list.d/*.sources"))]
    for text in texts:
        for stanza in text.split("\n\n"):
            if re.search(rf"^Suites:.*\b{SUITE}\b", stanza, re.M) and "debian-archive" in stanza:
                match = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
                if match and not match.group(1).rstrip("/").endswith("-security"):
                    return match.group(1)
    lists = [sources_dir / "sources.list", *sorted(sources_dir.glob("sources.list.d/*.list"))]
    for path in lists:
        if path.exists():
            match = re.search(rf"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+{SUITE}\s", path.read_text(), re.M)
            if match:
                return match.group(1)
    raise ProvisionError(f"no Debian {SUITE} mirror found in {sources_dir}'s apt sources")


def ensure_rootfs(cache: Path, progress: Progress) -> Path:
    """A minimal Debian root filesystem as a tar, made once by debootstrap."""
    mirror = debian_mirror()

    def build(ctx: BuildContext) -> None:
        root = ctx.out_dir / "root"
        ctx.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=ca-certificates",
                SUITE,
                str(root),
                mirror,
            ],
            label=f"debootstrap of Debian {SUITE}",
        )
        ctx.run(["tar", "-C", str(root), "-cf", str(ctx.out_dir / "rootfs.tar"), "."], label="tar")
        shutil.rmtree(root)

    entry = cached_build(
        cache,
        f"debian-{SUITE}-rootfs",
        hashlib.sha256(f"minbase ca-certificates {SUITE}".encode()).hexdigest()[:16],
        build,
        progress,
        what=f"Debian {SUITE} root filesystem",
        start_message=f"making a Debian {SUITE} root filesystem with debootstrap (first run)...",
    )
    return entry / "rootfs.tar"


class Docker:
    """The tier's dockerd, through the docker CLI."""

    def __init__(self, host: str) -> None:
        self.env = {"DOCKER_HOST": host, "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}

    def run(self, *args: str, stdin: int | None = None, timeout: float = 1800) -> str:
        proc = subprocess.run(
            ["docker", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=stdin,
        )
        if proc.returncode != 0:
            raise ProvisionError(
                f"docker {' '.join(args)} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
            )
        return proc.stdout

    def label(self, image: str) -> str | None:
        proc = subprocess.run(
            [
                "docker",
                "image",
                "inspect",
                "-f",
                f'{{{{index .Config.Labels "{FINGERPRINT_LABEL}"}}}}',
                image,
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        return proc.stdout.strip() if proc.returncode == 0 else None

    def image_id(self, image: str) -> str:
        return self.run("image", "inspect", "-f", "{{.Id}}", image).strip()


def build_image(docker: Docker, spec: ImageSpec, progress: Progress) -> bool:
    """Build `spec` unless an image with its fingerprint exists; True when it was built."""
    fingerprint = spec.fingerprint()
    if docker.label(spec.name) == fingerprint:
        return False
    progress(f"building image {spec.name}...")
    with tempfile.TemporaryDirectory(prefix="shopsys-image-") as tmp:
        context = Path(tmp)
        for name, source in spec.files.items():
            target = context / name
            if isinstance(source, Path) and source.is_dir():
                shutil.copytree(source, target)
            elif isinstance(source, Path):
                shutil.copy(source, target)  # keeps the mode: COPY keeps it too
            else:
                target.write_text(source)
                target.chmod(0o755 if source.startswith("#!") else 0o644)
        (context / "Dockerfile").write_text(spec.dockerfile)
        docker.run(
            "build",
            "--network=host",
            "--label",
            f"{FINGERPRINT_LABEL}={fingerprint}",
            "--tag",
            spec.name,
            str(context),
        )
    return True


def import_rootfs(docker: Docker, rootfs: Path) -> None:
    fingerprint = hashlib.sha256(f"{rootfs}:{rootfs.stat().st_mtime}".encode()).hexdigest()[:16]
    if docker.label(DEBIAN) == fingerprint:
        return
    with rootfs.open("rb") as tar:
        proc = subprocess.run(
            [
                "docker",
                "import",
                "--change",
                f"LABEL {FINGERPRINT_LABEL}={fingerprint}",
                "-",
                DEBIAN,
            ],
            env=docker.env,
            stdin=tar,
            capture_output=True,
            text=True,
            check=False,
        )
    if proc.returncode != 0:
        raise ProvisionError(f"docker import of {rootfs} failed: {proc.stderr}")


def image_specs(
    cache: Path, binaries: ClusterBinaries, keda_version: str, progress: Progress
) -> list[ImageSpec]:
    """Every image the node runs, besides the shopsys image setup-env.sh builds."""
    kafka_libs = ensure_kafka(cache, progress)
    ferretdb = ensure_ferretdb(cache, progress)
    log4j = cache / "cluster-kafka-log4j2.xml"
    copy_resource(("kafka_config", "log4j2.xml"), log4j)
    specs = [
        ImageSpec(
            PYTHON_BASE,
            PYTHON_DOCKERFILE,
            {
                "ca-certificates.crt": HOST_CA_BUNDLE,
                "pip.conf": "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n",
            },
        ),
        ImageSpec(
            KAFKA,
            KAFKA_DOCKERFILE,
            {
                "libs": kafka_libs,
                "log4j2.xml": log4j,
                "run": KAFKA_LAUNCHER,
                "kafka-run-class.sh": KAFKA_RUN_CLASS,
                **{name: _tool_script(main) for name, main in KAFKA_TOOLS.items()},
            },
        ),
        ImageSpec(FERRETDB, FERRETDB_DOCKERFILE, {"ferretdb": ferretdb}),
        ImageSpec(
            PAUSE,
            'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n',
            {"pause": binaries.pause},
        ),
        ImageSpec(coredns_image(), scratch_dockerfile("coredns"), {"coredns": binaries.coredns}),
        ImageSpec(
            metrics_server_image(),
            scratch_dockerfile("metrics-server"),
            {"metrics-server": binaries.metrics_server},
        ),
    ]
    for binary in KEDA_COMMANDS.values():
        specs.append(
            ImageSpec(
                keda_image(binary, keda_version),
                scratch_dockerfile(binary),
                {binary: binaries.keda / binary},
            )
        )
    return specs


def coredns_image() -> str:
    from .versions import COREDNS_VERSION

    return f"shopsys-cluster/coredns:{COREDNS_VERSION}"


def metrics_server_image() -> str:
    from .versions import METRICS_SERVER_VERSION

    return f"shopsys-cluster/metrics-server:{METRICS_SERVER_VERSION}"


def keda_image(binary: str, version: str) -> str:
    return f"shopsys-cluster/{binary}:{version}"


def load_into_node(
    docker: Docker,
    names: list[str],
    ctr: Callable[..., subprocess.CompletedProcess[bytes]],
    record: Path,
    progress: Progress,
) -> None:
    """`docker save | ctr images import` for each image the node does not have yet."""
    loaded: dict[str, str] = json.loads(record.read_text()) if record.exists() else {}
    for name in names:
        image_id = docker.image_id(name)
        if loaded.get(name) == image_id:
            continue
        progress(f"loading image {name} into the node...")
        save = subprocess.Popen(["docker", "save", name], env=docker.env, stdout=subprocess.PIPE)
        assert save.stdout is not None
        done = ctr("images", "import", "-", stdin=save.stdout)
        save.stdout.close()
        if save.wait() != 0 or done.returncode != 0:
            raise ProvisionError(f"moving {name} into the node failed: {done.stderr!r}")
        loaded[name] = image_id
        record.write_text(json.dumps(loaded, indent=1))

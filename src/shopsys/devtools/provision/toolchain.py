"""Locate and check the toolchains: Java 17+ (Kafka), Maven (Kafka jars), Go (FerretDB, helm)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from functools import lru_cache

from ..errors import ToolchainMissingError
from .versions import MIN_GO, MIN_JAVA_MAJOR

JAVA_HINT = "install e.g. openjdk-17-jre-headless, or put a JDK 17+ first on PATH / in JAVA_HOME"
MAVEN_HINT = "install e.g. the 'maven' package (Maven 3.6.1+)"
GO_HINT = "install e.g. the 'golang-go' package or the official Go tarball"

_JAVA_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')
_GO_VERSION_RE = re.compile(r"\bgo(\d+)\.(\d+)")


def parse_java_major(version_output: str) -> int | None:
    """Major version from `java -version` output ("1.8.0_392" -> 8, "17.0.15" -> 17)."""
    m = _JAVA_VERSION_RE.search(version_output)
    if m is None:
        return None
    major = int(m.group(1))
    if major == 1 and m.group(2) is not None:
        return int(m.group(2))
    return major


def parse_go_version(version_output: str) -> tuple[int, int] | None:
    """(major, minor) from `go version` output ("go version go1.26.8 linux/amd64" -> (1, 26))."""
    m = _GO_VERSION_RE.search(version_output)
    return None if m is None else (int(m.group(1)), int(m.group(2)))


def _which(name: str, env: Mapping[str, str] | None) -> str | None:
    path = (env if env is not None else os.environ).get("PATH", "")
    return shutil.which(name, path=path)


def java_version_output(java: str) -> str:
    """`java -version` output (cached per executable)."""
    return _version_output(java, "-version")


@lru_cache(maxsize=16)
def _version_output(exe: str, flag: str) -> str:
    try:
        done = subprocess.run([exe, flag], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"<failed to run {exe} {flag}: {exc}>"
    return done.stdout + done.stderr


def require_java(
    purpose: str = "run the test Kafka broker", env: Mapping[str, str] | None = None
) -> str:
    """Path of a Java 17+ `java` ($JAVA_HOME/bin/java first, then PATH) or ToolchainMissingError."""
    env_map = env if env is not None else os.environ
    java: str | None = None
    java_home = env_map.get("JAVA_HOME")
    if java_home:
        candidate = os.path.join(java_home, "bin", "java")
        if os.access(candidate, os.X_OK):
            java = candidate
    if java is None:
        java = _which("java", env_map)
    need = f"Java {MIN_JAVA_MAJOR}+ is required to {purpose}"
    if java is None:
        raise ToolchainMissingError(f"{need}: not found on PATH ({JAVA_HINT})")
    output = _version_output(java, "-version")
    major = parse_java_major(output)
    if major is None:
        raise ToolchainMissingError(
            f"{need}: could not read the version of {java} ({output.strip()[:200]!r}) ({JAVA_HINT})"
        )
    if major < MIN_JAVA_MAJOR:
        raise ToolchainMissingError(f"{need}: {java} is Java {major} ({JAVA_HINT})")
    return java


def require_maven(purpose: str, env: Mapping[str, str] | None = None) -> str:
    """Path of `mvn` (which also needs Java) or ToolchainMissingError."""
    mvn = _which("mvn", env)
    if mvn is None:
        raise ToolchainMissingError(
            f"Maven (mvn) is required to {purpose}: not found on PATH ({MAVEN_HINT})"
        )
    require_java(purpose, env)
    return mvn


def require_go(purpose: str, env: Mapping[str, str] | None = None) -> str:
    """Path of a Go 1.21+ `go` (older ones cannot fetch newer toolchains), else raise."""
    need = f"Go {MIN_GO[0]}.{MIN_GO[1]}+ is required to {purpose}"
    go = _which("go", env)
    if go is None:
        raise ToolchainMissingError(f"{need}: not found on PATH ({GO_HINT})")
    version = parse_go_version(_version_output(go, "version"))
    if version is not None and version < MIN_GO:
        raise ToolchainMissingError(f"{need}: {go} is go{version[0]}.{version[1]} ({GO_HINT})")
    return go

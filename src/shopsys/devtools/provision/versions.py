"""Pinned versions of everything shopsys provisions for tests and `shopsys dev`."""

from __future__ import annotations

from typing import Final

KAFKA_VERSION: Final = "4.1.1"
SCALA_VERSION: Final = "2.13"
LOG4J_VERSION: Final = "2.24.3"
SLF4J_VERSION: Final = "2.0.16"
MAVEN_DEPENDENCY_PLUGIN: Final = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

FERRETDB_VERSION: Final = "v1.24.2"
FERRETDB_MODULE: Final = "github.com/FerretDB/FerretDB"

HELM_VERSION: Final = "v3.19.5"
HELM_PACKAGE: Final = "helm.sh/helm/v3/cmd/helm"

MIN_JAVA_MAJOR: Final = 17
MIN_GO: Final = (1, 21)

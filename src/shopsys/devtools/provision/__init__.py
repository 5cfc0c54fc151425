"""Provision (build, cache) and run the local test/dev servers: Kafka, FerretDB, and helm.

Cold provisioning needs Java 17+ and Maven (Kafka jars) and Go (FerretDB, helm); results are
cached under `default_cache_dir()` and a warm `ensure_*` only checks a marker file.
"""

from __future__ import annotations

from ..errors import ProvisionError, ServerStartError, ToolchainMissingError
from .artifacts import Provisioned, ensure_ferretdb, ensure_helm, ensure_kafka, provision_all
from .build import Progress
from .cache import default_cache_dir
from .ferretdb_server import FerretDBServer
from .kafka_broker import KafkaBroker
from .versions import FERRETDB_VERSION, HELM_VERSION, KAFKA_VERSION

__all__ = [
    "FERRETDB_VERSION",
    "HELM_VERSION",
    "KAFKA_VERSION",
    "FerretDBServer",
    "KafkaBroker",
    "Progress",
    "ProvisionError",
    "Provisioned",
    "ServerStartError",
    "ToolchainMissingError",
    "default_cache_dir",
    "ensure_ferretdb",
    "ensure_helm",
    "ensure_kafka",
    "provision_all",
]

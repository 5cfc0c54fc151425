"""Exceptions raised while provisioning or running the local servers."""

from __future__ import annotations


class ProvisionError(RuntimeError):
    """A build, download or server start failed; the message carries the tool's output tail."""


class ToolchainMissingError(ProvisionError):
    """A toolchain (java, mvn, go) is missing or too old; the message says what to install."""


class ServerStartError(ProvisionError):
    """A local server exited or did not become ready; the message carries the tail of its log."""

"""shopsys: a reference event-driven shopping system (storefront -> Kafka -> MongoDB)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("shopsys")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

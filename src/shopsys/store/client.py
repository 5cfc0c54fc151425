"""The MongoDB client both the consumer and ``shopsys init`` use."""

from __future__ import annotations

from typing import Any

from pymongo import MongoClient

from shopsys.settings import MongoSettings

Document = dict[str, Any]


def connect(settings: MongoSettings) -> MongoClient[Document]:
    """A client that fails fast: a down database must surface as an error, not a hang."""
    return MongoClient(
        settings.uri.get_secret_value(),
        serverSelectionTimeoutMS=settings.timeout_ms,
        connectTimeoutMS=settings.timeout_ms,
        socketTimeoutMS=max(settings.timeout_ms * 2, 10_000),
        appname="shopsys",
        tz_aware=False,
    )

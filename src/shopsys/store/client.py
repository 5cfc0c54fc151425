"""The MongoDB client both the consumer and ``shopsys init`` use."""

from __future__ import annotations

from typing import Any, Final

from pymongo import MongoClient

from shopsys.settings import MongoSettings

Document = dict[str, Any]


# How long one operation may wait for the server's answer, on top of the base: per event of
# the consumer's largest batch. A slow but working server then finishes a batch (FerretDB
# scans the collection to settle a redelivered one) instead of having it abandoned, and
# retried from scratch, while it is still busy with it.
SOCKET_MS_PER_BATCHED_EVENT: Final = 100


def connect(settings: MongoSettings, *, batch_size: int = 0) -> MongoClient[Document]:
    """A client that fails fast: a down database must surface as an error, not a hang
    (server selection and connecting are bounded by ``timeout_ms``); an answer may take
    longer the larger the batches it writes (``batch_size``)."""
    return MongoClient(
        settings.uri.get_secret_value(),
        serverSelectionTimeoutMS=settings.timeout_ms,
        connectTimeoutMS=settings.timeout_ms,
        socketTimeoutMS=socket_timeout_ms(settings, batch_size),
        appname="shopsys",
        tz_aware=False,
    )


def socket_timeout_ms(settings: MongoSettings, batch_size: int) -> int:
    return max(settings.timeout_ms * 2, 10_000) + SOCKET_MS_PER_BATCHED_EVENT * batch_size

"""Unit-test setup: no servers. mongomock stands in for MongoDB here, and only here."""

from __future__ import annotations

from typing import Any

import mongomock.collection

_add_update = mongomock.collection.BulkOperationBuilder.add_update


def _add_update_ignoring_sort(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
    # pymongo >= 4.11 passes `sort` for UpdateOne in bulk_write; mongomock 4.3 predates it.
    # We never set it, so dropping it keeps mongomock's behaviour faithful.
    assert sort is None
    return _add_update(self, *args, **kwargs)


mongomock.collection.BulkOperationBuilder.add_update = _add_update_ignoring_sort  # type: ignore[method-assign]

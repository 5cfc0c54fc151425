"""SIGTERM in the middle of a stream of purchases: every 202 is stored, the process exits 0."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from tests.support.polling import eventually

pytestmark = pytest.mark.integration

CLIENTS = 8


def test_sigterm_loses_no_accepted_purchase(
    system_factory: Any, mongo_database: Database[Any]
) -> None:
    accepted: list[str] = []
    refused: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def client(index: int, web_url: str) -> None:
        with httpx.Client(base_url=web_url, timeout=30) as http:
            sequence = 0
            while not stop.is_set() and sequence < 2_000:
                sequence += 1
                try:
                    response = http.post(
                        "/api/v1/purchases",
                        json={"user_id": f"term-{index}", "product_id": "p-001"},
                    )
                except httpx.HTTPError as error:
                    with lock:
                        refused.append(type(error).__name__)
                    time.sleep(0.05)
                    continue
                with lock:
                    if response.status_code == 202:
                        accepted.append(response.json()["purchase_id"])
                    else:
                        refused.append(str(response.status_code))

    with system_factory() as system:
        threads = [
            threading.Thread(target=client, args=(i, system.web_url)) for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        eventually(lambda: True if len(accepted) >= 100 else None, timeout=30, what="traffic")
        accepted_before_sigterm = len(accepted)
        assert system.web.process is not None
        system.web.process.send_signal(signal.SIGTERM)
        exit_code = system.web.process.wait(30)
        time.sleep(0.5)  # clients keep trying against the stopped web role
        stop.set()
        for thread in threads:
            thread.join(30)

        assert exit_code == 0, system.web.log_tail()
        assert len(accepted) >= accepted_before_sigterm
        assert len(set(accepted)) == len(accepted)
        assert refused, "requests after SIGTERM must be refused, not accepted"
        expected = set(accepted)

        def stored_ids() -> set[str] | None:
            ids = {doc["_id"] for doc in mongo_database["purchases"].find({}, {"_id": 1})}
            return ids if ids >= expected else None

        ids = eventually(stored_ids, timeout=30, what="every accepted purchase to be stored")
        assert ids == expected, "only accepted purchases are stored"
        log = system.web.log_path.read_text()
        assert "flushing the producer" in log
        assert "web role stopped" in log

"""Instructions each role spends on its hot path, in process, counted by callgrind: for A/B
comparisons of two source trees at a resolution the benchmarks' noise does not allow.

    ROUNDS=0  PYTHONPATH=TREE/src:TREE valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python tests/perf/hot_path_instructions.py consumer
    ROUNDS=20 ... (the same)

The difference between the two totals is the hot path's count (the first is start-up alone):
`consumer` decodes ROUNDS batches of 500 purchase messages and writes them through
ConsumerLoop._write to a writer that does nothing; `web` sends ROUNDS purchases through the
ASGI app (Starlette's TestClient) with the web benchmark baseline's publisher. It counts
instructions, not seconds, so the machine's other load does not move it; the web harness's
threads do, by about 2 % between runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from confluent_kafka import Message


def consumer(rounds: int) -> None:
    from shopsys.consumer.batch import Batch
    from shopsys.consumer.loop import ConsumerLoop
    from shopsys.consumer.metrics import ConsumerMetrics
    from shopsys.events import Event
    from shopsys.settings import ConsumerSettings
    from tests.unit.consumer.fakes import TOPIC, FakeConsumer, RecordingDeadLetters, event

    class NullWriter:
        def apply(self, events: Sequence[Event]) -> None:
            return None

    messages = [
        Message(
            topic=TOPIC,
            partition=i % 3,
            offset=i,
            key=b"k",
            value=event(f"user-{i % 50}").to_json(),
        )
        for i in range(500)
    ]
    loop = ConsumerLoop(
        FakeConsumer(3),
        NullWriter(),
        RecordingDeadLetters(),
        ConsumerSettings(),
        ConsumerMetrics(),
        topic=TOPIC,
    )
    for _ in range(rounds):
        loop._write(Batch.of(messages))


def web(rounds: int) -> None:
    from starlette.testclient import TestClient

    from shopsys.settings import ManagementSettings, WebSettings
    from shopsys.web.app import wire_app
    from tests.perf.baseline_web import UnacknowledgedPublisher

    app = wire_app(UnacknowledgedPublisher, WebSettings(), ManagementSettings(), topic="bench")
    with TestClient(app) as client:
        for i in range(rounds):
            response = client.post(
                "/api/v1/buy", json={"username": "Ann", "userid": f"u{i % 50}", "price": 1.5}
            )
            assert response.status_code == 202, response.text


if __name__ == "__main__":
    {"consumer": consumer, "web": web}[sys.argv[1]](int(os.environ.get("ROUNDS", "0")))

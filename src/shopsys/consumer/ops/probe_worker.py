"""The probe process: reads Kafka for the operations page, outside the consumer's process.

``python -m shopsys.consumer.ops.probe_worker``. The first line on stdin is the setup (the
librdkafka client configuration, credentials included, so they never appear in argv or the
environment); then each line is a request, ``{"read": "offsets"|"group", "timeout": s}``,
answered by one line, ``{"ok": {...}}`` or ``{"error": "..."}``. It exits when stdin closes
or after ``idle_seconds`` without a request.

Why a process of its own: the AdminClient's coordinator requests (``describe_consumer_groups``)
can abort the whole process inside librdkafka when requests time out while a broker goes away
(librdkafka#4605, still open in 2.16). Here that kills only this process; the page says the
part is unavailable and the consumer loop never notices.
"""

from __future__ import annotations

import json
import os
import select
import sys
from typing import IO, Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from shopsys.consumer.lag import KafkaOffsetSource
from shopsys.consumer.ops.kafka_reads import ReadError, describe_group, read_offsets
from shopsys.observability import configure_logging
from shopsys.settings import LogSettings


class _Lines:
    """Lines from a file descriptor, unbuffered by Python: the setup and the first request
    arrive together, and a buffered reader would keep the second from ``select()``."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def next(self, timeout: float | None) -> bytes:
        """The next line; empty at the end of input or after ``timeout`` seconds of silence."""
        while b"\n" not in self._buffer:
            if not select.select([self._fd], [], [], timeout)[0]:
                return b""
            chunk = os.read(self._fd, 1 << 16)
            if not chunk:
                return b""
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


def serve(stdin: int, stdout: IO[bytes]) -> int:
    lines = _Lines(stdin)
    setup: dict[str, Any] = json.loads(lines.next(None) or b"null") or {}
    if not setup:
        return 0
    config: dict[str, Any] = setup["config"]
    timeout = float(setup["timeout"])
    topic, dlq_topic, group = str(setup["topic"]), str(setup["dlq_topic"]), str(setup["group"])
    source = KafkaOffsetSource(config, group, timeout=timeout)
    admin = AdminClient(config)
    try:
        while True:
            line = lines.next(float(setup["idle_seconds"]))
            if not line:
                return 0
            request = json.loads(line)
            wait = min(timeout, float(request.get("timeout", timeout)))
            answer: dict[str, Any]
            try:
                if request.get("read") == "offsets":
                    answer = {"ok": read_offsets(source, topic, dlq_topic).model_dump()}
                elif request.get("read") == "group":
                    answer = {"ok": describe_group(admin, group, topic, timeout=wait).model_dump()}
                else:
                    answer = {"error": f"unknown request {request!r}"}
            except ReadError as error:
                answer = {"error": str(error)}
            except KafkaException as error:
                answer = {"error": f"Kafka: {error.args[0].str()}"}
            stdout.write(json.dumps(answer).encode() + b"\n")
            stdout.flush()
    finally:
        source.close()


def main() -> int:
    configure_logging(LogSettings())
    return serve(sys.stdin.fileno(), sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())

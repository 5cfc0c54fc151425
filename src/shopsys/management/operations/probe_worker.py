"""The probe process: reads Kafka for the operations page, outside the consumer's process.

``python -m shopsys.management.operations.probe_worker``. The first line on stdin is the setup (the
librdkafka client configuration, credentials included, so they never appear in argv or the
environment); then each line is a request, ``{"read": "offsets"|"group", "timeout": s}``,
answered by one line, ``{"ok": {...}}`` or ``{"error": "..."}`` (whatever failed: the reads
stop at ``READ_SHARE`` of the request's timeout, and the parent waits a little beyond it, so a
slow Kafka is an answer that says so, not a killed process). It exits when stdin closes or
after ``idle_seconds`` without a request.

Why a process of its own: the AdminClient's coordinator requests (``describe_consumer_groups``)
can abort the whole process inside librdkafka when requests time out while a broker goes away
(librdkafka#4605, still open in 2.16). Here that kills only this process; the page says the
part is unavailable and the consumer loop never notices.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from shopsys.consumer.lag import KafkaOffsetSource, OffsetSource
from shopsys.http.observability import configure_logging
from shopsys.management.operations.kafka_reads import ReadError, describe_group, read_offsets
from shopsys.settings import LogSettings

logger = logging.getLogger(__name__)
# The reads get this share of a request's timeout, so that the answer, or why there is none,
# reaches the parent before it gives up on this process and kills it.
READ_SHARE = 0.8


class _Lines:
    """Lines from a file descriptor, unbuffered by Python: the setup and the first request
    arrive together, and a buffered reader would keep the second from the selector."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def next(self, timeout: float | None) -> bytes:
        """The next line; empty at the end of input or after ``timeout`` seconds of silence."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                if not selector.select(timeout):
                    return b""
                chunk = os.read(self._fd, 1 << 16)
                if not chunk:
                    return b""
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


@dataclass(eq=False)
class Reads:
    """The reads a request may ask for, each within its share of the request's timeout."""

    source: OffsetSource
    admin: Any  # confluent_kafka.admin.AdminClient (untyped library)
    topic: str
    dlq_topic: str
    group: str
    timeout: float  # the most any request may take

    @classmethod
    def connect(cls, setup: dict[str, Any]) -> Reads:
        config: dict[str, Any] = setup["config"]
        timeout = float(setup["timeout"])
        return cls(
            source=KafkaOffsetSource(config, str(setup["group"]), timeout=timeout),
            admin=AdminClient(config),
            topic=str(setup["topic"]),
            dlq_topic=str(setup["dlq_topic"]),
            group=str(setup["group"]),
            timeout=timeout,
        )

    def answer(self, line: bytes) -> dict[str, Any]:
        """``{"ok": ...}`` or ``{"error": ...}``, whatever goes wrong: this process serves the
        next request rather than die of an error the page can show."""
        budget = READ_SHARE * self.timeout
        try:
            request = json.loads(line)
            budget = READ_SHARE * min(self.timeout, float(request.get("timeout", self.timeout)))
            if request.get("read") == "offsets":
                with self.source.deadline(budget):
                    offsets = read_offsets(self.source, self.topic, self.dlq_topic)
                return {"ok": offsets.model_dump()}
            if request.get("read") == "group":
                view = describe_group(self.admin, self.group, self.topic, timeout=budget)
                return {"ok": view.model_dump()}
            return {"error": f"unknown request {request!r}"}
        except ReadError as error:
            return {"error": str(error)}
        except KafkaException as error:
            reason = error.args[0] if error.args else error
            return {"error": f"Kafka: {reason.str() if isinstance(reason, KafkaError) else reason}"}
        except TimeoutError:
            return {"error": f"no answer from Kafka in {budget:.1f}s"}
        except Exception as error:
            logger.exception("operations page: a read failed")
            return {"error": f"the read failed: {type(error).__name__}: {error}"}

    def close(self) -> None:
        self.source.close()


def serve(
    stdin: int, stdout: IO[bytes], *, connect: Callable[[dict[str, Any]], Reads] = Reads.connect
) -> int:
    lines = _Lines(stdin)
    setup: dict[str, Any] = json.loads(lines.next(None) or b"null") or {}
    if not setup:
        return 0
    reads = connect(setup)
    try:
        while True:
            line = lines.next(float(setup["idle_seconds"]))
            if not line:
                return 0
            stdout.write(json.dumps(reads.answer(line)).encode() + b"\n")
            stdout.flush()
    finally:
        reads.close()


def main() -> int:
    configure_logging(LogSettings())
    return serve(sys.stdin.fileno(), sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())

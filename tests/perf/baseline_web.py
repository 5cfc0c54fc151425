"""The web benchmark's baseline: ``serve-web`` exactly, from the same settings and under the
same uvicorn, except that its publisher serialises each event and returns without waiting
for Kafka. Run as its own process, like serve-web:

    python -m tests.perf.baseline_web    # settings from SHOPSYS_* as for serve-web
"""

from __future__ import annotations

from shopsys.events import Event
from shopsys.http.observability import configure_logging
from shopsys.kafka.producer import EventPublisher, Headers
from shopsys.runners import serve
from shopsys.settings import KafkaSettings, LogSettings, ManagementSettings, WebSettings
from shopsys.web.app import wire_app


class UnacknowledgedPublisher(EventPublisher):
    async def publish(self, event: Event, headers: Headers = ()) -> None:
        event.to_json()  # the serialisation cost stays in the baseline

    async def is_ready(self) -> bool:
        return True


if __name__ == "__main__":
    web = WebSettings()
    configure_logging(LogSettings())
    serve(
        wire_app(UnacknowledgedPublisher, web, ManagementSettings(), topic=KafkaSettings().topic),
        web.host,
        web.port,
        graceful_seconds=web.shutdown_grace_seconds,
    )

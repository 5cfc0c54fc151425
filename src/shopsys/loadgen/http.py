"""A lean keep-alive HTTP/1.1 connection for the load loop: h11 over asyncio streams.

httpx costs about three times the CPU per request of the server it would be measuring (its
connection pool and anyio layers), so the load generator became the bottleneck on small
machines. h11 (the parser uvicorn and httpcore use) on a plain asyncio stream costs a fraction.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

_READ_SIZE = 65_536
HttpHeaders = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Answer:
    status: int
    retry_after: bool  # the response had a Retry-After header

    @property
    def outcome(self) -> str:
        """How the answer is counted: its status code, and a 429 or 503 that does not say
        when to retry (a contract violation for the storefront) under a name of its own."""
        if self.status in (429, 503) and not self.retry_after:
            return f"{self.status} without Retry-After"
        return str(self.status)


class HttpFailure(Exception):
    """A request that got no HTTP answer; ``kind`` is how it is counted."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int
    base_path: str

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


class Connection:
    """One connection, reused while the server keeps it alive; reopened when it does not."""

    def __init__(self, origin: Origin, *, timeout: float, tls: ssl.SSLContext | None) -> None:
        self.origin = origin
        self.timeout = timeout
        self.tls = tls if origin.scheme == "https" else None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._h11 = h11.Connection(h11.CLIENT)

    async def request(
        self, method: str, path: str, body: bytes | None = None, headers: HttpHeaders = ()
    ) -> Answer:
        """Send one request, read the whole response, return its status and Retry-After."""
        try:
            async with asyncio.timeout(self.timeout):
                try:
                    return await self._exchange(method, path, body, headers)
                except _StaleConnectionError:
                    # the server had closed the idle keep-alive connection: one fresh try
                    return await self._exchange(method, path, body, headers)
        except TimeoutError:
            await self.close()
            raise HttpFailure("timeout") from None
        except (ConnectionRefusedError, socket.gaierror) as error:
            await self.close()
            raise HttpFailure("connect_error") from error
        except (OSError, h11.ProtocolError) as error:
            await self.close()
            raise HttpFailure(f"error:{type(error).__name__}") from error

    async def _exchange(
        self, method: str, path: str, body: bytes | None, extra: HttpHeaders
    ) -> Answer:
        reused = self._writer is not None
        if not reused:
            await self._open()
        assert self._reader is not None
        assert self._writer is not None
        headers = [("Host", self.origin.host_header), ("User-Agent", "shopsys-load"), *extra]
        if body is not None:
            headers.append(("Content-Length", str(len(body))))
        wire = self._h11.send(
            h11.Request(method=method, target=self.origin.base_path + path, headers=headers)
        )
        if body is not None:
            wire = (wire or b"") + (self._h11.send(h11.Data(data=body)) or b"")
        wire = (wire or b"") + (self._h11.send(h11.EndOfMessage()) or b"")
        status, retry_after = 0, False
        try:
            self._writer.write(wire)
            while True:
                event = self._h11.next_event()
                if event is h11.NEED_DATA:
                    self._h11.receive_data(await self._reader.read(_READ_SIZE))
                elif isinstance(event, h11.Response):
                    status = event.status_code
                    retry_after = any(name == b"retry-after" for name, _ in event.headers)
                elif isinstance(event, h11.EndOfMessage):
                    break
                elif isinstance(event, h11.ConnectionClosed):
                    raise ConnectionResetError("the server closed the connection")
        except (OSError, h11.RemoteProtocolError) as error:
            await self.close()
            if reused and status == 0:
                raise _StaleConnectionError from error
            raise
        if self._h11.our_state is h11.MUST_CLOSE or self._h11.their_state is h11.MUST_CLOSE:
            await self.close()
        else:
            self._h11.start_next_cycle()
        return Answer(status, retry_after)

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(
            self.origin.host,
            self.origin.port,
            ssl=self.tls,
            server_hostname=self.origin.host if self.tls else None,
            limit=_READ_SIZE,
        )
        self._h11 = h11.Connection(h11.CLIENT)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        self._h11 = h11.Connection(h11.CLIENT)
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError, TimeoutError):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()


class _StaleConnectionError(Exception):
    """A reused connection failed before any answer: the server had closed it."""

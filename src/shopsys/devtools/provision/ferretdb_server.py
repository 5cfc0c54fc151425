"""FerretDB (MongoDB wire protocol, SQLite backend) on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import ServerStartError
from ..ports import HOST, free_port, port_open
from ..process import ManagedProcess


class FerretDBServer(ManagedProcess):
    """FerretDB on a free 127.0.0.1 port chosen at construction; data in `work_dir/data`."""

    name = "FerretDB"

    def __init__(self, binary: Path, work_dir: Path, *, log_level: str = "warn") -> None:
        self.work_dir = Path(work_dir).resolve()
        super().__init__(self.work_dir / "ferretdb.log", cwd=self.work_dir)
        self.binary = Path(binary).resolve()
        self.log_level = log_level
        self.port = free_port()
        self.data_dir = self.work_dir / "data"

    @property
    def uri(self) -> str:
        return f"mongodb://{HOST}:{self.port}/"

    def _command(self) -> Sequence[str]:
        if not os.access(self.binary, os.X_OK):
            raise ServerStartError(f"FerretDB binary {self.binary} is missing or not executable")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(self.binary),
            f"-listen-addr={HOST}:{self.port}",
            f"-sqlite-dir={self.data_dir}",
            f"-log-level={self.log_level}",
        ]

    def _ready(self, timeout: float) -> bool:
        if not port_open(self.port):
            return False
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        ms = max(100, int(timeout * 1000))
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=ms, connectTimeoutMS=ms
        )
        try:
            client.admin.command("ping")
        except PyMongoError:
            return False
        finally:
            client.close()
        return True

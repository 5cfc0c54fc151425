from __future__ import annotations

from shopsys.cli import app

app()

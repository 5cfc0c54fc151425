"""The operations page's routes: the page, its JSON snapshot and its static files.

Reads, open like the management API's other GET routes: the figures say how the system runs,
not what anyone bought.
"""

from __future__ import annotations

from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from shopsys.http.responses import PAGE_HEADERS, JSONResponse
from shopsys.management.operations.snapshot import Operations

STATIC_DIR = Path(__file__).with_name("static")


def _operations(request: Request) -> Operations:
    operations: Operations = request.app.state.services.operations
    return operations


async def operations_page(_request: Request) -> Response:
    return FileResponse(
        STATIC_DIR / "operations.html", media_type="text/html", headers=PAGE_HEADERS
    )


async def operations_snapshot(request: Request) -> Response:
    snapshot = await run_in_threadpool(_operations(request).snapshot)
    return JSONResponse(snapshot.to_json(), headers={"Cache-Control": "no-store"})


def operations_routes() -> list[BaseRoute]:
    return [
        Route("/operations", operations_page, methods=["GET"]),
        Route("/api/v1/operations", operations_snapshot, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]

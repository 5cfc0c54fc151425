"""The storefront page, its static assets and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from shopsys.http.responses import PAGE_HEADERS, JSONResponse
from shopsys.web.openapi import Answer, Operation

STATIC_DIR = Path(__file__).with_name("static")


async def storefront(_request: Request) -> Response:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=PAGE_HEADERS)


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def page_operations() -> list[Operation]:
    return [
        Operation(
            "/",
            "GET",
            storefront,
            "The storefront page",
            {200: Answer("HTML", schema={"type": "string"}, media_type="text/html")},
        ),
        Operation(
            "/api/v1/openapi.json",
            "GET",
            openapi,
            "This document",
            {200: Answer("OpenAPI 3.1", schema={"type": "object"})},
        ),
    ]


def static_files() -> Mount:
    return Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static")

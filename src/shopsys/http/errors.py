"""The JSON error format of both HTTP APIs: ``{"error": {"code", "message", "details"?}}``."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler

from shopsys.http.responses import JSONResponse

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "validation_error",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answered as JSON with a status, a stable code and a message."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.code = code or _CODES.get(status_code, "error")
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status_code, headers=headers)


def validation_details(error: ValidationError, *, prefix: str = "") -> list[dict[str, str]]:
    """One entry per offending field, named with a dotted path (``quantity``, ``body``)."""
    details = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"]) or "body"
        details.append({"field": prefix + location, "message": item["msg"], "type": item["type"]})
    return details


def invalid(field: str, message: str, type_: str = "value_error") -> ApiError:
    return ApiError(
        422,
        f"invalid {field}",
        details=[{"field": field, "message": message, "type": type_}],
    )


RETRY_AFTER_SECONDS = 2  # what every 503 tells the client to wait before trying again


class ServiceUnavailable(ApiError):
    """A 503: something this API depends on did not answer; the client should retry."""

    def __init__(self, message: str, *, code: str = "unavailable") -> None:
        super().__init__(503, message, code=code, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def purchase_not_found() -> ApiError:
    return ApiError(404, "purchase not found (it may not be stored yet)")


def unknown_product(product_id: str) -> ApiError:
    return ApiError(404, f"unknown product {product_id!r}", code="unknown_product")


async def _api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.code, exc.message, exc.details, exc.headers)


async def _http_exception(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _CODES.get(exc.status_code, "error")
    return error_response(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))


async def _unhandled(_request: Request, _exc: Exception) -> Response:
    # logged with its request id by ObservabilityMiddleware, which sees the exception first
    return error_response(500, "internal_error", "internal server error")


EXCEPTION_HANDLERS: dict[Any, ExceptionHandler] = {
    ApiError: _api_error,
    HTTPException: _http_exception,
    Exception: _unhandled,
}

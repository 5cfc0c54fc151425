"""Reading and validating request input for both APIs: bodies, path and query parameters."""

from __future__ import annotations

import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from shopsys.http.errors import ApiError, invalid, validation_details
from shopsys.models import CURSOR_PATTERN, IDENTIFIER_MAX_LENGTH, IDENTIFIER_PATTERN

ModelT = TypeVar("ModelT", bound=BaseModel)

MAX_CURSOR_LENGTH = 512
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_CURSOR = re.compile(CURSOR_PATTERN)


async def read_json_model(request: Request, model: type[ModelT], *, max_bytes: int) -> ModelT:
    """The body parsed as ``model``: 413 above ``max_bytes``, 422 for anything malformed."""
    declared = request.headers.get("content-length")
    if declared is not None and _is_small_number(declared, 19) and int(declared) > max_bytes:
        raise ApiError(413, f"request body is larger than {max_bytes} bytes")
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise invalid("content-type", "the body must be sent as application/json", "content_type")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > max_bytes:
            raise ApiError(413, f"request body is larger than {max_bytes} bytes")
    try:
        return model.model_validate_json(bytes(body))  # parsed and validated in one step
    except ValidationError as error:
        raise _body_error(error) from None


def _body_error(error: ValidationError) -> ApiError:
    first = error.errors(include_url=False, include_input=False)[0]
    if first["type"] == "json_invalid":
        return invalid("body", "the body is not valid JSON", "json_invalid")
    if first["type"] == "model_type" and not first["loc"]:
        return invalid("body", "the body must be a JSON object", "object_type")
    return ApiError(422, "invalid request body", details=validation_details(error))


def _is_small_number(raw: str, max_digits: int) -> bool:
    """ASCII digits only (``str.isdigit`` alone accepts ``²``, which ``int`` rejects)."""
    return 0 < len(raw) <= max_digits and raw.isascii() and raw.isdigit()


def identifier_param(request: Request, name: str) -> str:
    value = str(request.path_params[name])
    if len(value) > IDENTIFIER_MAX_LENGTH or not _IDENTIFIER.fullmatch(value):
        raise invalid(
            name, "must be 1-64 characters of letters, digits and . _ : @ - (not leading)"
        )
    return value


def int_query(request: Request, name: str, *, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not _is_small_number(raw, 9) or not low <= int(raw) <= high:
        raise invalid(name, f"must be an integer from {low} to {high}")
    return int(raw)


def cursor_query(request: Request) -> str | None:
    raw = request.query_params.get("cursor")
    if raw is None or raw == "":
        return None
    if len(raw) > MAX_CURSOR_LENGTH or not _CURSOR.fullmatch(raw):
        raise invalid("cursor", "is not a cursor this API issued")
    return raw

"""How a storefront route is declared: its path, method, endpoint, request body and every answer
it can give, once. The route table and the OpenAPI 3.1 document served at
``/api/v1/openapi.json`` are both made from these declarations.

Request schemas are generated from the very pydantic models that validate the requests, so the
document cannot drift from the validation; answer schemas come from the models the endpoints
serialise, which the schemathesis run checks against every real response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopsys import __version__
from shopsys.models import IDEMPOTENCY_KEY_PATTERN
from shopsys.web.bodies import ErrorResponse, PurchaseRequest

_REF = "#/components/schemas/{model}"

Endpoint = Callable[[Request], Awaitable[Response]]
Schema = Mapping[str, Any]

RETRY_AFTER: Schema = {
    "Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}
}
LOCATION: Schema = {
    "Location": {"description": "Where to read it back", "schema": {"type": "string"}}
}


@dataclass(frozen=True)
class Answer:
    """One documented response: a body of ``model`` (a JSON list of it when ``many``), or a raw
    ``schema`` of ``media_type``; ``headers`` it carries."""

    description: str
    model: type[BaseModel] | None = None
    many: bool = False
    schema: Schema | None = None
    media_type: str = "application/json"
    headers: Schema = field(default_factory=dict)

    def spec(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"description": self.description}
        if self.model is not None:
            ref = _ref(self.model)
            schema = {"type": "array", "items": ref} if self.many else ref
            answer["content"] = {self.media_type: {"schema": schema}}
        elif self.schema is not None:
            answer["content"] = {self.media_type: {"schema": dict(self.schema)}}
        if self.headers:
            answer["headers"] = dict(self.headers)
        return answer


def error(description: str, *, retry_after: bool = False) -> Answer:
    """An error answer: the JSON error body, with Retry-After when a retry is expected."""
    return Answer(description, ErrorResponse, headers=RETRY_AFTER if retry_after else {})


INVALID = error("Invalid input; `details` names each offending field")
TOO_LARGE = error("The body is larger than the configured limit")
UNAVAILABLE = error("Kafka or the management API is unavailable", retry_after=True)
DOUBTFUL = error(
    "Not accepted in time: Kafka did not acknowledge the event (or the catalog could not be"
    " read). Doubtful: the event may still be stored. Retry after `Retry-After` seconds with"
    " the same `Idempotency-Key`: that ends in exactly one purchase, as the last accepted"
    " attempt describes it.",
    retry_after=True,
)

IDEMPOTENCY_HEADER: Schema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "One key per order attempt, reused on every retry: the same key for the same user"
        " always yields the same purchase id, so a retried request never buys twice"
    ),
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
}
PURCHASE_ID: Schema = {"type": "string", "format": "uuid"}


def identifier_schema() -> dict[str, Any]:
    """A user or product id, as the request models validate it."""
    schema: dict[str, Any] = PurchaseRequest.model_json_schema()["properties"]["user_id"]
    return {key: value for key, value in schema.items() if key != "title"}


def path_parameter(name: str, schema: Schema) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": dict(schema)}


def query_parameter(name: str, schema: Schema, description: str | None = None) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
    if description is not None:
        parameter["description"] = description
    parameter["schema"] = dict(schema)
    return parameter


@dataclass(frozen=True)
class Operation:
    """One route of the storefront: served and documented from this one object."""

    path: str
    method: Literal["GET", "POST"]
    endpoint: Endpoint
    summary: str
    answers: Mapping[int, Answer]
    description: str | None = None
    body: type[BaseModel] | None = None
    parameters: Sequence[Schema] = ()

    def route(self) -> Route:
        return Route(self.path, self.endpoint, methods=[self.method])

    def spec(self) -> dict[str, Any]:
        operation: dict[str, Any] = {"summary": self.summary}
        if self.description is not None:
            operation["description"] = self.description
        if self.parameters:
            operation["parameters"] = [dict(parameter) for parameter in self.parameters]
        if self.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(self.body)}},
            }
        operation["responses"] = {
            str(status): answer.spec() for status, answer in sorted(self.answers.items())
        }
        return operation


def build_document(operations: Iterable[Operation]) -> dict[str, Any]:
    """The whole document: the paths of ``operations``, the schemas of the models they use."""
    paths: dict[str, dict[str, Any]] = {}
    models: dict[tuple[type[BaseModel], str], None] = {}  # ordered and without repeats
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = operation.spec()
        if operation.body is not None:
            models[(operation.body, "validation")] = None
        for answer in operation.answers.values():
            if answer.model is not None:
                models[(answer.model, "serialization")] = None
    _, definitions = models_json_schema(list(models), ref_template=_REF)  # type: ignore[arg-type]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "shopsys storefront API",
            "version": __version__,
            "description": 'Errors are JSON: {"error": {"code", "message", "details"?}}.',
        },
        "paths": paths,
        "components": {"schemas": definitions["$defs"]},
    }


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}

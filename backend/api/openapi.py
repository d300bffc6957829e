"""The OpenAPI 3 document of the API, built from the routes, the views' `@doc` and the marshmallow schemas.

A view says what the router can't tell: its success status and body schema, its request body,
the errors it can answer and how it authenticates (`@doc`, right above the view function,
under its guards). `@doc` also runs what it says: it loads the request body with the body's
schema into the view's `body` argument, and dumps what the view returns with the schema of the
status it answers; so the document is true of the API by construction. The summary and
description are the view's docstring (in Chinese too: `translated_spec`, from
backend/i18n/openapi_zh_cn.py). `build_spec(app)` walks `app.url_map`, so a path or
method comes from the router itself; a view without `@doc` is left out, and
tests/test_openapi.py fails on it.

Errors are documented from the exception classes in backend/errors.py: each code becomes a
reusable response (its description is the class's docstring), and the statuses that several
codes share in one operation list every code, with an example of each.
"""

from __future__ import annotations

import copy
import functools
import inspect
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, Response
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from backend import i18n
from backend.api.guards import json_body
from backend.api.schemas.common import dump, load
from backend.errors import (
    ApiError,
    AppNotFound,
    Forbidden,
    IdempotencyConflict,
    InvalidRequest,
    NotFound,
    Unauthorized,
    http_error_code,
)
from backend.infra.idempotency import IdempotencyInProgress

OPENAPI_VERSION = "3.0.3"
API_VERSION = "1.0.0"  # the contract's version; paths are under /api/v1
BEARER = "bearerAuth"  # the mini program's session token
API_KEY = "apiKey"  # a business caller's key
SECURITY_SCHEMES = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "The session token from `POST /api/v1/auth/login`, as `Authorization: Bearer <token>`.",
    },
    API_KEY: {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "One of the keys in BUSINESS_API_KEYS (every app), or one listed under an app in "
        "WX_APPS_FILE (that app alone).",
    },
}
JSON = "application/json"
TEXT = "text/plain"
METHODS = ("get", "post", "put", "patch", "delete")
DOC_ATTRIBUTE = "__openapi__"

DESCRIPTION = """\
The backend of a WeChat Mini Program's subscribe messages: the mini program logs in and reports
what its subscribe popups returned; business code sends messages, one or in batches, under the
consent ledger's rules; WeChat pushes consent changes and delivery results.

Every error is `{"error": {"code": "<snake_case>", "message": "<for a human>", "details": {...}}}`;
callers branch on `code`, which is English whatever the language. The `message` is in Simplified
Chinese when `Accept-Language` prefers it (`zh`, `zh-CN`, `zh-Hans`; q-values count), English
otherwise; `Content-Language` says which (a replayed Idempotency-Key answer keeps the first
one's). `details` stay English. Every response carries `X-Request-Id` (the caller's, when it sent a
well-formed one). `GET /metrics` serves Prometheus text; `/admin` is the operator's dashboard.
"""


# -- the views' declarations ---------------------------------------------------------


# Our errors, and Werkzeug's that reach the same handler (backend/errors.py) before a view runs.
ErrorClass = type[ApiError] | type[HTTPException]


@dataclass(frozen=True)
class ErrorCase:
    """An error a view can answer: the exception class, and when the status or meaning differs."""

    error: ErrorClass
    status: int | None = None
    when: str | None = None

    @property
    def http_status(self) -> int:
        return self.status or _status(self.error)


def _code(cls: ErrorClass) -> str:
    return http_error_code(cls()) if issubclass(cls, HTTPException) else cls.code


def _status(cls: ErrorClass) -> int:
    return int(cls.code) if issubclass(cls, HTTPException) else cls.status


def _message(cls: ErrorClass) -> str:
    return str(cls.description) if issubclass(cls, HTTPException) else cls.message


def _meaning(cls: ErrorClass) -> str:
    """What the error says: our class's docstring, Werkzeug's description."""
    return _message(cls) if issubclass(cls, HTTPException) else inspect.getdoc(cls) or cls.message


def error(exc: ErrorClass, *, status: int | None = None, when: str | None = None) -> ErrorCase:
    """`exc` answered with another status than its own, or for a reason worth saying here."""
    return ErrorCase(exc, status, when)


def query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    """An optional query parameter (a string unless `schema` says otherwise)."""
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or {"type": "string"},
    }


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe: the same key with the same request replays the first answer "
    "(with `Idempotent-Replayed: true`) and does nothing again; with another request it is "
    "`idempotency_conflict`. Keys are per caller and kept at least 24 hours. While the first "
    "request runs, a retry is `idempotency_in_progress`; if that request's process dies, the key "
    "is released `SENDING_TIMEOUT` seconds after it began, and a retry answers from what it left "
    "(its message or batch) or, if it left nothing, runs afresh.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}
CURSOR = query("cursor", "The `next_cursor` of the previous page (opaque); omit it for the first page.")


@dataclass(frozen=True)
class Answer:
    """A success answer beside the view's main one, e.g. the 202 of a send delivered later.

    `documented=False` is an answer the view gives that the document leaves out (say why where
    it is used): `@doc` still dumps it with its schema.
    """

    status: int
    response: type[Schema] | dict[str, Any] | None
    description: str
    headers: tuple[tuple[str, dict[str, Any]], ...] = ()
    documented: bool = True


PREFER = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "`respond-async` (RFC 7240): answer 202 at once with the `queued` message and deliver it from "
    "the queue; `GET /api/v1/messages/{message_id}` shows the outcome.",
    "schema": {"type": "string", "example": "respond-async"},
}
PREFERENCE_APPLIED = (
    "Preference-Applied",
    {
        "description": "`respond-async` when the request's `Prefer: respond-async` was honoured.",
        "schema": {"type": "string", "enum": ["respond-async"]},
    },
)


@dataclass(frozen=True)
class OperationDoc:
    status: int
    response: type[Schema] | dict[str, Any] | None
    media_type: str
    body: type[Schema] | None
    body_content: dict[str, Any] | None
    errors: tuple[ErrorCase, ...]
    auth: str | None
    params: tuple[dict[str, Any], ...]
    idempotent: bool
    summary: str | None = None  # for a view whose docstring can't say it
    also: tuple[Answer, ...] = ()  # further success answers

    def schema_for(self, status: int) -> type[Schema] | dict[str, Any] | None:
        """The body schema of the success answer with this status."""
        if status == self.status:
            return self.response
        for answer in self.also:
            if answer.status == status:
                return answer.response
        raise ValueError(f"the view answered {status}, which its @doc does not declare")

    def answer(self, result: Any) -> Any:
        """What the view returned as Flask's `(body, status, headers)`: its object dumped with the
        schema of the status it answers. A Response, or a body that a JSON schema dict or another
        media type describes (text), goes out as the view made it."""
        if isinstance(result, Response):
            return result
        obj, status, headers = (*result, {})[:3] if isinstance(result, tuple) else (result, self.status, {})
        schema = self.schema_for(status)
        if schema is None:
            if obj is not None:
                raise TypeError(f"the {status} answer has no body, and the view returned one")
            return "", status, headers
        if isinstance(schema, type) and issubclass(schema, Schema):
            return dump(schema, obj), status, headers
        return obj, status, headers


def doc(
    status: int, response: type[Schema] | dict[str, Any] | None = None, **options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare a view's answers and request body, for the OpenAPI document and for the view itself.

    `status` and `response` (a schema class, a JSON schema dict, or None for no body) are the
    main success answer; the options are `describe`'s: `body` the JSON request body's schema
    (`body_content` for other media types); `errors` the exception classes it can raise beyond
    those `auth` (401) and `idempotent` (the Idempotency-Key header) imply; `params`; `also`
    further success answers.

    The decorated view gets the body loaded with `body` (400 invalid_request naming each bad
    field) as its `body` argument, and returns its answer as an object for the schema of the
    status: `obj`, `(obj, status)` or `(obj, status, headers)`. It goes right above the view
    function, under the guards: the body is read only once the caller is authenticated, and
    inside the idempotency wrapper, which records the dumped answer.
    """
    described = describe(status, response, **options)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        if hasattr(view, "__wrapped__"):
            raise TypeError(f"@doc goes right above {view.__name__}, under its guards")

        @functools.wraps(view)
        def boundary(*args: Any, **kwargs: Any) -> Any:
            if described.body is not None:
                kwargs["body"] = load(described.body, json_body())
            return described.answer(view(*args, **kwargs))

        setattr(boundary, DOC_ATTRIBUTE, described)
        return boundary

    return decorate


def describe(
    status: int,
    response: type[Schema] | dict[str, Any] | None = None,
    *,
    media_type: str = JSON,
    body: type[Schema] | None = None,
    body_content: dict[str, Any] | None = None,
    errors: Iterable[ErrorClass | ErrorCase] = (),
    auth: str | None = None,
    params: Iterable[dict[str, Any]] = (),
    idempotent: bool = False,
    summary: str | None = None,
    also: Iterable[Answer] = (),
) -> OperationDoc:
    """What `doc` attaches to a view."""
    params = tuple(params)
    cases = tuple(item if isinstance(item, ErrorCase) else ErrorCase(item) for item in errors)
    if any(param["in"] == "query" for param in params):
        # Any query with NUL is refused before the view (backend/api/__init__.py).
        cases += (ErrorCase(InvalidRequest),)
    if body is not None or body_content is not None:
        # MAX_CONTENT_LENGTH: Werkzeug refuses a larger body before the view reads it.
        cases += (ErrorCase(InvalidRequest), ErrorCase(RequestEntityTooLarge))
    if auth is not None:
        cases += (ErrorCase(Unauthorized),)
    if auth == API_KEY:  # the guard settles the app the call acts for (backend/api/guards.py)
        cases += (
            ErrorCase(InvalidRequest),
            ErrorCase(Forbidden, when="The API key may not act for the app named in `appid`."),
            ErrorCase(AppNotFound, when="The `appid` is not one of the apps this backend serves."),
        )
    if idempotent:
        cases += (
            ErrorCase(InvalidRequest),
            ErrorCase(IdempotencyConflict),
            ErrorCase(IdempotencyInProgress),
        )
        params = (*params, IDEMPOTENCY_KEY)
    return OperationDoc(
        status=status,
        response=response,
        media_type=media_type,
        body=body,
        body_content=body_content,
        errors=cases,
        auth=auth,
        params=tuple(params),
        idempotent=idempotent,
        summary=summary,
        also=tuple(also),
    )


# -- the shared error shape ----------------------------------------------------------


class ErrorBodySchema(Schema):
    code = fields.String(
        required=True,
        metadata={"description": "What went wrong, to branch on (snake_case).", "example": "unauthorized"},
    )
    message = fields.String(
        required=True,
        metadata={"description": "For a human, in the language of Accept-Language (en or zh-CN); may change."},
    )
    details = fields.Dict(
        required=True,
        metadata={"description": "More about it, e.g. a field to its reason for invalid_request; may be empty."},
    )


class ErrorSchema(Schema):
    """Every error the API answers."""

    error = fields.Nested(ErrorBodySchema, required=True)


# Views outside backend/api, described here by endpoint.
ELSEWHERE = {
    "metrics.get_metrics": describe(
        200,
        {"type": "string", "description": "Prometheus' text exposition format."},
        media_type=TEXT,
        summary="Prometheus metrics, counted across all worker processes.",
    ),
}

# Whole-body examples. What a schema's own validator enforces beyond its fields (the one
# recipient of Send and Recipient) its description says: a oneOf of `required` lists would
# make a generated client's body untyped, and no such list can say "exactly one of four".
SCHEMA_EXTRAS = {
    "Send": {
        "example": {
            "user_id": 1,
            "template_id": "tmpl-order-shipped",
            "data": {"thing1": "Blue kettle", "time2": "2024年10月1日 15:01"},
            "page": "pages/order/index?id=42",
        },
    },
    "BatchSend": {
        "example": {
            "template_id": "tmpl-order-shipped",
            "data": {"time2": "2024年10月1日 15:01"},
            "recipients": [
                {"openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", "data": {"thing1": "Blue kettle"}},
                {"user_id": 2, "data": {"thing1": "Red kettle"}},
                {"external_id": "EMP-00123", "data": {"thing1": "Green kettle"}},
                {"phone_number": "+8613800138000", "data": {"thing1": "White kettle"}},
            ],
        }
    },
}

REQUEST_ID = {
    "description": "The caller's X-Request-Id when it sent a well-formed one, else a new id; the logs carry it.",
    "required": True,
    "schema": {"type": "string"},
}


# -- building the document -----------------------------------------------------------


def build_spec(app: Flask, server_url: str = "/") -> dict[str, Any]:
    """The OpenAPI document for `app`'s documented routes, as a dict ready for JSON."""
    plugin = MarshmallowPlugin()
    spec = APISpec(
        title="WeChat subscribe-message backend",
        version=API_VERSION,
        openapi_version=OPENAPI_VERSION,
        plugins=[plugin],
        info={"description": DESCRIPTION},
        servers=[{"url": server_url}],
    )
    spec.components.schema("Error", schema=ErrorSchema)
    spec.components.header("X-Request-Id", REQUEST_ID)
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)

    error_classes: dict[str, ErrorClass] = {}
    paths: dict[str, dict[str, Any]] = defaultdict(dict)
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, sorted(r.methods or ()))):
        view = app.view_functions.get(rule.endpoint)
        described: OperationDoc | None = getattr(view, DOC_ATTRIBUTE, None) or ELSEWHERE.get(rule.endpoint)
        if described is None:
            continue
        path, path_params = openapi_path(rule.rule)
        for method in sorted(m.lower() for m in rule.methods or () if m.lower() in METHODS):
            paths[path][method] = _operation(rule.endpoint, view, described, path_params, error_classes)

    for cls in sorted(error_classes.values(), key=lambda c: c.__name__):
        spec.components.response(cls.__name__, _error_response(cls))
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)

    document = spec.to_dict()
    for name, extras in SCHEMA_EXTRAS.items():
        if name in document["components"]["schemas"]:
            document["components"]["schemas"][name].update(extras)
    _name_nullable_enums(document)
    schema_classes = {name: key[0] for key, name in plugin.converter.refs.items()}
    for name, cls in schema_classes.items():
        # apispec writes Meta.description in place of additionalProperties: false, so not from there.
        if getattr(cls, "openapi_description", None):
            document["components"]["schemas"][name]["description"] = cls.openapi_description
    # Dumped bodies carry every field of their schema, except those an AnswerSchema may leave out.
    sometimes_absent = {name: set(getattr(cls, "sometimes_absent", ())) for name, cls in schema_classes.items()}
    _require_dumped_fields(document, sometimes_absent)
    return document


def prose(document: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(holder, key) of each text a reader of /docs reads first: the document's title and
    description, each operation's summary and description."""
    places = [(document["info"], "title"), (document["info"], "description")]
    for operations in document["paths"].values():
        for method in METHODS:
            if method in operations:
                places += [(operations[method], "summary"), (operations[method], "description")]
    return [(holder, key) for holder, key in places if holder.get(key)]


def catalogue_key(text: str) -> str:
    """How OPENAPI_CATALOGUES keys a text: its whitespace collapsed, so a re-wrapped docstring keeps it."""
    return " ".join(text.split())


def translated_spec(document: dict[str, Any], language: str) -> dict[str, Any]:
    """A copy of `document` whose prose is in `language` where the catalogue has it (else English)."""
    translated = copy.deepcopy(document)
    catalogue = i18n.OPENAPI_CATALOGUES.get(language, {})
    for holder, key in prose(translated):
        holder[key] = catalogue.get(catalogue_key(holder[key]), holder[key])
    return translated


def openapi_path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    """Werkzeug's `/a/<int:id>` as OpenAPI's `/a/{id}`, with the path parameters."""
    params = []
    for converter, name in re.findall(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule):
        if converter == "int":
            schema: dict[str, Any] = {"type": "integer"}
        elif converter == "float":
            schema = {"type": "number"}
        else:
            schema = {"type": "string", "minLength": 1}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule), params


def _operation(
    endpoint: str,
    view: Callable[..., Any],
    described: OperationDoc,
    path_params: list[dict[str, Any]],
    error_classes: dict[str, ErrorClass],
) -> dict[str, Any]:
    summary, _, description = (described.summary or inspect.getdoc(view) or endpoint).partition("\n")
    operation: dict[str, Any] = {
        "operationId": endpoint.rpartition(".")[2],
        "tags": [endpoint.partition(".")[0]] if "." in endpoint else [],
        "summary": summary.strip(),
    }
    if description.strip():
        operation["description"] = description.strip()
    if path_params or described.params:
        operation["parameters"] = [*path_params, *described.params]
    if described.auth is not None:
        operation["security"] = [{described.auth: []}]
    if described.body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": described.body}}}
    elif described.body_content is not None:
        operation["requestBody"] = {"required": False, "content": described.body_content}

    responses: dict[str, Any] = {str(described.status): _success_response(described)}
    for answer in described.also:
        if answer.documented:
            responses[str(answer.status)] = _success_response(described, answer)
    cases = list(dict.fromkeys(described.errors))  # in order, once each
    # An id with NUL is refused as not found by backend/api/__init__.py, whatever the view.
    if path_params and not any(case.http_status == 404 for case in cases):
        cases.append(ErrorCase(NotFound))
    by_status: dict[int, list[ErrorCase]] = defaultdict(list)
    for case in cases:
        error_classes[case.error.__name__] = case.error
        if all(other.error is not case.error for other in by_status[case.http_status]):
            by_status[case.http_status].append(case)
    for status in sorted(by_status):
        responses[str(status)] = _error_responses(status, by_status[status])
    operation["responses"] = responses
    return operation


def _success_response(described: OperationDoc, answer: Answer | None = None) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    if described.idempotent:
        headers["Idempotent-Replayed"] = {
            "description": "`true` when this is the stored answer to an earlier request with the same key.",
            "schema": {"type": "string", "enum": ["true"]},
        }
    if answer is not None:
        headers.update(answer.headers)
        description, body = answer.description, answer.response
    else:
        description, body = _STATUS_TEXT.get(described.status, "Success."), described.response
    response: dict[str, Any] = {"description": description, "headers": headers}
    if body is not None:
        response["content"] = {described.media_type: {"schema": body}}
    return response


def _error_example(cls: ErrorClass) -> dict[str, Any]:
    return {"error": {"code": _code(cls), "message": _message(cls), "details": {}}}


def _error_response(cls: ErrorClass) -> dict[str, Any]:
    return {
        "description": f"`{_code(cls)}`: {_meaning(cls)}",
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}, "example": _error_example(cls)}},
    }


def _error_responses(status: int, cases: list[ErrorCase]) -> dict[str, Any]:
    """A reusable response for one code; for several codes, one response listing each of them."""
    if len(cases) == 1 and cases[0].when is None and cases[0].status is None:
        return {"$ref": f"#/components/responses/{cases[0].error.__name__}"}
    lines = [f"`{_code(case.error)}`: {case.when or _meaning(case.error)}" for case in cases]
    return {
        "description": "\n\n".join(lines) if len(lines) > 1 else lines[0],
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {
            JSON: {
                "schema": {"$ref": "#/components/schemas/Error"},
                "examples": {_code(case.error): {"value": _error_example(case.error)} for case in cases},
            }
        },
    }


def _name_nullable_enums(document: dict[str, Any]) -> None:
    """Each nullable enum property as a named enum component or null.

    OpenAPI 3.0.3 makes `nullable` act only beside `type`, and wants null in the `enum` of a
    nullable one; apispec writes that, and openapi-python-client makes a union of three
    generated types of it. `{"type": ..., "nullable": true, "anyOf": [{"$ref": Lang},
    {"enum": [null]}]}` means the same values to a 3.0.3 validator, and generates `Lang | None`.
    """
    schemas = document["components"]["schemas"]
    for schema in list(schemas.values()):
        for name, prop in schema.get("properties", {}).items():
            if not (prop.get("nullable") and None in prop.get("enum", ())):
                continue
            component_name = "".join(part.capitalize() for part in name.split("_"))
            component = {"type": prop["type"], "enum": [value for value in prop.pop("enum") if value is not None]}
            if schemas.setdefault(component_name, component) != component:
                raise ValueError(f"two enums would be called {component_name}")
            prop["anyOf"] = [{"$ref": f"#/components/schemas/{component_name}"}, {"enum": [None]}]


def _require_dumped_fields(document: dict[str, Any], sometimes_absent: dict[str, set[str]]) -> None:
    """Mark every property of the schemas that success responses dump as required.

    marshmallow's `required` is about loading, so apispec lists none for dump-only schemas;
    but a dumped body always has each of its schema's fields (`sometimes_absent` aside), and
    saying so lets a client, and the schemathesis run in the tests, rely on them.
    """
    schemas = document["components"]["schemas"]
    seen: set[str] = set()
    pending = [
        media["schema"]
        for operations in document["paths"].values()
        for operation in operations.values()
        for status, response in operation["responses"].items()
        if status.startswith("2")
        for media in response.get("content", {}).values()
    ]
    while pending:
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
        elif isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                name = ref.rpartition("/")[2]
                if name not in seen:
                    seen.add(name)
                    pending.append(schemas[name])
            pending.extend(node.values())
    for name in seen:
        schema = schemas[name]
        required = [prop for prop in schema.get("properties", {}) if prop not in sometimes_absent.get(name, ())]
        if required:
            schema["required"] = required


_STATUS_TEXT = {200: "OK.", 201: "Created.", 202: "Accepted: the work goes on after the answer.", 204: "Done; no body."}

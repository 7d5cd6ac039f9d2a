"""X's own OpenAPI description, as a validator of requests and responses seen on the wire.

The spec stays in ``shared/`` beside the repository; ``$ref``s are resolved with
``referencing``. OpenAPI 3.0 schema keywords JSON Schema lacks (``nullable``,
``discriminator``, ``example``) are ignored, which only makes the checks more lenient there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parents[2].parent / "shared" / "x-api-v2-openapi.json"
SPEC_URI = "urn:x-api-v2-openapi"


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return loaded


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
    return registry


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        pointer = node["$ref"].removeprefix("#/").split("/")
        target: Any = spec()
        for part in pointer:
            target = target[part]
        node = target
    return node


def _absolute_refs(schema: Any) -> Any:
    """Rewrite local ``#/...`` refs to point into the registered spec."""
    if isinstance(schema, dict):
        return {
            key: (
                SPEC_URI + value
                if key == "$ref" and value.startswith("#")
                else _absolute_refs(value)
            )
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_absolute_refs(item) for item in schema]
    return schema


def validate(instance: Any, schema: dict[str, Any], where: str) -> None:
    validator = jsonschema.Draft202012Validator(_absolute_refs(schema), registry=_registry())
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        details = "; ".join(f"{list(e.absolute_path)}: {e.message[:300]}" for e in errors[:5])
        raise AssertionError(f"{where} does not match X's description: {details}")


def _template_regex(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^}]+\}", "([^/]+)", template) + "$")


def operation_for(method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The spec's path template, operation and path parameters for a concrete request."""
    # Literal segments win over parameters: /2/tweets/search/recent is not /2/tweets/{id}.
    templates = sorted(spec()["paths"], key=lambda t: (t.count("{"), -len(t)))
    for template in templates:
        match = _template_regex(template).match(path)
        operation = spec()["paths"][template].get(method.lower())
        if match and operation:
            names = re.findall(r"\{([^}]+)\}", template)
            return template, operation, dict(zip(names, match.groups(), strict=True))
    raise AssertionError(f"{method} {path} is not an operation in X's description")


@dataclass(frozen=True)
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    request_content_type: str
    request_body: bytes
    status: int
    response_content_type: str
    response_body: bytes


def record(response: httpx.Response) -> Exchange:
    request = response.request
    return Exchange(
        method=request.method,
        path=request.url.path,
        query=dict(parse_qsl(request.url.query.decode(), keep_blank_values=True)),
        request_content_type=request.headers.get("content-type", ""),
        request_body=request.content,
        status=response.status_code,
        response_content_type=response.headers.get("content-type", "").split(";")[0].strip(),
        response_body=response.content,
    )


def _parameter_value(raw: str, schema: dict[str, Any]) -> Any:
    schema = _resolve(schema)
    kind = schema.get("type")
    if kind == "integer":
        return int(raw) if raw.lstrip("-").isdigit() else raw
    if kind == "array":
        return raw.split(",")
    return raw


def _form_fields(content_type: str, body: bytes) -> dict[str, Any]:
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename():
            fields[str(name)] = "<binary>"
        else:
            text = payload.decode() if isinstance(payload, bytes) else str(payload)
            fields[str(name)] = int(text) if text.isdigit() else text
    return fields


def validate_request(exchange: Exchange) -> str:
    """Check path and query parameters and the body against the operation; returns its template."""
    template, operation, path_params = operation_for(exchange.method, exchange.path)
    where = f"request {exchange.method} {template}"
    declared = {}
    for parameter in operation.get("parameters", []):
        parameter = _resolve(parameter)
        declared[(parameter["in"], parameter["name"])] = parameter
    for name, value in path_params.items():
        parameter = declared[("path", name)]
        validate(
            _parameter_value(value, parameter["schema"]),
            parameter["schema"],
            f"{where} path {name}",
        )
    for name, value in exchange.query.items():
        query_parameter = declared.get(("query", name))
        assert query_parameter is not None, f"{where}: query parameter {name!r} is not described"
        schema = query_parameter["schema"]
        validate(_parameter_value(value, schema), schema, f"{where} query {name}")
    for (place, name), parameter in declared.items():
        if place == "query" and parameter.get("required"):
            assert name in exchange.query, f"{where}: required query parameter {name!r} missing"
    body = operation.get("requestBody")
    if body is not None:
        content_type = exchange.request_content_type.split(";")[0].strip()
        assert content_type in body["content"], (
            f"{where}: content type {content_type!r} not described"
        )
        if content_type == "application/json":
            instance = json.loads(exchange.request_body)
        else:
            instance = _form_fields(exchange.request_content_type, exchange.request_body)
        validate(instance, body["content"][content_type]["schema"], f"{where} body")
    return template


def validate_response(exchange: Exchange) -> str:
    """Check the body against the response the spec gives for this status (or ``default``)."""
    template, operation, _ = operation_for(exchange.method, exchange.path)
    responses = operation["responses"]
    described = responses.get(str(exchange.status))
    if described is None and exchange.status >= 400:
        described = responses.get("default")
    where = f"response {exchange.status} to {exchange.method} {template}"
    assert described is not None, f"{where}: status not described"
    content = described.get("content", {})
    assert exchange.response_content_type in content, (
        f"{where}: content type {exchange.response_content_type!r} not in {sorted(content)}"
    )
    validate(
        json.loads(exchange.response_body),
        content[exchange.response_content_type]["schema"],
        where,
    )
    return template

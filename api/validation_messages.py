"""What a 422 says: pydantic's and FastAPI's validation errors as sentences a person can act on.

Each error names its field once, as a dotted path (``rewards.like``, ``first_post.media.0.url``),
and never carries an exception's class name or pydantic's "Value error, " prefix. A body that is
not JSON says where it breaks (line and column), not the character offset FastAPI puts in
``loc``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

WHOLE_BODY = "body"
_LOCATION_ROOTS = ("body", "query", "path", "header", "cookie")
_NOT_AN_OBJECT = ("model_type", "model_attributes_type", "dict_type")


def field_name(location: Sequence[Any]) -> str:
    """``rewards.like`` from ``("body", "rewards", "like")``: only the first part says where
    (a body may have a field called ``query``)."""
    parts = [str(part) for part in location]
    if parts and parts[0] in _LOCATION_ROOTS:
        parts = parts[1:]
    return ".".join(parts) or WHOLE_BODY


def json_position(document: str, offset: int) -> tuple[int, int]:
    """Line and column (both from 1) of a character offset, as ``json`` counts them."""
    line = document.count("\n", 0, offset) + 1
    column = offset - document.rfind("\n", 0, offset)
    return line, column


def _json_invalid(error: Mapping[str, Any], body: Any) -> str:
    reason = str((error.get("ctx") or {}).get("error") or "it cannot be parsed")
    reason = reason[:1].lower() + reason[1:]
    location = error.get("loc") or ()
    offset = location[-1] if location and isinstance(location[-1], int) else None
    if isinstance(body, str) and offset is not None:
        line, column = json_position(body, offset)
        return f"the body is not valid JSON: {reason} at line {line} column {column}"
    return f"the body is not valid JSON: {reason}"


def _refusal(error: Mapping[str, Any]) -> tuple[str | None, str]:
    """A validator's ValueError: its own words, and the field it names (``SpecRefusal``)."""
    raised = (error.get("ctx") or {}).get("error")
    if raised is None:
        return None, str(error.get("msg", "")).removeprefix("Value error, ")
    return getattr(raised, "field", None), str(getattr(raised, "reason", raised))


def describe(error: Mapping[str, Any], body: Any = None) -> tuple[dict[str, str], str]:
    """``{field, message}`` for one error, and its part of the ``detail``: the message, after
    its field unless the message is a sentence of its own (a body-wide error, a validator's)."""
    kind = error.get("type")
    field = field_name(error.get("loc") or ())
    if kind == "json_invalid":
        message = _json_invalid(error, body)
        return {"field": WHOLE_BODY, "message": message}, message
    if kind in ("value_error", "assertion_error"):
        named, message = _refusal(error)
        return {"field": named or field, "message": message}, message
    if field == WHOLE_BODY and kind == "missing":
        message = "the body is missing: send a JSON object"
    elif field == WHOLE_BODY and kind in _NOT_AN_OBJECT:
        message = "the body must be a JSON object, sent as application/json"
    elif field == WHOLE_BODY:
        message = f"the body: {error.get('msg', 'invalid')}"
    else:
        message = _field_message(kind, str(error.get("msg", "invalid")))
        return {"field": field, "message": message}, f"{field}: {message}"
    return {"field": field, "message": message}, message


def _field_message(kind: Any, pydantic_message: str) -> str:
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "not a field this body takes"
    if kind in _NOT_AN_OBJECT:
        return "must be a JSON object"
    return pydantic_message


def explain(
    errors: Iterable[Mapping[str, Any]], body: Any = None
) -> tuple[list[dict[str, str]], str]:
    """The 422's ``errors`` (one ``{field, message}`` each) and its ``detail``."""
    described = [describe(error, body) for error in errors]
    detail = "; ".join(sentence for _, sentence in described) or "invalid request"
    return [entry for entry, _ in described], detail

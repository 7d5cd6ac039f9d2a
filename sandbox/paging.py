"""Opaque page tokens (base32hex, as X's are) and slicing a newest-first list into pages."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TypeVar

from sandbox.problems import x_invalid_request

T = TypeVar("T")


def encode_token(offset: int) -> str:
    return base64.b32hexencode(f"offset:{offset}".encode()).decode().rstrip("=").lower()


def decode_token(token: str, parameter: str) -> int:
    padded = token.upper() + "=" * (-len(token) % 8)
    try:
        text = base64.b32hexdecode(padded).decode()
        prefix, _, number = text.partition(":")
        if prefix != "offset" or not number.isdigit():
            raise ValueError(text)
        return int(number)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise x_invalid_request(f"Invalid pagination token: {token}", parameter=parameter) from None


def check_max_results(value: int | None, low: int, high: int, default: int) -> int:
    if value is None:
        return default
    if not low <= value <= high:
        raise x_invalid_request(
            f"The `max_results` query parameter value [{value}] is not between {low} and {high}",
            parameter="max_results",
        )
    return value


def page(
    items: Sequence[T], max_results: int, token: str | None, parameter: str = "pagination_token"
) -> tuple[list[T], str | None]:
    offset = decode_token(token, parameter) if token else 0
    chunk = list(items[offset : offset + max_results])
    after = offset + len(chunk)
    return chunk, encode_token(after) if after < len(items) else None

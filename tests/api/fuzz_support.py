"""What the OpenAPI fuzz (tests/api/test_fuzz_openapi.py) runs for each operation: schemathesis
cases sent over real HTTP by each caller, every answer checked against the app's own OpenAPI,
and every refused (4xx) call checked to have left the stored rows exactly as they were.

Synchronous on purpose: it runs in a thread (``asyncio.to_thread``) so the test's event loop
keeps serving the API and running the worker while the cases are sent.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.problems import PROBLEM_MEDIA_TYPE

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

# Which real campaign a case's ``campaign_id`` is swapped for (else the generated one, a 404).
GENERATED, DRAFT, RUNNING = "generated", "draft", "running"

BODY, QUERY, HEADER = ParameterLocation.BODY, ParameterLocation.QUERY, ParameterLocation.HEADER

Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(engine: sa.Engine) -> Snapshot:
    """Every row of every table, in a stable order: what "stored data" means here."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    rows: Snapshot = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            ordered = table.select().order_by(*table.columns)
            rows[table.name] = [tuple(row) for row in connection.execute(ordered)]
    return rows


def changed_tables(before: Snapshot, after: Snapshot) -> list[str]:
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


@dataclass
class FuzzTarget:
    """The served app and who may call it."""

    base_url: str
    engine: sa.Engine
    # caller name -> API key (None: no Authorization header at all).
    callers: dict[str, str | None]
    campaigns: dict[str, str]
    session: requests.Session = field(default_factory=requests.Session)
    # (method and path, caller, status) -> how many answers: what the fuzz reached.
    seen: Counter[tuple[str, str, int]] = field(default_factory=Counter)


def _swap_campaign(case: schemathesis.Case[Any], target: FuzzTarget, which: str) -> None:
    if which == GENERATED or "campaign_id" not in (case.path_parameters or {}):
        return
    meta = case.meta
    negative = meta is not None and meta.generation.mode.is_negative
    if negative and not any(
        meta.is_negative_at(part) for part in (BODY, QUERY, HEADER) if meta is not None
    ):
        return  # only the path is wrong: a real id would make the whole case valid
    # A running campaign, or a draft asked to publish, only takes calls that cannot move it
    # on: reads, and bodies the schema forbids (a negative case's headers may be merely extra,
    # which is no refusal). A published draft or a signalled run writes rows on its own
    # afterwards, and a later refused call would seem to have written them.
    is_read = case.method.upper() == "GET"
    forbidden_body = meta is not None and meta.is_negative_at(BODY)
    if not is_read and not forbidden_body and (which == RUNNING or case.path.endswith("/publish")):
        return
    assert case.path_parameters is not None
    case.path_parameters["campaign_id"] = target.campaigns[which]


def _problem_check(response: schemathesis.Response) -> str | None:
    """A 4xx must be a problem document (RFC 9457) whose status is the response's."""
    if not 400 <= response.status_code < 500:
        return None
    media_type = (response.headers.get("content-type") or [""])[0].split(";")[0]
    if media_type != PROBLEM_MEDIA_TYPE:
        return f"{response.status_code} answered as {media_type!r}, not {PROBLEM_MEDIA_TYPE}"
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"{response.status_code} body is not JSON: {response.content[:200]!r}"
    if not isinstance(body, dict) or body.get("status") != response.status_code:
        return f"{response.status_code} problem document has the wrong status: {body!r}"
    if not body.get("title") or not body.get("detail"):
        return f"{response.status_code} problem document without title or detail: {body!r}"
    return None


def run_case(case: schemathesis.Case[Any], target: FuzzTarget, caller: str, which: str) -> None:
    _swap_campaign(case, target, which)
    headers: CaseInsensitiveDict[Any] = CaseInsensitiveDict(case.headers or {})
    headers.pop("Authorization", None)
    key = target.callers[caller]
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    case.headers = headers
    before = snapshot(target.engine)
    response = case.call(base_url=target.base_url, session=target.session, timeout=30)
    target.seen[(f"{case.method.upper()} {case.path}", caller, response.status_code)] += 1
    if key is None and case.path.startswith("/v1/"):
        assert response.status_code >= 400, (
            f"no key, yet {response.status_code}\n{case.as_curl_command()}"
        )
    problem = _problem_check(response)
    assert problem is None, f"{caller}: {problem}\n{case.as_curl_command()}"
    case.validate_response(response, checks=CHECKS, headers=dict(headers))
    if 400 <= response.status_code < 500:
        changed = changed_tables(before, snapshot(target.engine))
        assert not changed, (
            f"{caller}: a refused call ({response.status_code}) changed {changed}\n"
            f"{case.as_curl_command()}"
        )


def fuzz_operation(
    operation: Any, mode: GenerationMode, target: FuzzTarget, max_examples: int
) -> Callable[[], None]:
    """A hypothesis test of one operation in one mode: derandomized (the same cases every
    run), no example database, no shrinking (the first failure is reported as it was)."""

    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        caller=st.sampled_from(sorted(target.callers)),
        which=st.sampled_from([GENERATED, DRAFT, RUNNING]),
    )
    def fuzz(case: schemathesis.Case[Any], caller: str, which: str) -> None:
        run_case(case, target, caller, which)

    return fuzz

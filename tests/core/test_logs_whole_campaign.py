"""Everything logged during one whole campaign against a misbehaving sandbox (the real worker,
the sandbox over HTTP, in this process): one line per retry with its reason, no traceback, no
frame's locals, no secret, and every activity line names its campaign, workflow, activity
type and attempt. In JSON and in the console format ``campaigns dev`` prints."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from temporalio.client import Client

from core.config import Settings
from core.db import make_engine
from core.logging import configure_logging
from core.models import Owner
from tests.helpers import assert_eventually
from tests.workflows.campaign_stack import awareness_spec, campaign_stack, outcome, status_of
from tests.workflows.conftest import skipping_client  # noqa: F401  (the fixture)

LEDGER_KEY = "ledger-key-" + uuid.uuid4().hex
OPERATOR_KEY = "operator-key-" + uuid.uuid4().hex
ACTIVITY_FIELDS = ("campaign_id", "workflow_id", "activity_type", "attempt")
# Loggers that only write from inside an activity attempt.
ACTIVITY_LOGGERS = ("temporalio.activity", "activities.", "clients.")
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


@pytest.fixture
def sqlite_engine(sqlite_url: str) -> Iterator[Engine]:
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def console_fields(line: str) -> dict[str, str]:
    """The ``key=value`` pairs and the ``[logger]`` of a console line (enough to check them)."""
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    logger = re.search(r"\[([\w.]+)\]", line.split("]", 1)[-1])
    fields["logger"] = logger.group(1) if logger else ""
    fields["event"] = line
    return fields


def parsed_lines(text: str, log_format: str) -> list[dict[str, object]]:
    lines = [line for line in text.splitlines() if line.strip()]
    if log_format == "json":
        return [json.loads(line) for line in lines]  # one JSON object per line, nothing else
    strays = [line for line in lines if not TIMESTAMP.match(line)]
    assert not strays, f"an event spilled onto more lines: {strays[:3]}"
    return [dict(console_fields(line)) for line in lines]


@pytest.mark.parametrize("log_format", ["json", "console"])
async def test_a_campaign_under_faults_logs_one_line_per_retry_with_its_ids_and_no_secret(
    skipping_client: Client,  # noqa: F811
    sqlite_engine: Engine,
    log_output: io.StringIO,
    capfd: pytest.CaptureFixture[str],
    log_format: str,
) -> None:
    configure_logging(
        Settings(
            log_format=log_format,
            log_level="DEBUG",
            ledger_api_key=LEDGER_KEY,
            operator_api_key=OPERATOR_KEY,
        ),
        stream=log_output,
    )
    async with campaign_stack(skipping_client, sqlite_engine) as stack:
        with Session(sqlite_engine) as session:
            owner_token = session.exec(select(Owner.x_access_token)).one()
        assert owner_token and stack.app_token
        stack.register("u1", "u2")
        campaign_id = stack.draft(awareness_spec())
        # A fault on a third of the calls, some after the write happened: retries for sure.
        await stack.sandbox(
            "PUT", "/faults", {"error_rate": 0.3, "lose_response_rate": 0.1, "seed": 11}
        )
        async with stack.worker(ledger_api_key=LEDGER_KEY):
            handle = await stack.publish(campaign_id)

            async def running() -> str:
                doc = await status_of(handle)
                assert doc.status == "running" and doc.posts.first, doc.status
                return doc.posts.first

            first = await assert_eventually(running, timeout=120, interval=0.2)
            await stack.engage(first, {"user_id": "u1", "kind": "like"})
            doc = await outcome(handle)
    assert doc.status == "closed", doc.failure

    text = log_output.getvalue()
    everything = text + "".join(capfd.readouterr())
    for secret in (owner_token, stack.app_token, LEDGER_KEY, OPERATOR_KEY):
        assert secret not in everything, "a secret was logged"
    assert "Traceback" not in text, "a retry (or anything else here) printed a traceback"
    assert "locals" not in text and "│" not in text, "a frame's local variables were rendered"

    lines = parsed_lines(text, log_format)
    retries = [line for line in lines if "Completing activity as failed" in str(line["event"])]
    assert retries, "no activity failed: the faults proved nothing"
    for retry in retries:
        assert str(retry.get("error", "")).strip(), f"a retry without its reason: {retry}"
    from_activities = [line for line in lines if str(line["logger"]).startswith(ACTIVITY_LOGGERS)]
    for line in from_activities:
        missing = [field for field in ACTIVITY_FIELDS if field not in line]
        assert not missing, f"an activity line without {missing}: {line['event']}"
        assert line["campaign_id"] == campaign_id

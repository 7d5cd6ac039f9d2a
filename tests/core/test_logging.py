"""Logging: console and JSON output, and Temporal's loggers carrying workflow/activity IDs."""

from __future__ import annotations

import io
import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from core.config import Settings
from core.log_context import (
    CORE_LOGGER,
    LogContextInterceptor,
    campaign_id_of,
)
from core.logging import configure_logging, get_logger
from tests.core.log_context_workflow import (
    LEAKED_TOKEN,
    BuggyWorkflow,
    LogContextWorkflow,
    count_in_a_thread,
    flaky_call,
)
from tests.core.logging_workflow import LoggingWorkflow, greet_in_log
from tests.helpers import assert_eventually, new_worker


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_format_renders_structlog_and_stdlib_lines(log_output: io.StringIO) -> None:
    configure_logging(Settings(log_format="json", log_level="INFO"), stream=log_output)
    get_logger("campaigns.test").info("campaign published", campaign_id="c-1", budget=10)
    logging.getLogger("some.library").warning("disk at %d%%", 91)
    logging.getLogger("some.library").debug("below the level")

    lines = json_lines(log_output)
    assert len(lines) == 2
    ours, foreign = lines
    assert ours["event"] == "campaign published"
    assert ours["campaign_id"] == "c-1" and ours["budget"] == 10
    assert ours["level"] == "info" and ours["logger"] == "campaigns.test"
    assert ours["timestamp"].endswith("Z")
    assert foreign == foreign | {"event": "disk at 91%", "level": "warning"}
    assert foreign["logger"] == "some.library"


def test_console_format_is_readable_text(log_output: io.StringIO) -> None:
    configure_logging(Settings(log_format="console", log_level="DEBUG"), stream=log_output)
    get_logger("campaigns.test").debug("payout sent", recipient="u-7")

    text = log_output.getvalue()
    assert "payout sent" in text and "recipient=u-7" in text and "[debug" in text
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_reconfiguring_does_not_double_lines(log_output: io.StringIO) -> None:
    settings = Settings(log_format="json")
    configure_logging(settings, stream=log_output)
    configure_logging(settings, stream=log_output)
    get_logger().info("once")
    assert [line["event"] for line in json_lines(log_output)] == ["once"]


async def test_temporal_loggers_carry_workflow_and_activity_ids(
    time_skipping_env: WorkflowEnvironment, log_output: io.StringIO
) -> None:
    configure_logging(Settings(log_format="json"), stream=log_output)
    client = time_skipping_env.client
    workflow_id = f"logging-{uuid.uuid4()}"
    async with new_worker(client, LoggingWorkflow, activities=[greet_in_log]) as worker:
        result = await client.execute_workflow(
            LoggingWorkflow.run, "ada", id=workflow_id, task_queue=worker.task_queue
        )
    assert result == "hello ada"

    lines = json_lines(log_output)
    from_workflow = [line for line in lines if line["event"] == "workflow starts for ada"]
    from_activity = [line for line in lines if line["event"] == "activity greets ada"]
    assert len(from_workflow) == 1 and len(from_activity) == 1
    assert from_workflow[0]["logger"] == "temporalio.workflow"
    assert from_workflow[0]["workflow_id"] == workflow_id
    assert from_workflow[0]["workflow_type"] == "LoggingWorkflow"
    assert from_workflow[0]["run_id"]
    assert from_activity[0]["logger"] == "temporalio.activity"
    assert from_activity[0]["workflow_id"] == workflow_id
    assert from_activity[0]["activity_type"] == "greet_in_log"
    assert from_activity[0]["activity_id"]
    assert from_activity[0]["run_id"] == from_workflow[0]["run_id"]


# --- one line per retry, no locals, no secrets ----------------------------------------------

SECRET_LOCAL = "local-value-9d1e44"


def fail_like_x(token: str) -> None:
    request_headers = {"authorization": f"Bearer {token}", "marker": SECRET_LOCAL}
    raise ApplicationError(
        f"X POST /2/tweets: 503 (sent {len(request_headers)} headers)", type="XUnavailable"
    ) from ConnectionError("peer reset")


def log_a_retry_and_a_bug(token: str) -> None:
    """What Temporal does on a retry (WARNING with exc_info) and our API on a bug (ERROR)."""
    try:
        fail_like_x(token)
    except ApplicationError:
        logging.getLogger("temporalio.activity").warning(
            "Completing activity as failed", exc_info=True
        )
    try:
        owner_key = f"ck_{token}"
        raise RuntimeError(f"lost the ledger acting for {owner_key}")
    except RuntimeError:
        get_logger("api.problems").exception("unexpected error", path="/v1/campaigns")


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_a_retry_is_one_line_with_its_reason_and_a_bug_has_no_locals(
    log_output: io.StringIO, log_format: str
) -> None:
    configure_logging(Settings(log_format=log_format), stream=log_output)
    log_a_retry_and_a_bug("tok-" + uuid.uuid4().hex)

    text = log_output.getvalue()
    assert SECRET_LOCAL not in text, "a frame's local variables were rendered"
    retry_line = text.splitlines()[0]
    assert "Completing activity as failed" in retry_line
    assert "XUnavailable: X POST /2/tweets: 503 (sent 2 headers)" in retry_line
    assert "caused by ConnectionError: peer reset" in retry_line
    bug = text.split("unexpected error", 1)[1]
    assert "Traceback (most recent call last)" in bug and "RuntimeError" in bug
    assert text.count("Traceback") == 1, "the retry printed a traceback"
    if log_format == "json":
        retry, error = json_lines(log_output)
        assert "exception" not in retry and "exc_info" not in retry
        assert error["level"] == "error" and "Traceback" in error["exception"]
        assert error["error"].startswith("RuntimeError: lost the ledger acting for ck_***")


async def test_every_activity_line_names_campaign_workflow_activity_and_attempt(
    time_skipping_env: WorkflowEnvironment, log_output: io.StringIO
) -> None:
    configure_logging(Settings(log_format="json"), stream=log_output)
    client = time_skipping_env.client
    campaign_id = uuid.uuid4().hex
    workflow_id = f"campaign-{campaign_id}"
    with ThreadPoolExecutor(max_workers=2) as executor:
        async with new_worker(
            client,
            LogContextWorkflow,
            activities=[count_in_a_thread, flaky_call],
            activity_executor=executor,
            interceptors=[LogContextInterceptor()],
        ) as worker:
            result = await client.execute_workflow(
                LogContextWorkflow.run, "ada", id=workflow_id, task_queue=worker.task_queue
            )
    assert result == "called for ada"

    lines = json_lines(log_output)
    assert LEAKED_TOKEN not in log_output.getvalue()
    ours = [line for line in lines if line["logger"] in {"activities.test", "clients.test"}]
    assert [line["event"] for line in ours] == ["counting in a thread", "calling X", "calling X"]
    assert [line["attempt"] for line in ours] == [1, 1, 2]
    retries = [line for line in lines if line["event"] == "Completing activity as failed"]
    assert len(retries) == 1
    assert retries[0]["error"] == "XUnavailable: X POST /2/tweets: 503 with Bearer ***"
    assert retries[0]["level"] == "warning" and "exception" not in retries[0]
    for line in [*ours, *retries]:
        assert line["campaign_id"] == campaign_id
        assert line["workflow_id"] == workflow_id
        assert line["activity_type"] in {"count_in_a_thread", "flaky_call"}
    from_workflow = [line for line in lines if line["logger"] == "temporalio.workflow"]
    assert from_workflow and all(line["campaign_id"] == campaign_id for line in from_workflow)
    assert all(line["attempt"] == 1 for line in from_workflow)


def test_campaign_id_is_read_off_its_workflow_ids() -> None:
    assert campaign_id_of("campaign-c1") == "c1"
    assert campaign_id_of("campaign-c1-distribution") == "c1"
    assert campaign_id_of("logging-c1") is None
    assert campaign_id_of("campaign-") is None


async def test_a_failing_workflow_task_is_one_warning_line_with_its_reason(
    dev_env: WorkflowEnvironment, log_output: io.StringIO
) -> None:
    # On the dev server: run on the shared time-skipping server, this test left it so that the
    # next test's campaign never finished (seen, not explained).
    configure_logging(Settings(log_format="console"), stream=log_output)
    client = dev_env.client
    campaign_id = uuid.uuid4().hex
    async with new_worker(client, BuggyWorkflow) as worker:
        handle = await client.start_workflow(
            BuggyWorkflow.run, "ada", id=f"campaign-{campaign_id}", task_queue=worker.task_queue
        )

        def task_failure_logged() -> str:
            failed = [
                line for line in log_output.getvalue().splitlines() if "Failed activation" in line
            ]
            assert failed, "no workflow task failed yet"
            return failed[0]

        line = await assert_eventually(task_failure_logged, timeout=20)
        await handle.terminate("the test saw what it needed")
    assert "[warning" in line
    assert "error='RuntimeError: no such step for ada'" in line
    assert f"campaign_id={campaign_id}" in line and "attempt=1" in line
    assert "Traceback" not in log_output.getvalue()


async def test_temporals_rust_core_logs_through_our_handler(
    time_skipping_env: WorkflowEnvironment, log_output: io.StringIO
) -> None:
    """The core warns when a worker starts against this test server (a capability it lacks);
    without forwarding that line is printed straight to stderr, unformatted and unmasked.
    A client connected after ``configure_logging`` (the default runtime) forwards."""
    configure_logging(Settings(log_format="json"), stream=log_output)
    config = time_skipping_env.client.service_client.config
    client = await Client.connect(config.target_host, namespace=time_skipping_env.client.namespace)
    async with new_worker(client, LoggingWorkflow, activities=[greet_in_log]) as worker:
        await client.execute_workflow(
            LoggingWorkflow.run, "ada", id=f"logging-{uuid.uuid4()}", task_queue=worker.task_queue
        )

        def core_lines() -> list[dict[str, Any]]:
            found = [line for line in json_lines(log_output) if line["logger"] == CORE_LOGGER]
            assert found, "nothing forwarded from the core yet"
            return found

        forwarded = await assert_eventually(core_lines, timeout=20)
    assert forwarded[0]["level"] == "warning" and forwarded[0]["core_target"]
    assert "sdk_core" not in forwarded[0]["event"], "the target belongs in its own field"

"""Logging: console and JSON output, and Temporal's loggers carrying workflow/activity IDs."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from core.config import Settings
from core.logging import configure_logging, get_logger
from tests.core.logging_workflow import LoggingWorkflow, greet_in_log
from tests.helpers import new_worker


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """A stream the logging goes to during the test; the handler is removed afterwards."""
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    yield stream
    root.setLevel(level)
    for handler in [h for h in root.handlers if h.get_name() == "campaigns"]:
        root.removeHandler(handler)


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

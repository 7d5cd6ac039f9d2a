"""The campaign shapes whose histories are kept in tests/histories and replayed on every run:
pause and resume, a top-up, compensation, a cancel signal and a cancel through Temporal.

Each test records its history only when asked (``CAMPAIGNS_RECORD_HISTORIES=1``), before it
asserts, so a history of each shape can be recorded from any version of the workflow.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError, CancelledError

from core.contracts import StatusDocument, TopUpRequest
from tests.workflows.campaign_stack import record_history_if_asked
from tests.workflows.standins import make_world, standin_worker, start, wait_for_status


async def finished(handle: WorkflowHandle[Any, Any], name: str) -> StatusDocument | BaseException:
    """The campaign's final document, or what its run ended with; its history recorded."""
    try:
        doc: StatusDocument | BaseException = TypeAdapter(StatusDocument).validate_python(
            await handle.result()
        )
    except WorkflowFailureError as error:
        doc = error
    await record_history_if_asked(handle, name)
    return doc


async def test_pause_and_resume(skipping_client: Client) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        await handle.signal("pause", "brand review")
        await wait_for_status(handle, "paused")
        await handle.signal("resume")
        await wait_for_status(handle, "running")
        doc = await finished(handle, "pause-resume")
    assert isinstance(doc, StatusDocument) and doc.status == "closed"
    assert world.kinds().count("paused") == world.kinds().count("resumed") == 1


async def test_top_up(skipping_client: Client) -> None:
    world = make_world(likes=1, earned=10, recipients=1)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        await handle.execute_update("top_up", TopUpRequest(500, key="k-1"), id="k-1")
        doc = await finished(handle, "top-up")
    assert isinstance(doc, StatusDocument) and doc.budget.total == 1_500
    assert world.locked == 1_500 and world.refunded == 1_490


async def test_compensation(skipping_client: Client) -> None:
    world = make_world(fail_step="second_post")
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        doc = await finished(handle, "compensation")
    # A failed campaign ends Failed in Temporal, with the reason.
    assert isinstance(doc, WorkflowFailureError)
    assert isinstance(doc.cause, ApplicationError) and "second_post refused" in doc.cause.message
    assert world.refunded == world.locked == 1_000 and world.escrow_closed
    assert world.deleted == ["post-1"]


async def test_cancel_signal_while_running(skipping_client: Client) -> None:
    world = make_world(likes=3, earned=30, recipients=3)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        await handle.signal("cancel", "owner changed plans")
        doc = await finished(handle, "cancel-signal")
    assert isinstance(doc, StatusDocument) and doc.status == "closed"
    assert world.paid == 30 and world.refunded == 970


async def test_cancel_through_temporal(skipping_client: Client) -> None:
    world = make_world(likes=3, earned=30, recipients=3)
    async with standin_worker(skipping_client, world) as worker:
        handle = await start(skipping_client, world, worker)
        await wait_for_status(handle, "running")
        await handle.cancel()
        doc = await finished(handle, "cancel-through-temporal")
    # Closed early like a cancel signal (earned paid, the rest refunded), and Canceled in
    # Temporal so the Web UI reads it as such.
    assert isinstance(doc, WorkflowFailureError) and isinstance(doc.cause, CancelledError)
    assert world.paid == 30 and world.refunded == 970 and world.escrow_closed

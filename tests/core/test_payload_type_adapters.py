"""The worker builds a pydantic ``TypeAdapter`` once per payload type, not once per workflow
instance.

The SDK makes a fresh payload converter for every workflow instance it builds (every campaign
it has not cached, every replay), and temporalio's pydantic converter keeps its adapters in
that converter: each instance built its own, ~3 ms and ~110 KB for ``CampaignWorkflowInput``
alone, kept as long as the instance sat in the sticky cache. ``DATA_CONVERTER`` shares one
process-wide cache instead; this proves it through the real sandbox, on recorded histories.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from core.temporal import DATA_CONVERTER, payload_type_adapter
from worker import WORKFLOW_RUNNER, WORKFLOWS

HISTORIES = Path(__file__).resolve().parent.parent / "histories"


async def replay(replayer: Replayer, name: str) -> None:
    text = await asyncio.to_thread((HISTORIES / f"{name}.json").read_text)
    history = WorkflowHistory.from_json(f"adapters-{name}", text)
    await replayer.replay_workflow(history, raise_on_replay_failure=True)


async def test_new_workflow_instances_reuse_the_adapters_the_first_one_built() -> None:
    replayer = Replayer(
        workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER, workflow_runner=WORKFLOW_RUNNER
    )
    # Each replay builds a new instance in the sandbox (its modules imported afresh), with a
    # new payload converter, as the worker does for a campaign it has not cached.
    for name in ("awareness-campaign", "distribution"):
        await replay(replayer, name)
    built = payload_type_adapter.cache_info().misses
    assert built > 0, "the replays decoded no payload through the shared adapters"
    for _ in range(3):
        for name in ("awareness-campaign", "distribution", "quest-campaign"):
            await replay(replayer, name)
    # quest-campaign's types are the awareness campaign's: nothing new to build.
    assert payload_type_adapter.cache_info().misses == built


def test_fresh_payload_converters_share_one_adapter_per_type() -> None:
    payload = DATA_CONVERTER.payload_converter.to_payloads(
        [{"campaign_id": "c-1", "definition": {}}]
    )[0]
    before = payload_type_adapter.cache_info()
    for _ in range(5):
        converter = DATA_CONVERTER.payload_converter_class()  # as the SDK makes per instance
        [value] = converter.from_payloads([payload], [dict[str, object]])
        assert value["campaign_id"] == "c-1"
    after = payload_type_adapter.cache_info()
    assert after.misses - before.misses <= 1
    assert after.hits - before.hits >= 4


def test_an_unhashable_type_hint_still_decodes() -> None:
    # Annotated with an unhashable marker cannot be a cache key; it must still convert.
    hint = Annotated[int, ["unhashable"]]
    payload = DATA_CONVERTER.payload_converter.to_payloads([7])[0]
    converter = DATA_CONVERTER.payload_converter_class()
    assert converter.from_payloads([payload], [hint]) == [7]

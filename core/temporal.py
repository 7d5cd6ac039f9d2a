"""Temporal wiring shared by the worker, the API and the tests (not by workflow code)."""

from __future__ import annotations

import asyncio
import functools
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHandle
from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from core.contracts import (
    SEARCH_ATTRIBUTE_OWNER,
    SEARCH_ATTRIBUTE_STATUS,
    SEARCH_ATTRIBUTE_TYPE,
    CampaignStatus,
    CampaignWorkflowInput,
    workflow_id_for,
)
from core.metrics import NEEDING_ATTENTION_QUERY, needing_attention_gauge

CAMPAIGN_STATUS = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_STATUS)
CAMPAIGN_TYPE = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_TYPE)
CAMPAIGN_OWNER = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_OWNER)
SEARCH_ATTRIBUTE_KEYS = (CAMPAIGN_STATUS, CAMPAIGN_TYPE, CAMPAIGN_OWNER)


@functools.lru_cache(maxsize=1024)
def payload_type_adapter(type_hint: Any) -> TypeAdapter[Any]:
    """One pydantic adapter per payload type for the whole process."""
    return TypeAdapter(type_hint)


class _JSONWithSharedAdapters(PydanticJSONPlainPayloadConverter):
    """temporalio's pydantic JSON converter, its adapters kept process-wide.

    The SDK builds a new payload converter for every workflow instance, and the stock
    converter caches its adapters in itself: every campaign instance built its own (~3 ms
    and ~110 KB for ``CampaignWorkflowInput``, ~2.5 ms and ~86 KB for ``StatusDocument``)
    and kept them while it sat in the sticky cache. Payload types come from passed-through
    modules (core, activities), so they are the same objects in every sandboxed instance and
    one adapter serves all (tests/core/test_payload_type_adapters.py). Encoding is the
    stock converter's, so histories are unchanged.
    """

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint = type_hint if type_hint is not None else Any
        try:
            hash(hint)
        except TypeError:  # an unhashable hint cannot be a cache key: build one for it
            return TypeAdapter(hint).validate_json(payload.data)
        return payload_type_adapter(hint).validate_json(payload.data)


class PayloadConverter(CompositePayloadConverter):
    """The SDK's default converters with pydantic-aware JSON (temporalio.contrib.pydantic's
    ``PydanticPayloadConverter``), adapters shared across workflow instances."""

    def __init__(self) -> None:
        json_converter = _JSONWithSharedAdapters()
        super().__init__(
            *(
                json_converter if isinstance(converter, JSONPlainPayloadConverter) else converter
                for converter in DefaultPayloadConverter.default_encoding_payload_converters
            )
        )


DATA_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)


async def connect(address: str, namespace: str, *, runtime: Runtime | None = None) -> Client:
    """A client; with ``runtime``, its workers record metrics through that runtime."""
    return await Client.connect(
        address, namespace=namespace, data_converter=DATA_CONVERTER, runtime=runtime
    )


def prometheus_runtime(host: str, port: int) -> Runtime:
    """A Temporal runtime serving its metrics (the SDK's and ours) at
    ``http://host:port/metrics``. The listener lives as long as the runtime: one per process.
    Raises ``ValueError`` when the address cannot be bound."""
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )


ATTENTION_COUNT_EVERY = timedelta(seconds=15)
_log = logging.getLogger("campaigns.metrics")


async def report_campaigns_needing_attention(
    client: Client, runtime: Runtime, *, every: timedelta = ATTENTION_COUNT_EVERY
) -> None:
    """Keep the ``campaigns_needing_attention`` gauge equal to visibility's count, until
    cancelled.

    Counted, not moved up and down by the workflows: a worker restart would start such a
    gauge at 0 while campaigns still wait, and with several workers each would hold only the
    moves it happened to run. Visibility knows every campaign, so every worker reports the
    same number (aggregate with ``max``, not ``sum``); it lags the workflows by a moment.
    """
    gauge = needing_attention_gauge(runtime.metric_meter).with_additional_attributes(
        {"namespace": client.namespace}
    )
    while True:
        try:
            counted = await client.count_workflows(NEEDING_ATTENTION_QUERY)
        except Exception as error:  # Temporal unreachable: keep the last value, try again
            _log.warning("could not count campaigns needing attention: %s", error)
        else:
            gauge.set(counted.count)
        await asyncio.sleep(every.total_seconds())


CAMPAIGN_WORKFLOW_NAME = "CampaignWorkflow"


async def start_campaign_workflow(
    client: Client,
    *,
    campaign_id: str,
    owner_id: str,
    campaign_type: str,
    name: str,
    task_queue: str,
    start_at: datetime | None = None,
    rpc_timeout: timedelta | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start (or find) the campaign's workflow: the one way a campaign is published.

    The workflow ID is the campaign's, so a second publish returns the running execution
    (conflict policy use-existing) and a finished campaign is never run again (reuse policy
    reject-duplicate raises ``WorkflowAlreadyStartedError``).
    """
    scheduled = start_at is not None and start_at > datetime.now(UTC)
    status = CampaignStatus.SCHEDULED if scheduled else CampaignStatus.PUBLISHING
    return await client.start_workflow(
        CAMPAIGN_WORKFLOW_NAME,
        CampaignWorkflowInput(campaign_id=campaign_id, start_at=start_at),
        id=workflow_id_for(campaign_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(CAMPAIGN_STATUS, status.value),
                SearchAttributePair(CAMPAIGN_TYPE, campaign_type),
                SearchAttributePair(CAMPAIGN_OWNER, owner_id),
            ]
        ),
        static_summary=f"{campaign_type} campaign '{name}' ({campaign_id}) by owner {owner_id}",
        rpc_timeout=rpc_timeout,
    )

"""The time-skipping server with the campaign's search attributes registered (the workflow
is started with them and keeps ``CampaignStatus`` current, which the server must know)."""

from __future__ import annotations

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from core.contracts import SEARCH_ATTRIBUTE_NAMES


@pytest.fixture(scope="session")
async def skipping_client(time_skipping_env: WorkflowEnvironment) -> Client:
    client = time_skipping_env.client
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=client.namespace,
                search_attributes={
                    name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                    for name in SEARCH_ATTRIBUTE_NAMES
                },
            )
        )
    except RPCError as error:
        if error.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    return client

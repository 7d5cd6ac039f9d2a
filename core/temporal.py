"""Temporal wiring shared by the worker, the API and the tests (not by workflow code)."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.contrib.pydantic import pydantic_data_converter

from core.contracts import SEARCH_ATTRIBUTE_OWNER, SEARCH_ATTRIBUTE_STATUS, SEARCH_ATTRIBUTE_TYPE

CAMPAIGN_STATUS = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_STATUS)
CAMPAIGN_TYPE = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_TYPE)
CAMPAIGN_OWNER = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_OWNER)
SEARCH_ATTRIBUTE_KEYS = (CAMPAIGN_STATUS, CAMPAIGN_TYPE, CAMPAIGN_OWNER)

DATA_CONVERTER = pydantic_data_converter


async def connect(address: str, namespace: str) -> Client:
    return await Client.connect(address, namespace=namespace, data_converter=DATA_CONVERTER)

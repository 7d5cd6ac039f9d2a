"""The API's published contract: the status document mirrors the workflow's, every request
body in the OpenAPI description carries an example, /docs serves."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel

from api import schemas
from api.main import create_app
from core import contracts
from core.config import Settings
from tests.api.conftest import Stack

MIRRORS: list[tuple[type[BaseModel], type[Any]]] = [
    (schemas.StatusDocumentPublic, contracts.StatusDocument),
    (schemas.PostsPublic, contracts.PostsStatus),
    (schemas.EscrowPublic, contracts.EscrowStatus),
    (schemas.EngagementPublic, contracts.EngagementStatus),
    (schemas.RewardsPublic, contracts.RewardsStatus),
    (schemas.BudgetPublic, contracts.BudgetStatus),
    (schemas.AttentionPublic, contracts.AttentionStatus),
    (schemas.RetryingStepPublic, contracts.RetryingStep),
]


def test_status_document_mirrors_the_contract_field_for_field() -> None:
    for public, contract in MIRRORS:
        assert list(public.model_fields) == [f.name for f in dataclasses.fields(contract)]


def test_every_request_body_has_an_example() -> None:
    spec = create_app(Settings(database_url="sqlite:///unused.db")).openapi()
    components = spec["components"]["schemas"]
    bodies = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            bodies += 1
            schema = body["content"]["application/json"]["schema"]
            refs = [schema, *schema.get("anyOf", [])]
            names = [r["$ref"].rsplit("/", 1)[1] for r in refs if "$ref" in r]
            assert names, (method, path)
            assert all(components[n].get("examples") for n in names), (method, path, names)
    assert bodies == 9


async def test_docs_and_openapi_are_served(stack: Stack) -> None:
    docs = await stack.operator.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    openapi = (await stack.operator.get("/openapi.json")).json()
    assert "/v1/campaigns/{campaign_id}/top-up" in openapi["paths"]
    assert "/v1/campaigns/{campaign_id}/top-ups/{key}" in openapi["paths"]
    top_up = openapi["paths"]["/v1/campaigns/{campaign_id}/top-up"]["post"]
    header = next(p for p in top_up["parameters"] if p["in"] == "header")
    assert (header["name"], header["required"]) == ("Idempotency-Key", True)
    assert {"200", "202"} <= set(top_up["responses"])

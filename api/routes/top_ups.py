"""Top-ups under the client's idempotency key: ``POST /top-up``, ``GET /top-ups/{key}``.

The ``Idempotency-Key`` is the ``top_up`` update's ID and travels in the request (the workflow
locks under the ledger key ``<campaign>:top-up:<key>``), so a retry, even one sent while the
first is still going, attaches to the same update and locks once. The request waits for the
workflow to accept the top-up, then a bounded time for the lock; a lock still going then is a
202 pointing at ``GET /top-ups/{key}``, never a 503 that invites a second lock.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response, status
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.campaign_status import current_status, refusal
from api.deps import CurrentPrincipal, GatewayDep, SessionFactoryDep, TopUpWaitDep
from api.problems import conflict, not_found, problem_responses
from api.routes.campaigns import load_visible
from api.schemas import IDEMPOTENCY_KEY_PATTERN, TopUpBody, TopUpPublic
from api.temporal_gateway import WORKER_ANSWER_TIMEOUT, TemporalGateway, temporal_errors
from api.update_outcomes import result_if_done, start_update, wait_for_result
from core.contracts import QUERY_TOP_UP_BUDGET, UPDATE_TOP_UP, TopUpRequest, TopUpResult

router = APIRouter(
    prefix="/v1/campaigns",
    tags=["campaign messages"],
    responses=problem_responses(401, 404, 409, 422, 503),
)

KEY_RULE = "1-100 letters, digits or -_.: (a uuid4 will do)"
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=f"Names this top-up: a retry with the same key locks once. {KEY_RULE}.",
    ),
]
TopUpKey = Annotated[str, Path(pattern=IDEMPOTENCY_KEY_PATTERN, description=KEY_RULE)]

_STILL_GOING: dict[int | str, dict[str, Any]] = {
    202: {"model": TopUpPublic, "description": "Still going; read the outcome at `Location`."}
}
# The client may look again this soon (seconds).
RETRY_AFTER = "1"


def outcome_path(campaign_id: str, key: str) -> str:
    return f"{router.prefix}/{campaign_id}/top-ups/{key}"


def _answer(
    campaign_id: str, key: str, result: TopUpResult | None, response: Response
) -> TopUpPublic:
    where = outcome_path(campaign_id, key)
    if result is None:
        response.status_code = status.HTTP_202_ACCEPTED
        response.headers["Location"] = where
        response.headers["Retry-After"] = RETRY_AFTER
        return TopUpPublic(key=key, state="in_progress", outcome=where)
    return TopUpPublic(key=key, state="done", budget=result.budget, outcome=where)


@router.post(
    "/{campaign_id}/top-up",
    response_model=TopUpPublic,
    responses={**_STILL_GOING, **problem_responses(400)},
)
async def top_up(
    campaign_id: str,
    body: TopUpBody,
    key: IdempotencyKey,
    principal: CurrentPrincipal,
    sessions: SessionFactoryDep,
    gateway: GatewayDep,
    wait: TopUpWaitDep,
    response: Response,
) -> TopUpPublic:
    """The ``top_up`` update: locks ``amount`` more in escrow and returns the new budget (200);
    202 while the lock is still going; a retry with the same key returns the first outcome (the
    first top-up under a key is the one: a retry's amount is not compared)."""
    campaign = await asyncio.to_thread(load_visible, sessions, principal, campaign_id)
    document = await current_status(gateway, sessions, campaign, with_retrying=False)
    reason = refusal(UPDATE_TOP_UP, document)
    if reason is not None:
        # A retry of a top-up accepted before the campaign moved on still gets its outcome.
        if campaign.workflow_id is not None:
            found, result = await look_up_top_up(gateway, campaign_id, campaign.workflow_id, key)
            if found:
                return _answer(campaign_id, key, result, response)
        raise conflict(reason, campaign_status=document.status)
    assert campaign.workflow_id is not None
    client = await gateway.client()
    request = TopUpRequest(amount=body.amount, key=key)
    with temporal_errors(campaign_id):
        update = await start_update(
            client,
            campaign.workflow_id,
            UPDATE_TOP_UP,
            request,
            update_id=key,
            result_type=TopUpResult,
        )
        result = await wait_for_result(gateway, update, wait)
    return _answer(campaign_id, key, result, response)


@router.get(
    "/{campaign_id}/top-ups/{key}",
    response_model=TopUpPublic,
    responses=_STILL_GOING,
)
async def top_up_outcome(
    campaign_id: str,
    key: TopUpKey,
    principal: CurrentPrincipal,
    sessions: SessionFactoryDep,
    gateway: GatewayDep,
    response: Response,
) -> TopUpPublic:
    """A top-up's outcome: 200 with the new budget, 202 while it is going, 409 with the reason
    if it failed, 404 if the campaign took no top-up with this key."""
    campaign = await asyncio.to_thread(load_visible, sessions, principal, campaign_id)
    if campaign.workflow_id is not None:
        found, result = await look_up_top_up(gateway, campaign_id, campaign.workflow_id, key)
        if found:
            return _answer(campaign_id, key, result, response)
    raise not_found(f"top-up {key} of campaign {campaign_id}")


async def look_up_top_up(
    gateway: TemporalGateway, campaign_id: str, workflow_id: str, key: str
) -> tuple[bool, TopUpResult | None]:
    """(whether the workflow took a top-up with this key, its result if done). A failed
    top-up raises the 409 with its reason.

    An update lives in the run that took it; once the campaign has continued as new, the
    current run answers from its record of finished top-ups (query ``top_up_budget``)."""
    client = await gateway.client()
    with temporal_errors(campaign_id):
        try:
            return True, await result_if_done(client, workflow_id, key, TopUpResult)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        budget = await _recorded_budget(client, workflow_id, key)
    return (False, None) if budget is None else (True, TopUpResult(budget=budget))


async def _recorded_budget(client: Client, workflow_id: str, key: str) -> int | None:
    handle = client.get_workflow_handle(workflow_id)
    try:
        budget = await handle.query(QUERY_TOP_UP_BUDGET, key, rpc_timeout=WORKER_ANSWER_TIMEOUT)
    except WorkflowQueryFailedError:  # a run from before the query existed: it kept none
        return None
    return budget if isinstance(budget, int) else None

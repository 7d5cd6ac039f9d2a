"""Every route, one request at a time, with the API's pool watched: no request holds a
database connection while it asks Temporal (an interceptor on the API's own client looks at
the pool as each call goes out), nor while its answer is being written to the client."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from temporalio.client import (
    DescribeWorkflowInput,
    Interceptor,
    OutboundInterceptor,
    QueryWorkflowInput,
    SignalWorkflowInput,
    StartWorkflowInput,
    StartWorkflowUpdateInput,
    WorkflowHandle,
    WorkflowUpdateHandle,
)
from temporalio.testing import WorkflowEnvironment
from websockets.asyncio.client import connect

from api.temporal_gateway import TemporalGateway
from tests.api.conftest import eventually
from tests.api.load_stack import ApiUnderTest, PoolProbe, new_draft, new_owner_key, serve_api


class PoolAtEachCall(Interceptor):
    """Notes, for every Temporal call the API makes, how many connections it held then."""

    def __init__(self, pool: PoolProbe) -> None:
        self.pool = pool
        self.calls: list[tuple[str, int]] = []

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        return _Watching(next, self)


class _Watching(OutboundInterceptor):
    def __init__(self, next: OutboundInterceptor, watch: PoolAtEachCall) -> None:
        super().__init__(next)
        self._watch = watch

    def _note(self, call: str) -> None:
        self._watch.calls.append((call, self._watch.pool.checked_out))

    async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
        self._note("start_workflow")
        return await super().start_workflow(input)

    async def query_workflow(self, input: QueryWorkflowInput) -> Any:
        self._note("query_workflow")
        return await super().query_workflow(input)

    async def signal_workflow(self, input: SignalWorkflowInput) -> None:
        self._note("signal_workflow")
        await super().signal_workflow(input)

    async def start_workflow_update(
        self, input: StartWorkflowUpdateInput
    ) -> WorkflowUpdateHandle[Any]:
        self._note("start_workflow_update")
        return await super().start_workflow_update(input)

    async def describe_workflow(self, input: DescribeWorkflowInput) -> Any:
        self._note("describe_workflow")
        return await super().describe_workflow(input)


def watch_temporal_calls(api: ApiUnderTest) -> PoolAtEachCall:
    watch = PoolAtEachCall(api.pool)
    api.app.state.temporal = TemporalGateway(
        api.settings.temporal_address, api.settings.temporal_namespace, interceptors=[watch]
    )
    return watch


async def test_no_route_holds_a_connection_while_it_asks_temporal_or_answers(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> None:
    async with serve_api(dev_env, sqlite_url) as api:
        watch = watch_temporal_calls(api)
        key = await new_owner_key(api, f"audit-{uuid.uuid4().hex[:6]}")
        async with api.client(key) as owner, api.client() as operator:
            participants = {"participants": [{"x_user_id": "p1", "wallet": "w1"}]}
            assert (await operator.post("/v1/participants", json=participants)).status_code == 200
            campaign_id = await new_draft(owner, "Audit")
            path = f"/v1/campaigns/{campaign_id}"
            assert (await owner.post(f"{path}/publish")).status_code == 202

            async def in_status(status: str) -> dict[str, Any]:
                answer = await owner.get(f"{path}/status")
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == status, answer.json()
                document: dict[str, Any] = answer.json()
                return document

            document = await eventually(lambda: in_status("running"), timeout=30)
            assert (await owner.get(path)).status_code == 200
            assert (await owner.get(f"{path}/timeline")).status_code == 200
            assert (await owner.get("/v1/campaigns")).status_code == 200
            assert (await owner.post(f"{path}/pause", json={"reason": "audit"})).status_code == 202
            await eventually(lambda: in_status("paused"), timeout=30)
            assert (await owner.post(f"{path}/resume")).status_code == 202
            document = await eventually(lambda: in_status("running"), timeout=30)
            later = datetime.fromisoformat(document["closes_at"]) + timedelta(hours=1)
            extended = await owner.post(f"{path}/extend", json={"closes_at": later.isoformat()})
            assert extended.status_code == 200, extended.text
            topped = await owner.post(
                f"{path}/top-up", json={"amount": 100}, headers={"Idempotency-Key": "audit-1"}
            )
            assert topped.status_code in (200, 202), topped.text
            assert (await owner.get(f"{path}/top-ups/audit-1")).status_code in (200, 202)
            live_url = f"{api.url.replace('http', 'ws', 1)}{path}/live"
            queries = len([call for call, _ in watch.calls if call == "query_workflow"])
            auth = {"Authorization": f"Bearer {key}"}
            async with connect(live_url, additional_headers=auth) as live:  # the live route
                assert json.loads(await live.recv())["status"] == "running"
            assert len([call for call, _ in watch.calls if call == "query_workflow"]) > queries
            assert (await owner.post(f"{path}/cancel")).status_code == 202
            assert (await operator.get("/readyz")).status_code == 200

        calls = {call for call, _ in watch.calls}
        assert {
            "start_workflow",
            "query_workflow",
            "signal_workflow",
            "start_workflow_update",
            "describe_workflow",
        } <= calls, calls
        held_while_asking = [(call, held) for call, held in watch.calls if held]
        assert held_while_asking == []
        answered = {path for _, path, _ in api.pool.held_at_answer}
        assert f"{path}/timeline" in answered and "/v1/participants" in answered
        held_while_answering = [entry for entry in api.pool.held_at_answer if entry[2]]
        assert held_while_answering == []

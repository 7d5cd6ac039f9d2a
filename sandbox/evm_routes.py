"""``POST /evm``: Ethereum JSON-RPC 2.0 (single requests and batches) on the sandbox's node;
``GET /sandbox/evm``: what a client needs to use it; ``GET /sandbox/truth/chain``: what the
escrow contract did, from its events (``?campaign_id=`` for one campaign).

In memory the node is built on the first request to either path (it deploys two contracts,
~2 s), so a sandbox that never speaks EVM pays nothing; with a state file it is built, and its
journal replayed, when the app starts (``sandbox.app``). A request that is not JSON-RPC gets
a JSON-RPC error object (HTTP 200, as nodes answer), never a 500.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response

from sandbox.evm_node import SERVICE_DEV_KEY, EvmNode, RpcFailure

router = APIRouter()

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
MAX_BATCH = 1000
_building = threading.Lock()


def node_of(app: FastAPI) -> EvmNode:
    with _building:  # two first requests at once build one node
        node: EvmNode | None = getattr(app.state, "evm_node", None)
        if node is None:
            node = app.state.evm_node = EvmNode(app.state.sandbox.chain_journal)
        return node


def close_node(app: FastAPI) -> None:
    node: EvmNode | None = getattr(app.state, "evm_node", None)
    if node is not None:
        node.close()


async def _node(request: Request) -> EvmNode:
    return await asyncio.to_thread(node_of, request.app)


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


def _answer(node: EvmNode, call: Any) -> dict[str, Any] | None:
    """The response object of one request; None for a notification (a request without id)."""
    if not isinstance(call, dict):
        return _error(None, INVALID_REQUEST, "a request must be a JSON object")
    request_id = call.get("id")
    if not isinstance(request_id, str | int | None) or isinstance(request_id, bool):
        return _error(None, INVALID_REQUEST, "id must be a string, a number or null")
    method, params = call.get("method"), call.get("params", [])
    if call.get("jsonrpc") != "2.0" or not isinstance(method, str):
        return _error(request_id, INVALID_REQUEST, 'needs "jsonrpc": "2.0" and a method name')
    if not isinstance(params, list):
        return _error(request_id, INVALID_REQUEST, "params must be an array (by position)")
    try:
        result = node.call(method, params)
    except RpcFailure as failure:
        answer: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "error": failure.error}
    except Exception as error:  # the node itself failed: still an answer, not a 500
        answer = _error(request_id, INTERNAL_ERROR, f"{type(error).__name__}: {error}")
    else:
        answer = {"jsonrpc": "2.0", "id": request_id, "result": result}
    return answer if "id" in call else None


def _answers(node: EvmNode, body: Any) -> Any:
    if not isinstance(body, list):
        return _answer(node, body)
    if not body:
        return _error(None, INVALID_REQUEST, "an empty batch")
    if len(body) > MAX_BATCH:
        return _error(None, INVALID_REQUEST, f"{len(body)} requests; a batch holds {MAX_BATCH}")
    answers = [answer for call in body if (answer := _answer(node, call)) is not None]
    return answers or None


@router.post("/evm")
async def json_rpc(request: Request) -> Response:
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JSONResponse(_error(None, PARSE_ERROR, "the body is not JSON"))
    node = await _node(request)
    answers = await asyncio.to_thread(_answers, node, body)
    if answers is None:  # notifications only: nothing to answer
        return Response(status_code=204)
    return JSONResponse(answers)


@router.get("/sandbox/evm")
async def evm_info(request: Request) -> dict[str, Any]:
    node = await _node(request)
    return {
        **asdict(node.info),
        "rpc_path": "/evm",
        # the sandbox's own development key (published; it guards nothing of value)
        "service_dev_private_key": SERVICE_DEV_KEY,
    }


@router.get("/sandbox/truth/chain")
async def chain_truth(request: Request, campaign_id: str | None = None) -> dict[str, Any]:
    node = await _node(request)
    return {"events": await asyncio.to_thread(node.events, campaign_id)}

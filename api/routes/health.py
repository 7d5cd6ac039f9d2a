"""Liveness and readiness."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import get_gateway
from api.problems import problem_response, problem_responses
from api.schemas import HealthPublic, ReadinessPublic
from core.db import SessionFactory

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthPublic)
async def healthz() -> HealthPublic:
    """Always answers while the process serves requests."""
    return HealthPublic(status="ok")


def _database_ok(sessions: SessionFactory) -> bool:
    try:
        with sessions() as session:
            session.execute(text("SELECT 1"))
        return True
    except Exception:
        return False


@router.get(
    "/readyz",
    response_model=ReadinessPublic,
    responses=problem_responses(503),
)
async def readyz(request: Request) -> ReadinessPublic | JSONResponse:
    """Checks Temporal and the database; 503 names the one that is down."""
    temporal_ok, database_ok = await asyncio.gather(
        get_gateway(request).healthy(),
        asyncio.to_thread(_database_ok, request.app.state.session_factory),
    )
    checks = {
        "temporal": "ok" if temporal_ok else "down",
        "database": "ok" if database_ok else "down",
    }
    if temporal_ok and database_ok:
        return ReadinessPublic(status="ready", checks=checks)
    down = ", ".join(name for name, state in checks.items() if state == "down")
    return problem_response(request, 503, "Not ready", f"down: {down}", checks=checks)

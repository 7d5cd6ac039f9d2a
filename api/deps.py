"""Dependencies routes declare with ``Annotated``: the session, the principal, the gateway.

Auth: ``Authorization: Bearer <key>``. The operator key (setting ``operator_api_key``) acts on
everything; any other key must match an unrevoked ``ApiKey`` row by its sha256.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session, select

from api.problems import Problem, unauthorized
from api.security import hash_api_key, same_secret
from api.temporal_gateway import TemporalGateway
from core.config import Settings
from core.db import SessionFactory
from core.models import ApiKey


@dataclass(frozen=True)
class Principal:
    """Who is calling: the operator, or one owner."""

    owner_id: str | None
    is_operator: bool = False

    def may_act_on(self, owner_id: str) -> bool:
        return self.is_operator or self.owner_id == owner_id


OPERATOR = Principal(owner_id=None, is_operator=True)

bearer_scheme = HTTPBearer(auto_error=False, description="An owner's API key or the operator key")


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_session_factory(request: Request) -> SessionFactory:
    factory: SessionFactory = request.app.state.session_factory
    return factory


def get_session(request: Request) -> Iterator[Session]:
    with get_session_factory(request)() as session:
        yield session


def get_gateway(request: Request) -> TemporalGateway:
    gateway: TemporalGateway = request.app.state.temporal
    return gateway


def get_top_up_wait(request: Request) -> timedelta:
    wait: timedelta = request.app.state.top_up_wait
    return wait


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
# Closed when the route returns, before the answer is written: the default ("request") scope
# would keep the connection checked out, in an open transaction, while a slow client reads.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SessionFactoryDep = Annotated[SessionFactory, Depends(get_session_factory)]
GatewayDep = Annotated[TemporalGateway, Depends(get_gateway)]
TopUpWaitDep = Annotated[timedelta, Depends(get_top_up_wait)]


def resolve_api_key(key: str | None, settings: Settings, session: Session) -> Principal:
    """The principal a key stands for; a 401 problem if it stands for none."""
    if not key:
        raise unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    operator_key = settings.operator_api_key
    if operator_key is not None and same_secret(key, operator_key.get_secret_value()):
        return OPERATOR
    row = session.exec(
        select(ApiKey).where(ApiKey.key_hash == hash_api_key(key), ApiKey.revoked_at.is_(None))  # type: ignore[union-attr]
    ).first()
    if row is None:
        raise unauthorized("unknown or revoked API key")
    return Principal(owner_id=row.owner_id)


def get_principal(
    settings: SettingsDep,
    sessions: SessionFactoryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> Principal:
    # Its own short session, closed before the route runs: a request-scoped one would hold a
    # connection while the route waits on Temporal and opens another (the pool deadlocked).
    with sessions() as session:
        return resolve_api_key(credentials.credentials if credentials else None, settings, session)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_operator(principal: CurrentPrincipal) -> Principal:
    if not principal.is_operator:
        raise Problem(403, "Forbidden", "only the operator key manages owners and participants")
    return principal


OperatorPrincipal = Annotated[Principal, Depends(require_operator)]

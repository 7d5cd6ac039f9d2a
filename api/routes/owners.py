"""Owners: created by the operator; each gets an API key, shown once."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import OperatorPrincipal, SessionDep
from api.problems import problem_responses
from api.schemas import OwnerCreate, OwnerCreatedPublic
from api.security import hash_api_key, key_prefix, new_api_key
from core.models import ApiKey, Owner

router = APIRouter(
    prefix="/v1/owners", tags=["owners"], responses=problem_responses(400, 401, 403, 422, 503)
)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OwnerCreatedPublic)
def create_owner(
    body: OwnerCreate, session: SessionDep, _operator: OperatorPrincipal
) -> OwnerCreatedPublic:
    """Operator only. The owner's X token is stored for posting and never returned."""
    owner = Owner(
        name=body.name,
        x_user_id=body.x_user_id,
        x_access_token=body.x_access_token,
        wallet=body.wallet,
    )
    session.add(owner)
    session.flush()
    key = new_api_key()
    session.add(ApiKey(owner_id=owner.id, key_hash=hash_api_key(key), prefix=key_prefix(key)))
    session.commit()
    return OwnerCreatedPublic(
        id=owner.id,
        name=owner.name,
        x_user_id=owner.x_user_id,
        wallet=owner.wallet,
        created_at=owner.created_at,
        api_key=key,
    )

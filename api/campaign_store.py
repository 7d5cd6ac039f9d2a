"""The campaign rows the API reads and writes (synchronous; routes run it off the loop)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from api.deps import Principal
from api.problems import Problem, conflict, not_found
from core.campaign_spec import CampaignSpec
from core.contracts import CampaignStatus
from core.models import Campaign, TimelineEvent
from core.types import utcnow

# The API's own timeline row; the workflow's activities number theirs from 1.
CREATED_EVENT_SEQ = 0

# Published and not finished: their posts are on X (or about to be), so their text is taken.
_NOT_LIVE = [
    CampaignStatus.DRAFT.value,
    CampaignStatus.CLOSED.value,
    CampaignStatus.CANCELLED.value,
    CampaignStatus.FAILED.value,
]
_DUPLICATE = "X refuses duplicate text from the same author"


@dataclass(frozen=True)
class CampaignFilter:
    status: str | None = None
    type: str | None = None
    owner_id: str | None = None


def load_campaign(session: Session, principal: Principal, campaign_id: str) -> Campaign:
    """The campaign if the caller may see it; another owner's campaign is a 404 (IDs do not
    leak)."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not principal.may_act_on(campaign.owner_id):
        raise not_found(f"campaign {campaign_id}")
    return campaign


def create_campaign(session: Session, owner_id: str, spec: CampaignSpec) -> Campaign:
    now = utcnow()
    campaign = Campaign(
        owner_id=owner_id,
        name=spec.name,
        type=spec.type,
        asset=spec.asset,
        budget=spec.budget,
        spec=spec.model_dump(mode="json"),
        status=CampaignStatus.DRAFT.value,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()
    session.add(
        TimelineEvent(
            campaign_id=campaign.id,
            seq=CREATED_EVENT_SEQ,
            at=now,
            kind="created",
            status=CampaignStatus.DRAFT.value,
            data={"name": spec.name, "type": spec.type, "budget": spec.budget},
        )
    )
    session.commit()
    return campaign


def list_campaigns(
    session: Session, where: CampaignFilter, *, page: int, page_size: int
) -> tuple[list[Campaign], int]:
    """Newest first. Each filter has an index on (filter, created_at, id) (ix_campaign_*)."""
    conditions: list[Any] = []
    if where.status is not None:
        conditions.append(col(Campaign.status) == where.status)
    if where.type is not None:
        conditions.append(col(Campaign.type) == where.type)
    if where.owner_id is not None:
        conditions.append(col(Campaign.owner_id) == where.owner_id)
    total = session.exec(select(func.count()).select_from(Campaign).where(*conditions)).one()
    rows = session.exec(
        select(Campaign)
        .where(*conditions)
        .order_by(col(Campaign.created_at).desc(), col(Campaign.id).desc())
        .offset((page - 1) * page_size)
        .limit(page_size)
    ).all()
    return list(rows), int(total)


def timeline(session: Session, campaign_id: str) -> list[TimelineEvent]:
    return list(
        session.exec(
            select(TimelineEvent)
            .where(TimelineEvent.campaign_id == campaign_id)
            .order_by(col(TimelineEvent.seq))
        ).all()
    )


def record_publish(
    session: Session,
    campaign_id: str,
    *,
    workflow_id: str,
    run_id: str,
    start_at: datetime | None,
    status: CampaignStatus,
) -> None:
    """Note the run on the row. The status moves only off ``draft``: the workflow's activities
    own it from then on, and may already have written a later one."""
    now = utcnow()
    session.execute(
        update(Campaign)
        .where(col(Campaign.id) == campaign_id, col(Campaign.workflow_id).is_(None))
        .values(workflow_id=workflow_id, run_id=run_id, start_at=start_at, updated_at=now)
    )
    session.execute(
        update(Campaign)
        .where(
            col(Campaign.id) == campaign_id,
            col(Campaign.status) == CampaignStatus.DRAFT.value,
        )
        .values(status=status.value, updated_at=now)
    )
    session.commit()


def reload(session: Session, campaign_id: str) -> Campaign | None:
    return session.get(Campaign, campaign_id, populate_existing=True)


def refuse_duplicate_text(
    session: Session, owner_id: str, spec: CampaignSpec, *, exclude_id: str | None = None
) -> None:
    """Refuse a draft X would refuse to post: its two posts with one text (422), or a post
    text that one of the owner's live campaigns already posted (409, naming that campaign)."""
    if spec.first_post.text == spec.second_post.text:
        message = f"the same text as first_post.text; {_DUPLICATE}"
        raise Problem(
            422,
            "Invalid request",
            f"second_post.text: {message}",
            errors=[{"field": "second_post.text", "message": message}],
        )
    texts = {"first post": spec.first_post.text, "second post": spec.second_post.text}
    # The database finds the match: loading every live campaign of a busy owner to compare
    # in Python cost a publish ~1 ms per live campaign (a 1,000-campaign owner's publishes
    # queued behind it).
    theirs = {"first post": _post_text("first_post"), "second post": _post_text("second_post")}
    clash = session.exec(
        select(col(Campaign.id), col(Campaign.name), col(Campaign.status), *theirs.values())
        .where(col(Campaign.owner_id) == owner_id, col(Campaign.status).not_in(_NOT_LIVE))
        .where(col(Campaign.id) != (exclude_id or ""))
        .where(or_(*(text.in_(list(texts.values())) for text in theirs.values())))
        .order_by(col(Campaign.created_at))
        .limit(1)
    ).first()
    if clash is None:
        return
    other_id, other_name, other_status = clash[0], clash[1], clash[2]
    their_texts: list[str | None] = list(clash[3:])
    for mine, text in texts.items():
        for their_post, their_text in zip(theirs, their_texts, strict=True):
            if text == their_text:
                raise conflict(
                    f"{_DUPLICATE}: this draft's {mine} has the text of the {their_post} "
                    f"of live campaign {other_id} ('{other_name}', {other_status}); "
                    "change the text, or wait until that campaign ends",
                    campaign_id=other_id,
                )


def _post_text(post: str) -> Any:
    """A post's text inside the stored definition, as SQL (SQLite's and PostgreSQL's JSON)."""
    return Campaign.__table__.c.spec[post]["text"].as_string()  # type: ignore[attr-defined]

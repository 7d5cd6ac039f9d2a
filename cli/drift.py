"""Drift between the database and the world, found and, where that is safe, repaired.

Three kinds (``campaigns reconcile``; README "Stopping and reconciling"):

- ``campaign-status``: a campaign row whose status disagrees with its closed workflow. The
  workflow is the truth: a completed run's result is its final status document; a failed,
  cancelled, terminated or timed-out run maps to ``failed``/``cancelled`` on the row's last
  document (``api.campaign_status.recorded_document``).
- ``missing-workflow``: a live-looking row whose workflow Temporal does not know. Reported
  only, unless asked (``fail_missing``): "not found" is also what a reconcile pointed at the
  wrong Temporal address or namespace sees, and failing live campaigns on that would be worse
  than the drift. A terminal row whose history retention removed is not drift.
- ``stale-effect``: an effect left ``prepared``/``unknown`` for longer than the window whose
  workflow has ended, so nothing will ever resolve it. Looked up where it would have landed
  (the ledger by its key; X among the author's recent posts by the same rules the activity
  uses) and recorded ``done`` with what was found, else ``failed``: that state means "never
  sent again", which is the truth once its workflow has ended (a finished campaign is never
  re-run: reuse policy reject-duplicate), and it keeps the row out of derived counters.

A campaign whose workflow is running is never touched: it resolves its own rows. Every write
is conditional on the row being as it was read, so a racing activity wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Table, select, update
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
)
from temporalio.service import RPCError, RPCStatusCode

from activities.campaign import document_json
from activities.effects import SENDABLE
from api.campaign_status import recorded_document
from cli.open_effects import OpenEffects
from clients.ports import ExternalError, Ledger, SocialPlatform
from core.contracts import TERMINAL_STATUSES, CampaignStatus, StatusDocument, workflow_id_for
from core.db import SessionFactory
from core.models import Campaign, Effect
from core.types import utcnow

CAMPAIGN: Table = Campaign.__table__  # type: ignore[attr-defined]
EFFECT: Table = Effect.__table__  # type: ignore[attr-defined]
TERMINAL = frozenset(status.value for status in TERMINAL_STATUSES)
DRAFT = CampaignStatus.DRAFT.value


def workflow_of(campaign: Campaign) -> str:
    """The campaign's workflow ID: recorded on publishing, and by contract its own anyway."""
    return campaign.workflow_id or workflow_id_for(campaign.id)


@dataclass(frozen=True)
class Finding:
    kind: str  # campaign-status | missing-workflow | stale-effect
    campaign_id: str
    subject: str  # the campaign's workflow ID or the effect's key
    found: str  # what disagrees, for a person
    action: str  # what was done (or, in a dry run, would be)
    repaired: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WorkflowState:
    """What Temporal says of a campaign's workflow: running, closed (with the final
    document), or not found."""

    running: bool = False
    missing: bool = False
    execution: WorkflowExecutionStatus | None = None
    document: dict[str, Any] | None = None


class Reconciler:
    def __init__(
        self,
        sessions: SessionFactory,
        temporal: Client,
        *,
        ledger: Ledger,
        social: SocialPlatform,
        default_x_token: str | None = None,
        older_than: timedelta = timedelta(minutes=15),
        dry_run: bool = False,
        fail_missing: bool = False,
    ) -> None:
        self._sessions = sessions
        self._temporal = temporal
        self._older_than = older_than
        self._dry_run = dry_run
        self._fail_missing = fail_missing
        self._open_effects = OpenEffects(
            sessions,
            ledger=ledger,
            social=social,
            default_x_token=default_x_token,
            older_than=older_than,
        )

    async def run(self) -> list[Finding]:
        findings: list[Finding] = []
        for campaign in await asyncio.to_thread(self._candidates):
            state = await self.workflow_state(workflow_of(campaign), campaign)
            if state.running:
                continue  # the workflow resolves its own rows
            if state.missing:
                finding = await self._missing(campaign)
                if finding is not None:
                    findings.append(finding)
                if campaign.status not in TERMINAL and not self._fail_missing:
                    continue  # its workflow's fate is unknown: its effects are left alone
            else:
                finding = await self._status_drift(campaign, state)
                if finding is not None:
                    findings.append(finding)
            findings.extend(await self._stale_effects(campaign))
        return findings

    # --- what to look at ------------------------------------------------------------------

    def _candidates(self) -> list[Campaign]:
        """Published campaigns whose row looks live, or that have effects left open too long."""
        cutoff = utcnow() - self._older_than
        with self._sessions() as session:
            stale = (
                select(EFFECT.c.campaign_id)
                .where(EFFECT.c.state.in_(SENDABLE), EFFECT.c.updated_at < cutoff)
                .distinct()
            )
            rows = session.execute(
                select(Campaign)
                # Published: a draft has no workflow (nor effects).
                .where(CAMPAIGN.c.workflow_id.is_not(None) | (CAMPAIGN.c.status != DRAFT))
                .where(CAMPAIGN.c.status.not_in(TERMINAL) | CAMPAIGN.c.id.in_(stale))
                .order_by(CAMPAIGN.c.created_at, CAMPAIGN.c.id)
            ).scalars()
            return list(rows)

    async def workflow_state(self, workflow_id: str, campaign: Campaign) -> WorkflowState:
        handle = self._temporal.get_workflow_handle(workflow_id, result_type=StatusDocument)
        try:
            described = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return WorkflowState(missing=True)
            raise
        execution = described.status
        open_now = (None, WorkflowExecutionStatus.RUNNING, WorkflowExecutionStatus.CONTINUED_AS_NEW)
        if execution in open_now:  # None: Temporal did not say; treated as running, untouched
            return WorkflowState(running=True)
        if execution == WorkflowExecutionStatus.COMPLETED:
            # The run's result is its final status document, kept by Temporal: no worker needed.
            result = await handle.result()
            return WorkflowState(execution=execution, document=document_json(result))
        reason = None
        if execution == WorkflowExecutionStatus.FAILED:
            try:
                await handle.result()
            except WorkflowFailureError as failure:
                reason = str(failure.cause or failure)
        closed = recorded_document(campaign, execution)
        if reason and closed.status == CampaignStatus.FAILED and not closed.failure:
            closed.failure = reason
        return WorkflowState(execution=execution, document=closed.model_dump(mode="json"))

    # --- campaign rows --------------------------------------------------------------------

    async def _status_drift(self, campaign: Campaign, state: WorkflowState) -> Finding | None:
        assert state.document is not None and state.execution is not None
        truth = str(state.document["status"])
        if truth == campaign.status:
            return None
        found = (
            f"row says {campaign.status}; workflow {state.execution.name.lower()} "
            f"with status {truth}"
        )
        moved = await self._set_campaign(campaign, truth, state.document)
        return self._finding("campaign-status", campaign, found, moved, f"set {truth}")

    async def _missing(self, campaign: Campaign) -> Finding | None:
        if campaign.status in TERMINAL:
            return None  # ended, and its history outlived retention: not drift
        found = f"row says {campaign.status}; Temporal has no workflow {workflow_of(campaign)}"
        if not self._fail_missing:
            action = "reported (--fail-missing marks it failed)"
            return Finding(
                "missing-workflow",
                campaign.id,
                workflow_of(campaign),
                found,
                action,
                repaired=False,
            )
        document = recorded_document(campaign).model_dump(mode="json")
        document["status"] = CampaignStatus.FAILED.value
        document["failure"] = f"workflow {workflow_of(campaign)} not found in Temporal (reconcile)"
        moved = await self._set_campaign(campaign, CampaignStatus.FAILED.value, document)
        return self._finding("missing-workflow", campaign, found, moved, "set failed")

    async def _set_campaign(
        self, campaign: Campaign, status: str, document: dict[str, Any]
    ) -> bool:
        if self._dry_run:
            return False
        return await asyncio.to_thread(self.set_status_if_unchanged, campaign, status, document)

    def set_status_if_unchanged(
        self, campaign: Campaign, status: str, document: dict[str, Any]
    ) -> bool:
        with self._sessions() as session:
            moved = session.execute(
                update(CAMPAIGN)
                # As read: a write that landed since (the workflow's own) wins.
                .where(CAMPAIGN.c.id == campaign.id, CAMPAIGN.c.status == campaign.status)
                .values(status=status, last_status=document, updated_at=utcnow())
                .returning(CAMPAIGN.c.id)
            ).first()
            session.commit()
            return moved is not None

    # --- effects --------------------------------------------------------------------------

    async def _stale_effects(self, campaign: Campaign) -> list[Finding]:
        findings = []
        for effect in await asyncio.to_thread(self._open_effects.stale, campaign.id):
            record = effect.record
            found = f"{effect.kind} left {record.state} past the window; its workflow ended"
            try:
                repair = await self._open_effects.decide(campaign, effect)
            except ExternalError as error:
                repair, left = None, f"left: the lookup failed ({error})"
            else:
                left = "reported: no lookup for this kind"
            if repair is None:
                findings.append(
                    Finding("stale-effect", campaign.id, record.key, found, left, repaired=False)
                )
                continue
            moved = not self._dry_run and await asyncio.to_thread(
                self._open_effects.apply, record, repair
            )
            action = f"mark {repair.state}: {repair.reason}"
            findings.append(
                self._finding("stale-effect", campaign, found, moved, action, subject=record.key)
            )
        return findings

    def _finding(
        self,
        kind: str,
        campaign: Campaign,
        found: str,
        moved: bool,
        action: str,
        *,
        subject: str | None = None,
    ) -> Finding:
        """``action`` as an order ("set closed"); said as done, as would-be (dry run), or as
        not applied when the row changed between the read and the write."""
        if self._dry_run:
            said = f"would {action}"
        elif moved:
            said = action.replace("mark ", "marked ", 1)
        else:
            said = f"left: the row changed since it was read ({action}: not applied)"
        return Finding(kind, campaign.id, subject or workflow_of(campaign), found, said, moved)


def counts(findings: Iterable[Finding]) -> dict[str, int]:
    summary: dict[str, int] = {}
    for finding in findings:
        summary[finding.kind] = summary.get(finding.kind, 0) + 1
    return summary

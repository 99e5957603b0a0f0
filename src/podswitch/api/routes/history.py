"""Revisions: who changed what and when, with before/after of every object; revert and restore."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from ...model import Change
from ..schemas import MAX_REVISION, ChangeOut, Page, PlanOut, Revision, RevisionDetail, WriteResult
from ..strict_json import StrictJSONRoute
from .common import Actor, Ctl, DryRun, Limit, Offset, answer

router = APIRouter(route_class=StrictJSONRoute, prefix="/v1/history", tags=["history"])
RevisionPath = Path(ge=0, le=MAX_REVISION)


def _revision(info) -> Revision:  # type: ignore[no-untyped-def]
    return Revision(
        revision=info.revision,
        created_at=info.created_at,
        actor=info.actor,
        operation=info.operation,
        summary=info.summary,
        change_count=info.change_count,
    )


def _change(c: Change) -> ChangeOut:
    k = c.key
    return ChangeOut(
        kind=k.kind.value,
        object=str(k),
        key={"tenant": k.tenant, "segment": k.segment, "name": k.name},
        operation=c.operation,
        before=c.before.model_dump(mode="json") if c.before is not None else None,
        after=c.after.model_dump(mode="json") if c.after is not None else None,
    )


@router.get("", response_model=list[Revision])
def list_history(
    ctl: Ctl,
    limit: int = Query(50, ge=1, le=1000),
    before: int | None = Query(None, ge=1, le=MAX_REVISION, description="only revisions older than this"),
) -> list[Revision]:
    return [_revision(i) for i in ctl.history(limit=limit, before=before)]


@router.get("/{revision}", response_model=RevisionDetail)
def get_revision(ctl: Ctl, revision: int = RevisionPath, limit: Limit = 100, offset: Offset = 0) -> RevisionDetail:
    info = ctl.revision(revision)
    changes = ctl.revision_changes(revision, limit=limit, offset=offset)
    return RevisionDetail(
        **_revision(info).model_dump(),
        changes=Page(items=[_change(c) for c in changes], total=info.change_count, limit=limit, offset=offset),
    )


@router.post("/{revision}/revert", response_model=WriteResult | PlanOut)
async def revert(
    ctl: Ctl, actor: Actor, response: Response, revision: int = RevisionPath, dry_run: DryRun = False
) -> WriteResult | PlanOut:
    """Undo what `revision` changed, as a new revision (refused if those objects changed again since)."""
    outcome = await run_in_threadpool(ctl.revert, revision, actor=actor, dry_run=dry_run)
    return answer(outcome, response, dry_run)


@router.post("/{revision}/restore", response_model=WriteResult | PlanOut)
async def restore(
    ctl: Ctl, actor: Actor, response: Response, revision: int = RevisionPath, dry_run: DryRun = False
) -> WriteResult | PlanOut:
    """Bring the whole intent back to how it was right after `revision`, as a new revision."""
    outcome = await run_in_threadpool(ctl.restore, revision, actor=actor, dry_run=dry_run)
    return answer(outcome, response, dry_run)

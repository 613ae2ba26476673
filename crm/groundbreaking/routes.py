"""Collective groundbreaking (集中开工) pages: the events, and each event's readiness board, where managers add and
drop projects."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from crm import generation
from crm.auth.deps import CurrentUser, Forbidden
from crm.db import RecordId, SessionDep, utcnow
from crm.forms import FormResult, parse, parse_version
from crm.groundbreaking import service
from crm.groundbreaking.deps import EventDep
from crm.groundbreaking.models import GroundbreakingEvent
from crm.groundbreaking.schemas import event_fields, slate_fields
from crm.i18n import Msg
from crm.projects.schemas import STAGE_LABELS
from crm.versioning import StaleEdit
from crm.web import FormDep, Router, is_htmx, local_today, redirect, render, replay_or_claim

router = Router(prefix="/groundbreaking")


def _require_edit(user) -> None:
    if not service.can_edit(user):
        raise Forbidden()


@router.get("")
def index(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    found = service.events(session)
    return render(request, "groundbreaking/index.html", {
        "events": found, "counts": service.slate_counts(session, event_ids=[e.id for e in found], viewer=user),
        "can_edit": service.can_edit(user), "today": local_today(request),
        "form": FormResult(values={"held_on": local_today(request).isoformat()})})


@router.post("")
def create(request: Request, session: SessionDep, user: CurrentUser, raw: FormDep) -> Response:
    _require_edit(user)
    if (earlier := replay_or_claim(request, session, raw, creates=GroundbreakingEvent, url=lambda event: f"/groundbreaking/{event.id}")) is not None:
        return earlier
    form = parse(event_fields(), raw)
    if form.ok:
        event = service.create(session, data=form.data, actor=user)
        return redirect(request, f"/groundbreaking/{event.id}", flash=Msg("Event “%(name)s” saved.", name=event.name))
    found = service.events(session)
    return render(request, "groundbreaking/index.html", {
        "events": found, "counts": service.slate_counts(session, event_ids=[e.id for e in found], viewer=user),
        "can_edit": True, "today": local_today(request), "form": form}, status_code=422)


# The readiness board and the slate's candidates, kept per data generation (crm/generation.py), per whose view it is
# (managers: every project; an officer: their own view) and per the zone's date (days left, permits overdue).
board_kept = generation.Kept("readiness", size=64)
part_kept = generation.Kept("readiness.html", size=128)


def _board_context(request: Request, session, event: GroundbreakingEvent, user, **extra: Any) -> dict[str, Any]:
    settings = request.app.state.settings
    can_edit = service.can_edit(user)
    today, threshold, stale_days = local_today(request), settings.major_project_threshold_wan_cny, settings.project_stale_days

    def compute() -> tuple:
        board = service.board(session, event=event, viewer=user, today=today, threshold=threshold,
                              stale_since=utcnow() - timedelta(days=stale_days))
        return board, service.candidates(session, event=event, viewer=user) if can_edit else []

    key = (generation.visibility(user), event.id, today, threshold, stale_days, can_edit)
    board, candidates = board_kept.get(session, key, compute)
    context = {
        "board": replace(board, event=event),  # the event as this request loaded it, not the one kept
        "event": event, "can_edit": can_edit, "stage_labels": STAGE_LABELS, "candidates": candidates,
        "slate_form": extra.pop("slate_form", FormResult()), "board_html": None, **extra,
    }
    if not context["slate_form"].errors:  # the block as every reader of `key` sees it, with this reader's CSRF token
        def part() -> str:
            return generation.render_part("groundbreaking/show.html", "board",
                                          {**generation.part_context(request), **context})

        html = part_kept.get(session, (*key, request.state.locale, context.get("readiness")), part)
        context["board_html"] = generation.with_csrf(html, request)
    return context


READINESS_FILTERS = ("green", "amber", "red")


@router.get("/{event_id}")
def show(request: Request, session: SessionDep, user: CurrentUser, event: EventDep) -> Response:
    """The event and its readiness board; `?readiness=green|amber|red` lists only the slated projects in that state
    (the dashboard's ready / under way / blocked counts link there). The totals stay those of the whole slate."""
    readiness = request.query_params.get("readiness")
    return render(request, "groundbreaking/show.html", _board_context(
        request, session, event, user, readiness=readiness if readiness in READINESS_FILTERS else None),
        block="board")


@router.get("/{event_id}/edit")
def edit(request: Request, session: SessionDep, user: CurrentUser, event: EventDep) -> Response:
    _require_edit(user)
    values = {"name": event.name, "held_on": event.held_on.isoformat(), "place": event.place, "note": event.note}
    return render(request, "groundbreaking/form.html", {"form": FormResult(values=values), "event": event,
                                                        "version": event.version, "stale": None, "refs": {}})


@router.post("/{event_id}")
def update(request: Request, session: SessionDep, user: CurrentUser, event: EventDep, raw: FormDep) -> Response:
    _require_edit(user)
    form = parse(event_fields(), raw)
    version = parse_version(raw)
    if form.ok:
        try:
            service.update(session, event=event, data=form.data, version=version, actor=user)
            return redirect(request, f"/groundbreaking/{event.id}", flash=Msg("Changes saved."))
        except StaleEdit as stale:
            current = service.get(session, event.id)
            return render(request, "groundbreaking/form.html", {"form": form, "event": current,
                                                                "version": current.version, "stale": stale.changes,
                                                                "refs": {}}, block="form", status_code=409)
    return render(request, "groundbreaking/form.html", {"form": form, "event": event, "version": version,
                                                        "stale": None, "refs": {}}, block="form", status_code=422)


def _after_slate_change(request: Request, session, event: GroundbreakingEvent, user, message: Msg | None,
                        **extra: Any) -> Response:
    status_code = 422 if extra.get("slate_form") else 200
    if is_htmx(request) or status_code == 422:
        return render(request, "groundbreaking/show.html", _board_context(request, session, event, user, **extra),
                      block="board", status_code=status_code)
    return redirect(request, f"/groundbreaking/{event.id}", flash=message)


@router.post("/{event_id}/slate")
def add_project(request: Request, session: SessionDep, user: CurrentUser, event: EventDep, raw: FormDep) -> Response:
    _require_edit(user)
    form = parse(slate_fields(), raw)
    if form.ok:
        try:
            project = service.add_project(session, event=event, project_id=form.data["project_id"], actor=user)
            return _after_slate_change(request, session, event, user,
                                       Msg("“%(name)s” added to the slate.", name=project.name))
        except service.InvalidEvent as bad:
            for name, message in bad.errors.items():
                form.add_error(name, message)
    return _after_slate_change(request, session, event, user, None, slate_form=form)


@router.post("/{event_id}/slate/{project_id}/drop")
def drop_project(request: Request, session: SessionDep, user: CurrentUser, event: EventDep,
                 project_id: RecordId) -> Response:
    _require_edit(user)
    service.drop_project(session, event=event, project_id=project_id, actor=user)
    return _after_slate_change(request, session, event, user, Msg("Dropped from the slate."))

"""Major-project scheduling, pages added to the first ones: raising a coordination item from the project page (the
form posts to the one raise-item route of routes.py), and editing a meeting's date, title and attendees."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from crm.auth import service as auth_service
from crm.auth.deps import CurrentUser, Forbidden
from crm.db import SessionDep
from crm.errors import found
from crm.forms import FormResult, parse, parse_version
from crm.i18n import Msg
from crm.major_projects import admin_service, service
from crm.major_projects.deps import MeetingDep, VisibleProjectDep
from crm.major_projects.schemas import meeting_fields
from crm.versioning import StaleEdit
from crm.web import FormDep, Router, redirect, render

router = Router(prefix="/scheduling")


@router.get("/projects/{project_id}/items/new")
def new_item(request: Request, session: SessionDep, user: CurrentUser, project: VisibleProjectDep) -> Response:
    if not service.can_report(user, project):
        raise Forbidden()
    return render(request, "major_projects/item_new.html", {
        "project": project, "report": None, "item_form": FormResult(),
        "department_options": [(str(d.id), d.name(request.state.locale)) for d in service.departments(session)],
        "owners": auth_service.active_users(session)})


def _meeting_form_context(session, meeting, form: FormResult) -> dict[str, Any]:
    chosen = {int(v) for v in (form.values.get("attendees") or "").split(",") if v.isdigit()}
    users = auth_service.active_users(session)
    # an attendee who has since left stays offered, so an edit does not drop them unasked
    users = users + [a.user for a in meeting.attendees if a.user_id in chosen and a.user not in users]
    return {"meeting": meeting, "form": form, "users": users}


def _values(meeting) -> dict[str, str]:
    return {"title": meeting.title, "held_on": meeting.held_on.isoformat(), "other_attendees": meeting.other_attendees,
            "attendees": ",".join(str(a.user_id) for a in meeting.attendees)}


@router.get("/meetings/{meeting_id}/edit")
def edit_meeting(request: Request, session: SessionDep, user: CurrentUser, meeting: MeetingDep) -> Response:
    if not service.can_manage(user):
        raise Forbidden()
    return render(request, "major_projects/meeting_edit.html",
                  _meeting_form_context(session, meeting, FormResult(values=_values(meeting))))


@router.post("/meetings/{meeting_id}/edit")
def update_meeting(request: Request, session: SessionDep, user: CurrentUser, meeting: MeetingDep,
                   raw: FormDep) -> Response:
    if not service.can_manage(user):
        raise Forbidden()
    form = parse(meeting_fields(attendee_ids=[]), raw)
    chosen = raw.getlist("attendees") if hasattr(raw, "getlist") else []
    form.values["attendees"] = ",".join(chosen)
    attendee_ids = [int(v) for v in chosen if v.isdigit() and len(v) < 10]
    if len(attendee_ids) != len(chosen):
        form.add_error("attendees", Msg("Choose one of the listed options."))
    status = 422
    if form.ok:
        try:
            changed = admin_service.update_meeting(session, meeting=meeting, data=form.data,
                                                   attendee_ids=attendee_ids, version=parse_version(raw), actor=user)
            return redirect(request, f"/scheduling/meetings/{meeting.id}",
                            flash=Msg("Changes saved.") if changed else Msg("No change."))
        except service.InvalidInput as bad:
            session.rollback()
            for name, message in bad.errors.items():
                form.add_error(name, message)
        except StaleEdit:
            form.add_error("title", Msg("Someone changed this since you opened it: check and save again."))
            status = 409
    meeting = found(service.get_meeting(session, meeting.id))
    return render(request, "major_projects/meeting_edit.html", _meeting_form_context(session, meeting, form),
                  block="form", status_code=status)

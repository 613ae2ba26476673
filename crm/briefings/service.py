"""Briefing packs (接待手册 / 考察简报): the data of a visit's pack, its talking points, and its generated PDFs.

`pack()` is the one data function behind the HTML preview, the PDF (web, background job, CLI) and the tests: what
it leaves out for the external-safe variant is left out of every output. Internal-only: contact mobiles and
e-mail, internal notes (a contact's or a stop's note, the visit's discussion and outcome, organization tags),
confidential projects (for every reader), project next steps, stage changes and decisions, the talking points and
the follow-ups. Confidential projects a reader may not see are never in either variant (`visible_to`)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from crm.attachments import service as attachment_service
from crm.attachments.models import Attachment
from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.briefings.models import BriefingFile, BriefingNote, FileStatus, Variant
from crm.contacts.models import Contact
from crm.db import utcnow
from crm.exports import service as export_service
from crm.groundbreaking import service as groundbreaking_service
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.i18n import N_, Msg
from crm.indicators import service as indicator_service
from crm.organizations.models import IndustryChain, Organization, OrganizationKind
from crm.parcels.models import LandParcel, ParcelStatus
from crm.projects import service as project_service
from crm.projects.models import Decision, Project, ProjectOrganization, StageChange
from crm.tasks.models import Task, TaskStatus
from crm.validators import CONTROL_RE, control_characters
from crm.visits import service as visit_service
from crm.visits.models import TourStop, Visit, VisitOrganization

MAX_TALKING_POINTS = 50_000  # characters
MAX_STOPS_SHOWN = 300
HISTORY_LIMIT = 40
PHOTO_LIMIT = 6


class InvalidNote(Exception):
    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


class StaleNote(Exception):
    """The talking points changed since the form was loaded: `current` is the newest revision."""

    def __init__(self, current: BriefingNote | None) -> None:
        super().__init__("stale")
        self.current = current


class PermissionDenied(Exception):
    pass


# Talking points, kept with the visit in revisions

def current_note(session: Session, visit_id: int) -> BriefingNote | None:
    return session.scalar(select(BriefingNote).where(BriefingNote.visit_id == visit_id)
                          .options(joinedload(BriefingNote.author))
                          .order_by(BriefingNote.revision.desc()).limit(1)
                          .execution_options(populate_existing=True))


def note_history(session: Session, visit_id: int, *, limit: int = 20) -> list[BriefingNote]:
    """The newest revisions first (their authors and times; the text of each is kept)."""
    return list(session.scalars(select(BriefingNote).where(BriefingNote.visit_id == visit_id)
                                .options(joinedload(BriefingNote.author))
                                .order_by(BriefingNote.revision.desc()).limit(limit)))


def save_note(session: Session, *, visit: Visit, body: str, based_on: int, actor: User) -> BriefingNote:
    """A new revision of the talking points, if `based_on` is still the newest (0: there was none)."""
    if not visit_service.can_change(actor, visit):
        raise PermissionDenied()
    body = body.replace("\r\n", "\n").strip()
    if CONTROL_RE.search(body):
        raise InvalidNote(control_characters())
    if len(body) > MAX_TALKING_POINTS:
        raise InvalidNote(Msg("The talking points are longer than %(limit)s characters; shorten them.",
                              limit=f"{MAX_TALKING_POINTS:,}"))
    current = current_note(session, visit.id)
    if (current.revision if current else 0) != based_on:
        session.rollback()
        raise StaleNote(current)
    if current is not None and current.body == body:
        return current
    note = BriefingNote(visit_id=visit.id, revision=based_on + 1, body=body, author_id=actor.id)
    session.add(note)
    audit_service.record(session, actor=actor, action=AuditAction.UPDATE, entity_type="visit", entity_id=visit.id,
                         entity_label=visit.title, entity_version=visit.version,
                         changes={"talking_points": [f"#{based_on}" if based_on else None, f"#{based_on + 1}"]})
    try:
        session.commit()
    except IntegrityError:  # someone saved the same revision number in between
        session.rollback()
        raise StaleNote(current_note(session, visit.id)) from None
    return note


# The pack's data

@dataclass
class HistoryLine:
    on: date
    kind: str  # visit | stage | decision
    text: str
    detail: str = ""


@dataclass
class EnterpriseBlock:
    organization: Organization
    stops: list[TourStop]
    chain: IndustryChain | None = None
    project_count: int = 0
    investment_wan_cny: Decimal | None = None
    output_wan_cny: Decimal | None = None
    exports: Any = None  # the export pool's figures, when crm/exports knows the enterprise


@dataclass
class ProjectLine:
    project: Project
    next_step: Task | None = None


@dataclass
class Groundbreaking:
    event: GroundbreakingEvent
    count: int
    investment_wan_cny: Decimal


@dataclass
class Photo:
    attachment: Attachment
    usable: bool  # it has a thumbnail (Pillow could read it safely); otherwise a note stands in for it


@dataclass
class Pack:
    visit: Visit
    variant: str
    viewer: User
    generated_at: datetime
    organizations: list[Organization]
    investor: Organization | None
    investor_chain: IndustryChain | None
    leader: Contact | None
    members: list[Contact]
    member_orgs: dict[int, str]  # organization id → name, for the members' organizations
    hosts: list[User]
    leader_lines: list[str]
    stops: list[TourStop]
    stops_omitted: int
    history: list[HistoryLine]
    projects: list[ProjectLine]
    enterprises: list[EnterpriseBlock]
    chains: list[tuple[IndustryChain, int]]
    parcels: list[LandParcel]
    groundbreaking: Groundbreaking | None
    indicators: list[Any] = field(default_factory=list)  # crm/indicators' Figures with something this year
    talking_points: str = ""
    note_revision: int | None = None
    followups: list[Task] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)

    @property
    def internal(self) -> bool:
        return self.variant == Variant.INTERNAL

    @property
    def has_people(self) -> bool:
        return bool(self.members or self.hosts or self.leader_lines)

    @property
    def has_zone(self) -> bool:
        return bool(self.indicators or self.chains or self.parcels or self.groundbreaking)

    @property
    def contact_sheet(self) -> list[Contact]:
        """Delegation members with a way to reach them (internal only: mobiles are never shared)."""
        if not self.internal:
            return []
        return [c for c in self.members if c.mobile or c.phone or c.email]


def _project_filter(viewer: User, variant: str):
    visible = project_service.visible_to(viewer)
    return visible if variant == Variant.INTERNAL else and_(visible, Project.is_confidential.is_(False))


def _history(session: Session, organization: Organization, *, viewer: User, variant: str, timezone: str,
             project_ids: list[int]) -> list[HistoryLine]:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(timezone)
    lines: list[HistoryLine] = []
    visits = session.execute(
        select(Visit.starts_at, Visit.title, Visit.status).join(VisitOrganization, VisitOrganization.visit_id == Visit.id)
        .where(VisitOrganization.organization_id == organization.id, Visit.status != "cancelled",
               Visit.starts_at <= utcnow())  # past interactions: the visit being prepared, and later ones, are not
        .order_by(Visit.starts_at.desc()).limit(HISTORY_LIMIT)).all()
    lines += [HistoryLine(on=at.astimezone(tz).date(), kind="visit", text=title) for at, title, _ in visits]
    if variant == Variant.INTERNAL and project_ids:
        changes = session.execute(
            select(StageChange.at, StageChange.from_stage, StageChange.to_stage, Project.name)
            .join(Project, Project.id == StageChange.project_id)
            .where(StageChange.project_id.in_(project_ids))
            .order_by(StageChange.at.desc()).limit(HISTORY_LIMIT)).all()
        lines += [HistoryLine(on=at.astimezone(tz).date(), kind="stage", text=name, detail=to_stage)
                  for at, _from, to_stage, name in changes]
        decisions = session.execute(
            select(Decision.meeting_on, Decision.outcome, Project.name).join(Project, Project.id == Decision.project_id)
            .where(Decision.project_id.in_(project_ids)).order_by(Decision.meeting_on.desc()).limit(HISTORY_LIMIT)).all()
        lines += [HistoryLine(on=on, kind="decision", text=name, detail=outcome) for on, outcome, name in decisions]
    lines.sort(key=lambda line: line.on, reverse=True)
    return lines[:HISTORY_LIMIT]


def _projects(session: Session, organization_ids: list[int], *, viewer: User, variant: str) -> list[Project]:
    if not organization_ids:
        return []
    stmt = (select(Project).join(ProjectOrganization, ProjectOrganization.project_id == Project.id)
            .where(ProjectOrganization.organization_id.in_(organization_ids), _project_filter(viewer, variant))
            .options(joinedload(Project.owner), joinedload(Project.industry_chain))
            .order_by(Project.updated_at.desc(), Project.id.desc()).limit(50))
    return list(session.scalars(stmt).unique())


def _next_steps(session: Session, project_ids: list[int]) -> dict[int, Task]:
    if not project_ids:
        return {}
    found: dict[int, Task] = {}
    for task in session.scalars(select(Task).where(Task.project_id.in_(project_ids), Task.status == TaskStatus.OPEN)
                                .options(joinedload(Task.assignee)).order_by(Task.due_on, Task.id)):
        found.setdefault(task.project_id, task)
    return found


def _enterprises(session: Session, stops: list[TourStop], *, viewer: User, variant: str,
                 today: date) -> list[EnterpriseBlock]:
    blocks: dict[int, EnterpriseBlock] = {}
    for stop in stops:
        block = blocks.get(stop.organization_id)
        if block is None:
            blocks[stop.organization_id] = EnterpriseBlock(organization=stop.organization, stops=[stop])
        else:
            block.stops.append(stop)
    if not blocks:
        return []
    ids = list(blocks)
    chains = {c.id: c for c in session.scalars(select(IndustryChain))}
    for block in blocks.values():
        block.chain = chains.get(block.organization.industry_chain_id)
    figures = session.execute(
        select(ProjectOrganization.organization_id, func.count(Project.id), func.sum(Project.total_investment_wan_cny),
               func.sum(Project.annual_output_wan_cny))
        .join(Project, Project.id == ProjectOrganization.project_id)
        .where(ProjectOrganization.organization_id.in_(ids), _project_filter(viewer, variant))
        .group_by(ProjectOrganization.organization_id)).all()
    for org_id, count, investment, output in figures:
        blocks[org_id].project_count = count
        blocks[org_id].investment_wan_cny = Decimal(investment) if investment is not None else None
        blocks[org_id].output_wan_cny = Decimal(output) if output is not None else None
    for org_id, exports in export_figures(session, ids, today=today).items():
        blocks[org_id].exports = exports
    return list(blocks.values())


def export_figures(session: Session, organization_ids: list[int], *, today: date) -> dict[int, Any]:
    """The export pool's figures (tier, target, year to date, against 序时进度) of those of these enterprises that
    are in the cultivation pool (crm/exports)."""
    return export_service.cultivation_for(session, organization_ids, today.year, today=today)


def zone_indicators(session: Session, *, today: date) -> list[Any]:
    """crm/indicators' overview: each active indicator's year to date against its target, for those with a figure
    or a target this year (the chart is drawn by the document from the same list)."""
    return [f for f in indicator_service.overview(session, year=today.year, today=today)
            if f.year_to_date is not None or f.target]


def _chains(session: Session) -> list[tuple[IndustryChain, int]]:
    rows = session.execute(
        select(IndustryChain, func.count(Organization.id))
        .outerjoin(Organization, and_(Organization.industry_chain_id == IndustryChain.id,
                                      Organization.kind == OrganizationKind.ZONE_ENTERPRISE,
                                      Organization.archived_at.is_(None)))
        .where(IndustryChain.is_active.is_(True)).group_by(IndustryChain.id)
        .order_by(IndustryChain.sort_order, IndustryChain.id)).all()
    return [(chain, count) for chain, count in rows]


def _parcels(session: Session) -> list[LandParcel]:
    return list(session.scalars(select(LandParcel).where(LandParcel.status != ParcelStatus.SUPPLIED)
                                .order_by(LandParcel.signing_starts_on, LandParcel.id).limit(20)))


def _groundbreaking(session: Session, *, today: date, viewer: User, variant: str) -> Groundbreaking | None:
    event = groundbreaking_service.next_event(session, today=today)
    if event is None:
        return None
    count, investment = session.execute(
        select(func.count(Project.id), func.coalesce(func.sum(Project.total_investment_wan_cny), 0))
        .join(SlatedProject, SlatedProject.project_id == Project.id)
        .where(SlatedProject.event_id == event.id, _project_filter(viewer, variant))).one()
    return Groundbreaking(event=event, count=count, investment_wan_cny=Decimal(investment))


def _followups(session: Session, visit: Visit, investor: Organization | None, *, viewer: User) -> list[Task]:
    condition = Task.visit_id == visit.id
    if investor is not None:
        condition = condition | (Task.organization_id == investor.id)
    tasks = session.scalars(
        select(Task).where(condition, Task.status == TaskStatus.OPEN)
        .options(joinedload(Task.assignee), joinedload(Task.project).load_only(Project.id, Project.is_confidential))
        .order_by(Task.due_on, Task.id).limit(100)).unique()
    # A follow-up on a confidential project the reader may not see is left out (its title may name the project).
    return [t for t in tasks if not (t.project_id and t.project.is_confidential
                                     and not project_service.is_visible(session, viewer, t.project_id))]


def _photos(session: Session, visit_id: int) -> list[Photo]:
    images = [a for a in attachment_service.list_for(session, "visit", visit_id) if a.content_type.startswith("image/")]
    return [Photo(attachment=a, usable=a.has_thumbnail) for a in images[:PHOTO_LIMIT]]


def pack(session: Session, *, visit: Visit, viewer: User, variant: str, timezone: str, today: date,
         locale: str = "zh_CN", now: datetime | None = None) -> Pack:
    """Everything a briefing pack prints, read before the template renders (the template runs no query)."""
    if variant not in (Variant.INTERNAL, Variant.EXTERNAL):
        raise ValueError(f"unknown variant {variant!r}")
    organizations = [vo.organization for vo in visit.organizations]
    investor = organizations[0] if organizations else None
    members = [m.contact for m in visit.members]
    members.sort(key=lambda c: (c.organization_id != (investor.id if investor else None), c.id))
    stops = list(visit.stops)
    projects = _projects(session, [o.id for o in organizations], viewer=viewer, variant=variant)
    next_steps = _next_steps(session, [p.id for p in projects]) if variant == Variant.INTERNAL else {}
    note = current_note(session, visit.id) if variant == Variant.INTERNAL else None
    indicators = zone_indicators(session, today=today)
    result = Pack(
        visit=visit, variant=variant, viewer=viewer, generated_at=now or utcnow(),
        organizations=organizations, investor=investor,
        investor_chain=session.get(IndustryChain, investor.industry_chain_id)
        if investor and investor.industry_chain_id else None,
        leader=next((c for c in members if investor and c.organization_id == investor.id), members[0] if members else None),
        members=members, member_orgs=dict(session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_({c.organization_id for c in members})))
            .all()) if members else {},
        # a host user already named on a leaders line (练建军 党工委书记) is not listed twice
        hosts=[h.user for h in visit.hosts
               if not any(line.startswith(h.user.display_name) for line in visit.leader_lines)],
        leader_lines=visit.leader_lines,
        stops=stops[:MAX_STOPS_SHOWN], stops_omitted=max(0, len(stops) - MAX_STOPS_SHOWN),
        history=_history(session, investor, viewer=viewer, variant=variant, timezone=timezone,
                         project_ids=[p.id for p in projects]) if investor else [],
        projects=[ProjectLine(project=p, next_step=next_steps.get(p.id)) for p in projects],
        enterprises=_enterprises(session, stops[:MAX_STOPS_SHOWN], viewer=viewer, variant=variant, today=today),
        chains=_chains(session), parcels=_parcels(session),
        groundbreaking=_groundbreaking(session, today=today, viewer=viewer, variant=variant),
        indicators=indicators,
        talking_points=note.body if note else "", note_revision=note.revision if note else None,
        followups=_followups(session, visit, investor, viewer=viewer) if variant == Variant.INTERNAL else [],
        photos=_photos(session, visit.id),
    )
    return result


def attachment_hashes(pack_: Pack) -> frozenset[str]:
    """The attachments a render of this pack may read (their thumbnails)."""
    return frozenset(p.attachment.sha256 for p in pack_.photos if p.usable)


def talking_point_blocks(text: str) -> list[tuple[str, list[str]]]:
    """The talking points as written, in blocks: ("p", [lines]) for a paragraph (its line breaks kept) or
    ("ul", [items]) for consecutive lines starting with -, *, • or a number and a dot. Plain strings: the
    template escapes them."""
    blocks: list[tuple[str, list[str]]] = []
    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.lstrip()
        item = None
        if stripped[:2] in ("- ", "* ", "• "):
            item = stripped[2:].strip()
        elif stripped[:1].isdigit():
            head, _, rest = stripped.partition(" ")
            if head.rstrip(".、)").isdigit() and head[-1:] in ".、)" and rest:
                item = rest.strip()
        if item is not None:
            if blocks and blocks[-1][0] == "ul":
                blocks[-1][1].append(item)
            else:
                blocks.append(("ul", [item]))
        elif not stripped:
            blocks.append(("gap", []))
        elif blocks and blocks[-1][0] == "p":
            blocks[-1][1].append(line)
        else:
            blocks.append(("p", [line]))
    return [b for b in blocks if b[0] != "gap"]


# Generated files

def files_for(session: Session, visit_id: int, *, limit: int = 50) -> list[BriefingFile]:
    return list(session.scalars(select(BriefingFile).where(BriefingFile.visit_id == visit_id)
                                .options(joinedload(BriefingFile.created_by))
                                .order_by(BriefingFile.created_at.desc(), BriefingFile.id.desc()).limit(limit)))


def get_file(session: Session, visit_id: int, file_id: int) -> BriefingFile | None:
    found = session.scalar(select(BriefingFile).where(BriefingFile.id == file_id, BriefingFile.visit_id == visit_id)
                           .options(joinedload(BriefingFile.created_by)))
    return found


def may_read_file(user: User, briefing_file: BriefingFile) -> bool:
    """An internal pack may hold confidential projects its author could see: only its author and managers open
    it; an external-safe pack, anyone who may see the visit."""
    return briefing_file.variant == Variant.EXTERNAL or user.is_manager or user.id == briefing_file.created_by_id


def start_file(session: Session, *, visit: Visit, variant: str, locale: str, actor: User) -> BriefingFile:
    """A new file row, pending; the caller has it generated (now or in the background)."""
    if variant not in (Variant.INTERNAL, Variant.EXTERNAL):
        raise InvalidNote(Msg("Choose which version to generate."))
    row = BriefingFile(visit_id=visit.id, variant=variant, locale=locale, status=FileStatus.PENDING,
                       created_by_id=actor.id)
    session.add(row)
    session.commit()
    return row


def claim(session: Session, file_id: int) -> BriefingFile | None:
    """Marks a pending file as being generated; None if it is not pending (already taken, or gone)."""
    row = session.get(BriefingFile, file_id)
    if row is None or row.status != FileStatus.PENDING:
        session.rollback()
        return None
    row.status = FileStatus.RUNNING
    session.commit()
    return row


def store(session: Session, *, briefing_file: BriefingFile, pdf: bytes, pages: int, data_dir: Path,
          note_revision: int | None) -> BriefingFile:
    """Writes the PDF under <data_dir>/briefings/<visit>/ as a new file (never replacing one) and records it."""
    sha = hashlib.sha256(pdf).hexdigest()
    relative = Path("briefings") / str(briefing_file.visit_id) / f"{briefing_file.id}-{briefing_file.variant}-{sha[:16]}.pdf"
    path = data_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as out:  # "x": refuses to overwrite
        out.write(pdf)
        out.flush()
        os.fsync(out.fileno())
    briefing_file.status = FileStatus.DONE
    briefing_file.sha256 = sha
    briefing_file.size_bytes = len(pdf)
    briefing_file.pages = pages
    briefing_file.path = relative.as_posix()
    briefing_file.note_revision = note_revision
    briefing_file.finished_at = utcnow()
    session.commit()
    return briefing_file


def fail(session: Session, *, file_id: int, message: str) -> None:
    session.rollback()
    row = session.get(BriefingFile, file_id)
    if row is not None and row.status in (FileStatus.PENDING, FileStatus.RUNNING):
        row.status = FileStatus.FAILED
        row.error = message[:1000]
        row.finished_at = utcnow()
        session.commit()


INTERRUPTED = "interrupted (the server restarted while it was being generated); generate it again"


def expire_stuck(session: Session, *, visit_id: int, older_than: timedelta, running_ids: set[int]) -> int:
    """Marks as failed the files of a visit still pending or running long after any render could have finished
    and not being generated by this process (its process was restarted or died): they would otherwise show
    "generating…" for ever."""
    cutoff = utcnow() - older_than
    rows = session.scalars(select(BriefingFile).where(
        BriefingFile.visit_id == visit_id, BriefingFile.status.in_([FileStatus.PENDING, FileStatus.RUNNING]),
        BriefingFile.created_at < cutoff)).all()
    stuck = [r for r in rows if r.id not in running_ids]
    for row in stuck:
        row.status = FileStatus.FAILED
        row.error = INTERRUPTED
        row.finished_at = utcnow()
    if stuck:
        session.commit()
    return len(stuck)


def fail_interrupted(session: Session, *, before: datetime) -> int:
    """At start-up: files still pending or running that were asked for before this process started were being
    generated by a process that is gone (a restart, a crash), so they are failed now rather than showing
    "generating…" until expire_stuck's time limit."""
    rows = session.scalars(select(BriefingFile).where(
        BriefingFile.status.in_([FileStatus.PENDING, FileStatus.RUNNING]), BriefingFile.created_at < before)).all()
    for row in rows:
        row.status = FileStatus.FAILED
        row.error = INTERRUPTED
        row.finished_at = utcnow()
    session.commit()
    return len(rows)


def read_file(briefing_file: BriefingFile, data_dir: Path) -> bytes | None:
    if briefing_file.status != FileStatus.DONE or not briefing_file.path:
        return None
    path = data_dir / briefing_file.path
    return path.read_bytes() if path.is_file() else None


audit_labels.register("visit", fields={"talking_points": N_("Talking points and asks")})  # how the history reads

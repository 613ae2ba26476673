"""Project use cases: create one (from the form, or in one step from a visit), edit it, move it between stages
through the gates, record its collective decisions and keep its permit checklist; and who may see it.

Visibility is decided here and only here: `visible_to(user)` is the query filter every list, count, total, search
and export of projects applies, and `get_visible` the fetch behind every project URL (a 404 for anyone else)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, func, insert, or_, select, true
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from crm import search_text
from crm.archiving import set_archived
from crm.attachments import service as attachment_service
from crm.audit import access as audit_access
from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth import service as auth_service
from crm.auth.models import User
from crm.db import utcnow
from crm.groundbreaking.models import GroundbreakingEvent, SlatedProject
from crm.i18n import N_, Msg
from crm.organizations.models import IndustryChain, Organization
from crm.organizations.service import PermissionDenied
from crm.parcels.models import LandParcel
from crm.plain_query import PlainQuery
from crm.projects import gates
from crm.projects.models import (
    PIPELINE,
    SIDE_STATES,
    ApprovalItem,
    ApprovalStatus,
    ApprovalTemplate,
    Decision,
    Project,
    ProjectOfficer,
    ProjectOrganization,
    ProjectSource,
    ProjectVisit,
    Stage,
    StageChange,
)
from crm.projects.schemas import (
    AMOUNT_FIELDS,
    APPROVAL_STATUS_LABELS,
    CHECKBOXES,
    DATE_FIELDS,
    SOURCE_LABELS,
    STAGE_LABELS,
    START_STAGES,
    parse_amount,
)
from crm.search import service as search_service
from crm.tasks.models import Task, TaskStatus
from crm.versioning import StaleEdit, flush_versioned, require_version
from crm.visits.models import Visit, VisitOrganization

SEARCH_KIND = "project"
SCALAR_FIELDS = ["name", "industry_chain_id", "description", *AMOUNT_FIELDS, "is_foreign_invested", "jobs", "source",
                 "source_visit_id", "source_note", "owner_id", "is_confidential", "parcel_id", "land_certificate_no",
                 *DATE_FIELDS]
AUDITED = [*SCALAR_FIELDS, "investors", "officers"]
MAX_INVESTORS = 20
MAX_OFFICERS = 20

__all__ = ["PermissionDenied"]


class InvalidProject(Exception):
    """What is wrong with the submitted project (or decision, or approval item), by form field name; `index`: which
    of add_many's inputs."""

    def __init__(self, errors: dict[str, Msg], index: int = 0) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors
        self.index = index


class MoveRefused(Exception):
    """A stage move the rules refuse, with every reason in words for the user."""

    def __init__(self, reasons: list[Msg]) -> None:
        super().__init__("; ".join(r.msgid for r in reasons))
        self.reasons = reasons


@dataclass
class ProjectInput:
    """A project form, parsed: the cleaned fields, the investors in order and the assigned officers."""

    data: dict[str, Any]
    organization_ids: list[int] = field(default_factory=list)
    officer_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Rules:
    """What the gates are judged against: the major-project threshold (万元) and the zone's today."""

    threshold: Decimal
    today: date


@dataclass
class FileStore:
    data_dir: Path
    max_bytes: int


# Who may see and change a project

def may_see(user: User) -> ColumnElement[bool]:
    """Who may open a project (its page, its files), archived or not: every project that is not confidential; a
    confidential one only its owning officer, its assigned officers, managers and admins."""
    if user.is_manager:
        return true()
    viewer = bindparam("project_viewer", user.id)  # named: a list's statement is built once and run for each reader
    return or_(Project.is_confidential.is_(False), Project.owner_id == viewer,
               exists().where(ProjectOfficer.project_id == Project.id, ProjectOfficer.user_id == viewer))


def visible_to(user: User) -> ColumnElement[bool]:
    """The one filter on what projects a user's lists show (table, board, counts, totals, search, exports,
    timelines, slates): those they may see (`may_see`) that are not archived."""
    return and_(Project.archived_at.is_(None), may_see(user))


def can_edit(user: User, project: Project) -> bool:
    """Edit it, move it, keep its checklist and files: its owner, its assigned officers, managers; nobody while it
    is archived (restore it first)."""
    if project.archived_at is not None:
        return False
    return user.is_manager or user.id == project.owner_id or any(o.user_id == user.id for o in project.officers)


def editable_ids(session: Session, user: User, ids: list[int]) -> set[int]:
    """Which of the projects `ids` the user may edit and move: `can_edit` for a whole board in one query, so a
    list offers a project's Move link (or drag) only to those who may use it."""
    if not ids:
        return set()
    stmt = select(Project.id).where(Project.id.in_(ids), Project.archived_at.is_(None))
    if not user.is_manager:
        stmt = stmt.where(or_(Project.owner_id == user.id, exists().where(
            ProjectOfficer.project_id == Project.id, ProjectOfficer.user_id == user.id)))
    return set(session.scalars(stmt))


def can_archive(user: User) -> bool:
    """Archive and restore projects: managers and admins."""
    return user.is_manager


def is_visible(session: Session, user: User, project_id: int) -> bool:
    """May the user open the project (archived ones included: their files and decisions stay readable)."""
    return bool(session.scalar(select(exists().where(Project.id == project_id, may_see(user)))))


# Reading

def with_relations(stmt: Select) -> Select:
    return stmt.options(
        joinedload(Project.owner), joinedload(Project.created_by), joinedload(Project.gate_override_by),
        joinedload(Project.industry_chain), joinedload(Project.parcel),
        joinedload(Project.source_visit).load_only(Visit.id, Visit.title, Visit.starts_at),
        selectinload(Project.investors).joinedload(ProjectOrganization.organization).load_only(
            Organization.id, Organization.name, Organization.kind, Organization.archived_at),
        selectinload(Project.officers).joinedload(ProjectOfficer.user),
        selectinload(Project.approvals),
        selectinload(Project.decisions).joinedload(Decision.recorded_by),
        selectinload(Project.stage_changes).joinedload(StageChange.actor),
    )


def get(session: Session, project_id: int) -> Project | None:
    """The project as stored now, with everything its page and its gates read (collections loaded earlier in the
    same session are refreshed: a decision just recorded counts)."""
    return session.scalar(with_relations(select(Project).where(Project.id == project_id))
                          .execution_options(populate_existing=True))


def get_visible(session: Session, project_id: int, user: User) -> Project | None:
    """The project (archived or not), or None when there is none or the user may not see it (the caller answers
    404 alike)."""
    return session.scalar(with_relations(select(Project).where(Project.id == project_id, may_see(user))))


def organizations_by_id(session: Session, ids: list[int]) -> list[Organization]:
    if not ids:
        return []
    found = {o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def template(session: Session, *, include_inactive: bool = False) -> list[ApprovalTemplate]:
    stmt = select(ApprovalTemplate).order_by(ApprovalTemplate.position, ApprovalTemplate.id)
    if not include_inactive:
        stmt = stmt.where(ApprovalTemplate.is_active.is_(True))
    return list(session.scalars(stmt))


class DuplicateTemplateItem(Exception):
    def __init__(self, field_name: str) -> None:
        super().__init__(field_name)
        self.field = field_name


def get_template_item(session: Session, item_id: int) -> ApprovalTemplate | None:
    return session.get(ApprovalTemplate, item_id)


TEMPLATE_FIELDS = ["name_zh", "name_en", "promised_days", "position", "is_active"]


def save_template_item(session: Session, *, item: ApprovalTemplate | None, data: dict[str, Any],
                       active: bool, actor: User | None = None) -> ApprovalTemplate:
    """Adds (item=None) or changes a line of the permit checklist new projects start with. Projects created
    before keep their checklist as it was; retiring a line (active=False) only leaves it out of new ones. Audited."""
    before = audit_service.snapshot(item, TEMPLATE_FIELDS) if item is not None else {}
    for column in ("name_zh", "name_en"):
        clash = select(ApprovalTemplate.id).where(getattr(ApprovalTemplate, column) == data[column])
        if item is not None:
            clash = clash.where(ApprovalTemplate.id != item.id)
        if session.scalar(clash):
            session.rollback()
            raise DuplicateTemplateItem(column)
    if item is None:
        item = ApprovalTemplate(code=f"custom_{uuid.uuid4().hex[:12]}")
        session.add(item)
    item.name_zh, item.name_en = data["name_zh"], data["name_en"]
    item.promised_days = int(data["promised_days"]) if data.get("promised_days") else None
    item.position, item.is_active = int(data["position"]), active
    session.flush()
    changes = audit_service.diff(before, audit_service.snapshot(item, TEMPLATE_FIELDS))
    if changes:
        audit_service.record(session, actor=actor, action=AuditAction.UPDATE if before else AuditAction.CREATE,
                             entity_type="approval_template", entity_id=item.id, entity_label=item.name_zh,
                             entity_version=1, changes=changes)
    session.commit()
    return item


def officer_choices(session: Session) -> list[Any]:
    """The lists' officer filter: active users as (id, display_name) rows, in auth_service.active_users' order
    (hundreds of full User objects cost more than the board's SQL)."""
    return list(session.execute(select(User.id, User.display_name).where(User.is_active.is_(True))
                                .order_by(User.role, User.username)))


_INDUSTRIES = PlainQuery(select(IndustryChain.id, IndustryChain.name_zh, IndustryChain.name_en)
                         .where(IndustryChain.is_active.is_(True) | (IndustryChain.id == 0))
                         .order_by(IndustryChain.sort_order, IndustryChain.id))


def industry_rows(session: Session) -> list[Any]:
    """organization_service.industry_chains() (the active ones) as (id, name_zh, name_en) rows: the table's filter."""
    return _INDUSTRIES.rows(session)


def parcels(session: Session) -> list[LandParcel]:
    return list(session.scalars(select(LandParcel).order_by(LandParcel.code).limit(500)))


def linked_visits(session: Session, project: Project) -> list[Visit]:
    ids = select(ProjectVisit.visit_id).where(ProjectVisit.project_id == project.id)
    stmt = (select(Visit).where(Visit.id.in_(ids)).options(
        selectinload(Visit.organizations).joinedload(VisitOrganization.organization).load_only(
            Organization.id, Organization.name))
            .order_by(Visit.starts_at.desc()).limit(50))
    return list(session.scalars(stmt))


def time_in_stages(project: Project, now: datetime) -> list[tuple[str, float, datetime]]:
    """(stage, days spent there in total, when it was first entered), in the order first entered: from the stage
    history, the current stage counting up to now."""
    spent: dict[str, float] = {}
    first: dict[str, datetime] = {}
    changes = project.stage_changes
    for i, change in enumerate(changes):
        until = changes[i + 1].at if i + 1 < len(changes) else now
        spent[change.to_stage] = spent.get(change.to_stage, 0.0) + max(0.0, (until - change.at).total_seconds() / 86400)
        first.setdefault(change.to_stage, change.at)
    return [(stage, spent[stage], first[stage]) for stage in spent]


# Checking and applying a submitted project

def _typed(data: dict[str, Any]) -> dict[str, Any]:
    typed = dict(data)
    for name in AMOUNT_FIELDS:
        raw = typed.get(name)
        typed[name] = parse_amount(raw).quantize(Decimal("0.01")) if raw else None
    for name in DATE_FIELDS:
        raw = typed.get(name)
        typed[name] = date.fromisoformat(raw) if raw else None
    for name in CHECKBOXES:
        typed[name] = typed.get(name) == "1"
    typed["jobs"] = int(typed["jobs"]) if typed.get("jobs") else None
    for name in ("description", "source", "source_note", "land_certificate_no"):
        typed[name] = typed.get(name) or ""
    return typed


@dataclass
class Known:
    """What checking and applying project inputs reads from the database — their investors, officers, parcels and
    source visits — read once for many inputs (an import's chunk) or for one (a form)."""

    organizations: dict[int, Organization]
    users: dict[int, User]
    parcels: dict[int, LandParcel]
    visits: set[int]


def _as_id(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def known_for(session: Session, inputs: list[ProjectInput]) -> Known:
    def load(model, ids: set[int]) -> dict[int, Any]:
        ordered = sorted(i for i in ids if i is not None)
        return {o.id: o for start in range(0, len(ordered), 500)
                for o in session.scalars(select(model).where(model.id.in_(ordered[start:start + 500])))}

    visits = load(Visit, {_as_id(pi.data.get("source_visit_id")) for pi in inputs}) if any(
        pi.data.get("source_visit_id") for pi in inputs) else {}
    return Known(organizations=load(Organization, {i for pi in inputs for i in pi.organization_ids}),
                 users=load(User, {i for pi in inputs for i in pi.officer_ids}),
                 parcels=load(LandParcel, {_as_id(pi.data.get("parcel_id")) for pi in inputs}),
                 visits=set(visits))


def _check(session: Session, project_input: ProjectInput, typed: dict[str, Any],
           existing: Project | None = None, known: Known | None = None) -> dict[str, Msg]:
    known = known or known_for(session, [project_input])
    errors: dict[str, Msg] = {}
    ids = project_input.organization_ids
    if not ids:
        errors["organization_ids"] = Msg("Choose at least one investor organization.")
    elif len(ids) > MAX_INVESTORS:
        errors["organization_ids"] = Msg("At most %(max)s investors.", max=MAX_INVESTORS)
    kept = {po.organization_id for po in existing.investors} if existing else set()
    orgs = known.organizations
    if any(i not in orgs or (orgs[i].is_archived and i not in kept) for i in ids):
        errors["organization_ids"] = Msg("Choose organizations that exist and are not archived.")
    if project_input.officer_ids:
        active = {i for i in project_input.officer_ids if i in known.users and known.users[i].is_active}
        if set(project_input.officer_ids) - active or len(project_input.officer_ids) > MAX_OFFICERS:
            errors["officer_ids"] = Msg("Choose people who are active users.")
    total, fixed = typed.get("total_investment_wan_cny"), typed.get("fixed_investment_wan_cny")
    if total is not None and fixed is not None and fixed > total:
        errors["fixed_investment_wan_cny"] = Msg("The fixed-asset investment cannot exceed the total investment.")
    if typed.get("foreign_capital_wan_usd") and not typed.get("is_foreign_invested"):
        errors["foreign_capital_wan_usd"] = Msg("Foreign capital is for foreign-invested projects: tick “Foreign-invested”, "
                                                "or leave this empty.")
    if typed.get("source_visit_id"):
        if typed.get("source") != ProjectSource.VISIT:
            errors["source_visit_id"] = Msg("Choose “Visit” as the source, or leave the visit empty.")
        elif _as_id(typed["source_visit_id"]) not in known.visits:
            errors["source_visit_id"] = Msg("There is no such visit.")
    for first, then in (("target_signing_on", "target_groundbreaking_on"), ("target_groundbreaking_on", "target_operation_on"),
                        ("signed_on", "groundbreaking_on"), ("groundbreaking_on", "operation_on")):
        if typed.get(first) and typed.get(then) and typed[then] < typed[first]:
            errors[then] = Msg("This date comes before an earlier step's date.")
    return errors


def check_input(session: Session, *, project_input: ProjectInput, existing: Project | None = None,
                known: Known | None = None) -> dict[str, Msg]:
    """The form's checks on a project (investors, officers, amounts, dates, source), by form field name, without
    saving anything: what an import's preview shows before any row is written (`known`: read once for all rows)."""
    return _check(session, project_input, _typed(project_input.data), existing, known)


def _apply(session: Session, project: Project, project_input: ProjectInput, typed: dict[str, Any],
           known: Known | None = None) -> None:
    known = known or known_for(session, [project_input])
    for key in SCALAR_FIELDS:
        setattr(project, key, typed.get(key))
    orgs = [known.organizations[i] for i in project_input.organization_ids if i in known.organizations]
    project.investors = [ProjectOrganization(organization_id=o.id, organization=o, position=i) for i, o in enumerate(orgs)]
    users = known.users
    project.officers = [ProjectOfficer(user_id=uid, user=users[uid]) for uid in project_input.officer_ids
                        if uid in users and uid != project.owner_id]
    project.parcel = known.parcels.get(_as_id(project.parcel_id)) if project.parcel_id else None


def _snapshot(project: Project) -> dict[str, Any]:
    values = audit_service.snapshot(project, SCALAR_FIELDS)
    values["investors"] = "，".join(po.organization.name for po in project.investors)
    values["officers"] = "，".join(po.user.display_name for po in project.officers)
    return values


def _audit(session: Session, *, project: Project, actor: User | None, action: AuditAction, changes: dict) -> None:
    # No organization_id: a confidential project's changes must not show on its investors' timelines. The
    # project itself appears there through crm.timeline, which applies visible_to().
    audit_service.record(session, actor=actor, action=action, entity_type="project", entity_id=project.id,
                         entity_label=project.name, entity_version=project.version, changes=changes)


def _search_text(project: Project) -> str:
    names = [po.organization.name for po in project.investors]
    return search_text.build(project.name, *names, extra=(project.description, project.source_note))


def _refresh_search(session: Session, project: Project) -> None:
    project.search_text = _search_text(project)
    session.flush()
    search_service.reindex(session, kind=SEARCH_KIND, record_id=project.id, text=project.search_text)


def _checklist(templates: list[ApprovalTemplate], project_id: int) -> list[dict[str, Any]]:
    """A new project's permit checklist: the template's active items, in order, not started."""
    return [{"project_id": project_id, "code": t.code, "name_zh": t.name_zh, "name_en": t.name_en, "position": i,
             "promised_days": t.promised_days, "status": ApprovalStatus.NOT_STARTED} for i, t in enumerate(templates)]


def _insert_children(session: Session, model: type, rows: list[dict[str, Any]], projects: list[Project],
                     attribute: str) -> None:
    """New projects' child rows inserted in bulk (one statement per few hundred rows, not a unit of work per
    object) and set on each project as loaded, so the returned projects read them like any other."""
    by_project: dict[int, list[Any]] = {p.id: [] for p in projects}
    if rows:
        for child in session.scalars(insert(model).returning(model, sort_by_parameter_order=True), rows):
            by_project[child.project_id].append(child)
    for project in projects:
        set_committed_value(project, attribute, by_project[project.id])


def create(session: Session, *, project_input: ProjectInput, actor: User) -> Project:
    """The project with its investors, officers, the permit checklist from the template and its first stage."""
    try:
        project = add(session, project_input=project_input, actor=actor)
    except InvalidProject:
        session.rollback()
        raise
    session.commit()
    return project


def add(session: Session, *, project_input: ProjectInput, actor: User, imported: str = "") -> Project:
    """`create` in the caller's transaction (an import writes many rows and commits them together).

    `imported` (an import's note for the stage history, e.g. the file name): the project is taken in at the stage
    its ledger gives, any stage, as a recorded fact rather than a move — the gates are not run as refusals here,
    they judge the project as it stands like any other (a 2 亿元 project at 签约 without a decision shows red on
    the readiness board and its card). A side state (暂缓, 终止) keeps the note as its reason."""
    return add_many(session, inputs=[project_input], actor=actor, imported=imported)[0]


def add_many(session: Session, *, inputs: list[ProjectInput], actor: User, imported: str = "") -> list[Project]:
    """add() for many projects in the caller's transaction — the one way a project is created, for a form (one
    input) and an import's chunk (hundreds). Each input gets the same checks (`_check`, the starting stage) against
    what `known_for` read once for all of them; then every project, with its permit checklist from the template,
    its first stage-history entry, investors and officers, is inserted in one flush, its search terms in one
    reindex, and an audit entry each. Raises InvalidProject (`index`: the input) before anything is written."""
    known = known_for(session, inputs)
    templates = template(session)
    now = utcnow()
    made: list[tuple[Project, str]] = []
    for index, project_input in enumerate(inputs):
        typed = _typed(project_input.data)
        stage = typed.get("stage") or Stage.LEAD
        errors = _check(session, project_input, typed, known=known)
        if stage not in START_STAGES and not (imported and stage in (*PIPELINE, *SIDE_STATES)):
            errors["stage"] = Msg("A new project starts as a lead, in first contact or negotiating; later stages are "
                                  "reached by moving it.")
        if errors:
            raise InvalidProject(errors, index=index)
        pipeline_stage = stage if stage in PIPELINE else Stage.LEAD
        project = Project(created_by_id=actor.id, stage=stage, pipeline_stage=pipeline_stage, stage_entered_at=now,
                          created_at=now, updated_at=now, stage_reason=imported if stage in SIDE_STATES else "",
                          gate_override_reason="", decisions=[])
        _apply(session, project, project_input, typed, known=known)
        project.search_text = _search_text(project)
        made.append((project, stage))
    projects = [project for project, _stage in made]
    session.add_all(projects)
    session.flush()
    _insert_children(session, ApprovalItem, [row for p in projects for row in _checklist(templates, p.id)], projects,
                     "approvals")
    _insert_children(session, StageChange, [{"project_id": p.id, "from_stage": "", "to_stage": stage, "at": now,
                                             "actor_id": actor.id, "note": imported} for p, stage in made], projects,
                     "stage_changes")
    for project, _stage in made:
        if project.source_visit_id:
            session.add(ProjectVisit(project_id=project.id, visit_id=project.source_visit_id))
    search_service.reindex_many(session, kind=SEARCH_KIND, texts={p.id: p.search_text for p, _stage in made})
    for project, stage in made:
        after = {k: v for k, v in _snapshot(project).items() if v not in (None, "", False)}
        after["stage"] = stage
        if imported:
            after["stage_note"] = imported
        _audit(session, project=project, actor=actor, action=AuditAction.CREATE, changes=audit_service.diff({}, after))
    return [project for project, _stage in made]


def create_from_visit(session: Session, *, visit: Visit, actor: User) -> Project:
    """A lead project from a visit in one step: named after the visit's lead organization, its investors the
    visit's organizations, its source the visit, owned by whoever asked."""
    org_ids = [vo.organization_id for vo in visit.organizations]
    lead = visit.organizations[0].organization.name if visit.organizations else visit.title
    chain_id = visit.industries[0].industry_chain_id if visit.industries else None
    data = {"name": Msg("%(name)s project", name=lead).translate(actor.locale)[:200], "stage": Stage.LEAD,
            "owner_id": actor.id, "source": ProjectSource.VISIT, "source_visit_id": visit.id,
            "industry_chain_id": chain_id,
            "total_investment_wan_cny": str(visit.estimated_investment) if visit.estimated_investment else "",
            "description": visit.outcome or visit.purpose}
    return create(session, project_input=ProjectInput(data=data, organization_ids=org_ids), actor=actor)


# Which form field an edit changed to make the project stop meeting a gate behind it: the refusal is shown there.
GATE_FIELDS = {"decision": "total_investment_wan_cny", "land": "parcel_id"}


def _gate_refusals(session: Session, *, project: Project, held_before: dict[str, gates.Gate], changed: set[str],
                   actor: User, rules: Rules, override_reason: str) -> tuple[dict[str, Msg], bool]:
    """The gates are checked whenever a field they read changes, not only on moves: an edit that makes the project
    stop meeting a gate it stands past (a 2 亿元 project at 签约 lowered to 9999 for the move and raised back) is
    refused beside the field, unless a manager saves it with a written reason — recorded on the project like the
    groundbreaking override (`gate_override_*`) and in its audit trail. Returns (errors, overridden)."""
    lost = gates.lapsed_by_edit(held_before, project, threshold=rules.threshold, today=rules.today)
    if not lost:
        return {}, False
    if override_reason and actor.is_manager:
        return {}, True
    errors: dict[str, Msg] = {}
    stage = gates.stage_label(project.pipeline_stage)
    for gate in lost:
        name = GATE_FIELDS.get(gate.key, "total_investment_wan_cny")
        if gate.key == "land" and "parcel_id" not in changed and "land_certificate_no" in changed:
            name = "land_certificate_no"
        errors[name] = Msg("The project has passed “%(stage)s”, and this change means it no longer meets the gate "
                           "“%(gate)s”: %(reason)s The change is refused; a manager may save it with a reason.",
                           stage=stage, gate=gate.label, reason=gate.message or gate.label)
    if override_reason and not actor.is_manager:
        errors["gate_override_reason"] = Msg("Only a manager can override a gate.")
    elif actor.is_manager:
        errors["gate_override_reason"] = Msg("To save it anyway, write why the gate is overridden; it is recorded "
                                             "and shown on the project.")
    return errors, False


def update(session: Session, *, project: Project, project_input: ProjectInput, version: int | None,
           actor: User, rules: Rules, override_reason: str = "") -> Project:
    """Saves the form, through the gates (`_gate_refusals`): an edit may not slip a project past a gate."""
    try:
        apply_update(session, project=project, project_input=project_input, version=version, actor=actor,
                     rules=rules, override_reason=override_reason)
    except InvalidProject:
        session.rollback()
        raise
    session.commit()
    return project


def apply_update(session: Session, *, project: Project, project_input: ProjectInput, version: int | None,
                 actor: User, rules: Rules, override_reason: str = "") -> dict[str, Any]:
    """`update` in the caller's transaction; returns the audited changes ({} when nothing changed)."""
    if not can_edit(actor, project):
        raise PermissionDenied()
    require_version(session, record=project, entity_type="project", version=version)
    typed = _typed(project_input.data)
    errors = _check(session, project_input, typed, existing=project)
    if errors:
        raise InvalidProject(errors)
    before = _snapshot(project)
    held_before = {gate.key: gate for gate in gates.held(project, threshold=rules.threshold, today=rules.today)}
    old_visit = project.source_visit_id
    _apply(session, project, project_input, typed)
    changes = audit_service.diff(before, _snapshot(project))
    override_reason = override_reason.strip()
    gate_errors, overridden = _gate_refusals(session, project=project, held_before=held_before, changed=set(changes),
                                             actor=actor, rules=rules, override_reason=override_reason)
    if gate_errors:
        raise InvalidProject(gate_errors)
    if overridden:
        changes["gate_override_reason"] = [project.gate_override_reason or None, override_reason]
        project.gate_override_reason = override_reason
        project.gate_override_by_id = actor.id
        project.gate_override_at = utcnow()
    if changes:
        project.updated_at = utcnow()
        flush_versioned(session, record=project, entity_type="project", version=version, reload=get)
        if project.source_visit_id and project.source_visit_id != old_visit and not session.get(
                ProjectVisit, (project.id, project.source_visit_id)):
            session.add(ProjectVisit(project_id=project.id, visit_id=project.source_visit_id))
        _refresh_search(session, project)
        _audit(session, project=project, actor=actor, action=AuditAction.UPDATE, changes=changes)
    return changes


def refresh_search(session: Session, *, project_ids: list[int]) -> None:
    """Rebuilds the search text of these projects from what they hold now (after an import's undo)."""
    for project in session.scalars(select(Project).where(Project.id.in_(project_ids)).options(
            selectinload(Project.investors).joinedload(ProjectOrganization.organization))):
        _refresh_search(session, project)


# Archiving instead of deleting

class NotArchivable(Exception):
    """The project is already in the state asked for (archived twice, or restored when it is not archived)."""


def archive(session: Session, *, project: Project, version: int | None, actor: User) -> Project:
    """Takes a project out of the pipeline without destroying it: its 三重一大 decisions, stage history, permit
    checklist, files and audit trail are records to keep, and the year's figures count its past stage changes. It
    leaves every list, count, total, search, board, slate and reminder (`visible_to`); its links stay as they
    are (visits, follow-ups, files, slates), so restoring it puts everything back. Managers and admins only."""
    return _set_archived(session, project=project, version=version, actor=actor, archived=True)


def restore(session: Session, *, project: Project, version: int | None, actor: User) -> Project:
    return _set_archived(session, project=project, version=version, actor=actor, archived=False)


def _set_archived(session: Session, *, project: Project, version: int | None, actor: User, archived: bool) -> Project:
    if not can_archive(actor):
        raise PermissionDenied()
    require_version(session, record=project, entity_type="project", version=version)
    # No organization_id, as for every project entry: a confidential project stays off its investors' timelines.
    try:
        if not set_archived(session, record=project, archived=archived, actor=actor, entity_type="project",
                            entity_label=project.name, organization_id=None):
            raise NotArchivable()
    except StaleDataError:  # someone saved it since it was read: refused like any stale edit
        session.rollback()
        current = get(session, project.id)
        raise StaleEdit(current, audit_service.changes_since(session, entity_type="project", entity_id=project.id,
                                                             version=version or 0)) from None
    session.commit()
    return project


def slated_in(session: Session, project_id: int) -> list[GroundbreakingEvent]:
    """The groundbreaking events whose slate carries the project (while archived it leaves their boards and totals)."""
    return list(session.scalars(select(GroundbreakingEvent).join(SlatedProject, SlatedProject.event_id == GroundbreakingEvent.id)
                                .where(SlatedProject.project_id == project_id).order_by(GroundbreakingEvent.held_on)))


def open_tasks(session: Session, project_id: int) -> int:
    """How many open follow-ups the project has (the archive page says they stay with their assignees)."""
    return session.scalar(select(func.count(Task.id)).where(Task.project_id == project_id,
                                                            Task.status == TaskStatus.OPEN)) or 0


# Moving between stages

def move(session: Session, *, project: Project, to_stage: str, version: int | None, actor: User, rules: Rules,
         note: str = "", reason: str = "", override_reason: str = "") -> Project:
    """Moves the project, whatever the page sent, only as the rules allow: the actor may edit it, the page showed
    the current version (two managers moving the same card: the second is refused), 暂缓 and 终止 carry a reason,
    and the gates (gates.refusals) pass, or, for 开工 only, a manager overrides them with a written reason."""
    if not can_edit(actor, project):
        raise PermissionDenied()
    require_version(session, record=project, entity_type="project", version=version)
    if to_stage not in (*PIPELINE, *SIDE_STATES):
        raise MoveRefused([Msg("There is no such stage.")])
    if to_stage == project.stage:
        raise MoveRefused([Msg("The project is already at this stage.")])
    reason, note, override_reason = reason.strip(), note.strip(), override_reason.strip()
    if to_stage in SIDE_STATES and not reason:
        raise MoveRefused([Msg("Say why the project is put on hold or dropped.")])
    reasons = gates.refusals(project, to_stage, threshold=rules.threshold, today=rules.today)
    overridden = False
    if reasons and override_reason:
        if not actor.is_manager:
            raise MoveRefused([*reasons, Msg("Only a manager can override the groundbreaking gate.")])
        reasons = gates.refusals(project, to_stage, threshold=rules.threshold, today=rules.today, override=True)
        overridden = not reasons
    if reasons:
        raise MoveRefused(reasons)
    now = utcnow()
    before = {"stage": project.stage, "stage_reason": project.stage_reason,
              "gate_override_reason": project.gate_override_reason}
    from_stage = project.stage
    project.stage = to_stage
    project.stage_entered_at = now
    project.updated_at = now
    project.stage_reason = reason if to_stage in SIDE_STATES else ""
    if to_stage in PIPELINE:
        project.pipeline_stage = to_stage
    if overridden:
        project.gate_override_reason = override_reason
        project.gate_override_by_id = actor.id
        project.gate_override_at = now
    for stage, attribute in ((Stage.SIGNED, "signed_on"), (Stage.GROUNDBREAKING, "groundbreaking_on"),
                             (Stage.OPERATING, "operation_on")):
        if to_stage == stage and getattr(project, attribute) is None:
            setattr(project, attribute, rules.today)
    flush_versioned(session, record=project, entity_type="project", version=version, reload=get)
    session.add(StageChange(project_id=project.id, from_stage=from_stage, to_stage=to_stage, at=now,
                            actor_id=actor.id, note=reason or note, gate_override=overridden,
                            gate_override_reason=override_reason if overridden else ""))
    after = {"stage": project.stage, "stage_reason": project.stage_reason,
             "gate_override_reason": project.gate_override_reason}
    changes = audit_service.diff(before, after)
    if note and not reason:
        changes["stage_note"] = [None, note]
    _audit(session, project=project, actor=actor, action=AuditAction.UPDATE, changes=changes)
    session.commit()
    return project


# Collective decisions (三重一大)

def record_decision(session: Session, *, project: Project, data: dict[str, Any], actor: User, today: date,
                    files: list[tuple[str, bytes]] | None = None, store: FileStore | None = None) -> Decision:
    """A manager records the meeting's decision, with its minutes as a file, in one transaction."""
    if not actor.is_manager or project.archived_at is not None:
        raise PermissionDenied()
    meeting_on = date.fromisoformat(data["meeting_on"])
    if meeting_on > today:
        session.rollback()
        raise InvalidProject({"meeting_on": Msg("A decision cannot be dated in the future (today is %(today)s).",
                                                today=today.isoformat())})
    decision = Decision(project_id=project.id, meeting_kind=data["meeting_kind"], meeting_on=meeting_on,
                        outcome=data["outcome"], resolution=data["resolution"], recorded_by_id=actor.id)
    session.add(decision)
    session.flush()
    for filename, content in files or []:
        if store is None:
            raise ValueError("files posted without a FileStore")
        attachment_service.add(session, entity_type="project_decision", entity_id=decision.id, filename=filename,
                               data=content, actor=actor, data_dir=store.data_dir, max_bytes=store.max_bytes)
    _audit(session, project=project, actor=actor, action=AuditAction.UPDATE, changes={
        "decision": [None, f"{meeting_on.isoformat()} {data['meeting_kind']} {data['outcome']}"]})
    session.commit()
    return decision


def get_decision(session: Session, decision_id: int) -> Decision | None:
    return session.get(Decision, decision_id)


# The permit checklist

def find_approval(project: Project, item_id: int) -> ApprovalItem | None:
    return next((item for item in project.approvals if item.id == item_id), None)


def assistant_choices(session: Session, item: ApprovalItem | None = None) -> list[tuple[int, str]]:
    """The users a 帮办代办 staff member may be chosen from: the active ones, and the item's own even if inactive."""
    stmt = select(User.id, User.display_name).where(
        or_(User.is_active.is_(True), User.id == item.assistant_id) if item is not None and item.assistant_id
        else User.is_active.is_(True))
    return [(uid, name) for uid, name in session.execute(stmt.order_by(User.display_name, User.id))]


def _approval_assistant(session: Session, item: ApprovalItem, raw: str) -> User | Literal[False] | None:
    """The user chosen as the item's 帮办代办 staff member: None when none is, False when the choice is not an
    active user (the one already assigned may stay even if they have left)."""
    raw = raw.strip()
    if not raw:
        return None
    user = session.get(User, int(raw)) if raw.isdigit() and int(raw) < 2**31 else None
    if user is None or not (user.is_active or user.id == item.assistant_id):
        return False
    return user


def update_approval(session: Session, *, project: Project, item: ApprovalItem, data: dict[str, Any], actor: User,
                    today: date) -> ApprovalItem:
    """Status, dates, time limit and the 帮办代办 staffer of one item; acceptance and approval dates default to today."""
    if not can_edit(actor, project):
        raise PermissionDenied()
    dates = {name: date.fromisoformat(data[name]) if data.get(name) else None
             for name in ("submitted_on", "accepted_on", "approved_on")}
    status = data["status"]
    if status in (ApprovalStatus.ACCEPTED, ApprovalStatus.APPROVED) and dates["accepted_on"] is None:
        dates["accepted_on"] = dates["submitted_on"] or today
    if status == ApprovalStatus.APPROVED and dates["approved_on"] is None:
        dates["approved_on"] = today
    if status in (ApprovalStatus.SUBMITTED, ApprovalStatus.ACCEPTED, ApprovalStatus.APPROVED) and dates["submitted_on"] is None:
        dates["submitted_on"] = dates["accepted_on"] or today
    errors: dict[str, Msg] = {}
    if dates["accepted_on"] and dates["submitted_on"] and dates["accepted_on"] < dates["submitted_on"]:
        errors["accepted_on"] = Msg("Accepted before it was submitted: check the dates.")
    if dates["approved_on"] and dates["accepted_on"] and dates["approved_on"] < dates["accepted_on"]:
        errors["approved_on"] = Msg("Approved before it was accepted: check the dates.")
    for name, value in dates.items():
        if value and value > today:
            errors[name] = Msg("This date is in the future.")
    assistant_user = _approval_assistant(session, item, data.get("assistant_id") or "")
    if assistant_user is False:
        errors["assistant_id"] = Msg("Choose an active user from the list, or leave it blank and type the name.")
    if errors:
        session.rollback()
        raise InvalidProject(errors)
    fields = ["status", "submitted_on", "accepted_on", "approved_on", "promised_days", "assistant_id", "assistant",
              "note"]
    before = audit_service.snapshot(item, fields)
    held = {gate.key: gate for gate in gates.held(project, threshold=Decimal(0), today=today)}
    item.status = status
    for name, value in dates.items():
        setattr(item, name, value)
    item.promised_days = int(data["promised_days"]) if data.get("promised_days") else None
    item.overdue_on = gates.overdue_from(item)
    # The gates are checked whenever a field they read changes: a project past 开工 keeps its construction permit.
    if lost := [g for g in gates.lapsed_by_edit(held, project, threshold=Decimal(0), today=today)
                if g.key.startswith("permit:")]:
        session.rollback()
        raise InvalidProject({"status": Msg(
            "The project has passed “%(stage)s”, and this change means it no longer meets the gate “%(gate)s”: "
            "%(reason)s The change is refused.",
            stage=gates.stage_label(project.pipeline_stage), gate=lost[0].label, reason=lost[0].message or "")})
    if assistant_user:  # a CRM user: their name as saved, for the checklist and the reminder's text
        item.assistant_id, item.assistant = assistant_user.id, assistant_user.display_name[:60]
    else:
        item.assistant_id, item.assistant = None, (data.get("assistant") or "").strip()
    item.note = data.get("note") or ""
    changes = audit_service.diff(before, audit_service.snapshot(item, fields))
    if changes:
        item.updated_at = utcnow()
        _audit(session, project=project, actor=actor, action=AuditAction.UPDATE, changes={
            "approval_item": [None, item.name_zh],
            **{("approval_status" if k == "status" else f"approval_{k}"): v for k, v in changes.items()}})
    session.commit()
    return item


def _visit_linked(session: Session, project_id: int, visit_id: int) -> bool:
    return session.get(ProjectVisit, (project_id, visit_id)) is not None


def link_visit(session: Session, *, project: Project, visit: Visit, actor: User) -> None:
    if not can_edit(actor, project):
        raise PermissionDenied()
    if not _visit_linked(session, project.id, visit.id):
        session.add(ProjectVisit(project_id=project.id, visit_id=visit.id))
        _audit(session, project=project, actor=actor, action=AuditAction.UPDATE, changes={"visits": [None, visit.title]})
    session.commit()


def for_visit(session: Session, *, visit_id: int, viewer: User) -> list[Project]:
    """The projects a visit concerns (that the viewer may see), for the visit's page."""
    ids = select(ProjectVisit.project_id).where(ProjectVisit.visit_id == visit_id)
    stmt = (select(Project).where(Project.id.in_(ids), visible_to(viewer))
            .options(joinedload(Project.owner)).order_by(Project.id).limit(20))
    return list(session.scalars(stmt))


def for_organization(session: Session, *, organization_id: int, viewer: User, limit: int = 20) -> list[Project]:
    """An organization's projects as investor (that the viewer may see), newest first."""
    ids = select(ProjectOrganization.project_id).where(ProjectOrganization.organization_id == organization_id)
    stmt = (select(Project).where(Project.id.in_(ids), visible_to(viewer))
            .options(joinedload(Project.owner)).order_by(Project.created_at.desc(), Project.id.desc()).limit(limit))
    return list(session.scalars(stmt))


@dataclass(slots=True)
class ProjectLine:
    """A project as an organization's page lists it (organizations/show.html reads these of a Project)."""
    id: int
    name: str
    stage: str
    total_investment_wan_cny: Decimal | None


_LINES_FOR_ORGANIZATION: dict[bool, PlainQuery] = {}  # per viewer.is_manager (visible_to's two shapes)


def lines_for_organization(session: Session, *, organization_id: int, viewer: User) -> list[ProjectLine]:
    """for_organization's projects (the first 20, newest first, those the viewer may see) as plain rows, with a
    statement built once per shape of visible_to (issue 17): the viewer is a named parameter."""
    query = _LINES_FOR_ORGANIZATION.get(viewer.is_manager)
    if query is None:
        ids = select(ProjectOrganization.project_id).where(
            ProjectOrganization.organization_id == bindparam("organization"))
        query = _LINES_FOR_ORGANIZATION[viewer.is_manager] = PlainQuery(
            select(Project.id, Project.name, Project.stage, Project.total_investment_wan_cny)
            .where(Project.id.in_(ids), visible_to(viewer))
            .order_by(Project.created_at.desc(), Project.id.desc()).limit(20))
    viewer_param = {} if viewer.is_manager else {"project_viewer": viewer.id}
    return [ProjectLine(*r) for r in query.rows(session, organization=organization_id, **viewer_param)]


def for_parcel(session: Session, *, parcel_id: int, viewer: User) -> list[Project]:
    """The projects on a parcel (that the viewer may see)."""
    stmt = (select(Project).where(Project.parcel_id == parcel_id, visible_to(viewer))
            .options(joinedload(Project.owner)).order_by(Project.name, Project.id).limit(100))
    return list(session.scalars(stmt))


# How the history reads: a project's stage, source and permit status; the approval item (stored by its Chinese
# name) in the reader's language; the permit's assistant by name.
def approval_item_names(session: Session, names: set, locale: str) -> dict[str, str]:
    """{Chinese name: the name in the reader's language} for approval items, from the checklist template and the
    projects' own items (an item renamed in the template since keeps its name on older projects)."""
    wanted = [n for n in names if isinstance(n, str)]
    if not wanted or locale.startswith("zh"):
        return {}
    found: dict[str, str] = {}
    for model in (ApprovalItem, ApprovalTemplate):
        found.update(session.execute(select(model.name_zh, model.name_en).where(model.name_zh.in_(wanted))
                                     .distinct()).all())
    return found


def audit_project_names(session: Session, ids: set, locale: str) -> dict[int, str]:
    """{project id: name} for the projects other records' audit entries point at (a follow-up's `project_id`), so no
    history line or timeline shows a bare id ("项目: 42"). A confidential project reads "Confidential project" to
    every reader: the lookup knows no reader, and its name must not reach one who may not see it."""
    wanted = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    if not wanted:
        return {}
    hidden = Msg("Confidential project").translate(locale)
    return {pid: hidden if confidential else name for pid, name, confidential in session.execute(
        select(Project.id, Project.name, Project.is_confidential).where(Project.id.in_(wanted)))}


audit_labels.register(audit_labels.ANY, reference={"project_id": audit_labels.Reference(audit_project_names)})
audit_labels.register("project", values={"stage": STAGE_LABELS, "source": SOURCE_LABELS,
                                         "approval_status": APPROVAL_STATUS_LABELS},
                      reference={"approval_item": audit_labels.Reference(approval_item_names),
                                 "approval_assistant_id": audit_labels.Reference(auth_service.display_names)})


# Who reads a project's audit entries (and its decisions'): whoever may open the project (crm/audit/access.py).
audit_access.register("project", lambda user: select(Project.id).where(may_see(user)))
audit_access.register("project_decision", lambda user: select(Decision.id).join(Project, Project.id == Decision.project_id)
                      .where(may_see(user)))
audit_labels.register("approval_template", fields={"name_zh": N_("Chinese name"), "name_en": N_("English name"),
                                                   "promised_days": N_("Promised time limit (working days)"),
                                                   "position": N_("Order in the list"), "is_active": N_("Active")})

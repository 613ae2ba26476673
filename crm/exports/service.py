"""Export-leader cultivation: the pool, targets, monthly export figures (typed or imported), the service log, and
the progress figures every page, the managers' dashboard and the PDF reports read (`progress`, `behind_target`,
`cultivation_for`).

Progress for a year up to month M (M = the last month that should have figures: last month, for the current year):
  year to date (YTD)   = Σ figures of months 1..M of the year
  against target       = YTD / target                          (percent)
  序时进度 (time gone)  = M / 12                                  (percent)
  year on year         = YTD / Σ figures of months 1..M of the year before − 1
  behind               = against target < 序时进度 − margin (percentage points; Settings.export_behind_margin_points)
All of it is one aggregate query over the pool (`_progress_select`), never a loop of per-enterprise queries."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, and_, case, cast, delete, func, insert, literal, select, update
from sqlalchemy.orm import Session, joinedload

from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction, AuditEntry
from crm.auth.models import User
from crm.db import utcnow
from crm.exports.models import ExportEnterprise, ExportFigure, ExportSupport, ExportTarget, Tier
from crm.exports.schemas import SUPPORT_LABELS, TIER_LABELS
from crm.i18n import Msg
from crm.listing import Page, clamp_page
from crm.organizations.models import Organization, OrganizationKind
from crm.organizations.service import PermissionDenied
from crm.projects.schemas import parse_amount
from crm.validators import normalize_credit_code
from crm.versioning import flush_versioned, require_version

__all__ = ["PermissionDenied"]

MEMBER_FIELDS = ["tier", "officer_id", "main_products", "markets", "support_planned"]
DEFAULT_MARGIN_POINTS = Decimal("10")
CENT = Decimal("0.01")
TIER_ORDER = {Tier.LEADER: 0, Tier.KEY: 1, Tier.POTENTIAL: 2}
# Audit entries of an enterprise's export records (they carry its organization_id, so its timeline shows them too)
ENTITY_MEMBER, ENTITY_FIGURES, ENTITY_SUPPORT = "export_enterprise", "export_figures", "export_support"


class InvalidExportInput(Exception):
    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


# --- who may do what -------------------------------------------------------------------------------------------

def can_manage(user: User) -> bool:
    """Put enterprises in the pool, take them out, change tiers, officers and targets: managers and admins."""
    return user.is_manager


def can_edit(user: User, member: ExportEnterprise) -> bool:
    """Edit a member's products, markets and planned support, enter its figures: managers and its officer."""
    return user.is_manager or member.officer_id == user.id


def can_log_support(user: User) -> bool:
    return True  # any officer may record support they gave


def can_remove_support(user: User, entry: ExportSupport) -> bool:
    return user.is_manager or user.id in (entry.created_by_id, entry.officer_id)


# --- periods ---------------------------------------------------------------------------------------------------

def last_complete_month(today: date) -> tuple[int, int]:
    """The month that should have figures by now: last month."""
    return (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)


def months_due(year: int, today: date) -> int:
    """How many months of `year` should have figures on `today` (0 to 12)."""
    last_year, last_month = last_complete_month(today)
    if year < last_year:
        return 12
    return last_month if year == last_year else 0


def is_not_over(year: int, month: int, today: date) -> bool:
    """A month still to come, or the current one: its figure is entered once it is over (form and import alike)."""
    return (year, month) >= (today.year, today.month)


# --- the pool --------------------------------------------------------------------------------------------------

def get_member(session: Session, organization_id: int) -> ExportEnterprise | None:
    return session.scalar(select(ExportEnterprise).where(ExportEnterprise.organization_id == organization_id)
                          .options(joinedload(ExportEnterprise.organization), joinedload(ExportEnterprise.officer)))


def candidates(session: Session, *, limit: int = 1000) -> list[Organization]:
    """Zone enterprises (not archived) not yet in the pool, by name: the add form's choices."""
    in_pool = select(ExportEnterprise.organization_id)
    return list(session.scalars(select(Organization).where(
        Organization.kind == OrganizationKind.ZONE_ENTERPRISE, Organization.archived_at.is_(None),
        Organization.id.not_in(in_pool)).order_by(Organization.name_sort, Organization.id).limit(limit)))


def members(session: Session, *, officer: User | None = None) -> list[tuple[int, str]]:
    """(organization id, name) of the pool's enterprises (an officer's own, when given), by name."""
    stmt = (select(Organization.id, Organization.name).join(ExportEnterprise, ExportEnterprise.organization_id == Organization.id)
            .order_by(Organization.name_sort, Organization.id))
    if officer is not None and not officer.is_manager:
        stmt = stmt.where(ExportEnterprise.officer_id == officer.id)
    return [(row.id, row.name) for row in session.execute(stmt)]


def template_example(session: Session, *, officer: User, today: date) -> tuple[str, str, date, Decimal] | None:
    """The import template's example row, one that imports as it is: an enterprise of the pool the user may import
    for, by its own credit code and name, with its latest figure on file (importing it unchanged changes nothing),
    or, when none has a figure yet, last month and a sample amount. None when the user has no enterprise in the pool
    (a made-up one would not import)."""
    stmt = (select(Organization.name, Organization.credit_code, ExportFigure.year, ExportFigure.month,
                   ExportFigure.value_wan_usd)
            .join(ExportEnterprise, ExportEnterprise.organization_id == Organization.id)
            .outerjoin(ExportFigure, ExportFigure.organization_id == Organization.id)
            .order_by(ExportFigure.year.is_(None), ExportFigure.year.desc(), ExportFigure.month.desc(),
                      Organization.name_sort, Organization.id).limit(1))
    if not officer.is_manager:
        stmt = stmt.where(ExportEnterprise.officer_id == officer.id)
    row = session.execute(stmt).first()
    if row is None:
        return None
    if row.year is None:
        year, month = last_complete_month(today)
        return row.credit_code or "", row.name, date(year, month, 1), Decimal("123.45")
    return row.credit_code or "", row.name, date(row.year, row.month, 1), row.value_wan_usd


def targets(session: Session, organization_id: int) -> list[ExportTarget]:
    return list(session.scalars(select(ExportTarget).where(ExportTarget.organization_id == organization_id)
                                .order_by(ExportTarget.year.desc())))


def target_for(session: Session, organization_id: int, year: int) -> Decimal | None:
    return session.scalar(select(ExportTarget.target_wan_usd).where(
        ExportTarget.organization_id == organization_id, ExportTarget.year == year))


def _typed_member(data: dict[str, Any]) -> dict[str, Any]:
    typed = {k: data.get(k) or "" for k in ("main_products", "markets", "support_planned")}
    typed["tier"] = data["tier"]
    typed["officer_id"] = data["officer_id"]
    typed["target_year"] = int(data["target_year"])
    raw = data.get("target_wan_usd") or ""
    typed["target_wan_usd"] = parse_amount(raw).quantize(CENT) if raw else None
    return typed


def _check_officer(session: Session, officer_id: int) -> dict[str, Msg]:
    officer = session.get(User, officer_id)
    if officer is None or not officer.is_active:
        return {"officer_id": Msg("Choose one of the listed options.")}
    return {}


def _set_target(session: Session, *, organization_id: int, year: int, value: Decimal | None) -> dict[str, list]:
    """Sets (or, with None, clears) a year's target; returns the audit change, empty when nothing changed."""
    row = session.scalar(select(ExportTarget).where(ExportTarget.organization_id == organization_id,
                                                    ExportTarget.year == year))
    before = str(row.target_wan_usd.quantize(CENT)) if row else None
    after = str(value) if value is not None else None
    if before == after:
        return {}
    if value is None:
        session.delete(row)
    elif row is None:
        session.add(ExportTarget(organization_id=organization_id, year=year, target_wan_usd=value))
    else:
        row.target_wan_usd = value
        row.updated_at = utcnow()
    return {f"target_{year}": [before, after]}


def _audit(session: Session, *, actor: User | None, action: AuditAction, entity_type: str, entity_id: int,
           label: str, version: int, organization_id: int, changes: dict) -> None:
    audit_service.record(session, actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
                         entity_label=label, entity_version=version, changes=changes, organization_id=organization_id)


def create(session: Session, *, data: dict[str, Any], actor: User) -> ExportEnterprise:
    if not can_manage(actor):
        raise PermissionDenied()
    typed = _typed_member(data)
    errors = _check_officer(session, typed["officer_id"])
    org = session.get(Organization, data["organization_id"])
    if org is None or org.kind != OrganizationKind.ZONE_ENTERPRISE or org.archived_at is not None:
        errors["organization_id"] = Msg("Choose a zone enterprise from the list.")
    elif session.scalar(select(ExportEnterprise.id).where(ExportEnterprise.organization_id == org.id)):
        errors["organization_id"] = Msg("This enterprise is already in the export pool.")
    if errors:
        session.rollback()
        raise InvalidExportInput(errors)
    member = ExportEnterprise(organization_id=org.id, **{k: typed[k] for k in MEMBER_FIELDS})
    session.add(member)
    session.flush()
    changes = audit_service.diff({}, {k: v for k, v in audit_service.snapshot(member, MEMBER_FIELDS).items() if v})
    changes.update(_set_target(session, organization_id=org.id, year=typed["target_year"], value=typed["target_wan_usd"]))
    _audit(session, actor=actor, action=AuditAction.CREATE, entity_type=ENTITY_MEMBER, entity_id=member.id,
           label=org.name, version=member.version, organization_id=org.id, changes=changes)
    session.commit()
    return member


def update_member(session: Session, *, member: ExportEnterprise, data: dict[str, Any], version: int | None,
                  actor: User) -> ExportEnterprise:
    """Saves the form. An officer (not a manager) may change the descriptive fields only; tier, officer and target
    are the managers' decision, refused beside the field when an officer's form changes them."""
    if not can_edit(actor, member):
        raise PermissionDenied()
    require_version(session, record=member, entity_type=ENTITY_MEMBER, version=version)
    typed = _typed_member(data)
    errors = _check_officer(session, typed["officer_id"]) if typed["officer_id"] != member.officer_id else {}
    if not can_manage(actor):
        current_target = target_for(session, member.organization_id, typed["target_year"])
        current_target = current_target.quantize(CENT) if current_target is not None else None
        for name, now in (("tier", member.tier), ("officer_id", member.officer_id),
                          ("target_wan_usd", current_target)):
            if typed[name] != now:
                errors[name] = Msg("Only a manager can change this.")
    if errors:
        session.rollback()
        raise InvalidExportInput(errors)
    before = audit_service.snapshot(member, MEMBER_FIELDS)
    for key in MEMBER_FIELDS:
        setattr(member, key, typed[key])
    changes = audit_service.diff(before, audit_service.snapshot(member, MEMBER_FIELDS))
    if changes:
        member.updated_at = utcnow()
        flush_versioned(session, record=member, entity_type=ENTITY_MEMBER, version=version,
                        reload=lambda s, _id: get_member(s, member.organization_id))
    changes.update(_set_target(session, organization_id=member.organization_id, year=typed["target_year"],
                               value=typed["target_wan_usd"]))
    if changes:
        _audit(session, actor=actor, action=AuditAction.UPDATE, entity_type=ENTITY_MEMBER, entity_id=member.id,
               label=_label(session, [member.organization_id]).get(member.organization_id, ""),
               version=member.version, organization_id=member.organization_id, changes=changes)
    session.commit()
    return member


def remove(session: Session, *, member: ExportEnterprise, version: int | None, actor: User) -> None:
    """Takes an enterprise out of the pool. Its targets, figures and service log stay (they belong to the
    organization): put back, it finds them again."""
    if not can_manage(actor):
        raise PermissionDenied()
    require_version(session, record=member, entity_type=ENTITY_MEMBER, version=version)
    before = {k: v for k, v in audit_service.snapshot(member, MEMBER_FIELDS).items() if v}
    _audit(session, actor=actor, action=AuditAction.DELETE, entity_type=ENTITY_MEMBER, entity_id=member.id,
           label=_label(session, [member.organization_id]).get(member.organization_id, ""),
           version=member.version + 1, organization_id=member.organization_id,
           changes={k: [v, None] for k, v in before.items()})
    session.delete(member)
    session.commit()


# --- monthly figures -------------------------------------------------------------------------------------------

def figures_for(session: Session, organization_id: int, years: Iterable[int]) -> dict[tuple[int, int], Decimal]:
    rows = session.execute(select(ExportFigure.year, ExportFigure.month, ExportFigure.value_wan_usd).where(
        ExportFigure.organization_id == organization_id, ExportFigure.year.in_(list(years))))
    return {(row.year, row.month): row.value_wan_usd for row in rows}


@dataclass
class FigureChange:
    organization_id: int
    year: int
    month: int
    value: Decimal | None  # None: remove the figure


def _label(session: Session, organization_ids: Collection[int]) -> dict[int, str]:
    return dict(session.execute(select(Organization.id, Organization.name)
                                .where(Organization.id.in_(list(organization_ids)))).all())


def write_figures(session: Session, *, changes: list[FigureChange], actor: User | None) -> int:
    """Upserts figures in the caller's transaction, without committing: only values that differ from what is stored
    are written, and each enterprise whose figures changed gets one audit entry ({"2026-03": [old, new], ...}).
    Returns how many figures changed. A few queries whatever the number of rows."""
    if not changes:
        return 0
    org_ids = {c.organization_id for c in changes}
    years = {c.year for c in changes}
    existing = {(row.organization_id, row.year, row.month): (row.id, row.value_wan_usd) for row in session.execute(
        select(ExportFigure.id, ExportFigure.organization_id, ExportFigure.year, ExportFigure.month,
               ExportFigure.value_wan_usd).where(ExportFigure.organization_id.in_(org_ids),
                                                 ExportFigure.year.in_(years)))}
    now = utcnow()
    actor_id = actor.id if actor else None
    inserts, updates, deletes = [], [], []
    audit: dict[int, dict[str, list]] = {}
    for change in changes:
        key = (change.organization_id, change.year, change.month)
        found = existing.get(key)
        old = found[1].quantize(CENT) if found else None
        new = change.value.quantize(CENT) if change.value is not None else None
        if old == new:
            continue
        if found is None:
            inserts.append({"organization_id": change.organization_id, "year": change.year, "month": change.month,
                            "value_wan_usd": new, "created_at": now, "updated_at": now, "updated_by_id": actor_id})
        elif new is None:
            deletes.append(found[0])
        else:
            updates.append({"id": found[0], "value_wan_usd": new, "updated_at": now, "updated_by_id": actor_id})
        audit.setdefault(change.organization_id, {})[f"{change.year}-{change.month:02d}"] = [
            str(old) if old is not None else None, str(new) if new is not None else None]
    if inserts:
        session.execute(insert(ExportFigure), inserts)
    if updates:
        session.execute(update(ExportFigure), updates)
    if deletes:
        session.execute(delete(ExportFigure).where(ExportFigure.id.in_(deletes)))
    if audit:
        names = _label(session, audit)
        session.execute(insert(AuditEntry), [
            {"actor_id": actor_id, "action": AuditAction.UPDATE.value, "entity_type": ENTITY_FIGURES,
             "entity_id": org_id, "entity_label": names.get(org_id, "")[:200], "entity_version": 1,
             "changes": dict(sorted(fields.items())), "organization_id": org_id, "at": now,
             "channel": audit_service.current_channel.get()}  # "api" for a figure entered through the API
            for org_id, fields in audit.items()])
    return len(inserts) + len(updates) + len(deletes)


def save_year(session: Session, *, member: ExportEnterprise, year: int, values: dict[int, Decimal | None],
              actor: User, today: date) -> int:
    """The year grid: one value (or blank, which removes the month's figure) per month of `year`."""
    if not can_edit(actor, member):
        raise PermissionDenied()
    errors = {f"m{m}": Msg("%(month)s is not over yet: enter a month's figure once it is over.",
                           month=f"{year}-{m:02d}")
              for m, value in values.items() if value is not None and is_not_over(year, m, today)}
    if errors:
        session.rollback()
        raise InvalidExportInput(errors)
    changed = write_figures(session, actor=actor, changes=[
        FigureChange(member.organization_id, year, m, v) for m, v in values.items()])
    session.commit()
    return changed


def save_month(session: Session, *, member: ExportEnterprise, year: int, month: int, value: Decimal, actor: User,
               today: date) -> int:
    if not can_edit(actor, member):
        raise PermissionDenied()
    if is_not_over(year, month, today):
        session.rollback()
        raise InvalidExportInput({"month": Msg("%(month)s is not over yet: enter a month's figure once it is over.",
                                               month=f"{year}-{month:02d}")})
    changed = write_figures(session, actor=actor, changes=[FigureChange(member.organization_id, year, month, value)])
    session.commit()
    return changed


# --- import ----------------------------------------------------------------------------------------------------

@dataclass
class ImportProblem:
    row: int  # the row number in the file (1 = the header row)
    column_header: Msg | None  # the column's header, or None for the row as a whole
    message: Msg


@dataclass
class ImportPlan:
    changes: list[FigureChange] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    rows: int = 0


def check_import(session: Session, *, rows: list[dict[str, Any]], actor: User, today: date,
                 headers: dict[str, Msg | str]) -> ImportPlan:
    """Every row checked against the pool before anything is written: the enterprise (credit code or exact name, in
    the pool, yours unless you are a manager), the month (not to come; once per enterprise in the file). `rows` are
    what the sheet reader gave (typed values and `row_number`); `headers` name the columns in problems."""
    plan = ImportPlan(rows=len(rows))
    pool = session.execute(select(Organization.id, Organization.name, Organization.credit_code,
                                  ExportEnterprise.officer_id)
                           .join(ExportEnterprise, ExportEnterprise.organization_id == Organization.id)).all()
    by_code = {row.credit_code: row for row in pool if row.credit_code}
    by_name = {row.name: row for row in pool}
    seen: dict[tuple[int, int, int], int] = {}
    for row in rows:
        number = row["row_number"]
        code = normalize_credit_code(str(row.get("credit_code") or ""))
        name = str(row.get("name") or "").strip()
        enterprise = None
        if code:
            enterprise = by_code.get(code)
            if enterprise is None:
                plan.problems.append(ImportProblem(number, headers["credit_code"], Msg(
                    "No enterprise in the export pool has the credit code %(code)s.", code=code)))
            elif name and name != enterprise.name:
                plan.problems.append(ImportProblem(number, headers["name"], Msg(
                    "The credit code belongs to “%(found)s”, not “%(name)s”.", found=enterprise.name, name=name)))
                enterprise = None
        elif name:
            enterprise = by_name.get(name)
            if enterprise is None:
                plan.problems.append(ImportProblem(number, headers["name"], Msg(
                    "No enterprise in the export pool is named “%(name)s” (the name must match exactly).", name=name)))
        else:
            plan.problems.append(ImportProblem(number, headers["name"], Msg(
                "Give the enterprise's credit code or its exact name.")))
        if enterprise is not None and not actor.is_manager and enterprise.officer_id != actor.id:
            plan.problems.append(ImportProblem(number, headers["name"], Msg(
                "You are not the officer responsible for “%(name)s”; ask them or a manager.", name=enterprise.name)))
            enterprise = None
        period = row.get("month")
        if period is not None and is_not_over(period.year, period.month, today):
            plan.problems.append(ImportProblem(number, headers["month"], Msg(
                "%(month)s is not over yet: enter a month's figure once it is over.",
                month=f"{period.year}-{period.month:02d}")))
            period = None
        value = row.get("value_wan_usd")
        if enterprise is None or period is None or value is None:
            continue
        key = (enterprise.id, period.year, period.month)
        if key in seen:
            plan.problems.append(ImportProblem(number, headers["month"], Msg(
                "%(name)s, %(month)s appears twice in the file: rows %(first)s and %(second)s.", name=enterprise.name,
                month=f"{period.year}-{period.month:02d}", first=seen[key], second=number)))
            continue
        seen[key] = number
        plan.changes.append(FigureChange(enterprise.id, period.year, period.month, Decimal(value)))
    plan.problems.sort(key=lambda p: p.row)
    return plan


def apply_import(session: Session, *, plan: ImportPlan, actor: User) -> int:
    """Writes a clean plan in one transaction (nothing at all if it has problems)."""
    if plan.problems:
        raise ValueError("a plan with problems is not applied")
    changed = write_figures(session, actor=actor, changes=plan.changes)
    session.commit()
    return changed


# --- service log -----------------------------------------------------------------------------------------------

def support_log(session: Session, organization_id: int, *, limit: int = 200) -> list[ExportSupport]:
    return list(session.scalars(select(ExportSupport).where(ExportSupport.organization_id == organization_id)
                                .options(joinedload(ExportSupport.officer))
                                .order_by(ExportSupport.given_at.desc(), ExportSupport.id.desc()).limit(limit)))


def get_support(session: Session, support_id: int) -> ExportSupport | None:
    return session.get(ExportSupport, support_id)


SUPPORT_FIELDS = ["kind", "given_on", "officer_id", "description", "outcome"]


def add_support(session: Session, *, member: ExportEnterprise, data: dict[str, Any], actor: User,
                timezone: str) -> ExportSupport:
    if not can_log_support(actor):
        raise PermissionDenied()
    errors = _check_officer(session, data["officer_id"])
    if errors:
        session.rollback()
        raise InvalidExportInput(errors)
    given_on = date.fromisoformat(data["given_on"])
    entry = ExportSupport(
        organization_id=member.organization_id, kind=data["kind"], given_on=given_on,
        given_at=datetime.combine(given_on, time(12, 0), tzinfo=ZoneInfo(timezone)).astimezone(UTC),
        officer_id=data["officer_id"], description=data.get("description") or "", outcome=data.get("outcome") or "",
        created_by_id=actor.id)
    session.add(entry)
    session.flush()
    changes = audit_service.diff({}, {k: v for k, v in audit_service.snapshot(entry, SUPPORT_FIELDS).items() if v})
    changes["support_kind"] = changes.pop("kind")
    _audit(session, actor=actor, action=AuditAction.CREATE, entity_type=ENTITY_SUPPORT, entity_id=entry.id,
           label=_label(session, [member.organization_id]).get(member.organization_id, ""), version=1,
           organization_id=member.organization_id, changes=changes)
    session.commit()
    return entry


def remove_support(session: Session, *, entry: ExportSupport, actor: User) -> None:
    if not can_remove_support(actor, entry):
        raise PermissionDenied()
    before = {k: v for k, v in audit_service.snapshot(entry, SUPPORT_FIELDS).items() if v}
    before["support_kind"] = before.pop("kind")
    _audit(session, actor=actor, action=AuditAction.DELETE, entity_type=ENTITY_SUPPORT, entity_id=entry.id,
           label=session.scalar(select(Organization.name).where(Organization.id == entry.organization_id)) or "",
           version=2, organization_id=entry.organization_id, changes={k: [v, None] for k, v in before.items()})
    session.delete(entry)
    session.commit()


def history(session: Session, organization_id: int, *, limit: int = 100) -> list[AuditEntry]:
    """The audit entries of an enterprise's export records: membership, targets, figures, service log."""
    return list(session.scalars(select(AuditEntry).where(
        AuditEntry.organization_id == organization_id,
        AuditEntry.entity_type.in_([ENTITY_MEMBER, ENTITY_FIGURES, ENTITY_SUPPORT]))
        .options(joinedload(AuditEntry.actor))
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)))


# --- progress --------------------------------------------------------------------------------------------------

@dataclass
class ExportProgress:
    """One pool enterprise's year so far. Amounts in 万美元; shares in percent."""

    organization_id: int
    name: str
    credit_code: str | None
    tier: str
    officer_id: int
    officer_name: str
    year: int
    month: int  # the last month counted (序时进度 = month / 12)
    target: Decimal | None
    ytd: Decimal
    last_year: Decimal  # the same months of the year before
    months_reported: int  # of months 1..month, how many have a figure
    has_latest: bool  # month `month` has a figure
    margin_points: Decimal

    @property
    def target_pct(self) -> Decimal | None:
        return (self.ytd * 100 / self.target).quantize(Decimal("0.1")) if self.target else None

    @property
    def time_pct(self) -> Decimal:
        return (Decimal(self.month) * 100 / 12).quantize(Decimal("0.1"))

    @property
    def gap_points(self) -> Decimal | None:
        """Percentage points the enterprise is behind 序时进度 (negative: ahead)."""
        if not self.target:
            return None
        return (Decimal(self.month) * 100 / 12 - self.ytd * 100 / self.target).quantize(Decimal("0.1"))

    @property
    def yoy_pct(self) -> Decimal | None:
        if not self.last_year:
            return None
        return ((self.ytd - self.last_year) * 100 / self.last_year).quantize(Decimal("0.1"))

    @property
    def behind(self) -> bool:
        # the same comparison as the SQL filter: ytd·1200 < target·(month·100 − 12·margin)
        return bool(self.target) and self.ytd * 1200 < self.target * (self.month * 100 - 12 * self.margin_points)


def _progress_select(*, year: int, month: int):
    """One row per pool enterprise: its target for `year` and its sums over months 1..`month` of `year` and of the
    year before, aggregated by the database from ix_export_figure_period."""
    f = ExportFigure
    this_year = f.year == year
    sums = (select(f.organization_id,
                   func.sum(case((this_year, f.value_wan_usd), else_=0)).label("ytd"),
                   func.sum(case((f.year == year - 1, f.value_wan_usd), else_=0)).label("last_year"),
                   func.count(case((this_year, f.id))).label("months"),
                   func.count(case((and_(this_year, f.month == month), f.id))).label("latest"))
            .where(f.year.in_([year, year - 1]), f.month >= 1, f.month <= month)
            .group_by(f.organization_id).subquery())
    ytd = func.coalesce(sums.c.ytd, 0)
    stmt = (select(ExportEnterprise.organization_id, Organization.name, Organization.name_sort, Organization.credit_code,
                   ExportEnterprise.tier, ExportEnterprise.officer_id, User.display_name.label("officer_name"),
                   ExportTarget.target_wan_usd.label("target"), ytd.label("ytd"),
                   func.coalesce(sums.c.last_year, 0).label("last_year"),
                   func.coalesce(sums.c.months, 0).label("months"), func.coalesce(sums.c.latest, 0).label("latest"))
            .join(Organization, Organization.id == ExportEnterprise.organization_id)
            .join(User, User.id == ExportEnterprise.officer_id)
            .outerjoin(ExportTarget, and_(ExportTarget.organization_id == ExportEnterprise.organization_id,
                                          ExportTarget.year == year))
            .outerjoin(sums, sums.c.organization_id == ExportEnterprise.organization_id))
    return stmt, ytd


def _behind_condition(ytd, *, month: int, margin_points: Decimal):
    target = ExportTarget.target_wan_usd
    return and_(target > 0, ytd * 1200 < target * literal(float(month * 100 - 12 * margin_points)))


def progress(session: Session, *, year: int, month: int | None = None, today: date | None = None,
             margin_points: Decimal = DEFAULT_MARGIN_POINTS, organization_ids: Collection[int] | None = None,
             tier: str = "", officer_id: int | None = None, behind_only: bool = False, sort: str = "tier",
             offset: int = 0, limit: int | None = None) -> list[ExportProgress]:
    """The pool's export progress for `year` up to `month` (default: the last month that should have figures on
    `today`, the zone's local date; without it, today in UTC). Filters: organizations, tier, officer, behind only.
    Sorts: "tier" (then name), "name", "-ytd", "progress" (against target, lowest first; no target last)."""
    if month is None:
        month = months_due(year, today or datetime.now(UTC).date())
    stmt, ytd = _progress_select(year=year, month=month)
    stmt = _filtered(stmt, ytd, month=month, margin_points=margin_points, organization_ids=organization_ids,
                     tier=tier, officer_id=officer_id, behind_only=behind_only)
    stmt = stmt.order_by(*_order(sort, ytd)).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [ExportProgress(
        organization_id=row.organization_id, name=row.name, credit_code=row.credit_code, tier=row.tier,
        officer_id=row.officer_id, officer_name=row.officer_name, year=year, month=month,
        target=Decimal(row.target).quantize(CENT) if row.target is not None else None,
        ytd=Decimal(row.ytd).quantize(CENT), last_year=Decimal(row.last_year).quantize(CENT),
        months_reported=int(row.months), has_latest=bool(row.latest), margin_points=margin_points)
        for row in session.execute(stmt)]


def _filtered(stmt, ytd, *, month: int, margin_points: Decimal, organization_ids, tier: str, officer_id: int | None,
              behind_only: bool):
    if organization_ids is not None:
        stmt = stmt.where(ExportEnterprise.organization_id.in_(list(organization_ids)))
    if tier:
        stmt = stmt.where(ExportEnterprise.tier == tier)
    if officer_id:
        stmt = stmt.where(ExportEnterprise.officer_id == officer_id)
    if behind_only:
        stmt = stmt.where(_behind_condition(ytd, month=month, margin_points=margin_points))
    return stmt


def _order(sort: str, ytd) -> list:
    tier_rank = case({t.value: rank for t, rank in TIER_ORDER.items()}, value=ExportEnterprise.tier, else_=9)
    by_name = [Organization.name_sort, ExportEnterprise.organization_id]
    if sort == "name":
        return by_name
    if sort == "-ytd":
        return [ytd.desc(), *by_name]
    if sort == "progress":
        share = cast(ytd, Float) / func.nullif(cast(ExportTarget.target_wan_usd, Float), 0)
        return [share.is_(None), share, *by_name]
    return [tier_rank, *by_name]


def pool_page(session: Session, *, year: int, month: int, margin_points: Decimal, tier: str = "",
              officer_id: int | None = None, behind_only: bool = False, sort: str = "tier", page: int,
              per_page: int) -> Page:
    """A page of `progress` for the pool list, with the number of enterprises the filters leave."""
    stmt, ytd = _progress_select(year=year, month=month)
    counted = _filtered(stmt, ytd, month=month, margin_points=margin_points, organization_ids=None, tier=tier,
                        officer_id=officer_id, behind_only=behind_only)
    total = session.scalar(select(func.count()).select_from(counted.subquery())) or 0
    page = clamp_page(page, total, per_page)
    items = progress(session, year=year, month=month, margin_points=margin_points, tier=tier, officer_id=officer_id,
                     behind_only=behind_only, sort=sort, offset=(page - 1) * per_page, limit=per_page)
    return Page(items=items, total=total, page=page, per_page=per_page)


def behind_target(session: Session, *, year: int, month: int | None = None, today: date | None = None,
                  margin_points: Decimal = DEFAULT_MARGIN_POINTS, limit: int | None = None) -> list[ExportProgress]:
    """The pool enterprises behind 序时进度 by more than the margin, furthest behind first (for the dashboard)."""
    rows = progress(session, year=year, month=month, today=today, margin_points=margin_points, behind_only=True,
                    sort="progress")
    return rows[:limit] if limit is not None else rows


def cultivation_for(session: Session, organization_ids: Collection[int], year: int, *, month: int | None = None,
                    today: date | None = None, margin_points: Decimal = DEFAULT_MARGIN_POINTS,
                    ) -> dict[int, ExportProgress]:
    """{organization id: its tier, officer, target, year to date, …} for those of `organization_ids` in the pool
    (for the PDF briefing's enterprise blocks); organizations not in the pool are absent."""
    if not organization_ids:
        return {}
    return {row.organization_id: row for row in progress(
        session, year=year, month=month, today=today, margin_points=margin_points, organization_ids=organization_ids)}


def monthly_totals(session: Session, *, organization_id: int, years: Iterable[int]) -> dict[int, list[Decimal | None]]:
    """{year: [12 monthly values or None]} for an enterprise's page."""
    found = figures_for(session, organization_id, years)
    return {y: [found.get((y, m)) for m in range(1, 13)] for y in years}


def missing_latest(session: Session, *, year: int, month: int) -> list[tuple[int, int, str]]:
    """(officer id, organization id, name) of pool enterprises without a figure for `year`-`month` (rule 8)."""
    has = select(ExportFigure.id).where(ExportFigure.organization_id == ExportEnterprise.organization_id,
                                        ExportFigure.year == year, ExportFigure.month == month).exists()
    rows = session.execute(select(ExportEnterprise.officer_id, ExportEnterprise.organization_id, Organization.name)
                           .join(Organization, Organization.id == ExportEnterprise.organization_id)
                           .where(~has).order_by(ExportEnterprise.officer_id, Organization.name_sort))
    return [(row.officer_id, row.organization_id, row.name) for row in rows]


audit_labels.register((ENTITY_MEMBER, ENTITY_FIGURES, ENTITY_SUPPORT),  # how the history reads
                      values={"tier": TIER_LABELS, "support_kind": SUPPORT_LABELS})

"""Land parcels (地块): record one, follow its expropriation (households signed against the signing window) and
its status up to 已供地, which the projects on it need before they break ground."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.db import utcnow
from crm.i18n import Msg
from crm.listing import Page, clamp_page
from crm.organizations.service import PermissionDenied
from crm.parcels.models import LandParcel, ParcelStatus
from crm.parcels.schemas import STATUS_LABELS
from crm.projects import gates
from crm.projects.models import PIPELINE, Project
from crm.projects.schemas import parse_amount
from crm.versioning import flush_versioned, require_version

FIELDS = ["code", "name", "location", "bounds", "land_area_m2", "building_area_m2", "planned_use", "status",
          "households_total", "households_signed", "signing_starts_on", "signing_ends_on", "compensation_cash",
          "compensation_swap", "public_facilities", "notes"]

__all__ = ["PermissionDenied"]


class InvalidParcel(Exception):
    def __init__(self, errors: dict[str, Msg]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def can_edit(user: User) -> bool:
    return user.is_manager


def get(session: Session, parcel_id: int) -> LandParcel | None:
    return session.get(LandParcel, parcel_id)


def list_page(session: Session, *, page: int, per_page: int) -> Page:
    total = session.scalar(select(func.count(LandParcel.id))) or 0
    page = clamp_page(page, total, per_page)
    stmt = select(LandParcel).order_by(LandParcel.code, LandParcel.id).offset((page - 1) * per_page).limit(per_page)
    return Page(items=list(session.scalars(stmt)), total=total, page=page, per_page=per_page)


def _typed(data: dict[str, Any]) -> dict[str, Any]:
    typed = dict(data)
    for name in ("land_area_m2", "building_area_m2"):
        typed[name] = parse_amount(typed[name]).quantize(Decimal("0.01")) if typed.get(name) else None
    typed["households_total"] = int(typed["households_total"]) if typed.get("households_total") else None
    typed["households_signed"] = int(typed["households_signed"]) if typed.get("households_signed") else 0
    for name in ("signing_starts_on", "signing_ends_on"):
        typed[name] = date.fromisoformat(typed[name]) if typed.get(name) else None
    for name in ("compensation_cash", "compensation_swap"):
        typed[name] = typed.get(name) == "1"
    for name in ("location", "bounds", "planned_use", "public_facilities", "notes"):
        typed[name] = typed.get(name) or ""
    return typed


def _check(session: Session, typed: dict[str, Any], existing: LandParcel | None) -> dict[str, Msg]:
    errors: dict[str, Msg] = {}
    total, signed = typed["households_total"], typed["households_signed"]
    if signed and total is None:
        errors["households_total"] = Msg("Enter how many households there are before the signed ones.")
    elif total is not None and signed > total:
        errors["households_signed"] = Msg("More households signed (%(signed)s) than there are (%(total)s).",
                                          signed=signed, total=total)
    starts, ends = typed["signing_starts_on"], typed["signing_ends_on"]
    if starts and ends and ends < starts:
        errors["signing_ends_on"] = Msg("The signing window closes before it opens.")
    clash = select(LandParcel.id).where(LandParcel.code == typed["code"])
    if existing is not None:
        clash = clash.where(LandParcel.id != existing.id)
    if session.scalar(clash):
        errors["code"] = Msg("Another parcel already has this code.")
    return errors


def _audit(session: Session, *, parcel: LandParcel, actor: User, action: AuditAction, changes: dict) -> None:
    audit_service.record(session, actor=actor, action=action, entity_type="land_parcel", entity_id=parcel.id,
                         entity_label=parcel.name, entity_version=parcel.version, changes=changes)


def create(session: Session, *, data: dict[str, Any], actor: User) -> LandParcel:
    if not can_edit(actor):
        raise PermissionDenied()
    typed = _typed(data)
    errors = _check(session, typed, None)
    if errors:
        session.rollback()
        raise InvalidParcel(errors)
    parcel = LandParcel(**{k: typed[k] for k in FIELDS})
    session.add(parcel)
    session.flush()
    after = {k: v for k, v in audit_service.snapshot(parcel, FIELDS).items() if v not in (None, "", False)}
    _audit(session, parcel=parcel, actor=actor, action=AuditAction.CREATE, changes=audit_service.diff({}, after))
    session.commit()
    return parcel


def update(session: Session, *, parcel: LandParcel, data: dict[str, Any], version: int | None,
           actor: User) -> LandParcel:
    if not can_edit(actor):
        raise PermissionDenied()
    require_version(session, record=parcel, entity_type="land_parcel", version=version)
    typed = _typed(data)
    errors = _check(session, typed, parcel)
    if errors:
        session.rollback()
        raise InvalidParcel(errors)
    before = audit_service.snapshot(parcel, FIELDS)
    for key in FIELDS:
        setattr(parcel, key, typed[key])
    changes = audit_service.diff(before, audit_service.snapshot(parcel, FIELDS))
    if "status" in changes and before["status"] == ParcelStatus.SUPPLIED and (lost := _land_lost(session, parcel)):
        session.rollback()
        raise InvalidParcel({"status": Msg(
            "Projects that broke ground on this parcel as supplied would no longer meet the land gate: "
            "%(projects)s. Record their land certificate numbers first, or keep the parcel supplied.",
            projects="，".join(lost))})
    if changes:
        parcel.updated_at = utcnow()
        flush_versioned(session, record=parcel, entity_type="land_parcel", version=version, reload=get)
        _audit(session, parcel=parcel, actor=actor, action=AuditAction.UPDATE, changes=changes)
    session.commit()
    return parcel


def _land_lost(session: Session, parcel: LandParcel) -> list[str]:
    """The gates are checked whenever a field they read changes (issue 13): the names of the projects past 开工,
    not overridden there, whose land gate (crm.projects.gates.land_gate) the parcel, as changed, no longer meets."""
    with session.no_autoflush:  # judge the parcel as changed, before its versioned UPDATE
        projects = session.scalars(select(Project).options(joinedload(Project.parcel)).where(
            Project.parcel_id == parcel.id, Project.stage.in_(PIPELINE), Project.gate_override_reason == "",
            Project.pipeline_stage.in_(PIPELINE[gates.GROUNDBREAKING_AT:]), Project.archived_at.is_(None)))
        return [p.name for p in projects if not gates.land_gate(p).passed]


@dataclass
class SigningProgress:
    """Households signed against the signing window: how far the window has run (序时进度) and how far signing has."""

    signed: int
    total: int | None
    window_days: int | None  # days in the window, both ends counted
    days_gone: int | None  # of them, up to today
    state: str  # "none" (no window), "before", "open", "closed"

    @property
    def signed_share(self) -> float | None:
        return self.signed / self.total if self.total else None

    @property
    def time_share(self) -> float | None:
        return self.days_gone / self.window_days if self.window_days else None

    @property
    def behind(self) -> bool:
        """Signing lags the time gone by (while the window is open or once it has closed)."""
        return (self.state in ("open", "closed") and self.signed_share is not None and self.time_share is not None
                and self.signed_share < self.time_share)


def signing_progress(parcel: LandParcel, today: date) -> SigningProgress:
    starts, ends = parcel.signing_starts_on, parcel.signing_ends_on
    if not (starts and ends):
        return SigningProgress(parcel.households_signed, parcel.households_total, None, None, "none")
    window = (ends - starts).days + 1
    if today < starts:
        return SigningProgress(parcel.households_signed, parcel.households_total, window, 0, "before")
    gone = min(window, (today - starts).days + 1)
    return SigningProgress(parcel.households_signed, parcel.households_total, window, gone,
                           "open" if today <= ends else "closed")


audit_labels.register("land_parcel", values={"status": STATUS_LABELS})  # how the history reads

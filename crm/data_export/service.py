"""The full export (导出全部数据): one .zip with

- data.xlsx: a sheet per kind of record (crm/data_export/columns.py names them and their headers),
- attachments/<id>-<name>: every attachment's file, briefings/<name>: every generated briefing PDF,
- manifest.json: when and by whom, each sheet's row count, each file's path, size and SHA-256 (and the files the
  database names but the data directory lacks, or whose content no longer matches the recorded checksum).

Memory stays flat however large the zone: rows are read as plain rows a batch at a time (yield_per; related names
of a batch — investors, officers, hosts — in one query per batch), the workbook is written by xlsxwriter in
constant-memory mode into a temporary directory, and the zip is assembled from it and from the files on disk, each
copied through in blocks while its checksum is computed. Only reads: the caller's session never writes (the audit
entry is the caller's, in a transaction of its own).
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from crm import models  # noqa: F401 (every table registered on the metadata)
from crm.attachments import storage
from crm.attachments.service import clean_filename
from crm.auth.schemas import ROLE_LABELS
from crm.briefings.models import FileStatus
from crm.data_export import columns as sheets
from crm.data_export.columns import LIST_SEPARATOR, NO, YES, ExportSheet
from crm.db import Base
from crm.exports.schemas import SUPPORT_LABELS, TIER_LABELS
from crm.i18n import Msg, gettext
from crm.indicators.schemas import FREQUENCY_LABELS, UNIT_LABELS
from crm.indicators.schemas import KIND_LABELS as INDICATOR_KIND_LABELS
from crm.organizations.schemas import KIND_LABELS as ORGANIZATION_KIND_LABELS
from crm.organizations.schemas import OWNERSHIP_LABELS
from crm.parcels.schemas import STATUS_LABELS as PARCEL_STATUS_LABELS
from crm.projects.schemas import (
    APPROVAL_STATUS_LABELS,
    MEETING_LABELS,
    OUTCOME_LABELS,
    SOURCE_LABELS,
    STAGE_LABELS,
)
from crm.spreadsheets import Column, XlsxBook
from crm.tasks.schemas import PRIORITY_LABELS
from crm.tasks.schemas import STATUS_LABELS as TASK_STATUS_LABELS
from crm.visits.schemas import INTEREST_LABELS
from crm.visits.schemas import KIND_LABELS as VISIT_KIND_LABELS
from crm.visits.schemas import STATUS_LABELS as VISIT_STATUS_LABELS

FORMAT = "crm-full-export"
FORMAT_VERSION = 1
WORKBOOK = "data.xlsx"
MANIFEST = "manifest.json"
BATCH = 2_000
_BLOCK = 1 << 20
T = Base.metadata.tables


def _t(name: str) -> Table:
    return T[name]


@dataclass
class ExportResult:
    """What went into the zip: row counts per sheet (by its key), files written, files missing."""
    counts: dict[str, int] = field(default_factory=dict)
    files: int = 0
    missing: int = 0
    size: int = 0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def _zh(labels: dict) -> Callable[[Any], str | None]:
    chinese = {str(code): gettext("zh_CN", label) for code, label in labels.items()}
    return lambda value: None if value in (None, "") else chinese.get(str(value), str(value))


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is bool:
        return YES if value else NO
    if kind is time:
        return value.strftime("%H:%M")
    return value


_AS_IS = frozenset({type(None), str, int, Decimal, datetime, date, float})


def _rows(sheet: ExportSheet, records: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    """Each record's values in the sheet's column order, booleans as 是/否 and times as HH:MM: this runs for every
    cell of the export, so the common types pass through without a call."""
    keys = [c.key for c in sheet.columns]
    as_is = _AS_IS
    for values in records:
        get = values.get
        row = [get(k) for k in keys]
        yield [v if type(v) in as_is else _plain(v) for v in row]


def _batches(session: Session, statement) -> Iterator[list[dict[str, Any]]]:
    """The statement's rows as dicts, a batch at a time (a server-side cursor on PostgreSQL). The keys are read
    once per statement, not per row (Row._mapping builds its key view each time)."""
    result = session.execute(statement.execution_options(yield_per=BATCH))
    keys = list(result.keys())
    for part in result.partitions():
        yield [dict(zip(keys, row, strict=True)) for row in part]


def _grouped(session: Session, statement, key: str) -> dict[int, list[dict[str, Any]]]:
    groups: dict[int, list[dict[str, Any]]] = {}
    for row in session.execute(statement):
        values = dict(row._mapping)
        groups.setdefault(values.pop(key), []).append(values)
    return groups


def _joined(items: Iterable[Any]) -> str | None:
    text = LIST_SEPARATOR.join(str(i) for i in items if i)
    return text or None


class _Context:
    def __init__(self, session: Session) -> None:
        self.session = session
        users = _t("user_account")
        self.usernames: dict[int, str] = {}
        self.display_names: dict[int, str] = {}
        for row in session.execute(select(users.c.id, users.c.username, users.c.display_name)):
            self.usernames[row.id] = row.username
            self.display_names[row.id] = row.display_name
        chains = _t("industry_chain")
        self.chains = {row.id: row.name_zh for row in session.execute(select(chains.c.id, chains.c.name_zh))}

    def user(self, user_id: int | None) -> str | None:
        return self.usernames.get(user_id) if user_id else None


def attachment_path(attachment_id: int, filename: str) -> str:
    name = clean_filename(filename) or "file"
    return f"attachments/{attachment_id}-{name}"


def briefing_path(row: dict[str, Any]) -> str:
    return f"briefings/briefing-{row['visit_id']}-{row['id']}-{row['variant']}.pdf"


# ------------------------------------------------------------------------------------------------- the sheets


def _organizations(ctx: _Context) -> Iterator[dict[str, Any]]:
    o = _t("organization")
    kind, ownership = _zh(ORGANIZATION_KIND_LABELS), _zh(OWNERSHIP_LABELS)
    statement = select(o.c.id, o.c.name, o.c.credit_code, o.c.name_en, o.c.kind, o.c.industry_chain_id,
                       o.c.ownership, o.c.country_region, o.c.city, o.c.address, o.c.website, o.c.tags,
                       o.c.description, o.c.owner_id, o.c.archived_at, o.c.created_at, o.c.updated_at).order_by(o.c.id)
    for batch in _batches(ctx.session, statement):
        for r in batch:
            r.update(kind=kind(r["kind"]), ownership=ownership(r["ownership"]), owner=ctx.user(r["owner_id"]),
                     industry_chain=ctx.chains.get(r["industry_chain_id"]),
                     tags=_joined(t for t in (r["tags"] or "").split(",")))
            yield r


def _contacts(ctx: _Context) -> Iterator[dict[str, Any]]:
    c, o = _t("contact"), _t("organization")
    statement = (select(c.c.id, c.c.organization_id, o.c.name.label("organization"), o.c.credit_code, c.c.name,
                        c.c.title, c.c.mobile, c.c.phone, c.c.email, c.c.wechat, c.c.notes, c.c.archived_at,
                        c.c.created_at)
                 .join(o, o.c.id == c.c.organization_id).order_by(c.c.id))
    for batch in _batches(ctx.session, statement):
        yield from batch


def _projects(ctx: _Context) -> Iterator[dict[str, Any]]:
    p, parcel = _t("project"), _t("land_parcel")
    po, o, officers = _t("project_organization"), _t("organization"), _t("project_officer")
    stage, source = _zh(STAGE_LABELS), _zh(SOURCE_LABELS)
    names = ("id", "name", "industry_chain_id", "description", "total_investment_wan_cny", "fixed_investment_wan_cny",
             "is_foreign_invested", "foreign_capital_wan_usd", "registered_capital_wan_cny", "land_need_mu",
             "annual_output_wan_cny", "annual_tax_wan_cny", "jobs", "source", "source_visit_id", "source_note",
             "owner_id", "is_confidential", "stage", "stage_entered_at", "stage_reason", "target_signing_on",
             "target_groundbreaking_on", "target_operation_on", "signed_on", "groundbreaking_on", "operation_on",
             "land_certificate_no", "gate_override_reason", "created_by_id", "created_at", "archived_at")
    statement = (select(*(p.c[n] for n in names), parcel.c.code.label("parcel"))
                 .outerjoin(parcel, parcel.c.id == p.c.parcel_id).order_by(p.c.id))
    for batch in _batches(ctx.session, statement):
        ids = [r["id"] for r in batch]
        investors = _grouped(ctx.session, select(po.c.project_id, o.c.name, o.c.credit_code)
                             .join(o, o.c.id == po.c.organization_id).where(po.c.project_id.in_(ids))
                             .order_by(po.c.project_id, po.c.position), "project_id")
        assigned = _grouped(ctx.session, select(officers.c.project_id, officers.c.user_id)
                            .where(officers.c.project_id.in_(ids)).order_by(officers.c.user_id), "project_id")
        for r in batch:
            its = investors.get(r["id"], [])
            r.update(investors=_joined(i["name"] for i in its), credit_codes=_joined(i["credit_code"] for i in its),
                     industry_chain=ctx.chains.get(r["industry_chain_id"]), stage=stage(r["stage"]),
                     source=source(r["source"]), owner=ctx.user(r["owner_id"]), created_by=ctx.user(r["created_by_id"]),
                     officers=_joined(ctx.user(a["user_id"]) for a in assigned.get(r["id"], [])))
            yield r


def _project_investors(ctx: _Context) -> Iterator[dict[str, Any]]:
    po, o, p = _t("project_organization"), _t("organization"), _t("project")
    statement = (select(po.c.project_id, p.c.name.label("project"), po.c.position, po.c.organization_id,
                        o.c.name.label("organization"), o.c.credit_code)
                 .join(o, o.c.id == po.c.organization_id).join(p, p.c.id == po.c.project_id)
                 .order_by(po.c.project_id, po.c.position))
    for batch in _batches(ctx.session, statement):
        yield from batch


def _stage_changes(ctx: _Context) -> Iterator[dict[str, Any]]:
    s, p = _t("project_stage_change"), _t("project")
    stage = _zh(STAGE_LABELS)
    statement = (select(s, p.c.name.label("project")).join(p, p.c.id == s.c.project_id).order_by(s.c.id))
    for batch in _batches(ctx.session, statement):
        for r in batch:
            r.update(from_stage=stage(r["from_stage"]), to_stage=stage(r["to_stage"]), actor=ctx.user(r["actor_id"]))
            yield r


def _decisions(ctx: _Context) -> Iterator[dict[str, Any]]:
    d, p = _t("project_decision"), _t("project")
    meeting, outcome = _zh(MEETING_LABELS), _zh(OUTCOME_LABELS)
    statement = select(d, p.c.name.label("project")).join(p, p.c.id == d.c.project_id).order_by(d.c.id)
    for batch in _batches(ctx.session, statement):
        for r in batch:
            r.update(meeting_kind=meeting(r["meeting_kind"]), outcome=outcome(r["outcome"]),
                     recorded_by=ctx.user(r["recorded_by_id"]))
            yield r


def _approval_items(ctx: _Context) -> Iterator[dict[str, Any]]:
    a, p = _t("approval_item"), _t("project")
    status = _zh(APPROVAL_STATUS_LABELS)
    statement = select(a, p.c.name.label("project")).join(p, p.c.id == a.c.project_id).order_by(a.c.id)
    for batch in _batches(ctx.session, statement):
        for r in batch:
            r.update(status=status(r["status"]), assistant_user=ctx.user(r["assistant_id"]))
            yield r


def _parcels(ctx: _Context) -> Iterator[dict[str, Any]]:
    parcel = _t("land_parcel")
    status = _zh(PARCEL_STATUS_LABELS)
    for batch in _batches(ctx.session, select(parcel).order_by(parcel.c.id)):
        for r in batch:
            r["status"] = status(r["status"])
            yield r


def _events(ctx: _Context) -> Iterator[dict[str, Any]]:
    e = _t("groundbreaking_event")
    for batch in _batches(ctx.session, select(e).order_by(e.c.id)):
        yield from batch


def _slates(ctx: _Context) -> Iterator[dict[str, Any]]:
    s, e, p = _t("groundbreaking_slate"), _t("groundbreaking_event"), _t("project")
    statement = (select(s, e.c.name.label("event"), p.c.name.label("project"))
                 .join(e, e.c.id == s.c.event_id).join(p, p.c.id == s.c.project_id)
                 .order_by(s.c.event_id, s.c.position))
    for batch in _batches(ctx.session, statement):
        yield from batch


def _visits(ctx: _Context) -> Iterator[dict[str, Any]]:
    v, vo, o = _t("visit"), _t("visit_organization"), _t("organization")
    hosts, industries, linked = _t("visit_host"), _t("visit_industry"), _t("project_visit")
    kind, status, interest = _zh(VISIT_KIND_LABELS), _zh(VISIT_STATUS_LABELS), _zh(INTEREST_LABELS)
    statement = select(*(c for c in v.c if c.name != "search_text")).order_by(v.c.id)
    for batch in _batches(ctx.session, statement):
        ids = [r["id"] for r in batch]
        orgs = _grouped(ctx.session, select(vo.c.visit_id, o.c.name, o.c.credit_code)
                        .join(o, o.c.id == vo.c.organization_id).where(vo.c.visit_id.in_(ids))
                        .order_by(vo.c.visit_id, vo.c.position), "visit_id")
        host_rows = _grouped(ctx.session, select(hosts.c.visit_id, hosts.c.user_id).where(hosts.c.visit_id.in_(ids))
                             .order_by(hosts.c.user_id), "visit_id")
        chains = _grouped(ctx.session, select(industries.c.visit_id, industries.c.industry_chain_id)
                          .where(industries.c.visit_id.in_(ids)), "visit_id")
        projects = _grouped(ctx.session, select(linked.c.visit_id, linked.c.project_id)
                            .where(linked.c.visit_id.in_(ids)).order_by(linked.c.project_id), "visit_id")
        for r in batch:
            its = orgs.get(r["id"], [])
            r.update(organizations=_joined(i["name"] for i in its), credit_codes=_joined(i["credit_code"] for i in its),
                     kind=kind(r["kind"]), status=status(r["status"]), interest_level=interest(r["interest_level"]),
                     officer=ctx.user(r["officer_id"]), created_by=ctx.user(r["created_by_id"]),
                     hosts=_joined(ctx.user(h["user_id"]) for h in host_rows.get(r["id"], [])),
                     industry_chains=_joined(ctx.chains.get(c["industry_chain_id"]) for c in chains.get(r["id"], [])),
                     projects=_joined(p["project_id"] for p in projects.get(r["id"], [])))
            yield r


def _visit_members(ctx: _Context) -> Iterator[dict[str, Any]]:
    m, v, c, o = _t("visit_member"), _t("visit"), _t("contact"), _t("organization")
    statement = (select(m.c.visit_id, v.c.title.label("visit"), m.c.contact_id, c.c.name.label("contact"), c.c.title,
                        o.c.name.label("organization"))
                 .join(v, v.c.id == m.c.visit_id).join(c, c.c.id == m.c.contact_id)
                 .join(o, o.c.id == c.c.organization_id).order_by(m.c.visit_id, m.c.contact_id))
    for batch in _batches(ctx.session, statement):
        yield from batch


def _visit_hosts(ctx: _Context) -> Iterator[dict[str, Any]]:
    h, v = _t("visit_host"), _t("visit")
    statement = (select(h.c.visit_id, v.c.title.label("visit"), h.c.user_id).join(v, v.c.id == h.c.visit_id)
                 .order_by(h.c.visit_id, h.c.user_id))
    for batch in _batches(ctx.session, statement):
        for r in batch:
            r.update(username=ctx.user(r["user_id"]), display_name=ctx.display_names.get(r["user_id"]))
            yield r


def _tour_stops(ctx: _Context) -> Iterator[dict[str, Any]]:
    s, o = _t("tour_stop"), _t("organization")
    statement = (select(s, o.c.name.label("organization")).outerjoin(o, o.c.id == s.c.organization_id)
                 .order_by(s.c.visit_id, s.c.position, s.c.id))
    for batch in _batches(ctx.session, statement):
        yield from batch


def _follow_ups(ctx: _Context) -> Iterator[dict[str, Any]]:
    t, o, p, c = _t("task"), _t("organization"), _t("project"), _t("contact")
    priority, status = _zh(PRIORITY_LABELS), _zh(TASK_STATUS_LABELS)
    statement = (select(t, o.c.name.label("organization"), o.c.credit_code, p.c.name.label("project"),
                        c.c.name.label("contact"))
                 .outerjoin(o, o.c.id == t.c.organization_id).outerjoin(p, p.c.id == t.c.project_id)
                 .outerjoin(c, c.c.id == t.c.contact_id).order_by(t.c.id))
    for batch in _batches(ctx.session, statement):
        for r in batch:
            r.update(priority=priority(r["priority"]), status=status(r["status"]), assignee=ctx.user(r["assignee_id"]),
                     created_by=ctx.user(r["created_by_id"]))
            yield r


def _with_organization(table_name: str, *, order=("id",), labels: dict[str, Callable] | None = None,
                       users: dict[str, str] | None = None) -> Callable[[_Context], Iterator[dict[str, Any]]]:
    """A table whose rows name an organization: its name and credit code joined in, choices labelled, users named."""

    def rows(ctx: _Context) -> Iterator[dict[str, Any]]:
        table, o = _t(table_name), _t("organization")
        statement = (select(table, o.c.name.label("organization"), o.c.credit_code)
                     .join(o, o.c.id == table.c.organization_id).order_by(*(table.c[n] for n in order)))
        for batch in _batches(ctx.session, statement):
            for r in batch:
                for key, label in (labels or {}).items():
                    r[key] = label(r[key])
                for key, column in (users or {}).items():
                    r[key] = ctx.user(r[column])
                if "month" in r and "year" in r:
                    r["month"] = f"{r['year']}-{r['month']:02d}"
                yield r

    return rows


def _indicators(ctx: _Context) -> Iterator[dict[str, Any]]:
    i = _t("economic_indicator")
    unit, frequency, kind = _zh(UNIT_LABELS), _zh(FREQUENCY_LABELS), _zh(INDICATOR_KIND_LABELS)
    for batch in _batches(ctx.session, select(i).order_by(i.c.position, i.c.id)):
        for r in batch:
            r.update(unit=unit(r["unit"]), frequency=frequency(r["frequency"]), kind=kind(r["kind"]))
            yield r


def _indicator_rows(table_name: str) -> Callable[[_Context], Iterator[dict[str, Any]]]:
    def rows(ctx: _Context) -> Iterator[dict[str, Any]]:
        table, i = _t(table_name), _t("economic_indicator")
        statement = (select(table, i.c.code.label("indicator_code"), i.c.name_zh.label("indicator"))
                     .join(i, i.c.id == table.c.indicator_id).order_by(table.c.id))
        for batch in _batches(ctx.session, statement):
            for r in batch:
                r["updated_by"] = ctx.user(r.get("updated_by_id"))
                yield r

    return rows


def _department_targets(ctx: _Context) -> Iterator[dict[str, Any]]:
    d = _t("department_target")
    for batch in _batches(ctx.session, select(d).order_by(d.c.year, d.c.id)):
        yield from batch


def _officer_targets(ctx: _Context) -> Iterator[dict[str, Any]]:
    o = _t("officer_target")
    for batch in _batches(ctx.session, select(o).order_by(o.c.year, o.c.id)):
        for r in batch:
            r.update(username=ctx.user(r["user_id"]), display_name=ctx.display_names.get(r["user_id"]))
            yield r


def _industry_chains(ctx: _Context) -> Iterator[dict[str, Any]]:
    c = _t("industry_chain")
    for batch in _batches(ctx.session, select(c).order_by(c.c.sort_order, c.c.id)):
        yield from batch


def _users(ctx: _Context) -> Iterator[dict[str, Any]]:
    u = _t("user_account")
    role = _zh(ROLE_LABELS)
    # Named columns only: never the password hash, the second factor or anything else secret.
    statement = select(u.c.id, u.c.username, u.c.display_name, u.c.title, u.c.email, u.c.role, u.c.locale,
                       u.c.department, u.c.manager_id, u.c.is_active, u.c.created_at).order_by(u.c.id)
    for batch in _batches(ctx.session, statement):
        for r in batch:
            r.update(role=role(r["role"]), manager=ctx.user(r["manager_id"]))
            yield r


def _attachment_rows(session: Session) -> Iterator[dict[str, Any]]:
    a = _t("attachment")
    for batch in _batches(session, select(a).order_by(a.c.id)):
        for r in batch:
            r["path"] = attachment_path(r["id"], r["filename"])
            yield r


def _attachments(ctx: _Context) -> Iterator[dict[str, Any]]:
    for r in _attachment_rows(ctx.session):
        r["uploaded_by"] = ctx.user(r["uploaded_by_id"])
        yield r


def _briefing_rows(session: Session) -> Iterator[dict[str, Any]]:
    b = _t("briefing_file")
    statement = (select(b.c.id, b.c.visit_id, b.c.variant, b.c.locale, b.c.pages, b.c.size_bytes, b.c.sha256,
                        b.c.finished_at, b.c.path.label("stored_path"))
                 .where(b.c.status == FileStatus.DONE, b.c.path.is_not(None)).order_by(b.c.id))
    for batch in _batches(session, statement):
        for r in batch:
            r["path"] = briefing_path(r)
            yield r


def _briefings(ctx: _Context) -> Iterator[dict[str, Any]]:
    yield from _briefing_rows(ctx.session)


ROWS: dict[str, Callable[[_Context], Iterator[dict[str, Any]]]] = {
    "organizations": _organizations,
    "contacts": _contacts,
    "projects": _projects,
    "project_investors": _project_investors,
    "stage_changes": _stage_changes,
    "decisions": _decisions,
    "approval_items": _approval_items,
    "parcels": _parcels,
    "groundbreaking_events": _events,
    "groundbreaking_slates": _slates,
    "visits": _visits,
    "visit_members": _visit_members,
    "visit_hosts": _visit_hosts,
    "tour_stops": _tour_stops,
    "follow_ups": _follow_ups,
    "export_pool": _with_organization("export_enterprise", labels={"tier": _zh(TIER_LABELS)},
                                      users={"officer": "officer_id"}),
    "export_figures": _with_organization("export_figure", order=("year", "month", "id"),
                                         users={"updated_by": "updated_by_id"}),
    "export_targets": _with_organization("export_target", order=("year", "id")),
    "export_support": _with_organization("export_support", labels={"kind": _zh(SUPPORT_LABELS)},
                                         users={"officer": "officer_id"}),
    "indicators": _indicators,
    "indicator_values": _indicator_rows("indicator_value"),
    "indicator_targets": _indicator_rows("indicator_target"),
    "department_targets": _department_targets,
    "officer_targets": _officer_targets,
    "industry_chains": _industry_chains,
    "users": _users,
    "attachments": _attachments,
    "briefing_files": _briefings,
}
assert set(ROWS) == {s.key for s in sheets.SHEETS}


# ---------------------------------------------------------------------------------------------------- writing


def _identity(message: Msg | str, **_params: Any) -> str:
    return message.msgid if isinstance(message, Msg) else message


def write_workbook(session: Session, path: Path, *, timezone: str, tmpdir: Path | None = None) -> dict[str, int]:
    """data.xlsx at `path`: a sheet per kind of record; returns each sheet's row count by its key."""
    ctx = _Context(session)
    counts: dict[str, int] = {}
    with XlsxBook(path, translate=_identity, timezone=timezone, tmpdir=tmpdir) as book:
        for sheet in sheets.SHEETS:
            columns = [Column(c.key, Msg(c.header), c.kind) for c in sheet.columns]  # Chinese in any language
            counts[sheet.key] = book.add_sheet(sheet.name, columns, _rows(sheet, ROWS[sheet.key](ctx)))
    return counts


def _copy_into(package: zipfile.ZipFile, source: IO[bytes], name: str, size: int, *, compress: bool) -> tuple[str, int]:
    """One file copied into the zip in blocks; (its SHA-256, its size as copied)."""
    digest, copied = hashlib.sha256(), 0
    info = zipfile.ZipInfo(name, date_time=datetime.now(UTC).timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with package.open(info, "w", force_zip64=size > (1 << 31) - 1) as out:
        while block := source.read(_BLOCK):
            digest.update(block)
            out.write(block)
            copied += len(block)
    return digest.hexdigest(), copied


_ALREADY_COMPRESSED = re.compile(r"\.(xlsx|docx|pptx|zip|rar|7z|gz|jpe?g|png|gif|webp|mp4|mov|pdf)$", re.IGNORECASE)


def write_export(session: Session, target: IO[bytes], *, data_dir: Path, timezone: str, work_dir: Path,
                 exported_by: str, now: datetime | None = None) -> ExportResult:
    """The full export as a zip written to `target` (a binary file opened for writing, seekable or not).
    `work_dir`: an empty temporary directory for the workbook while it is built."""
    now = now or datetime.now(UTC)
    workbook_path = work_dir / WORKBOOK
    counts = write_workbook(session, workbook_path, timezone=timezone, tmpdir=work_dir)
    result = ExportResult(counts=counts)
    files: list[dict[str, Any]] = []
    missing: list[dict[str, Any]] = []
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                         allowZip64=True) as package:
        with workbook_path.open("rb") as source:
            sha256, size = _copy_into(package, source, WORKBOOK, workbook_path.stat().st_size, compress=False)
        files.append({"path": WORKBOOK, "size": size, "sha256": sha256})
        workbook_path.unlink()

        def add(path_in_zip: str, source_path: Path, recorded: str | None, kind: str, record_id: int) -> None:
            try:
                with source_path.open("rb") as source:
                    digest, length = _copy_into(package, source, path_in_zip, source_path.stat().st_size,
                                                compress=_ALREADY_COMPRESSED.search(path_in_zip) is None)
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                missing.append({"kind": kind, "id": record_id, "path": path_in_zip, "reason": "missing"})
                return
            entry = {"path": path_in_zip, "size": length, "sha256": digest, "kind": kind, "id": record_id}
            if recorded and recorded != digest:
                entry["recorded_sha256"] = recorded
                missing.append({"kind": kind, "id": record_id, "path": path_in_zip, "reason": "checksum differs"})
            files.append(entry)

        for row in _attachment_rows(session):
            try:
                source_path = storage.blob_path(data_dir, row["sha256"])
            except ValueError:
                missing.append({"kind": "attachment", "id": row["id"], "path": row["path"], "reason": "bad checksum"})
                continue
            add(row["path"], source_path, row["sha256"], "attachment", row["id"])
        for row in _briefing_rows(session):
            stored = Path(row["stored_path"])
            source_path = stored if stored.is_absolute() else Path(data_dir) / stored
            add(row["path"], source_path, row["sha256"], "briefing", row["id"])

        manifest = {
            "format": FORMAT, "version": FORMAT_VERSION, "created_at": now.isoformat(timespec="seconds"),
            "exported_by": exported_by, "timezone": timezone, "workbook": WORKBOOK,
            "sheets": [{"key": s.key, "name": s.name, "rows": counts[s.key], "headers": s.headers}
                       for s in sheets.SHEETS],
            "files": files, "missing": missing,
        }
        package.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1, default=str))
    result.files = len(files) - 1
    result.missing = len(missing)
    return result

"""Organization use cases: list and search, create, edit, archive, restore. Each commits once, with its audit entry."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, bindparam, delete, insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session, joinedload

from crm import search_text
from crm.archiving import set_archived
from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.db import utcnow
from crm.i18n import N_, Msg
from crm.listing import LOOKAHEAD_PAGES, Page, Statements, clamp_page, count_up_to, kept_page
from crm.organizations.models import IndustryChain, Organization, OrganizationTag, Tag
from crm.organizations.schemas import KIND_LABELS, OWNERSHIP_LABELS, split_tags
from crm.search import service as search_service
from crm.versioning import flush_versioned, require_version

SEARCH_KIND = "organization"

EDITABLE_FIELDS = [
    "name", "name_en", "credit_code", "kind", "industry_chain_id", "ownership", "country_region",
    "city", "address", "website", "tags", "description", "owner_id",
]
AUDITED_FIELDS = [*EDITABLE_FIELDS, "archived_at"]

ORDERINGS = {
    "-updated": (Organization.updated_at.desc(), Organization.id.desc()),
    "updated": (Organization.updated_at.asc(), Organization.id.asc()),
    "name": (Organization.name_sort.asc(), Organization.id.asc()),
    "-name": (Organization.name_sort.desc(), Organization.id.desc()),
    "-created": (Organization.id.desc(),),
    "created": (Organization.id.asc(),),
}


class DuplicateOrganization(Exception):
    def __init__(self, field: str, existing: Organization) -> None:
        super().__init__(field)
        self.field = field
        self.existing = existing


class PermissionDenied(Exception):
    pass


@dataclass
class OrganizationFilter:
    q: str = ""
    kind: str = ""
    industry_chain_id: int | None = None
    ownership: str = ""
    owner_id: int | None = None
    tag: str = ""
    archived: bool = False
    sort: str = "-updated"
    q_common: bool = False  # set by list_page: see search_service.is_common


def _filtered(stmt: Select, flt: OrganizationFilter) -> Select:
    archived_at = (search_service.unindexed(Organization.archived_at) if search_service.narrows(flt.q, common=flt.q_common)
                   else Organization.archived_at)
    stmt = stmt.where(archived_at.is_not(None) if flt.archived else archived_at.is_(None))
    if flt.q:
        stmt = where_matches(stmt, flt.q, common=flt.q_common)
    if flt.kind:
        stmt = stmt.where(Organization.kind == flt.kind)
    if flt.industry_chain_id:
        stmt = stmt.where(Organization.industry_chain_id == flt.industry_chain_id)
    if flt.ownership:
        stmt = stmt.where(Organization.ownership == flt.ownership)
    if flt.owner_id:
        stmt = stmt.where(Organization.owner_id == flt.owner_id)
    if flt.tag:
        stmt = stmt.where(Organization.id.in_(
            select(OrganizationTag.organization_id).join(Tag, Tag.id == OrganizationTag.tag_id).where(Tag.name == flt.tag)
        ))
    return stmt


def where_matches(stmt: Select, q: str, *, common: bool = False) -> Select:
    """Organizations whose names, pinyin or contacts contain q: the bigram index narrows, the substring confirms."""
    return search_service.matching(stmt, Organization.id, Organization.search_text, SEARCH_KIND, q, common=common)


# What a list of organizations shows (the list page, the header search, the dashboard's "mine"): plain rows, no
# ORM objects (building and tracking 50 Organizations cost the list page more than its query, issue 17).
LIST_COLUMNS = (Organization.id, Organization.name, Organization.name_en, Organization.kind, Organization.city,
                Organization.updated_at, IndustryChain.name_zh.label("industry_zh"),
                IndustryChain.name_en.label("industry_en"), User.display_name.label("owner_name"))


def list_page(session: Session, *, flt: OrganizationFilter, page: int, per_page: int,
              lookahead_pages: int = LOOKAHEAD_PAGES) -> Page:
    """One page of the organizations `flt` selects, as rows of LIST_COLUMNS (`.id`, `.name`, `.name_en`, `.kind`,
    `.city`, `.updated_at`, `.industry_zh`/`.industry_en`, `.owner_name`), with their count (see count_up_to)."""
    if flt.q:  # a search: its statements are built for it
        flt = replace(flt, q_common=search_service.is_common(session, SEARCH_KIND, flt.q, Organization.search_text))
        total, more = count_up_to(session, _filtered(select(Organization.id), flt), page=page, per_page=per_page,
                                  lookahead_pages=lookahead_pages)
        page = clamp_page(page, total, per_page)
        stmt = _list_statement(flt, page, per_page)
        return Page(items=session.execute(stmt).all(), total=total, page=page, per_page=per_page, more=more)
    # the filters alone: the statements are kept and reused (listing.Statements)
    return kept_page(session, _STATEMENTS, flt, ids=lambda: _filtered(select(Organization.id), flt),
                     rows=lambda page: _list_statement(flt, page, per_page), page=page, per_page=per_page,
                     lookahead_pages=lookahead_pages)


_STATEMENTS = Statements()


def _list_statement(flt: OrganizationFilter, page: int, per_page: int) -> Select:
    return (
        _filtered(select(*LIST_COLUMNS).select_from(Organization)
                  .outerjoin(IndustryChain, IndustryChain.id == Organization.industry_chain_id)
                  .outerjoin(User, User.id == Organization.owner_id), flt)
        .order_by(*ORDERINGS[flt.sort])
        .offset((page - 1) * per_page)
        .limit(per_page)
    )


EXPORT_BATCH = 500  # rows read per query by the exports: all matching rows, a batch at a time


def export_rows(session: Session, *, flt: OrganizationFilter, locale: str) -> Iterator[tuple[Any, ...]]:
    """Every organization the list shows for `flt`, in its order (not only one page), as the Excel columns
    (schemas.EXPORT_COLUMNS): the list's own filter gives the ids, their rows are read a batch at a time."""
    if flt.q:
        flt = replace(flt, q_common=search_service.is_common(session, SEARCH_KIND, flt.q, Organization.search_text))
    ids = list(session.scalars(_filtered(select(Organization.id), flt).order_by(*ORDERINGS[flt.sort])))
    zh = locale.startswith("zh")
    for start in range(0, len(ids), EXPORT_BATCH):
        batch = ids[start:start + EXPORT_BATCH]
        rows = {row.id: row for row in session.execute(
            select(Organization.id, Organization.name, Organization.name_en, Organization.kind, Organization.credit_code,
                   IndustryChain.name_zh, IndustryChain.name_en.label("industry_en"), Organization.ownership,
                   Organization.country_region, Organization.city, Organization.address, Organization.website,
                   Organization.tags, User.display_name, Organization.created_at, Organization.updated_at)
            .outerjoin(IndustryChain, IndustryChain.id == Organization.industry_chain_id)
            .outerjoin(User, User.id == Organization.owner_id)
            .where(Organization.id.in_(batch)))}
        for organization_id in batch:
            r = rows[organization_id]
            yield (r.name, r.name_en, Msg(KIND_LABELS[r.kind]) if r.kind in KIND_LABELS else r.kind,
                   (r.name_zh if zh else r.industry_en), r.credit_code,
                   Msg(OWNERSHIP_LABELS[r.ownership]) if r.ownership in OWNERSHIP_LABELS else r.ownership,
                   r.country_region, r.city, r.address, r.website, "，".join(split_tags(r.tags)) if zh
                   else ", ".join(split_tags(r.tags)), r.display_name, r.created_at, r.updated_at)


# One statement, built once: the organization with its officer and chain joined (they were two more queries).
_GET = (select(Organization).where(Organization.id == bindparam("organization_id"))
        .options(joinedload(Organization.owner), joinedload(Organization.industry_chain)))


def get(session: Session, organization_id: int) -> Organization | None:
    return session.scalar(_GET, {"organization_id": organization_id})


def get_industry_chain(session: Session, chain_id: int) -> IndustryChain | None:
    return session.get(IndustryChain, chain_id)


def industry_chains(session: Session, *, include_inactive: bool = False, keep_id: int | None = None) -> list[IndustryChain]:
    """The chains to offer; `keep_id` keeps a retired chain in the list for the record that still has it."""
    stmt = select(IndustryChain).order_by(IndustryChain.sort_order, IndustryChain.id)
    if not include_inactive:
        stmt = stmt.where(IndustryChain.is_active.is_(True) | (IndustryChain.id == (keep_id or 0)))
    return list(session.scalars(stmt))


_INDUSTRY_CHOICES = (select(IndustryChain.id, IndustryChain.name_zh, IndustryChain.name_en)
                     .where(IndustryChain.is_active.is_(True)).order_by(IndustryChain.sort_order, IndustryChain.id))


def industry_choices(session: Session) -> list[Any]:
    """The active chains as rows (id, name_zh, name_en), in industry_chains' order: a list filter's choices."""
    return list(session.execute(_INDUSTRY_CHOICES))


class DuplicateIndustryChain(Exception):
    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


INDUSTRY_CHAIN_FIELDS = ["name_zh", "name_en", "sort_order", "is_active"]


def save_industry_chain(session: Session, *, chain: IndustryChain | None, data: dict[str, Any], active: bool,
                        actor: User | None = None) -> IndustryChain:
    """Adds (chain=None) or changes an industry chain. Retiring one (active=False) keeps it on the organizations
    filed under it and takes it out of the choices for new entries. Audited."""
    before = audit_service.snapshot(chain, INDUSTRY_CHAIN_FIELDS) if chain is not None else {}
    for column in ("name_zh", "name_en"):
        clash = select(IndustryChain.id).where(getattr(IndustryChain, column) == data[column])
        if chain is not None:
            clash = clash.where(IndustryChain.id != chain.id)
        if session.scalar(clash):
            raise DuplicateIndustryChain(column)
    if chain is None:
        chain = IndustryChain(code=f"custom_{uuid.uuid4().hex[:12]}")
        session.add(chain)
    chain.name_zh, chain.name_en = data["name_zh"], data["name_en"]
    chain.sort_order, chain.is_active = int(data["sort_order"]), active
    session.flush()
    changes = audit_service.diff(before, audit_service.snapshot(chain, INDUSTRY_CHAIN_FIELDS))
    if changes:
        audit_service.record(session, actor=actor, action=AuditAction.UPDATE if before else AuditAction.CREATE,
                             entity_type="industry_chain", entity_id=chain.id, entity_label=chain.name_zh,
                             entity_version=1, changes=changes)
    session.commit()
    return chain


_TAGS_IN_USE = (select(Tag.name).where(select(OrganizationTag.tag_id).where(OrganizationTag.tag_id == Tag.id).exists())
                .order_by(Tag.name).limit(bindparam("limit")))


def all_tags(session: Session, *, limit: int = 300) -> list[str]:
    return list(session.scalars(_TAGS_IN_USE, {"limit": limit}))


def _sync_tags(session: Session, org: Organization) -> None:
    """The organization_tag rows follow the tags column (which the form, the page and the audit trail use)."""
    names = org.tags_list
    existing = {t.name: t for t in session.scalars(select(Tag).where(Tag.name.in_(names)))} if names else {}
    for name in names:
        if name not in existing:
            existing[name] = Tag(name=name)
            session.add(existing[name])
    session.flush()
    session.execute(delete(OrganizationTag).where(OrganizationTag.organization_id == org.id))
    if names:
        session.execute(insert(OrganizationTag), [{"organization_id": org.id, "tag_id": existing[n].id} for n in names])


def _stored_tags(normalized: str) -> str:
    tags = split_tags(normalized)
    return f",{','.join(tags)}," if tags else ""


def _contact_names(session: Session, organization_id: int) -> list[str]:
    from crm.contacts.models import Contact  # contacts depend on organizations, not the reverse at import time

    with session.no_autoflush:  # read before this change is flushed, so the row is written once
        return list(session.scalars(
            select(Contact.name).where(Contact.organization_id == organization_id, Contact.archived_at.is_(None))
        ))


def _refresh_search_text(session: Session, org: Organization) -> None:
    contact_names = _contact_names(session, org.id) if org.id else []
    org.search_text = search_text.build(org.name, org.name_en, *contact_names)


def _index(session: Session, org: Organization) -> None:
    search_service.reindex(session, kind=SEARCH_KIND, record_id=org.id, text=org.search_text)


def refresh_search_text(session: Session, *, organization_id: int) -> None:
    """Called when a contact changes: its name is part of its organization's searchable text.
    A Core UPDATE, so the organization's version (edit-conflict detection) is left alone."""
    session.flush()
    name, name_en = session.execute(
        select(Organization.name, Organization.name_en).where(Organization.id == organization_id)
    ).one()
    contact_names = _contact_names(session, organization_id)
    text = search_text.build(name, name_en, *contact_names)
    session.execute(
        sql_update(Organization)
        .where(Organization.id == organization_id)
        .values(search_text=text)
        .execution_options(synchronize_session=False)
    )
    search_service.reindex(session, kind=SEARCH_KIND, record_id=organization_id, text=text)


def find_duplicate(
    session: Session, *, name: str, credit_code: str | None, exclude_id: int | None = None
) -> tuple[str, Organization] | None:
    if credit_code:
        stmt = select(Organization).where(Organization.credit_code == credit_code)
        if exclude_id:
            stmt = stmt.where(Organization.id != exclude_id)
        existing = session.scalar(stmt)
        if existing:
            return "credit_code", existing
    if not name:
        return None
    stmt = select(Organization).where(Organization.name_normalized == search_text.normalize_name(name))
    if exclude_id:
        stmt = stmt.where(Organization.id != exclude_id)
    existing = session.scalar(stmt.limit(1))
    if existing:
        return "name", existing
    return None


def _apply(org: Organization, data: dict[str, Any]) -> None:
    for key in EDITABLE_FIELDS:
        if key in data:
            setattr(org, key, data[key])
    org.credit_code = org.credit_code or None
    org.tags = _stored_tags(data.get("tags", ""))
    org.name_normalized = search_text.normalize_name(org.name)
    org.name_sort = search_text.sort_key(org.name)


def create(session: Session, *, data: dict[str, Any], actor: User) -> Organization:
    org = add(session, data=data, actor=actor)
    session.commit()
    return org


def add(session: Session, *, data: dict[str, Any], actor: User) -> Organization:
    """Creates an organization in the caller's transaction (the import writes many this way, then commits)."""
    duplicate = find_duplicate(session, name=data["name"], credit_code=data.get("credit_code") or None)
    if duplicate:
        raise DuplicateOrganization(*duplicate)
    org = Organization()
    _apply(org, data)
    _refresh_search_text(session, org)
    session.add(org)
    session.flush()
    _sync_tags(session, org)
    _index(session, org)
    audit_service.record(
        session,
        actor=actor,
        action=AuditAction.CREATE,
        entity_type="organization",
        entity_id=org.id,
        entity_label=org.name,
        entity_version=org.version,
        changes=audit_service.diff({}, {k: v for k, v in audit_service.snapshot(org, AUDITED_FIELDS).items() if v not in (None, "")}),
        organization_id=org.id,
    )
    return org


BULK_CHUNK = 500  # values per IN (…) query of the bulk use cases


def add_many(session: Session, *, items: list[dict[str, Any]], actor: User,
             contact_names: list[list[str]] | None = None) -> list[Organization]:
    """add() for many organizations at once, in the caller's transaction (the import's path): the same duplicate
    check (by credit code, then normalized name; a query per 500, and within the list), the same stored values,
    tags, search index and audit entries, written in bulk. `contact_names[i]`: the names of the contacts the
    caller adds to organization i next (contacts.add_many(..., organizations_indexed=True)), indexed with it now."""
    codes = [d["credit_code"] for d in items if d.get("credit_code")]
    names = [search_text.normalize_name(d["name"]) for d in items]
    if len(set(codes)) < len(codes) or len(set(names)) < len(names):
        raise ValueError("add_many: the same organization twice in one call")
    for start in range(0, max(len(codes), len(names)), BULK_CHUNK):
        for column, values, field in ((Organization.credit_code, codes, "credit_code"),
                                      (Organization.name_normalized, names, "name")):
            chunk = values[start:start + BULK_CHUNK]
            existing = session.scalar(select(Organization).where(column.in_(chunk)).limit(1)) if chunk else None
            if existing is not None:
                raise DuplicateOrganization(field, existing)
    orgs = []
    for index, data in enumerate(items):
        org = Organization()
        _apply(org, data)
        org.search_text = search_text.build(org.name, org.name_en, *(contact_names[index] if contact_names else ()))
        orgs.append(org)
    session.add_all(orgs)
    session.flush()
    for org in orgs:
        if org.tags:
            _sync_tags(session, org)
    search_service.reindex_many(session, kind=SEARCH_KIND, texts={org.id: org.search_text for org in orgs})
    audit_service.record_many(session, [dict(
        actor=actor, action=AuditAction.CREATE, entity_type="organization", entity_id=org.id,
        entity_label=org.name, entity_version=org.version,
        changes=audit_service.diff({}, {k: v for k, v in audit_service.snapshot(org, AUDITED_FIELDS).items()
                                        if v not in (None, "")}),
        organization_id=org.id) for org in orgs])
    return orgs


def refresh_search_texts(session: Session, *, organization_ids: list[int]) -> None:
    """refresh_search_text() for many organizations at once (after contacts were added in bulk)."""
    from crm.contacts.models import Contact

    session.flush()
    table = Organization.__table__
    for start in range(0, len(organization_ids), BULK_CHUNK):
        chunk = organization_ids[start:start + BULK_CHUNK]
        names: dict[int, list[str]] = {i: [] for i in chunk}
        for organization_id, name in session.execute(
                select(Contact.organization_id, Contact.name)
                .where(Contact.organization_id.in_(chunk), Contact.archived_at.is_(None)).order_by(Contact.id)):
            names[organization_id].append(name)
        texts = {row.id: search_text.build(row.name, row.name_en, *names[row.id]) for row in session.execute(
            select(Organization.id, Organization.name, Organization.name_en).where(Organization.id.in_(chunk)))}
        session.execute(
            sql_update(table).where(table.c.id == bindparam("b_id")).values(search_text=bindparam("b_text"))
            .execution_options(synchronize_session=False),
            [{"b_id": i, "b_text": t} for i, t in texts.items()])
        search_service.reindex_many(session, kind=SEARCH_KIND, texts=texts)
        for organization_id in chunk:  # a loaded copy reads the new text again when asked
            loaded = session.identity_map.get(session.identity_key(Organization, organization_id))
            if loaded is not None:
                session.expire(loaded, ["search_text"])


def update(session: Session, *, org: Organization, data: dict[str, Any], version: int | None, actor: User) -> Organization:
    require_version(session, record=org, entity_type="organization", version=version)
    if not change(session, org=org, data=data, actor=actor, version=version):
        session.rollback()
        return org
    session.commit()
    return org


def change(session: Session, *, org: Organization, data: dict[str, Any], actor: User, version: int | None = None) -> bool:
    """Applies an edit in the caller's transaction, with its audit entry; False when it changes nothing.
    `version`: the version the edit was made on (an edit conflict is refused when someone saved in between)."""
    duplicate = find_duplicate(
        session, name=data["name"], credit_code=data.get("credit_code") or None, exclude_id=org.id
    )
    if duplicate:
        raise DuplicateOrganization(*duplicate)
    before = audit_service.snapshot(org, AUDITED_FIELDS)
    _apply(org, data)
    after = audit_service.snapshot(org, AUDITED_FIELDS)
    changes = audit_service.diff(before, after)
    if not changes:
        return False
    org.updated_at = utcnow()
    previous_search_text = org.search_text
    _refresh_search_text(session, org)
    if "name" in changes:
        from crm.contacts import service as contact_service  # contacts import this module: resolve at call time

        contact_service.refresh_search_text_for_organization(session, organization_id=org.id, organization_name=org.name)
    flush_versioned(session, record=org, entity_type="organization", version=version or org.version, reload=get)
    if "tags" in changes:
        _sync_tags(session, org)
    if org.search_text != previous_search_text:
        _index(session, org)
    audit_service.record(
        session,
        actor=actor,
        action=AuditAction.UPDATE,
        entity_type="organization",
        entity_id=org.id,
        entity_label=org.name,
        entity_version=org.version,
        changes=changes,
        organization_id=org.id,
    )
    return True


def can_archive(user: User, org: Organization) -> bool:
    return user.is_manager or org.owner_id == user.id


def _set_archived(session: Session, *, org: Organization, actor: User, archived: bool) -> Organization:
    if not can_archive(actor, org):
        raise PermissionDenied()
    if set_archived(session, record=org, archived=archived, actor=actor, entity_type="organization",
                    entity_label=org.name, organization_id=org.id):
        session.commit()
    return org


def archive(session: Session, *, org: Organization, actor: User) -> Organization:
    return _set_archived(session, org=org, actor=actor, archived=True)


def restore(session: Session, *, org: Organization, actor: User) -> Organization:
    return _set_archived(session, org=org, actor=actor, archived=False)


def choices(session: Session, *, q: str = "", limit: int = 20) -> list[Organization]:
    """Organizations for a picker (the contact form's organization field)."""
    stmt = select(Organization).where(Organization.archived_at.is_(None))
    if q:
        stmt = where_matches(stmt, q, common=search_service.is_common(session, SEARCH_KIND, q, Organization.search_text))
    return list(session.scalars(stmt.order_by(Organization.name_sort).limit(limit)))


# How the history reads: organizations' kinds and ownerships; organization and industry chain ids as names, and
# industry chains stored by their Chinese name (a visit's) in the reader's language.
def organization_names(session: Session, ids: set, locale: str) -> dict[int, str]:
    wanted = [i for i in ids if isinstance(i, int)]
    return dict(session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(wanted))).all()
                ) if wanted else {}


def industry_chain_names(session: Session, ids: set, locale: str) -> dict[int, str]:
    wanted = [i for i in ids if isinstance(i, int)]
    name = IndustryChain.name_zh if locale.startswith("zh") else IndustryChain.name_en
    return dict(session.execute(select(IndustryChain.id, name).where(IndustryChain.id.in_(wanted))).all()
                ) if wanted else {}


def industry_chain_names_by_zh(session: Session, names: set, locale: str) -> dict[str, str]:
    """{Chinese name: the name in the reader's language} for industry chains stored by their Chinese name."""
    wanted = [n for n in names if isinstance(n, str)]
    if not wanted or locale.startswith("zh"):
        return {}
    return dict(session.execute(select(IndustryChain.name_zh, IndustryChain.name_en)
                                .where(IndustryChain.name_zh.in_(wanted))).all())


audit_labels.register("organization", values={"kind": KIND_LABELS, "ownership": OWNERSHIP_LABELS})
audit_labels.register("industry_chain", fields={"name_zh": N_("Chinese name"), "name_en": N_("English name"),
                                                "sort_order": N_("Order in the list"), "is_active": N_("Active")})
audit_labels.register(audit_labels.ANY, reference={
    "organization_id": audit_labels.Reference(organization_names),
    "industry_chain_id": audit_labels.Reference(industry_chain_names)})

"""Contact use cases. A contact's name is part of its organization's searchable text, so both change together."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session, selectinload

from crm import search_text
from crm.archiving import set_archived
from crm.audit import labels as audit_labels
from crm.audit import service as audit_service
from crm.audit.models import AuditAction
from crm.auth.models import User
from crm.contacts.models import Contact
from crm.db import utcnow
from crm.i18n import Msg
from crm.listing import LOOKAHEAD_PAGES, Page, Statements, clamp_page, count_up_to, kept_page
from crm.organizations import service as organization_service
from crm.organizations.models import Organization
from crm.organizations.service import PermissionDenied
from crm.search import service as search_service
from crm.versioning import flush_versioned, require_version

SEARCH_KIND = "contact"

EDITABLE_FIELDS = ["organization_id", "name", "title", "mobile", "phone", "email", "wechat", "notes"]
AUDITED_FIELDS = [*EDITABLE_FIELDS, "archived_at"]

ORDERINGS = {
    "name": (Contact.name.asc(), Contact.id.asc()),
    "-name": (Contact.name.desc(), Contact.id.desc()),
    "-updated": (Contact.updated_at.desc(), Contact.id.desc()),
    "updated": (Contact.updated_at.asc(), Contact.id.asc()),
}


class InvalidOrganization(Exception):
    def __init__(self, message: Msg) -> None:
        super().__init__(message.msgid)
        self.message = message


@dataclass
class ContactFilter:
    q: str = ""
    organization_id: int | None = None
    archived: bool = False
    sort: str = "name"
    q_common: bool = False  # set by list_page: see search_service.is_common


def _filtered(stmt: Select, flt: ContactFilter) -> Select:
    archived_at = (search_service.unindexed(Contact.archived_at) if search_service.narrows(flt.q, common=flt.q_common)
                   else Contact.archived_at)
    stmt = stmt.where(archived_at.is_not(None) if flt.archived else archived_at.is_(None))
    if flt.q:
        stmt = search_service.matching(stmt, Contact.id, Contact.search_text, SEARCH_KIND, flt.q, common=flt.q_common)
    if flt.organization_id:
        stmt = stmt.where(Contact.organization_id == flt.organization_id)
    return stmt


# What a list of contacts shows (the list page, the header search): plain rows, no ORM objects (issue 17).
LIST_COLUMNS = (Contact.id, Contact.name, Contact.title, Contact.mobile, Contact.email, Contact.organization_id,
                Organization.name.label("organization_name"))


def list_page(session: Session, *, flt: ContactFilter, page: int, per_page: int,
              lookahead_pages: int = LOOKAHEAD_PAGES) -> Page:
    """One page of the contacts `flt` selects, as rows of LIST_COLUMNS, with their count (see count_up_to)."""
    if flt.q:  # a search: its statements are built for it
        flt = replace(flt, q_common=search_service.is_common(session, SEARCH_KIND, flt.q, Contact.search_text))
        total, more = count_up_to(session, _filtered(select(Contact.id), flt), page=page, per_page=per_page,
                                  lookahead_pages=lookahead_pages)
        page = clamp_page(page, total, per_page)
        stmt = _list_statement(flt, page, per_page)
        return Page(items=session.execute(stmt).all(), total=total, page=page, per_page=per_page, more=more)
    # the filters alone: the statements are kept and reused (listing.Statements)
    return kept_page(session, _STATEMENTS, flt, ids=lambda: _filtered(select(Contact.id), flt),
                     rows=lambda page: _list_statement(flt, page, per_page), page=page, per_page=per_page,
                     lookahead_pages=lookahead_pages)


_STATEMENTS = Statements()


def _list_statement(flt: ContactFilter, page: int, per_page: int) -> Select:
    return (
        _filtered(select(*LIST_COLUMNS).select_from(Contact)
                  .join(Organization, Organization.id == Contact.organization_id), flt)
        .order_by(*ORDERINGS[flt.sort])
        .offset((page - 1) * per_page)
        .limit(per_page)
    )


EXPORT_BATCH = 500  # rows read per query by the export


def export_rows(session: Session, *, flt: ContactFilter) -> Iterator[tuple[Any, ...]]:
    """Every contact the list shows for `flt`, in its order (not only one page), as schemas.EXPORT_COLUMNS:
    the list's own filter gives the ids, their rows are read a batch at a time."""
    if flt.q:
        flt = replace(flt, q_common=search_service.is_common(session, SEARCH_KIND, flt.q, Contact.search_text))
    ids = list(session.scalars(_filtered(select(Contact.id), flt).order_by(*ORDERINGS[flt.sort])))
    for start in range(0, len(ids), EXPORT_BATCH):
        batch = ids[start:start + EXPORT_BATCH]
        rows = {row.id: row for row in session.execute(
            select(Contact.id, Contact.name, Organization.name.label("organization"), Contact.title, Contact.mobile,
                   Contact.phone, Contact.email, Contact.wechat, Contact.updated_at)
            .join(Organization, Organization.id == Contact.organization_id).where(Contact.id.in_(batch)))}
        for contact_id in batch:
            r = rows[contact_id]
            yield (r.name, r.organization, r.title, r.mobile, r.phone, r.email, r.wechat, r.updated_at)


def for_organization(session: Session, *, organization_id: int) -> list[Contact]:
    stmt = (
        select(Contact)
        .where(Contact.organization_id == organization_id, Contact.archived_at.is_(None))
        .order_by(Contact.id)
    )
    return list(session.scalars(stmt))


def get(session: Session, contact_id: int) -> Contact | None:
    return session.scalar(select(Contact).where(Contact.id == contact_id).options(selectinload(Contact.organization)))


def _organization(session: Session, organization_id: int) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None or org.is_archived:
        raise InvalidOrganization(Msg("Choose an organization that exists and is not archived."))
    return org


def _search_text(contact: Contact, organization_name: str) -> str:
    return search_text.build(
        contact.name, extra=(organization_name, contact.title, contact.mobile, contact.email, contact.wechat)
    )


def _apply(session: Session, contact: Contact, data: dict[str, Any]) -> Organization:
    org = _organization(session, data["organization_id"])
    for key in EDITABLE_FIELDS:
        if key in data:
            setattr(contact, key, data[key])
    contact.search_text = _search_text(contact, org.name)
    return org


def refresh_search_text_for_organization(session: Session, *, organization_id: int, organization_name: str) -> None:
    """After an organization is renamed: its name is part of each of its contacts' searchable text.
    Core UPDATEs, so the contacts' versions (edit-conflict detection) are left alone."""
    for contact in session.scalars(select(Contact).where(Contact.organization_id == organization_id)):
        text = _search_text(contact, organization_name)
        session.execute(
            sql_update(Contact).where(Contact.id == contact.id)
            .values(search_text=text)
            .execution_options(synchronize_session=False)
        )
        search_service.reindex(session, kind=SEARCH_KIND, record_id=contact.id, text=text)


def create(session: Session, *, data: dict[str, Any], actor: User) -> Contact:
    contact = add(session, data=data, actor=actor)
    session.commit()
    return contact


def add(session: Session, *, data: dict[str, Any], actor: User) -> Contact:
    """Creates a contact in the caller's transaction (a visit form adds delegation members this way)."""
    contact = Contact()
    org = _apply(session, contact, data)
    session.add(contact)
    session.flush()
    search_service.reindex(session, kind=SEARCH_KIND, record_id=contact.id, text=contact.search_text)
    organization_service.refresh_search_text(session, organization_id=org.id)
    audit_service.record(
        session,
        actor=actor,
        action=AuditAction.CREATE,
        entity_type="contact",
        entity_id=contact.id,
        entity_label=f"{contact.name} · {org.name}",
        entity_version=contact.version,
        changes=audit_service.diff({}, {k: v for k, v in audit_service.snapshot(contact, AUDITED_FIELDS).items() if v not in (None, "")}),
        organization_id=org.id,
    )
    return contact


def add_many(session: Session, *, items: list[dict[str, Any]], actor: User,
             organizations_indexed: bool = False) -> list[Contact]:
    """add() for many contacts at once, in the caller's transaction (the import's path): the same checks, stored
    values, search index, organizations' search text and audit entries, written in bulk. `organizations_indexed`:
    the organizations were just created with these contacts' names in their search text (organization_service.
    add_many(contact_names=…)), so it is not built again."""
    org_ids = sorted({d["organization_id"] for d in items})
    orgs: dict[int, Organization] = {}
    for start in range(0, len(org_ids), 500):
        orgs.update({o.id: o for o in session.scalars(
            select(Organization).where(Organization.id.in_(org_ids[start:start + 500])))})
    contacts = []
    for data in items:
        org = orgs.get(data["organization_id"])
        if org is None or org.is_archived:
            raise InvalidOrganization(Msg("Choose an organization that exists and is not archived."))
        contact = Contact()
        for key in EDITABLE_FIELDS:
            if key in data:
                setattr(contact, key, data[key])
        contact.search_text = _search_text(contact, org.name)
        contacts.append(contact)
    session.add_all(contacts)
    session.flush()
    search_service.reindex_many(session, kind=SEARCH_KIND, texts={c.id: c.search_text for c in contacts})
    audit_service.record_many(session, [dict(
        actor=actor, action=AuditAction.CREATE, entity_type="contact", entity_id=contact.id,
        entity_label=f"{contact.name} · {orgs[contact.organization_id].name}", entity_version=contact.version,
        changes=audit_service.diff({}, {k: v for k, v in audit_service.snapshot(contact, AUDITED_FIELDS).items()
                                        if v not in (None, "")}),
        organization_id=contact.organization_id) for contact in contacts])
    if not organizations_indexed:
        organization_service.refresh_search_texts(session, organization_ids=org_ids)
    return contacts


def update(session: Session, *, contact: Contact, data: dict[str, Any], version: int | None, actor: User) -> Contact:
    require_version(session, record=contact, entity_type="contact", version=version)
    if not change(session, contact=contact, data=data, actor=actor, version=version):
        session.rollback()
        return contact
    session.commit()
    return contact


def change(session: Session, *, contact: Contact, data: dict[str, Any], actor: User, version: int | None = None) -> bool:
    """Applies an edit in the caller's transaction, with its audit entry; False when it changes nothing."""
    old_org_id = contact.organization_id
    before = audit_service.snapshot(contact, AUDITED_FIELDS)
    org = _apply(session, contact, data)
    changes = audit_service.diff(before, audit_service.snapshot(contact, AUDITED_FIELDS))
    if not changes:
        return False
    contact.updated_at = utcnow()
    flush_versioned(session, record=contact, entity_type="contact", version=version or contact.version, reload=get)
    search_service.reindex(session, kind=SEARCH_KIND, record_id=contact.id, text=contact.search_text)
    for org_id in {old_org_id, org.id}:
        organization_service.refresh_search_text(session, organization_id=org_id)
    audit_service.record(
        session,
        actor=actor,
        action=AuditAction.UPDATE,
        entity_type="contact",
        entity_id=contact.id,
        entity_label=f"{contact.name} · {org.name}",
        entity_version=contact.version,
        changes=changes,
        organization_id=org.id,
    )
    return True


def can_archive(user: User, contact: Contact) -> bool:
    return user.is_manager or contact.organization.owner_id == user.id


def _set_archived(session: Session, *, contact: Contact, actor: User, archived: bool) -> Contact:
    if not can_archive(actor, contact):
        raise PermissionDenied()
    if not archived and contact.is_archived:
        _organization(session, contact.organization_id)  # restoring into an archived organization: refused
    if set_archived(session, record=contact, archived=archived, actor=actor, entity_type="contact",
                    entity_label=f"{contact.name} · {contact.organization.name}",
                    organization_id=contact.organization_id):
        organization_service.refresh_search_text(session, organization_id=contact.organization_id)
        session.commit()
    return contact


def archive(session: Session, *, contact: Contact, actor: User) -> Contact:
    return _set_archived(session, contact=contact, actor=actor, archived=True)


def restore(session: Session, *, contact: Contact, actor: User) -> Contact:
    return _set_archived(session, contact=contact, actor=actor, archived=False)


# How the history reads: contact ids as names.
def contact_names(session: Session, ids: set, locale: str) -> dict[int, str]:
    wanted = [i for i in ids if isinstance(i, int)]
    return dict(session.execute(select(Contact.id, Contact.name).where(Contact.id.in_(wanted))).all()) if wanted else {}


audit_labels.register(audit_labels.ANY, reference={"contact_id": audit_labels.Reference(contact_names)})

"""Contacts (联系人名录): each row names its organization by unified social credit code or by name (as the
duplicate check normalizes it); the organization must exist and not be archived. A row matches an existing
contact of that organization with the same name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm import search_text
from crm.contacts import service as contact_service
from crm.contacts.models import Contact
from crm.i18n import Msg
from crm.imports.kinds.base import (
    Field,
    ImportKind,
    Match,
    ParseContext,
    Row,
    ValueProblem,
    WriteContext,
    register,
    text,
)
from crm.imports.kinds.organizations import CONTACT_FIELDS, ORGANIZATION_FIELDS, _chunks, find_existing
from crm.validators import check_mobile

_ATTRS = {"contact_name": "name", "contact_title": "title", "contact_mobile": "mobile", "contact_phone": "phone",
          "contact_email": "email", "contact_wechat": "wechat", "notes": "notes"}


def _contact_field(f: Field, label: Msg, *extra: str, required: bool = False) -> Field:
    return Field(f.key, label, synonyms=(*f.synonyms, *extra), required=required, parser=f.parser, help=f.help)


_by_key = {f.key: f for f in (*ORGANIZATION_FIELDS, *CONTACT_FIELDS)}

FIELDS = (
    Field("name", Msg("Organization"), synonyms=(*_by_key["name"].synonyms, "所属企业", "所属单位", "工作单位"),
          parser=text(120), help=Msg("The organization's name, or give its credit code.")),
    _by_key["credit_code"],
    _contact_field(_by_key["contact_name"], Msg("Name"), "姓名", required=True),
    _contact_field(_by_key["contact_title"], Msg("Title")),
    _contact_field(_by_key["contact_mobile"], Msg("Mobile")),
    _contact_field(_by_key["contact_phone"], Msg("Phone")),
    _contact_field(_by_key["contact_email"], Msg("E-mail")),
    _contact_field(_by_key["contact_wechat"], Msg("WeChat ID")),
    Field("notes", Msg("Notes"), synonyms=("备注", "说明", "notes", "remarks"), parser=text(2000)),
)


class ContactKindImport(ImportKind):
    name = "contacts"
    label = Msg("Contacts")
    entity_type = "contact"
    fields = FIELDS
    example = {"name": "苏州示例新材料有限公司", "contact_name": "张伟", "contact_title": "总经理",
               "contact_mobile": "13800138000", "contact_email": "zhangwei@example.com"}

    def _organizations(self, session, rows: list[Row], ctx: ParseContext) -> dict[int, int]:
        if "contacts.orgs" not in ctx.cache:
            found = find_existing(session, rows)
            ctx.cache["contacts.orgs"] = {n: org.id for n, (org, _by) in found.items() if not org.is_archived}
        return ctx.cache["contacts.orgs"]

    def check(self, session, rows: list[Row], ctx: ParseContext) -> None:
        orgs = self._organizations(session, rows, ctx)
        seen: dict[tuple[int, str], int] = {}
        for row in rows:
            if not row.values.get("name") and not row.values.get("credit_code"):
                ctx.problem(row, "name", Msg("Give the organization's name or its unified social credit code."))
                continue
            if row.number not in orgs:
                ctx.problem(row, "credit_code" if row.values.get("credit_code") else "name", Msg(
                    "No organization in the CRM has this name or credit code (archived ones do not count): "
                    "import or add the organization first."))
                continue
            key = (orgs[row.number], row.values.get("contact_name") or "")
            if key in seen:
                ctx.problem(row, "contact_name", Msg("The same contact as row %(row)s.", row=seen[key]))
            else:
                seen[key] = row.number

    def match(self, session, rows: list[Row], ctx: ParseContext) -> dict[int, Match]:
        orgs = self._organizations(session, rows, ctx)
        wanted = {(orgs[r.number], r.values.get("contact_name")) for r in rows if r.number in orgs}
        existing: dict[tuple[int, str], Contact] = {}
        for chunk in _chunks(sorted({o for o, _n in wanted})):
            for contact in session.scalars(select(Contact).where(Contact.organization_id.in_(chunk),
                                                                 Contact.archived_at.is_(None))):
                existing.setdefault((contact.organization_id, contact.name), contact)
        out = {}
        for row in rows:
            contact = existing.get((orgs.get(row.number), row.values.get("contact_name")))
            if contact is not None:
                out[row.number] = Match(contact.id, contact.name, f"/contacts/{contact.id}", "name")
        return out

    def write_many(self, session, items: list[tuple[Row, Match | None, str]], ctx: WriteContext) -> None:
        """The organizations of the chunk's rows looked up at once (one query per 500), then write() per row."""
        found = find_existing(session, [row for row, _m, _a in items])
        ctx.cache["contacts.orgs"] = {n: org.id for n, (org, _by) in found.items() if not org.is_archived}
        super().write_many(session, items, ctx)

    def write(self, session, row: Row, *, match: Match | None, action: str, ctx: WriteContext) -> None:
        if "contacts.orgs" not in ctx.cache or row.number not in ctx.cache["contacts.orgs"]:
            found = find_existing(session, [row])
            ctx.cache.setdefault("contacts.orgs", {}).update(
                {n: org.id for n, (org, _by) in found.items() if not org.is_archived})
        orgs = ctx.cache["contacts.orgs"]
        if row.number not in orgs:
            raise ValueProblem(Msg("No organization in the CRM has this name or credit code (archived ones do not "
                                   "count): import or add the organization first."))
        data: dict[str, Any] = {attr: (row.values.get(k) or "") for k, attr in _ATTRS.items() if k in row.values}
        if data.get("phone") and check_mobile(data["phone"]) is None and not data.get("mobile"):
            data["mobile"], data["phone"] = data["phone"], ""
        if match is None:
            contact = contact_service.add(session, data={**data, "organization_id": orgs[row.number]}, actor=ctx.actor)
            ctx.created("contact", contact)
            return
        contact = session.get(Contact, match.record_id)
        before = {k: getattr(contact, k) for k in contact_service.EDITABLE_FIELDS}
        new = dict(before)
        for attr, value in data.items():
            if value and (action == "update" or not before.get(attr)):
                new[attr] = value
        prior = {k: before[k] for k in before if new[k] != before[k]}
        if prior and contact_service.change(session, contact=contact, data=new, actor=ctx.actor):
            ctx.updated("contact", contact, prior)


def normalized(name: str) -> str:
    return search_text.normalize_name(name)


register(ContactKindImport())

"""Organizations (客商名录), with one contact on the same row (联系人/职务/联系电话/手机/邮箱/微信).

A row matches an existing organization by its unified social credit code first, then by its name as the
duplicate check normalizes it (organization_service.find_duplicate). The same organization twice in one file is
merged: the later rows add their contacts to it, and a later row that gives a field another value than the
first row is a problem (so nothing is silently lost).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm import search_text
from crm.contacts import service as contact_service
from crm.contacts.models import Contact
from crm.i18n import Msg
from crm.imports import values
from crm.imports.kinds.base import (
    Entity,
    Field,
    ImportKind,
    Match,
    ParseContext,
    Row,
    ValueProblem,
    WriteContext,
    register,
    register_entity,
    text,
)
from crm.organizations import service as organization_service
from crm.organizations.models import Organization, OrganizationKind, Ownership
from crm.organizations.schemas import KIND_LABELS, MAX_TAGS_LENGTH, OWNERSHIP_LABELS, check_tags, normalize_tags
from crm.validators import (
    check_credit_code,
    check_email,
    check_mobile,
    check_phone,
    check_url,
    check_wechat,
    normalize_credit_code,
)

CHUNK = 500  # ids per IN (…) query


def _checked(max_length: int, check, normalize=None):
    base = text(max_length)

    def parse(value: Any, ctx: ParseContext) -> str:
        result = base(value, ctx)
        if normalize:
            result = normalize(result)
        problem = check(result) if result else None
        if problem:
            raise ValueProblem(problem)
        return result

    return parse


def _choice(labels: dict, enum) -> Any:
    def parse(value: Any, ctx: ParseContext) -> str:
        word = values.fold(value)
        for code in enum:
            label = labels[code]
            if word in {values.fold(code.value), values.fold(label), values.fold(Msg(label).translate("zh_CN"))}:
                return code.value
        shown = "、".join(Msg(labels[c]).translate(ctx.locale) for c in enum)
        raise ValueProblem(Msg("“%(value)s” is not one of: %(choices)s.", value=str(value), choices=shown))

    return parse


def _contact_phone(value: Any, ctx: ParseContext) -> str:
    result = text(30)(value, ctx)
    if check_mobile(result) is None or check_phone(result) is None:
        return result
    raise ValueProblem(check_phone(result))


CONTACT_FIELDS = (
    Field("contact_name", Msg("Contact"), synonyms=("联系人", "联系人姓名", "联系人名称", "对接人", "contact",
                                                  "contact name", "contact person"), parser=text(60), group="contact"),
    Field("contact_title", Msg("Contact's title"), synonyms=("职务", "联系人职务", "职位", "联系人职位", "title",
                                                           "position", "job title"), parser=text(120), group="contact"),
    Field("contact_mobile", Msg("Contact's mobile"), synonyms=("手机", "手机号", "手机号码", "移动电话", "联系人手机",
                                                             "mobile", "cell phone"),
          parser=_checked(20, check_mobile), group="contact"),
    Field("contact_phone", Msg("Contact's phone"), synonyms=("联系电话", "电话", "座机", "办公电话", "固定电话",
                                                           "联系人电话", "phone", "telephone", "tel"),
          parser=_contact_phone, group="contact",
          help=Msg("A mobile number here is stored as the contact's mobile.")),
    Field("contact_email", Msg("Contact's e-mail"), synonyms=("邮箱", "电子邮箱", "电子邮件", "联系人邮箱", "email",
                                                            "e-mail", "mail"),
          parser=_checked(254, check_email), group="contact"),
    Field("contact_wechat", Msg("Contact's WeChat ID"), synonyms=("微信", "微信号", "联系人微信", "wechat"),
          parser=_checked(40, check_wechat), group="contact"),
)

ORGANIZATION_FIELDS = (
    Field("name", Msg("Name"), synonyms=("企业名称", "单位名称", "公司名称", "客商名称", "名称", "企业", "客商",
                                         "单位", "公司", "机构名称", "company", "company name", "organization",
                                         "organisation", "organization name", "enterprise"),
          required=True, parser=text(120)),
    Field("credit_code", Msg("Unified social credit code"), synonyms=("统一社会信用代码", "信用代码",
                                                                      "社会信用代码", "uscc", "credit code"),
          parser=_checked(18, check_credit_code, normalize_credit_code)),
    Field("name_en", Msg("English name"), synonyms=("英文名称", "英文名", "english name"), parser=text(200)),
    Field("kind", Msg("Kind"), synonyms=("类型", "企业类型", "客商类型", "类别", "type", "kind"),
          parser=_choice(KIND_LABELS, OrganizationKind),
          help=Msg("Blank: investor.")),
    Field("industry_chain_id", Msg("Industry chain"), synonyms=("产业链", "所属产业链", "产业", "所属产业", "行业",
                                                                "所属行业", "industry", "industry chain"),
          parser=values.chain),
    Field("ownership", Msg("Ownership"), synonyms=("所有制", "企业性质", "经济类型", "所有制性质", "ownership"),
          parser=_choice(OWNERSHIP_LABELS, Ownership)),
    Field("country_region", Msg("Country or region"), synonyms=("国家地区", "国家/地区", "国别", "国家", "地区",
                                                                "country", "region"), parser=text(60)),
    Field("city", Msg("City"), synonyms=("城市", "所在城市", "所在地", "city"), parser=text(60)),
    Field("address", Msg("Address"), synonyms=("地址", "注册地址", "通讯地址", "企业地址", "address"), parser=text(200)),
    Field("website", Msg("Website"), synonyms=("网址", "网站", "官网", "website", "url"),
          parser=_checked(200, check_url)),
    Field("tags", Msg("Tags"), synonyms=("标签", "tags"), parser=_checked(MAX_TAGS_LENGTH, check_tags, normalize_tags)),
    Field("description", Msg("Description"), synonyms=("简介", "企业简介", "备注", "说明", "description", "notes",
                                                       "remarks"), parser=text(5000)),
    Field("owner_id", Msg("Owning officer"), synonyms=("负责人", "招商专员", "跟进人", "责任人", "owner", "officer"),
          parser=values.officer),
)

ORG_KEYS = tuple(f.key for f in ORGANIZATION_FIELDS)
CONTACT_KEYS = {f.key: f.key.removeprefix("contact_") for f in CONTACT_FIELDS}
CONTACT_KEYS["contact_name"] = "name"


def _key(row: Row) -> str | None:
    """The organization a row names: its credit code, else its normalized name."""
    code = row.values.get("credit_code")
    if code:
        return f"code:{code}"
    name = row.values.get("name")
    return f"name:{search_text.normalize_name(name)}" if name else None


def find_existing(session, rows: list[Row]) -> dict[int, tuple[Organization, str]]:
    """{row number: (existing organization, "credit_code" | "name")}: credit code first, then normalized name."""
    codes = {r.values["credit_code"] for r in rows if r.values.get("credit_code")}
    names = {search_text.normalize_name(r.values["name"]) for r in rows if r.values.get("name")}
    by_code: dict[str, Organization] = {}
    by_name: dict[str, Organization] = {}
    for chunk in _chunks(sorted(codes)):
        for org in session.scalars(select(Organization).where(Organization.credit_code.in_(chunk))):
            by_code[org.credit_code] = org
    for chunk in _chunks(sorted(names)):
        for org in session.scalars(select(Organization).where(Organization.name_normalized.in_(chunk))
                                   .order_by(Organization.id)):
            by_name.setdefault(org.name_normalized, org)
    found = {}
    for row in rows:
        code = row.values.get("credit_code")
        if code and code in by_code:
            found[row.number] = (by_code[code], "credit_code")
        elif row.values.get("name"):
            org = by_name.get(search_text.normalize_name(row.values["name"]))
            if org is not None:
                found[row.number] = (org, "name")
    return found


def _chunks(items: list) -> list[list]:
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


class OrganizationKindImport(ImportKind):
    name = "organizations"
    label = Msg("Organizations")
    entity_type = "organization"
    fields = ORGANIZATION_FIELDS + CONTACT_FIELDS
    example = {"name": "苏州示例新材料有限公司", "credit_code": "", "kind": "投资方", "city": "苏州",
               "address": "工业园区星湖街328号", "tags": "新材料", "contact_name": "张伟", "contact_title": "总经理",
               "contact_mobile": "13800138000", "contact_email": "zhangwei@example.com"}

    def match(self, session, rows: list[Row], ctx: ParseContext) -> dict[int, Match]:
        return {number: Match(org.id, org.name, f"/organizations/{org.id}", by)
                for number, (org, by) in find_existing(session, self._firsts(rows)).items()}

    def _firsts(self, rows: list[Row]) -> list[Row]:
        """The first row of each organization in the file (later ones are merged into it)."""
        return [r for r in rows if r.merged_into is None]

    def check(self, session, rows: list[Row], ctx: ParseContext) -> None:
        first_of: dict[str, Row] = {}
        by_name: dict[str, Row] = {}
        for row in rows:
            key = _key(row)
            if key is None:
                continue
            name_key = search_text.normalize_name(row.values.get("name") or "")
            first = first_of.get(key) or (by_name.get(name_key) if name_key else None)
            if first is None:
                first_of[key] = row
                if name_key:
                    by_name.setdefault(name_key, row)
                continue
            row.merged_into = first.number
            row.note = Msg("The same organization as row %(row)s: merged into it.", row=first.number)
            for field_key in ORG_KEYS:
                mine, theirs = row.values.get(field_key), first.values.get(field_key)
                if mine not in (None, "") and theirs not in (None, "") and mine != theirs:
                    ctx.problem(row, field_key, Msg(
                        "The same organization as row %(row)s, but this differs from “%(value)s” there.",
                        row=first.number, value=str(first.raw.get(field_key, theirs))))
        if any(r.values.get(k) for r in rows for k in CONTACT_KEYS if k != "contact_name"):
            for row in rows:
                if not row.values.get("contact_name") and any(row.values.get(k) for k in CONTACT_KEYS):
                    ctx.problem(row, "contact_name", Msg("Give the contact's name with their details."))

    def write_many(self, session, items: list[tuple[Row, Match | None, str]], ctx: WriteContext) -> None:
        """New organizations (and their contacts) in bulk through the services' bulk use cases; rows that match
        a record, or repeat one named earlier, one by one after them."""
        orgs: dict[str, int] = ctx.cache.setdefault("organizations.written", {})
        new = [(row, m, a) for row, m, a in items if m is None and row.merged_into is None and _key(row) not in orgs]
        if new:
            names = [[row.values["contact_name"]] if row.values.get("contact_name") else [] for row, _m, _a in new]
            created = organization_service.add_many(session, items=[_new_data(row) for row, _m, _a in new],
                                                    actor=ctx.actor, contact_names=names)
            contacts = []
            for (row, _m, _a), org in zip(new, created, strict=True):
                ctx.created("organization", org, row=row.number)
                orgs[_key(row)] = org.id
                if row.values.get("contact_name"):
                    contacts.append((row, {**_contact_data(row), "organization_id": org.id}))
            if contacts:
                added = contact_service.add_many(session, items=[d for _r, d in contacts], actor=ctx.actor,
                                                 organizations_indexed=True)
                for (row, _d), contact in zip(contacts, added, strict=True):
                    ctx.created("contact", contact, row=row.number)
        done = {row.number for row, _m, _a in new}
        super().write_many(session, [item for item in items if item[0].number not in done], ctx)

    def write(self, session, row: Row, *, match: Match | None, action: str, ctx: WriteContext) -> None:
        orgs: dict[str, int] = ctx.cache.setdefault("organizations.written", {})
        key = _key(row)
        if row.merged_into is not None and key in orgs:  # a later row of the same organization: only its contact
            org = session.get(Organization, orgs[key])
        elif match is None:
            org = organization_service.add(session, data=_new_data(row), actor=ctx.actor)
            ctx.created("organization", org)
        else:
            org = session.get(Organization, match.record_id)
            before = {k: _editable(org, k) for k in ORG_KEYS}
            data = dict(before)
            for k in ORG_KEYS:
                if k not in row.values or row.values[k] in (None, ""):
                    continue
                if action == "update" or before[k] in (None, ""):
                    data[k] = row.values[k]
            prior = {k: _stored(org, k) for k in ORG_KEYS if data[k] != before[k]}
            if prior and organization_service.change(session, org=org, data=data, actor=ctx.actor):
                ctx.updated("organization", org, prior)
        if key is not None:
            orgs[key] = org.id
        self._write_contact(session, org, row, action, ctx)

    def _write_contact(self, session, org: Organization, row: Row, action: str, ctx: WriteContext) -> None:
        name = row.values.get("contact_name")
        if not name:
            return
        data = _contact_data(row)
        existing = session.scalar(select(Contact).where(Contact.organization_id == org.id, Contact.name == name,
                                                        Contact.archived_at.is_(None)).limit(1))
        if existing is None:
            contact = contact_service.add(session, data={**data, "organization_id": org.id}, actor=ctx.actor)
            ctx.created("contact", contact)
            return
        fields = contact_service.EDITABLE_FIELDS
        before = {k: getattr(existing, k) for k in fields}
        new = dict(before)
        for attr, value in data.items():
            if value and (action == "update" or not before.get(attr)):
                new[attr] = value
        prior = {k: before[k] for k in fields if new[k] != before[k]}
        if prior and contact_service.change(session, contact=existing, data=new, actor=ctx.actor):
            ctx.updated("contact", existing, prior)


def _new_data(row: Row) -> dict[str, Any]:
    data = {k: row.values.get(k) for k in ORG_KEYS}
    data = {k: ("" if v is None and k not in ("industry_chain_id", "owner_id", "credit_code") else v)
            for k, v in data.items()}
    data["kind"] = data["kind"] or OrganizationKind.INVESTOR.value
    return data


def _contact_data(row: Row) -> dict[str, Any]:
    data = {attr: (row.values.get(k) or "") for k, attr in CONTACT_KEYS.items() if k in row.values}
    if data.get("phone") and check_mobile(data["phone"]) is None and not data.get("mobile"):
        data["mobile"], data["phone"] = data["phone"], ""  # a mobile number in the 联系电话 column
    return data


def _editable(org: Organization, key: str) -> Any:
    """The value as the form edits it (tags as "a，b")."""
    if key == "tags":
        return normalize_tags(org.tags.strip(","))
    return getattr(org, key)


def _stored(org: Organization, key: str) -> Any:
    return getattr(org, key)


def _restore_organization(session, org: Organization, prior: dict[str, Any], actor) -> None:
    data = {k: _editable(org, k) for k in organization_service.EDITABLE_FIELDS}
    for k, v in prior.items():
        data[k] = normalize_tags(v.strip(",")) if k == "tags" else v
    organization_service.change(session, org=org, data=data, actor=actor)


def _restore_contact(session, contact: Contact, prior: dict[str, Any], actor) -> None:
    data = {k: getattr(contact, k) for k in contact_service.EDITABLE_FIELDS}
    data.update(prior)
    contact_service.change(session, contact=contact, data=data, actor=actor)


register(OrganizationKindImport())
register_entity(Entity("organization", Organization, label=lambda o: o.name, url=lambda i: f"/organizations/{i}",
                       search_kind=organization_service.SEARCH_KIND, restore=_restore_organization))
register_entity(Entity("contact", Contact, label=lambda c: c.name, url=lambda i: f"/contacts/{i}",
                       search_kind=contact_service.SEARCH_KIND, restore=_restore_contact,
                       after_undo=lambda session, org_ids: [organization_service.refresh_search_text(
                           session, organization_id=i) for i in org_ids],
                       parent=Contact.organization_id))

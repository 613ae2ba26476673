"""Visits (来访接待登记), written through the visit service like the form.

- When: a date and time in one column (2021年12月8日 9:30, a date-time cell), or a date with the time in a column
  of its own (时间). A date without any time is taken as 09:00; the visit lasts until its end column, else two
  hours. Times are the zone's local time (settings.timezone).
- Organizations: by name (as the duplicate check normalizes it) or credit code, several in one cell (the first
  leads); they must be on file, as for projects (an unknown one is a problem of its row).
- Our side: the responsible officer (接待人/负责人: a user, blank = the importer), attendees who are users
  (陪同人员: 王芳、李强, by name or username), and leaders who are not users as text (我方领导).
- Status: as written (已完成/计划/取消), else done when it has started and planned when it is still to come.
- Subject: as written, else "<lead organization> <kind>" (复星集团 来访考察).
- Matching: a visit on the same local day with one of the row's organizations and the same subject (normalized).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm import search_text
from crm.config import get_settings
from crm.db import utcnow
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
from crm.imports.kinds.projects import _chunks, _every_organization, settings_of
from crm.organizations.models import Organization
from crm.organizations.service import PermissionDenied
from crm.visits import service as visit_service
from crm.visits.models import (
    InterestLevel,
    TourStop,
    Visit,
    VisitHost,
    VisitIndustry,
    VisitKind,
    VisitMember,
    VisitOrganization,
    VisitStatus,
)
from crm.visits.schemas import INTEREST_LABELS, KIND_LABELS, STATUS_LABELS, to_local_input

DEFAULT_START = time(9, 0)
DEFAULT_LENGTH = timedelta(hours=2)
STATUS_WORDS = {values.fold(w): code for code, words in {
    VisitStatus.PLANNED: ("计划", "计划中", "待接待", "拟来访", "planned", "plan"),
    VisitStatus.DONE: ("已完成", "完成", "已接待", "已来访", "done", "held"),
    VisitStatus.CANCELLED: ("取消", "已取消", "cancelled", "canceled"),
}.items() for w in (*words, code.value, STATUS_LABELS[code], Msg(STATUS_LABELS[code]).translate("zh_CN"))}


def _status(value: Any, ctx: ParseContext) -> str:
    code = STATUS_WORDS.get(values.fold(value))
    if code is None:
        raise ValueProblem(Msg("“%(value)s” is not a visit status: write 计划, 已完成 or 取消.", value=str(value)[:30]))
    return str(code)


def _codes(value: Any, ctx: ParseContext) -> list[str]:
    from crm.imports.kinds.projects import _credit_codes

    return _credit_codes(value, ctx)


FIELDS = (
    Field("starts_at", Msg("Starts"), synonyms=(
        "来访日期", "来访时间", "日期", "接待日期", "接待时间", "考察日期", "考察时间", "到访日期", "到访时间",
        "来访日期时间", "活动日期", "开始时间", "date", "starts", "start", "when"), required=True,
          parser=values.moment, help=Msg("2021-12-08 09:30, 2021年12月8日 9:30, or a date with the time in its own column.")),
    Field("start_time", Msg("Time"), synonyms=("时间", "具体时间", "时刻", "几点", "time"), parser=values.clock),
    Field("ends_at", Msg("Ends"), synonyms=("结束时间", "离开时间", "结束", "ends", "end"), parser=values.moment),
    Field("kind", Msg("Kind"), synonyms=("来访类型", "类型", "接待类型", "活动类型", "方式", "形式", "kind", "type"),
          parser=values.visit_kind, help=Msg("Blank: inbound delegation.")),
    Field("organizations", Msg("Organizations"), synonyms=(
        "来访单位", "来访企业", "来访客商", "客商名称", "企业名称", "单位名称", "考察单位", "对接企业", "走访企业",
        "单位", "企业", "organizations", "organization", "company"), required=True, parser=values.names,
          help=Msg("On file already; several separated by 、 — the first leads.")),
    Field("credit_codes", Msg("Unified social credit code"), synonyms=("统一社会信用代码", "信用代码", "credit code"),
          parser=_codes),
    Field("title", Msg("Subject"), synonyms=("主题", "事由", "来访事由", "考察主题", "标题", "接待事由", "活动主题",
                                             "subject", "title"), parser=text(200)),
    Field("purpose", Msg("Purpose"), synonyms=("目的", "来访目的", "考察目的", "purpose"), parser=text(4000)),
    Field("summary", Msg("What was discussed"), synonyms=(
        "接待情况", "纪要", "洽谈内容", "会谈纪要", "交流内容", "主要内容", "洽谈情况", "接待纪要", "内容",
        "summary", "what was discussed", "minutes"), parser=text(20000)),
    Field("outcome", Msg("Outcome"), synonyms=("成果", "洽谈成果", "结果", "成效", "下步打算", "outcome", "result"),
          parser=text(4000)),
    Field("place", Msg("Place"), synonyms=("地点", "接待地点", "来访地点", "考察地点", "place", "location"),
          parser=text(200)),
    Field("leaders", Msg("Leaders on our side"), synonyms=("我方领导", "陪同领导", "接待领导", "出席领导", "leaders"),
          parser=text(2000)),
    Field("officer_id", Msg("Responsible officer"), synonyms=(
        "接待人", "负责人", "招商专员", "责任人", "经办人", "对接人", "responsible officer", "officer"),
          parser=values.officer, help=Msg("A user's name or username. Blank: you.")),
    Field("host_ids", Msg("Our attendees"), synonyms=(
        "陪同人员", "我方人员", "参加人员", "接待人员", "陪同人", "我方参加人员", "hosts", "our attendees",
        "attendees"), parser=values.officers, help=Msg("Users, by name or username, separated by 、.")),
    Field("status", Msg("Status"), synonyms=("状态", "接待状态", "status"), parser=_status,
          help=Msg("Blank: done once it has started, planned before.")),
    Field("interest_level", Msg("Stated interest"), synonyms=("意向程度", "投资意向", "意向", "stated interest",
                                                              "interest"),
          parser=values.choice(INTEREST_LABELS, Msg("level of interest"), {
              InterestLevel.NONE: ("无意向", "无"), InterestLevel.EXPLORING: ("了解中", "初步意向", "一般"),
              InterestLevel.STRONG: ("意向强烈", "强烈", "较强"), InterestLevel.READY: ("准备签约", "拟签约")})),
    Field("industry_ids", Msg("Industry chains of interest"), synonyms=("关注产业链", "意向产业", "关注产业",
                                                                        "意向产业链", "industries"),
          parser=values.chains),
    Field("estimated_investment", Msg("Estimated investment (10k CNY)"), synonyms=(
        "意向投资额", "预计投资", "意向投资", "预计投资额", "estimated investment"), parser=values.amount,
          unit="amount"),
)
KEYS = {f.key for f in FIELDS}
FIELD_OF = {"organization_ids": "organizations", "host_ids": "host_ids", "starts_at": "starts_at",
            "ends_at": "ends_at", "status": "status"}


def _timezone(ctx: ParseContext) -> str:
    return settings_of(ctx).timezone


def _times(row: Row) -> tuple[datetime, datetime] | None:
    starts = row.values.get("starts_at")
    if starts is None:
        return None
    clock = row.values.get("start_time")
    if clock is None and starts.time() == time():
        clock = DEFAULT_START  # a date alone
    starts = values.combine(starts, clock)
    ends = row.values.get("ends_at") or starts + DEFAULT_LENGTH
    if ends.time() == time() and ends.date() == starts.date() and row.values.get("ends_at") is not None:
        ends = starts + DEFAULT_LENGTH  # an end date without a time
    return starts, ends


def _organization_index(session, rows: list[Row], ctx: ParseContext) -> tuple[dict[str, int], dict[str, list[int]]]:
    from crm.imports.kinds.projects import _investor_index

    shaped = [Row(r.number, {"credit_codes": r.values.get("credit_codes"), "investors": r.values.get("organizations")})
              for r in rows]
    return _investor_index(session, shaped, ctx)


def _organizations(row: Row, index) -> tuple[list[int], list[tuple[str, Msg]]]:
    from crm.imports.kinds.projects import _investors

    shaped = Row(row.number, {"credit_codes": row.values.get("credit_codes"),
                              "investors": row.values.get("organizations")})
    ids, problems = _investors(shaped, *index)
    return ids, [("organizations" if key == "investors" else key, message) for key, message in problems]


def _data(row: Row, ctx: ParseContext, org_names: dict[int, str], ids: list[int],
          base: dict[str, Any] | None = None, action: str = "create") -> dict[str, Any]:
    """The visit form the row amounts to (local times as the form posts them)."""
    starts, ends = _times(row) or (None, None)
    kind = row.values.get("kind") or VisitKind.INBOUND.value
    given = {
        "starts_at": starts.isoformat(timespec="minutes") if starts else None,
        "ends_at": ends.isoformat(timespec="minutes") if ends else None,
        "kind": row.values.get("kind"),
        "status": row.values.get("status"),
        **{k: row.values.get(k) for k in ("title", "purpose", "summary", "outcome", "place", "leaders",
                                          "officer_id", "interest_level")},
        "estimated_investment": str(row.values["estimated_investment"])
        if row.values.get("estimated_investment") is not None else None,
    }
    if base is not None:
        data = dict(base)
        for key, value in given.items():
            if value not in (None, "") and (action == "update" or data.get(key) in (None, "")):
                data[key] = value
        return data
    data = {k: "" for k in visit_service.SCALAR_FIELDS}
    data.update({k: v for k, v in given.items() if v is not None})
    data["kind"] = kind
    data["officer_id"] = row.values.get("officer_id") or ctx.actor.id
    data["interest_level"] = row.values.get("interest_level") or ""
    if not data.get("title"):
        lead = org_names.get(ids[0], "") if ids else ""
        data["title"] = f"{lead} {Msg(KIND_LABELS[VisitKind(kind)]).translate(ctx.locale)}".strip()[:200]
    if not data.get("status") and starts is not None:
        zone = ZoneInfo(_timezone(ctx))
        started = starts.replace(tzinfo=zone) <= utcnow().astimezone(zone)
        data["status"] = VisitStatus.DONE.value if started else VisitStatus.PLANNED.value
    return data


def _names(session, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    return dict(session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids))).all())


def _current(visit: Visit, timezone: str) -> dict[str, Any]:
    data = {k: getattr(visit, k) for k in visit_service.SCALAR_FIELDS}
    data["starts_at"] = to_local_input(visit.starts_at, timezone)
    data["ends_at"] = to_local_input(visit.ends_at, timezone)
    data["estimated_investment"] = str(visit.estimated_investment) if visit.estimated_investment is not None else ""
    return data


class VisitImport(ImportKind):
    name = "visits"
    label = Msg("Visits")
    entity_type = "visit"
    fields = FIELDS
    example = {"starts_at": "2021年12月2日 9:30", "kind": "来访考察", "organizations": "苏州示例新材料有限公司",
               "title": "考察新材料产业园", "summary": "听取园区介绍，参观企业车间", "outcome": "加快项目投资研讨",
               "leaders": "党工委书记、管委会主任 练建军"}

    def match(self, session, rows: list[Row], ctx: ParseContext) -> dict[int, Match]:
        index = _organization_index(session, rows, ctx)
        timezone = _timezone(ctx)
        zone = ZoneInfo(timezone)
        wanted: dict[int, tuple[Any, list[int], str | None]] = {}
        for row in rows:
            times = _times(row)
            ids, _ = _organizations(row, index)
            if times and ids:
                wanted[row.number] = (times[0].date(), ids, row.values.get("title"))
        if not wanted:
            return {}
        days = [w[0] for w in wanted.values()]
        first = datetime.combine(min(days), time(), zone)
        last = datetime.combine(max(days), time(), zone) + timedelta(days=1)
        org_ids = sorted({i for w in wanted.values() for i in w[1]})
        candidates: dict[tuple[Any, int], list[tuple[int, str]]] = {}
        for chunk in _chunks(org_ids):
            stmt = (select(Visit.id, Visit.title, Visit.starts_at, VisitOrganization.organization_id)
                    .join(VisitOrganization, VisitOrganization.visit_id == Visit.id)
                    .where(VisitOrganization.organization_id.in_(chunk), Visit.starts_at >= first,
                           Visit.starts_at < last).order_by(Visit.id))
            for visit_id, title, starts_at, org_id in session.execute(stmt):
                candidates.setdefault((starts_at.astimezone(zone).date(), org_id), []).append((visit_id, title))
        names = _names(session, org_ids)
        found: dict[int, Match] = {}
        for row in rows:
            if row.number not in wanted:
                continue
            day, ids, title = wanted[row.number]
            if not title:
                title = _data(row, ctx, names, ids)["title"]
            key = search_text.normalize_name(title)
            for org_id in ids:
                hit = next((c for c in candidates.get((day, org_id), []) if search_text.normalize_name(c[1]) == key),
                           None)
                if hit:
                    found[row.number] = Match(hit[0], hit[1], f"/visits/{hit[0]}", "date_organization_subject")
                    break
        return found

    def check(self, session, rows: list[Row], ctx: ParseContext) -> None:
        index = _organization_index(session, rows, ctx)
        timezone = _timezone(ctx)
        seen: dict[tuple[Any, int, str], int] = {}
        for row in rows:
            ids, problems = _organizations(row, index)
            for key, message in problems:
                ctx.problem(row, key, message)
            times = _times(row)
            if problems or not ids or times is None:
                continue
            data = _data(row, ctx, _names(session, ids[:1]), ids)
            key = (times[0].date(), ids[0], search_text.normalize_name(data["title"]))
            if key in seen:
                ctx.problem(row, "title", Msg("The same visit as row %(row)s (same day, organization and subject).",
                                              row=seen[key]))
            seen.setdefault(key, row.number)
            visit_input = visit_service.VisitInput(data=data, organization_ids=ids,
                                                   host_ids=row.values.get("host_ids") or [])
            for key, message in visit_service.check_input(session, visit_input=visit_input, timezone=timezone).items():
                ctx.problem(row, FIELD_OF.get(key, key if key in KEYS else "organizations"), message)

    def write(self, session, row: Row, *, match: Match | None, action: str, ctx: WriteContext) -> None:
        ids, problems = _organizations(row, _every_organization(session, ctx))
        if problems:
            raise ValueProblem(problems[0][1])
        timezone = _timezone(ctx)
        try:
            if match is None:
                visit_input = visit_service.VisitInput(data=_data(row, ctx, _names(session, ids[:1]), ids),
                                                       organization_ids=ids, host_ids=row.values.get("host_ids") or [],
                                                       industry_ids=row.values.get("industry_ids") or [])
                visit = visit_service.add(session, visit_input=visit_input, actor=ctx.actor, timezone=timezone)
                ctx.created("visit", visit)
                return
            visit = visit_service.get(session, match.record_id)
            if visit is None:
                raise ValueProblem(Msg("The visit matched has been deleted since."))
            before = _current(visit, timezone)
            data = _data(row, ctx, {}, ids, base=before, action=action)
            prior = {k: before[k] for k in visit_service.SCALAR_FIELDS if data.get(k) != before.get(k)}
            if not prior:
                return
            visit_input = visit_service.VisitInput(  # its organizations, members and hosts stay as they are
                data=data, organization_ids=[vo.organization_id for vo in visit.organizations],
                member_ids=[m.contact_id for m in visit.members], host_ids=[h.user_id for h in visit.hosts],
                industry_ids=[i.industry_chain_id for i in visit.industries])
            visit_service.apply_update(session, visit=visit, visit_input=visit_input, version=visit.version,
                                       actor=ctx.actor, timezone=timezone)
            ctx.updated("visit", visit, prior)
        except visit_service.InvalidVisit as bad:
            raise ValueProblem(next(iter(bad.errors.values()))) from None
        except PermissionDenied:
            raise ValueProblem(Msg("You may not change this visit.")) from None


def _restore(session, visit: Visit, prior: dict[str, Any], actor) -> None:
    timezone = get_settings().timezone
    visit = visit_service.get(session, visit.id)
    data = _current(visit, timezone)
    data.update(prior)
    visit_input = visit_service.VisitInput(
        data=data, organization_ids=[vo.organization_id for vo in visit.organizations],
        member_ids=[m.contact_id for m in visit.members], host_ids=[h.user_id for h in visit.hosts],
        industry_ids=[i.industry_chain_id for i in visit.industries])
    visit_service.apply_update(session, visit=visit, visit_input=visit_input, version=visit.version, actor=actor,
                               timezone=timezone)


register(VisitImport())
register_entity(Entity("visit", Visit, label=lambda v: v.title, url=lambda i: f"/visits/{i}",
                       search_kind=visit_service.SEARCH_KIND, restore=_restore,
                       owned=(VisitOrganization.visit_id, VisitHost.visit_id, VisitMember.visit_id,
                              VisitIndustry.visit_id, TourStop.visit_id)))

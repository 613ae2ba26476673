"""Projects (项目台账: 在谈/签约/开工), written through the project service like the form.

- Investors: by unified social credit code or by name (as the duplicate check normalizes it), several in one cell
  (甲公司、乙公司; the first leads). They must be on file: an unknown investor is a problem of its row, not a new
  organization made up from a name (import the 客商名录 with the organizations import first) — a thin record
  created here would dodge the organization's duplicate and credit-code checks.
- Stage: any stage, with the ledgers' synonyms (在谈 → 洽谈 …). A new project is taken in at that stage as a
  recorded fact (its stage history says it came by import), not moved through the gates step by step, which would
  refuse history; the gates then judge it as they judge every project: a project past 签约 at or above the
  major-project threshold without a collective decision is flagged in the preview, and shows red on the readiness
  board and its card afterwards. A matched project's stage is never changed by an import: a move goes through the
  gates on the project's page (the preview says so).
- Confidential (是否保密): hides the project from everyone but its owner, its assigned officers and managers; an
  importer may set it only on a row they may then edit (projects.service.can_edit: a manager, or named as the
  row's owner or assigned officer), so nobody imports projects they can no longer see or undo.
- Matching: an existing project the importer may see with the same name (normalized as organization names are)
  and one of the row's investors.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from crm import search_text
from crm.config import get_settings
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
from crm.organizations.models import Organization
from crm.parcels.models import LandParcel
from crm.projects import gates
from crm.projects import service as project_service
from crm.projects.models import (
    PIPELINE,
    ApprovalItem,
    Project,
    ProjectOfficer,
    ProjectOrganization,
    ProjectSource,
    Stage,
    StageChange,
)
from crm.projects.schemas import MAX_JOBS, MAX_LAND_MU, SOURCE_LABELS, STAGE_LABELS
from crm.validators import check_credit_code, normalize_credit_code

CHUNK = 500


def _credit_codes(value: Any, ctx: ParseContext) -> list[str]:
    codes = [normalize_credit_code(c) for c in values.split_names(value)]
    for code in codes:
        if problem := check_credit_code(code):
            raise ValueProblem(problem)
    return codes


def _parcel(value: Any, ctx: ParseContext) -> int:
    parcels = ctx.cache.setdefault("projects.parcels", {})
    key = values.fold(value)
    if key not in parcels:
        parcels[key] = ctx.session.scalar(select(LandParcel.id).where(LandParcel.code == str(value).strip())) or \
            ctx.session.scalar(select(LandParcel.id).where(LandParcel.name == str(value).strip()).limit(1))
    if parcels[key] is None:
        raise ValueProblem(Msg("There is no land parcel “%(value)s”: write its code as on the parcel's page.",
                               value=str(value)[:40]))
    return parcels[key]


def _land(value: Any, ctx: ParseContext) -> Decimal:
    return values._raise(values.parse_decimal(value, maximum=MAX_LAND_MU))


def _jobs(value: Any, ctx: ParseContext) -> int:
    return values._raise(values.parse_int(value, maximum=MAX_JOBS))


def _date(key: str, label: str, *synonyms: str) -> Field:
    return Field(key, Msg(label), synonyms=synonyms, parser=values.day)


FIELDS = (
    Field("name", Msg("Project name"), synonyms=("项目名称", "项目", "名称", "project", "project name", "name"),
          required=True, parser=text(200)),
    Field("investors", Msg("Investors"), synonyms=(
        "投资方", "投资主体", "签约企业", "投资企业", "投资单位", "投资方名称", "合作方", "签约主体", "企业名称",
        "investor", "investors"), parser=values.names,
          help=Msg("On file already (import the organizations first); several separated by 、 — the first leads.")),
    Field("credit_codes", Msg("Investor's unified social credit code"), synonyms=(
        "统一社会信用代码", "信用代码", "投资方统一社会信用代码", "社会信用代码", "credit code", "uscc"),
          parser=_credit_codes),
    Field("industry_chain_id", Msg("Industry chain"), synonyms=("产业链", "所属产业链", "产业", "所属产业", "行业",
                                                                "所属行业", "产业类别", "industry", "industry chain"),
          parser=values.chain),
    Field("stage", Msg("Stage"), synonyms=("项目进度", "所处阶段", "阶段", "项目阶段", "进展阶段", "推进阶段",
                                           "项目状态", "进展情况", "stage", "status"), parser=values.stage,
          help=Msg("Blank: lead. 在谈, 已签约, 已开工, 已投产 and the like are understood.")),
    Field("total_investment_wan_cny", Msg("Total investment (10k CNY)"), synonyms=(
        "计划总投资", "总投资", "项目总投资", "总投资额", "投资额", "投资总额", "计划投资", "total investment"),
          parser=values.amount, unit="amount"),
    Field("fixed_investment_wan_cny", Msg("Fixed-asset investment (10k CNY)"), synonyms=(
        "固定资产投资", "固投", "固定资产投资额", "fixed-asset investment", "fixed investment"),
          parser=values.amount, unit="amount"),
    Field("is_foreign_invested", Msg("Foreign-invested"), synonyms=("是否外资", "外资项目", "是否外资项目",
                                                                    "foreign-invested", "foreign invested"),
          parser=values.yes_no),
    Field("foreign_capital_wan_usd", Msg("Foreign capital (10k USD)"), synonyms=(
        "外资", "利用外资", "合同外资", "外资金额", "实际使用外资", "foreign capital"),
          parser=values.amount_usd, unit="amount", help=Msg("In US dollars: 万美元, 亿美元.")),
    Field("registered_capital_wan_cny", Msg("Registered capital (10k CNY)"), synonyms=("注册资本", "注册资金",
                                                                             "registered capital"),
          parser=values.amount, unit="amount"),
    Field("land_need_mu", Msg("Land needed (mu)"), synonyms=("用地面积", "用地", "用地需求", "占地面积", "占地",
                                                             "用地亩数", "land", "land needed"), parser=_land),
    Field("annual_output_wan_cny", Msg("Expected annual output (10k CNY)"), synonyms=(
        "预计年产值", "年产值", "达产年产值", "预计产值", "annual output", "expected annual output"),
          parser=values.amount, unit="amount"),
    Field("annual_tax_wan_cny", Msg("Expected annual tax (10k CNY)"), synonyms=(
        "预计年税收", "年税收", "达产年税收", "预计税收", "年纳税", "annual tax", "expected annual tax"),
          parser=values.amount, unit="amount"),
    Field("jobs", Msg("Jobs"), synonyms=("就业人数", "新增就业", "带动就业", "用工人数", "jobs"), parser=_jobs),
    Field("owner_id", Msg("Owning officer"), synonyms=(
        "负责人", "招商专员", "项目负责人", "责任人", "招商负责人", "承办人", "跟进人", "owner", "officer",
        "owning officer"), parser=values.officer, help=Msg("A user's name or username. Blank: you.")),
    Field("officer_ids", Msg("Assigned officers"), synonyms=(
        "协办人", "协助人员", "参与人员", "项目专班", "配合人员", "assigned officers", "officers"),
          parser=values.officers),
    Field("parcel_id", Msg("Land parcel"), synonyms=("地块编号", "地块", "宗地编号", "地块名称", "parcel",
                                                     "land parcel"), parser=_parcel),
    Field("land_certificate_no", Msg("Land certificate number"), synonyms=(
        "不动产权证号", "不动产权证书号", "不动产证号", "土地证号", "土地使用证号", "land certificate",
        "land certificate number"), parser=text(60)),
    Field("is_confidential", Msg("Confidential"), synonyms=("是否保密", "保密", "保密项目", "confidential"),
          parser=values.yes_no),
    Field("description", Msg("Description"), synonyms=(
        "备注", "项目简介", "项目内容", "建设内容", "项目概况", "说明", "情况说明", "description", "note", "notes",
        "remarks"), parser=text(10000)),
    Field("source", Msg("Source"), synonyms=("来源渠道", "项目来源渠道", "渠道", "source"),
          parser=values.choice(SOURCE_LABELS, Msg("project source"), {
              ProjectSource.VISIT: ("来访", "来访考察"), ProjectSource.REFERRAL: ("推荐", "介绍", "中介推荐"),
              ProjectSource.EXHIBITION: ("展会", "推介会", "博览会"), ProjectSource.ONLINE: ("网络", "线上"),
              ProjectSource.OTHER: ("其他",)})),
    Field("source_note", Msg("Source details"), synonyms=("项目来源", "信息来源", "来源", "source",
                                                          "source details"), parser=text(200)),
    _date("target_signing_on", "Target signing date", "计划签约日期", "预计签约时间", "计划签约时间",
          "预计签约日期", "target signing date"),
    _date("target_groundbreaking_on", "Target groundbreaking date", "计划开工日期", "预计开工时间",
          "计划开工时间", "预计开工日期", "target groundbreaking date"),
    _date("target_operation_on", "Target operation date", "计划投产日期", "预计投产时间", "计划投产时间",
          "预计投产日期", "target operation date"),
    _date("signed_on", "Signed on", "签约日期", "签约时间", "signed on", "signing date"),
    _date("groundbreaking_on", "Broke ground on", "开工日期", "开工时间", "broke ground on", "groundbreaking date"),
    _date("operation_on", "In operation since", "投产日期", "投产时间", "in operation since", "operation date"),
)
SCALARS = [f.key for f in FIELDS if f.key in project_service.SCALAR_FIELDS]
# The service's form field names → this kind's columns (where the service files a problem)
FIELD_OF = {"organization_ids": "investors", "officer_ids": "officer_ids", "source_visit_id": "source_note"}


ID_FIELDS = ("industry_chain_id", "owner_id", "parcel_id", "source_visit_id")


def _form(value: Any, key: str = "") -> Any:
    """A typed value as the project form posts it (the service reads forms): amounts and dates as text,
    yes/no as "1"/"", ids as numbers (None when none)."""
    if value is None:
        return None if key in ID_FIELDS else ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, (Decimal, date)):
        return value.isoformat() if isinstance(value, date) else str(value)
    return value


def _current(project: Project) -> dict[str, Any]:
    data = {k: _form(getattr(project, k), k) for k in project_service.SCALAR_FIELDS}
    data["jobs"] = str(project.jobs) if project.jobs is not None else ""
    return data


# Investors, by credit code or name: one query per chunk of distinct values, kept for the pass.

def _investor_index(session, rows: list[Row], ctx: ParseContext) -> tuple[dict[str, tuple[int, str]], dict[str, list[int]]]:
    by_code: dict[str, tuple[int, str]] = ctx.cache.setdefault("projects.by_code", {})
    by_name: dict[str, list[int]] = ctx.cache.setdefault("projects.by_name", {})
    if ctx.cache.get("projects.every_organization"):
        return by_code, by_name
    codes = {c for r in rows for c in (r.values.get("credit_codes") or []) if c not in by_code}
    names = {search_text.normalize_name(n) for r in rows for n in (r.values.get("investors") or [])} - set(by_name)
    for chunk in _chunks(sorted(codes)):
        for code, org_id, normalized in session.execute(select(
                Organization.credit_code, Organization.id, Organization.name_normalized)
                .where(Organization.credit_code.in_(chunk))):
            by_code[code] = (org_id, normalized)
    for chunk in _chunks(sorted(names)):
        for key, org_id in session.execute(select(Organization.name_normalized, Organization.id)
                                           .where(Organization.name_normalized.in_(chunk), Organization.archived_at.is_(None))
                                           .order_by(Organization.id)):
            by_name.setdefault(key, []).append(org_id)
    for name in names:
        by_name.setdefault(name, [])
    return by_code, by_name


def _every_organization(session, ctx: ParseContext) -> tuple[dict[str, tuple[int, str]], dict[str, list[int]]]:
    """The whole index at once, for writing row by row (one query, not one per row): a few MB for 50,000."""
    if not ctx.cache.get("projects.every_organization"):
        by_code: dict[str, tuple[int, str]] = {}
        by_name: dict[str, list[int]] = {}
        for code, org_id, normalized, archived in session.execute(select(
                Organization.credit_code, Organization.id, Organization.name_normalized, Organization.archived_at)
                .order_by(Organization.id)):
            if code:
                by_code[code] = (org_id, normalized)
            if archived is None:
                by_name.setdefault(normalized, []).append(org_id)
        ctx.cache.update({"projects.by_code": by_code, "projects.by_name": by_name,
                          "projects.every_organization": True})
    return ctx.cache["projects.by_code"], ctx.cache["projects.by_name"]


def _investors(row: Row, by_code: dict[str, tuple[int, str]], by_name: dict[str, list[int]]
               ) -> tuple[list[int], list[tuple[str, Msg]]]:
    """The row's investor ids in the order of its names (the first leads), a name resolved by the credit code
    given beside it when it is ambiguous; codes whose name is not in the names column follow. Problems by column."""
    problems: list[tuple[str, Msg]] = []
    coded: list[tuple[int, str]] = []
    for code in row.values.get("credit_codes") or []:
        if code in by_code:
            coded.append(by_code[code])
        else:
            problems.append(("credit_codes", Msg(
                "No organization on file has the credit code %(code)s: import it with the organizations import "
                "first, or add it.", code=code)))
    ids: list[int] = []
    for name in row.values.get("investors") or []:
        normalized = search_text.normalize_name(name)
        by_its_code = [org_id for org_id, n in coded if n == normalized]
        found = by_its_code or by_name.get(normalized, [])
        if len(found) > 1:
            problems.append(("investors", Msg("Several organizations are named “%(name)s”: give the investor's "
                                              "credit code instead.", name=name)))
        elif not found:
            problems.append(("investors", Msg(
                "No organization named “%(name)s” is on file: import it with the organizations import first, or "
                "add it.", name=name)))
        else:
            ids.append(found[0])
    ids.extend(org_id for org_id, _n in coded)
    return list(dict.fromkeys(ids)), problems


def _chunks(items: list) -> list[list]:
    return [items[i:i + CHUNK] for i in range(0, len(items), CHUNK)]


def settings_of(ctx: ParseContext):
    """The app's settings (the zone's timezone, the major-project threshold): the context's when it carries them,
    else read once per pass."""
    if "settings" not in ctx.cache:
        ctx.cache["settings"] = getattr(ctx, "settings", None) or get_settings()
    return ctx.cache["settings"]


def _input(row: Row, ctx: ParseContext, investor_ids: list[int], base: dict[str, Any] | None = None,
           action: str = "create", officer_ids: list[int] | None = None) -> project_service.ProjectInput:
    """The project form the row amounts to: on a new project its cells; on a matched one its current values with
    the row's cells over them (all of them to update, only over empty ones to fill)."""
    data = dict(base) if base is not None else {k: _form(None, k) for k in project_service.SCALAR_FIELDS}
    for key in SCALARS:
        if key not in row.values or row.values[key] is None:
            continue
        value = _form(row.values[key])
        if key == "jobs":
            value = str(row.values[key])
        if base is None or action == "update" or data.get(key) in ("", None):
            data[key] = value
    if base is None:
        data["owner_id"] = row.values.get("owner_id") or ctx.actor.id
        data["stage"] = row.values.get("stage") or Stage.LEAD
        data["source"] = row.values.get("source") or ""
        data["source_visit_id"] = None
    if data.get("foreign_capital_wan_usd") and "is_foreign_invested" not in row.values:
        data["is_foreign_invested"] = "1"  # a ledger's 外资 column: the project is foreign-invested
    officers = officer_ids if officer_ids is not None else (row.values.get("officer_ids") or [])
    return project_service.ProjectInput(data=data, organization_ids=investor_ids, officer_ids=officers)


class ProjectImport(ImportKind):
    name = "projects"
    label = Msg("Projects")
    entity_type = "project"
    fields = FIELDS
    example = {"name": "年产10万吨新材料项目", "investors": "苏州示例新材料有限公司", "industry_chain_id": "新材料",
               "stage": "在谈", "total_investment_wan_cny": "50000", "target_signing_on": "2027年3月31日",
               "is_confidential": "否", "description": "一期建设生产线两条"}

    def match(self, session, rows: list[Row], ctx: ParseContext) -> dict[int, Match]:
        by_code, by_name = _investor_index(session, rows, ctx)
        wanted: dict[int, tuple[str, list[int]]] = {}
        for row in rows:
            ids, _ = _investors(row, by_code, by_name)
            if ids and row.values.get("name"):
                wanted[row.number] = (search_text.normalize_name(row.values["name"]), ids)
        org_ids = sorted({i for _, ids in wanted.values() for i in ids})
        candidates: dict[tuple[str, int], tuple[int, str]] = {}
        for chunk in _chunks(org_ids):
            stmt = (select(Project.id, Project.name, ProjectOrganization.organization_id)
                    .join(ProjectOrganization, ProjectOrganization.project_id == Project.id)
                    .where(ProjectOrganization.organization_id.in_(chunk), project_service.may_see(ctx.actor))
                    .order_by(Project.id))
            for project_id, name, org_id in session.execute(stmt):
                candidates.setdefault((search_text.normalize_name(name), org_id), (project_id, name))
        found: dict[int, Match] = {}
        for number, (name, ids) in wanted.items():
            hit = next((candidates[(name, i)] for i in ids if (name, i) in candidates), None)
            if hit is not None:
                found[number] = Match(hit[0], hit[1], f"/projects/{hit[0]}", "name")
        self._note_stages(session, rows, found)
        return found

    def _note_stages(self, session, rows: list[Row], found: dict[int, Match]) -> None:
        """A matched project at another stage than the row's: the import leaves its stage alone, and says so."""
        ids = sorted({m.record_id for m in found.values()})
        stages = {i: stage for chunk in _chunks(ids) for i, stage in session.execute(
            select(Project.id, Project.stage).where(Project.id.in_(chunk)))}
        for row in rows:
            match = found.get(row.number)
            wanted = row.values.get("stage")
            if match and wanted and stages.get(match.record_id) != wanted:
                row.note = Msg("The project is at “%(current)s”: an import does not move it to “%(stage)s”; move it "
                               "on its page, through the gates.", current=Msg(STAGE_LABELS[stages[match.record_id]]),
                               stage=Msg(STAGE_LABELS[wanted]))

    def check(self, session, rows: list[Row], ctx: ParseContext) -> None:
        by_code, by_name = _investor_index(session, rows, ctx)
        settings = settings_of(ctx)
        seen: dict[tuple[str, int], int] = {}
        resolved = {row.number: _investors(row, by_code, by_name) for row in rows}
        known = project_service.known_for(session, [_input(row, ctx, resolved[row.number][0]) for row in rows
                                                    if row.values.get("name") and not resolved[row.number][1]])
        for row in rows:
            ids, problems = resolved[row.number]
            for key, message in problems:
                ctx.problem(row, key, message)
            if not ids and not problems and not row.raw.get("credit_codes") and not row.raw.get("investors"):
                ctx.problem(row, "investors", Msg("Give the investor: its name or its credit code."))
            name = row.values.get("name")
            if name and ids:
                key = (search_text.normalize_name(name), ids[0])
                if key in seen:
                    ctx.problem(row, "name", Msg("The same project as row %(row)s (same name and investor).",
                                                 row=seen[key]))
                seen.setdefault(key, row.number)
            if row.values.get("is_confidential") and not self._may_hide(row, ctx):
                ctx.problem(row, "is_confidential", Msg(
                    "You may not mark this project confidential: it would be hidden from you. Only a manager, or "
                    "the project's owning or assigned officer, may mark it."))
            if problems or not ids or not name:
                continue
            errors = project_service.check_input(session, project_input=_input(row, ctx, ids), known=known)
            for key, message in errors.items():
                ctx.problem(row, FIELD_OF.get(key, key if key in {f.key for f in FIELDS} else "name"), message)
            self._flag_gates(row, settings.major_project_threshold_wan_cny)

    def _may_hide(self, row: Row, ctx: ParseContext) -> bool:
        """projects.service.can_edit on the project the row describes: its owner, its officers, managers."""
        sketch = Project(owner_id=row.values.get("owner_id") or ctx.actor.id, archived_at=None)
        sketch.officers = [ProjectOfficer(user_id=uid) for uid in row.values.get("officer_ids") or []]
        return project_service.can_edit(ctx.actor, sketch)

    def _flag_gates(self, row: Row, threshold: Decimal) -> None:
        """A new project taken in past 签约 at or above the threshold has no collective decision on record: the
        preview says it will show as missing one (it is not waved through, and not refused either: it is history)."""
        stage = row.values.get("stage")
        if stage not in PIPELINE or PIPELINE.index(stage) < gates.SIGNED_AT or row.note is not None:
            return
        total = row.values.get("total_investment_wan_cny")
        if total is None or total >= threshold:
            row.note = Msg("Past “%(stage)s” at or above the major-project threshold with no collective decision on "
                           "record: it will be flagged as missing its decision until one is recorded.",
                           stage=Msg(STAGE_LABELS[Stage.SIGNED]))

    def write_many(self, session, items: list[tuple[Row, Match | None, str]], ctx: WriteContext) -> None:
        """New projects through the service's add_many (the same checks and records as the form, written in bulk);
        rows matching a project one by one after them."""
        new = [row for row, match, _action in items if match is None]
        inputs = []
        for row in new:
            ids, problems = _investors(row, *_every_organization(session, ctx))
            if problems:
                raise ValueProblem(problems[0][1])
            inputs.append(_input(row, ctx, ids))
        if inputs:
            try:
                created = project_service.add_many(session, inputs=inputs, actor=ctx.actor, imported=Msg(
                    "Taken in by an import at this stage.").translate(ctx.locale))
            except project_service.InvalidProject as bad:
                raise ValueProblem(next(iter(bad.errors.values()))) from None
            for row, project in zip(new, created, strict=True):
                ctx.created("project", project, row=row.number)
        super().write_many(session, [item for item in items if item[1] is not None], ctx)

    def write(self, session, row: Row, *, match: Match | None, action: str, ctx: WriteContext) -> None:
        ids, problems = _investors(row, *_every_organization(session, ctx))
        if problems:
            raise ValueProblem(problems[0][1])
        try:
            if match is None:
                project = project_service.add(session, project_input=_input(row, ctx, ids), actor=ctx.actor,
                                              imported=Msg("Taken in by an import at this stage.").translate(ctx.locale))
                ctx.created("project", project)
                return
            project = project_service.get(session, match.record_id)
            if project is None:
                raise ValueProblem(Msg("The project matched has been deleted since."))
            before = _current(project)
            kept = [po.organization_id for po in project.investors]
            officers = [o.user_id for o in project.officers]
            project_input = _input(row, ctx, kept, base=before, action=action, officer_ids=officers)
            prior = {k: before[k] for k in SCALARS if project_input.data.get(k) != before.get(k)}
            if not prior:
                return
            settings = settings_of(ctx)
            rules = project_service.Rules(threshold=settings.major_project_threshold_wan_cny,
                                          today=ctx.today or date.today())
            project_service.apply_update(session, project=project, project_input=project_input,
                                         version=project.version, actor=ctx.actor, rules=rules)
            ctx.updated("project", project, prior)
        except project_service.InvalidProject as bad:
            raise ValueProblem(next(iter(bad.errors.values()))) from None
        except project_service.PermissionDenied:
            raise ValueProblem(Msg("You may not change this project.")) from None


def _restore(session, project: Project, prior: dict[str, Any], actor) -> None:
    project = project_service.get(session, project.id)
    data = _current(project)
    data.update(prior)
    settings = get_settings()
    project_input = project_service.ProjectInput(
        data=data, organization_ids=[po.organization_id for po in project.investors],
        officer_ids=[o.user_id for o in project.officers])
    project_service.apply_update(session, project=project, project_input=project_input, version=project.version,
                                 actor=actor, rules=project_service.Rules(
                                     threshold=settings.major_project_threshold_wan_cny, today=date.today()))


register(ProjectImport())
register_entity(Entity("project", Project, label=lambda p: p.name, url=lambda i: f"/projects/{i}",
                       search_kind=project_service.SEARCH_KIND, restore=_restore,
                       owned=(StageChange.project_id, ProjectOrganization.project_id, ProjectOfficer.project_id,
                              ApprovalItem.project_id)))

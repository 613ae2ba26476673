"""The sheets of the full export and their column headers: one place, read by the export (crm/data_export/service.py)
and by the import kinds (crm/imports/kinds/), so that a full export imports again as it is.

Headers are in Chinese as a zone writes them (企业名称, 统一社会信用代码, 项目名称, 计划总投资（万元）, 所处阶段,
负责人 …), whatever the language of the user who exports: the workbook is the zone's ledger. The five sheets the
import wizard reads (IMPORT_SHEETS: organizations, contacts, projects, visits, follow-ups) use headers its column
guesser recognises; their values are written as an import reads them: choices by their Chinese label (洽谈, 是/否),
officers by username (unique, where display names may repeat), several names joined with 、 (the first leads),
amounts in the unit their header names, dates and times as date cells in the zone's time zone. The "编号" (id)
column of each sheet links the sheets to each other (项目编号 in 阶段变更 is 编号 in 项目); an import leaves it out.
"""

from __future__ import annotations

from dataclasses import dataclass

LIST_SEPARATOR = "、"
YES, NO = "是", "否"


@dataclass(frozen=True)
class ExportColumn:
    key: str  # the value's key in the export's rows
    header: str  # the sheet's header, in Chinese
    kind: str = "text"  # crm.spreadsheets kinds: text, int, decimal, date, datetime


@dataclass(frozen=True)
class ExportSheet:
    key: str  # stable, English: the manifest's key
    name: str  # the sheet's name in the workbook (at most 31 characters)
    columns: tuple[ExportColumn, ...]

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


def _sheet(key: str, name: str, *columns: tuple[str, ...]) -> ExportSheet:
    return ExportSheet(key, name, tuple(ExportColumn(*c) for c in columns))


ID = ("id", "编号", "int")
CREATED = ("created_at", "创建时间", "datetime")

ORGANIZATIONS = _sheet(
    "organizations", "企业",
    ID, ("name", "企业名称"), ("credit_code", "统一社会信用代码"), ("name_en", "英文名称"), ("kind", "企业类型"),
    ("industry_chain", "产业链"), ("ownership", "企业性质"), ("country_region", "国家地区"), ("city", "城市"),
    ("address", "地址"), ("website", "网址"), ("tags", "标签"), ("description", "简介"), ("owner", "负责人"),
    ("archived_at", "归档时间", "datetime"), CREATED, ("updated_at", "更新时间", "datetime"))
CONTACTS = _sheet(
    "contacts", "联系人",
    ID, ("organization_id", "企业编号", "int"), ("organization", "企业名称"), ("credit_code", "统一社会信用代码"),
    ("name", "联系人"), ("title", "职务"), ("mobile", "手机"), ("phone", "联系电话"), ("email", "邮箱"),
    ("wechat", "微信"), ("notes", "联系人备注"), ("archived_at", "归档时间", "datetime"), CREATED)
PROJECTS = _sheet(
    "projects", "项目",
    ID, ("name", "项目名称"), ("investors", "投资方"), ("credit_codes", "投资方统一社会信用代码"),
    ("industry_chain", "产业链"), ("stage", "所处阶段"), ("total_investment_wan_cny", "计划总投资（万元）", "decimal"),
    ("fixed_investment_wan_cny", "固定资产投资（万元）", "decimal"), ("is_foreign_invested", "是否外资"),
    ("foreign_capital_wan_usd", "利用外资（万美元）", "decimal"),
    ("registered_capital_wan_cny", "注册资本（万元）", "decimal"), ("land_need_mu", "用地面积（亩）", "decimal"),
    ("annual_output_wan_cny", "预计年产值（万元）", "decimal"), ("annual_tax_wan_cny", "预计年税收（万元）", "decimal"),
    ("jobs", "就业人数", "int"), ("owner", "负责人"), ("officers", "协办人"), ("parcel", "地块编号"),
    ("land_certificate_no", "不动产权证号"), ("is_confidential", "是否保密"), ("description", "项目简介"),
    ("source_note", "项目来源"), ("source", "来源渠道"), ("source_visit_id", "来源来访编号", "int"),
    ("target_signing_on", "计划签约日期", "date"), ("target_groundbreaking_on", "计划开工日期", "date"),
    ("target_operation_on", "计划投产日期", "date"), ("signed_on", "签约日期", "date"),
    ("groundbreaking_on", "开工日期", "date"), ("operation_on", "投产日期", "date"),
    ("stage_entered_at", "进入本阶段时间", "datetime"), ("stage_reason", "阶段说明"),
    ("gate_override_reason", "越过关口原因"), ("created_by", "创建人"), CREATED,
    ("archived_at", "归档时间", "datetime"))
PROJECT_INVESTORS = _sheet(
    "project_investors", "项目投资方",
    ("project_id", "项目编号", "int"), ("project", "项目名称"), ("position", "序号", "int"),
    ("organization_id", "企业编号", "int"), ("organization", "企业名称"), ("credit_code", "统一社会信用代码"))
STAGE_CHANGES = _sheet(
    "stage_changes", "阶段变更",
    ID, ("project_id", "项目编号", "int"), ("project", "项目名称"), ("from_stage", "原阶段"), ("to_stage", "新阶段"),
    ("at", "时间", "datetime"), ("actor", "操作人"), ("note", "说明"), ("gate_override", "越过关口"),
    ("gate_override_reason", "越过原因"))
DECISIONS = _sheet(
    "decisions", "集体决策",
    ID, ("project_id", "项目编号", "int"), ("project", "项目名称"), ("meeting_kind", "会议类型"),
    ("meeting_on", "会议日期", "date"), ("outcome", "结论"), ("resolution", "决议内容"), ("recorded_by", "记录人"),
    CREATED)
APPROVAL_ITEMS = _sheet(
    "approval_items", "审批事项",
    ID, ("project_id", "项目编号", "int"), ("project", "项目名称"), ("code", "事项代码"), ("name_zh", "事项名称"),
    ("position", "序号", "int"), ("status", "状态"), ("submitted_on", "提交日期", "date"),
    ("accepted_on", "受理日期", "date"), ("approved_on", "批复日期", "date"), ("promised_days", "承诺时限（天）", "int"),
    ("overdue_on", "逾期日期", "date"), ("assistant_user", "帮办人"), ("assistant", "帮办人姓名"), ("note", "备注"),
    ("updated_at", "更新时间", "datetime"))
PARCELS = _sheet(
    "parcels", "地块",
    ID, ("code", "地块编号"), ("name", "地块名称"), ("location", "位置"), ("bounds", "四至"),
    ("land_area_m2", "土地面积（平方米）", "decimal"), ("building_area_m2", "建筑面积（平方米）", "decimal"),
    ("planned_use", "规划用途"), ("status", "状态"), ("households_total", "总户数", "int"),
    ("households_signed", "已签约户数", "int"), ("signing_starts_on", "签约开始日期", "date"),
    ("signing_ends_on", "签约结束日期", "date"), ("compensation_cash", "货币补偿"), ("compensation_swap", "产权置换"),
    ("public_facilities", "公共设施"), ("notes", "备注"), CREATED)
GROUNDBREAKING_EVENTS = _sheet(
    "groundbreaking_events", "集中开工活动",
    ID, ("name", "活动名称"), ("held_on", "举行日期", "date"), ("place", "地点"), ("note", "备注"), CREATED)
GROUNDBREAKING_SLATES = _sheet(
    "groundbreaking_slates", "集中开工项目",
    ("event_id", "活动编号", "int"), ("event", "活动名称"), ("position", "序号", "int"),
    ("project_id", "项目编号", "int"), ("project", "项目名称"), ("added_at", "加入时间", "datetime"))
VISITS = _sheet(
    "visits", "来访",
    ID, ("starts_at", "来访时间", "datetime"), ("ends_at", "结束时间", "datetime"), ("kind", "来访类型"),
    ("organizations", "来访单位"), ("credit_codes", "统一社会信用代码"), ("title", "主题"), ("purpose", "来访目的"),
    ("summary", "洽谈内容"), ("outcome", "洽谈成果"), ("place", "接待地点"), ("leaders", "我方领导"),
    ("officer", "接待人"), ("hosts", "陪同人员"), ("status", "接待状态"), ("interest_level", "意向程度"),
    ("estimated_investment", "意向投资额（万元）", "decimal"), ("industry_chains", "关注产业链"),
    ("projects", "关联项目编号"), ("created_by", "创建人"), CREATED)
VISIT_MEMBERS = _sheet(
    "visit_members", "来访人员",
    ("visit_id", "来访编号", "int"), ("visit", "来访主题"), ("contact_id", "联系人编号", "int"), ("contact", "联系人"),
    ("title", "职务"), ("organization", "企业名称"))
VISIT_HOSTS = _sheet(
    "visit_hosts", "我方陪同人员",
    ("visit_id", "来访编号", "int"), ("visit", "来访主题"), ("username", "用户名"), ("display_name", "姓名"))
TOUR_STOPS = _sheet(
    "tour_stops", "考察点位",
    ID, ("visit_id", "来访编号", "int"), ("position", "序号", "int"), ("organization_id", "企业编号", "int"),
    ("organization", "企业名称"), ("starts_at", "时间", "datetime"), ("host", "接待人"), ("shown", "考察内容"),
    ("note", "备注"))
FOLLOW_UPS = _sheet(
    "follow_ups", "跟进事项",
    ID, ("title", "事项"), ("organization", "关联企业"), ("credit_code", "统一社会信用代码"), ("project", "关联项目"),
    ("assignee", "责任人"), ("due_on", "截止日期", "date"), ("due_time", "时间"), ("priority", "优先级"),
    ("status", "状态"), ("description", "详情"), ("contact", "联系人"), ("visit_id", "来访编号", "int"),
    ("project_id", "项目编号", "int"), ("created_by", "创建人"), CREATED, ("completed_at", "完成时间", "datetime"))
EXPORT_POOL = _sheet(
    "export_pool", "出口企业库",
    ID, ("organization_id", "企业编号", "int"), ("organization", "企业名称"), ("credit_code", "统一社会信用代码"),
    ("tier", "梯队"), ("officer", "负责人"), ("main_products", "主要产品"), ("markets", "主要市场"),
    ("support_planned", "计划帮扶"), CREATED)
EXPORT_FIGURES = _sheet(
    "export_figures", "出口额",
    ID, ("organization", "企业名称"), ("credit_code", "统一社会信用代码"), ("month", "月份"),
    ("value_wan_usd", "出口额（万美元）", "decimal"), ("updated_by", "更新人"), ("updated_at", "更新时间", "datetime"))
EXPORT_TARGETS = _sheet(
    "export_targets", "出口目标",
    ID, ("organization", "企业名称"), ("credit_code", "统一社会信用代码"), ("year", "年份", "int"),
    ("target_wan_usd", "目标（万美元）", "decimal"))
EXPORT_SUPPORT = _sheet(
    "export_support", "出口帮扶",
    ID, ("organization", "企业名称"), ("credit_code", "统一社会信用代码"), ("kind", "帮扶类型"),
    ("given_on", "日期", "date"), ("officer", "负责人"), ("description", "内容"), ("outcome", "成效"), CREATED)
INDICATORS = _sheet(
    "indicators", "经济指标",
    ID, ("code", "指标代码"), ("name_zh", "指标名称"), ("name_en", "英文名称"), ("unit", "单位"), ("frequency", "频度"),
    ("kind", "类型"), ("allows_negative", "允许负数"), ("position", "序号", "int"), ("is_active", "启用"))
INDICATOR_VALUES = _sheet(
    "indicator_values", "指标数值",
    ID, ("indicator_code", "指标代码"), ("indicator", "指标"), ("year", "年份", "int"), ("period", "期间", "int"),
    ("value", "数值", "decimal"), ("updated_by", "更新人"), ("updated_at", "更新时间", "datetime"))
INDICATOR_TARGETS = _sheet(
    "indicator_targets", "指标目标",
    ID, ("indicator_code", "指标代码"), ("indicator", "指标"), ("year", "年份", "int"), ("target", "目标", "decimal"))
_TARGET_FIGURES = (("projects_signed", "签约项目数", "int"), ("investment_signed_wan_cny", "签约投资额（万元）", "decimal"),
                   ("foreign_capital_signed_wan_usd", "签约外资（万美元）", "decimal"),
                   ("visits_received", "接待来访数", "int"), ("projects_started", "开工项目数", "int"))
DEPARTMENT_TARGETS = _sheet(
    "department_targets", "部门目标", ID, ("year", "年份", "int"), ("department", "部门"), *_TARGET_FIGURES)
OFFICER_TARGETS = _sheet(
    "officer_targets", "个人目标",
    ID, ("year", "年份", "int"), ("username", "用户名"), ("display_name", "姓名"), *_TARGET_FIGURES)
INDUSTRY_CHAINS = _sheet(
    "industry_chains", "产业链",
    ID, ("code", "代码"), ("name_zh", "名称"), ("name_en", "英文名称"), ("sort_order", "序号", "int"),
    ("is_active", "启用"))
USERS = _sheet(  # no password hash, second factor, token or session: the export holds no secret
    "users", "用户",
    ID, ("username", "用户名"), ("display_name", "姓名"), ("title", "职务"), ("email", "邮箱"), ("role", "角色"),
    ("locale", "语言"), ("department", "部门"), ("manager", "上级"), ("is_active", "启用"), CREATED)
ATTACHMENTS = _sheet(
    "attachments", "附件",
    ID, ("entity_type", "所属记录类型"), ("entity_id", "所属记录编号", "int"), ("filename", "文件名"),
    ("content_type", "文件类型"), ("size", "大小（字节）", "int"), ("sha256", "SHA-256"), ("uploaded_by", "上传人"),
    ("created_at", "上传时间", "datetime"), ("path", "压缩包内路径"))
BRIEFING_FILES = _sheet(
    "briefing_files", "简报文件",
    ID, ("visit_id", "来访编号", "int"), ("variant", "版本"), ("locale", "语言"), ("pages", "页数", "int"),
    ("size_bytes", "大小（字节）", "int"), ("sha256", "SHA-256"), ("finished_at", "生成时间", "datetime"),
    ("path", "压缩包内路径"))

# In the workbook's order.
SHEETS: tuple[ExportSheet, ...] = (
    ORGANIZATIONS, CONTACTS, PROJECTS, PROJECT_INVESTORS, STAGE_CHANGES, DECISIONS, APPROVAL_ITEMS, PARCELS,
    GROUNDBREAKING_EVENTS, GROUNDBREAKING_SLATES, VISITS, VISIT_MEMBERS, VISIT_HOSTS, TOUR_STOPS, FOLLOW_UPS,
    EXPORT_POOL, EXPORT_FIGURES, EXPORT_TARGETS, EXPORT_SUPPORT, INDICATORS, INDICATOR_VALUES, INDICATOR_TARGETS,
    DEPARTMENT_TARGETS, OFFICER_TARGETS, INDUSTRY_CHAINS, USERS, ATTACHMENTS, BRIEFING_FILES)
# The sheets an import kind reads (its key in crm/imports/kinds → the sheet).
IMPORT_SHEETS: dict[str, ExportSheet] = {
    "organizations": ORGANIZATIONS, "contacts": CONTACTS, "projects": PROJECTS, "visits": VISITS,
    "follow_ups": FOLLOW_UPS}

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow
from crm.organizations.models import IndustryChain, Organization
from crm.parcels.models import LandParcel
from crm.visits.models import Visit


class Stage(StrEnum):
    """The pipeline (线索 → … → 投产) and its two side states (暂缓, 终止)."""

    LEAD = "lead"  # 线索
    CONTACT = "contact"  # 接洽
    NEGOTIATING = "negotiating"  # 洽谈
    SIGNED = "signed"  # 签约
    REGISTERED = "registered"  # 注册
    LAND_SUPPLIED = "land_supplied"  # 供地
    PERMITS = "permits"  # 手续办理
    GROUNDBREAKING = "groundbreaking"  # 开工
    OPERATING = "operating"  # 投产
    ON_HOLD = "on_hold"  # 暂缓
    DROPPED = "dropped"  # 终止


PIPELINE: tuple[Stage, ...] = (Stage.LEAD, Stage.CONTACT, Stage.NEGOTIATING, Stage.SIGNED, Stage.REGISTERED,
                               Stage.LAND_SUPPLIED, Stage.PERMITS, Stage.GROUNDBREAKING, Stage.OPERATING)
SIDE_STATES: tuple[Stage, ...] = (Stage.ON_HOLD, Stage.DROPPED)
ALL_STAGES: tuple[Stage, ...] = (*PIPELINE, *SIDE_STATES)
# Stages where a project is done moving: never "stale".
FINISHED: tuple[Stage, ...] = (Stage.OPERATING, Stage.DROPPED)


def pipeline_index(stage: str) -> int:
    """The stage's place in the pipeline (0 = lead), or -1 for a side state."""
    return PIPELINE.index(Stage(stage)) if stage in PIPELINE else -1


class ProjectSource(StrEnum):
    VISIT = "visit"
    REFERRAL = "referral"
    EXHIBITION = "exhibition"
    ONLINE = "online"
    OTHER = "other"


class Project(Base):
    """An investment project (项目) in the pipeline. Money in 万元 (10k CNY) or 万美元 (10k USD), land in 亩."""

    __tablename__ = "project"
    __table_args__ = (
        Index("ix_project_stage_updated", "stage", "updated_at", "id"),  # kanban columns
        Index("ix_project_updated", "updated_at", "id"),  # the table's default order
        # Totals per stage for a filter read from the index alone, the visibility filter's columns included (the
        # unfiltered totals come from ProjectStageTotal).
        Index("ix_project_totals", "archived_at", "stage", "is_confidential", "owner_id", "total_investment_wan_cny",
              "foreign_capital_wan_usd"),
        Index("ix_project_owner_stage", "owner_id", "stage"),
        Index("ix_project_industry_stage", "industry_chain_id", "stage"),
        Index("ix_project_stage_entered", "stage_entered_at"),
        Index("ix_project_stage_since", "stage", "stage_entered_at"),  # stale projects (pipeline.is_stale)
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    industry_chain_id: Mapped[int | None] = mapped_column(ForeignKey("industry_chain.id"))
    description: Mapped[str] = mapped_column(Text, default="")
    total_investment_wan_cny: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    fixed_investment_wan_cny: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    is_foreign_invested: Mapped[bool] = mapped_column(default=False)
    foreign_capital_wan_usd: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    registered_capital_wan_cny: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    land_need_mu: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    annual_output_wan_cny: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    annual_tax_wan_cny: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    jobs: Mapped[int | None] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(20), default="")
    source_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visit.id", ondelete="SET NULL"), index=True)
    source_note: Mapped[str] = mapped_column(String(200), default="")
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    is_confidential: Mapped[bool] = mapped_column(default=False)
    stage: Mapped[str] = mapped_column(String(20), default=Stage.LEAD)
    stage_entered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The furthest pipeline stage the project stands at (kept while it is on hold or dropped): the gates judge a
    # move from here, so leaving 暂缓 for 开工 is checked like any other move into 开工.
    pipeline_stage: Mapped[str] = mapped_column(String(20), default=Stage.LEAD)
    stage_reason: Mapped[str] = mapped_column(Text, default="")  # why it is on hold or dropped
    target_signing_on: Mapped[date | None] = mapped_column(Date)
    target_groundbreaking_on: Mapped[date | None] = mapped_column(Date)
    target_operation_on: Mapped[date | None] = mapped_column(Date)
    signed_on: Mapped[date | None] = mapped_column(Date)
    groundbreaking_on: Mapped[date | None] = mapped_column(Date)
    operation_on: Mapped[date | None] = mapped_column(Date)
    parcel_id: Mapped[int | None] = mapped_column(ForeignKey("land_parcel.id"), index=True)
    land_certificate_no: Mapped[str] = mapped_column(String(60), default="")  # 不动产权证书号
    # A manager let it break ground without every gate passed (audited): why, who, when.
    gate_override_reason: Mapped[str] = mapped_column(Text, default="")
    gate_override_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    gate_override_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Archived by a manager instead of deleted (its decisions, stage history and audit trail are records to keep):
    # it leaves every list, count, total, board and reminder, and a manager can restore it.
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)

    owner: Mapped[User] = relationship(foreign_keys=[owner_id], lazy="raise")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="raise")
    gate_override_by: Mapped[User | None] = relationship(foreign_keys=[gate_override_by_id], lazy="raise")
    industry_chain: Mapped[IndustryChain | None] = relationship(lazy="raise")
    source_visit: Mapped[Visit | None] = relationship(lazy="raise")
    parcel: Mapped[LandParcel | None] = relationship(lazy="raise")
    investors: Mapped[list[ProjectOrganization]] = relationship(
        lazy="raise", order_by="ProjectOrganization.position", cascade="all, delete-orphan")
    officers: Mapped[list[ProjectOfficer]] = relationship(lazy="raise", cascade="all, delete-orphan")
    approvals: Mapped[list[ApprovalItem]] = relationship(
        lazy="raise", order_by="ApprovalItem.position", cascade="all, delete-orphan", back_populates="project")
    decisions: Mapped[list[Decision]] = relationship(
        lazy="raise", order_by="Decision.meeting_on.desc(), Decision.id.desc()", cascade="all, delete-orphan")
    stage_changes: Mapped[list[StageChange]] = relationship(
        lazy="raise", order_by="StageChange.at, StageChange.id", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}

    @property
    def has_override(self) -> bool:
        return bool(self.gate_override_reason)

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class ProjectStageTotal(Base):
    """The pipeline's totals per stage, kept by the database: count, total investment and foreign capital of the
    projects not archived, per stage and confidentiality. Triggers on `project` (migration 20261130_project_speed)
    add and subtract every insert, delete and change of stage, confidentiality, archiving or amounts in the same
    transaction, whatever wrote it, so the unfiltered table and board read eleven rows instead of summing 100,000
    (pipeline.totals). Amounts in hundredths of their unit (0.01 万元, 0.01 万美元): integers add up exactly."""

    __tablename__ = "project_stage_total"

    stage: Mapped[str] = mapped_column(String(20), primary_key=True)
    is_confidential: Mapped[bool] = mapped_column(primary_key=True)
    projects: Mapped[int] = mapped_column(Integer, default=0)
    investment_wan_cny_x100: Mapped[int] = mapped_column(BigInteger, default=0)
    foreign_wan_usd_x100: Mapped[int] = mapped_column(BigInteger, default=0)


class OrganizationLastVisit(Base):
    """The start of each organization's latest visit that is not cancelled (planned ones count), kept by database
    triggers on `visit` and `visit_organization` (migration 20261130_project_speed) whoever writes them: the stale
    flag's "a visit with one of its investors since the cutoff" is one probe per investor instead of a look at every
    visit it was in. Recomputed from the visits on each change (a cancelled or moved visit can make it earlier), so
    it never drifts. No foreign key: the row may outlive its organization harmlessly (its visits are gone too)."""

    __tablename__ = "organization_last_visit"

    organization_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProjectOrganization(Base):
    """An investor in the project, in the order given (the first leads)."""

    __tablename__ = "project_organization"
    __table_args__ = (
        Index("ix_project_organization_org", "organization_id", "project_id"),
        # a card's lead investor (the first by position) without sorting each project's investors
        Index("ix_project_organization_position", "project_id", "position", "organization_id"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    organization: Mapped[Organization] = relationship(lazy="raise")


class ProjectOfficer(Base):
    """An officer assigned to the project besides its owner: sees it when confidential, may edit and move it."""

    __tablename__ = "project_officer"
    __table_args__ = (Index("ix_project_officer_user", "user_id", "project_id"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), primary_key=True)

    user: Mapped[User] = relationship(lazy="raise")


class ProjectVisit(Base):
    """A visit that concerns the project (the one it came from, and later ones)."""

    __tablename__ = "project_visit"
    __table_args__ = (Index("ix_project_visit_visit", "visit_id", "project_id"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"), primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visit.id", ondelete="CASCADE"), primary_key=True)


class StageChange(Base):
    """One move of a project between stages: who, when, from, to, and what they noted."""

    __tablename__ = "project_stage_change"
    __table_args__ = (Index("ix_project_stage_change_project", "project_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    from_stage: Mapped[str] = mapped_column(String(20), default="")  # "" for the stage it was created in
    to_stage: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    gate_override: Mapped[bool] = mapped_column(default=False)
    gate_override_reason: Mapped[str] = mapped_column(Text, default="", server_default="")  # the manager's why

    actor: Mapped[User | None] = relationship(lazy="raise")


class MeetingKind(StrEnum):
    JOINT = "joint"  # 党政联席会议
    PARTY_COMMITTEE = "party_committee"  # 党工委会议
    DIRECTORS = "directors"  # 管委会主任办公会议
    OTHER = "other"


class DecisionOutcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    DEFERRED = "deferred"


class Decision(Base):
    """A 三重一大 collective decision on the project (重大项目安排): at which meeting, when, what was decided.
    Its minutes are attachments (entity type `project_decision`)."""

    __tablename__ = "project_decision"
    __table_args__ = (Index("ix_project_decision_project", "project_id", "meeting_on", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    meeting_kind: Mapped[str] = mapped_column(String(20))
    meeting_on: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(12))
    resolution: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    recorded_by: Mapped[User | None] = relationship(lazy="raise")

    @property
    def version(self) -> int:  # the attachments' audit entries carry a version
        return 1

    @property
    def title(self) -> str:  # labels the attachments' audit entries
        return f"{self.meeting_on.isoformat()} {self.meeting_kind}"


class ApprovalTemplate(Base):
    """One line of the permit checklist every new project starts with (admins keep the list)."""

    __tablename__ = "approval_template"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(100))
    promised_days: Mapped[int | None] = mapped_column(Integer)  # 承诺时限, working days
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(default=True)

    def label(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


CONSTRUCTION_PERMIT = "construction_permit"  # the template code of 施工许可, which the groundbreaking gate needs


class ApprovalStatus(StrEnum):
    NOT_STARTED = "not_started"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"  # 受理: the promised time limit runs from here
    APPROVED = "approved"
    NOT_NEEDED = "not_needed"


DONE_APPROVALS = (ApprovalStatus.APPROVED, ApprovalStatus.NOT_NEEDED)


class ApprovalItem(Base):
    """One permit of a project's checklist (审批事项), with its promised time limit and the 帮办代办 staffer."""

    __tablename__ = "approval_item"
    __table_args__ = (
        Index("ix_approval_item_project", "project_id", "position"),
        Index("ix_approval_item_status_accepted", "status", "accepted_on"),
        Index("ix_approval_item_overdue", "overdue_on"),  # the permit-overdue rule: a range, not a scan
        Index("ix_approval_item_assistant", "assistant_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(40), default="")
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(12), default=ApprovalStatus.NOT_STARTED)
    submitted_on: Mapped[date | None] = mapped_column(Date)
    accepted_on: Mapped[date | None] = mapped_column(Date)
    approved_on: Mapped[date | None] = mapped_column(Date)
    promised_days: Mapped[int | None] = mapped_column(Integer)
    # The first day it counts as overdue (gates.overdue_from), kept while it runs against a time limit, else NULL.
    overdue_on: Mapped[date | None] = mapped_column(Date)
    # The 帮办代办 staff member: a CRM user when they are one (then reminded by the permit-overdue rule, and
    # `assistant` holds their display name as saved), else just the name typed in.
    assistant_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    assistant: Mapped[str] = mapped_column(String(60), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(lazy="raise", back_populates="approvals")

    @property
    def is_done(self) -> bool:
        return self.status in DONE_APPROVALS

    def label(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en

"""Major-project scheduling (重点项目调度): which projects are major (省/市/区重点) and who leads them (包保领导), their
annual planned investment, the monthly reports (月度调度, one per project and month, each correction kept as a
revision), the responsible departments (责任单位), the coordination items (需协调事项) with their log, and the
scheduling meetings (调度会) with the decision on each item. The one-row settings table holds the day the reporting
month closes and the margin of the 红黄绿 judgement."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow
from crm.projects.models import Project


class Level(StrEnum):
    PROVINCE = "province"  # 省重点
    CITY = "city"  # 市重点
    DISTRICT = "district"  # 区重点


class ItemStatus(StrEnum):
    PENDING = "pending"  # 待协调
    IN_PROGRESS = "in_progress"  # 推进中
    RESOLVED = "resolved"  # 已解决
    ON_HOLD = "on_hold"  # 暂缓


OPEN_STATUSES: tuple[ItemStatus, ...] = (ItemStatus.PENDING, ItemStatus.IN_PROGRESS)


class MajorProject(Base):
    """A project on the major-project list: its levels (any of 省/市/区), the year it was listed and its leader in
    charge (包保领导: a user, or a typed name for a leader without an account)."""

    __tablename__ = "major_project"

    # the project's id is the major project's: audit entries and stale-edit checks name the project
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), primary_key=True, autoincrement=False)
    is_province: Mapped[bool] = mapped_column(Boolean, default=False)
    is_city: Mapped[bool] = mapped_column(Boolean, default=False)
    is_district: Mapped[bool] = mapped_column(Boolean, default=False)
    listed_year: Mapped[int] = mapped_column(Integer)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    leader_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    project: Mapped[Project] = relationship(lazy="raise")
    leader: Mapped[User | None] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}

    @property
    def id(self) -> int:
        return self.project_id

    @property
    def levels(self) -> list[Level]:
        return [lv for lv, on in ((Level.PROVINCE, self.is_province), (Level.CITY, self.is_city),
                                  (Level.DISTRICT, self.is_district)) if on]

    @property
    def leader_label(self) -> str:
        return self.leader.display_name if self.leader is not None else self.leader_name


class InvestmentPlan(Base):
    """A major project's planned investment for one year (年度计划投资, 万元)."""

    __tablename__ = "major_project_plan"
    __table_args__ = (UniqueConstraint("project_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    year: Mapped[int] = mapped_column(Integer)
    planned_wan_cny: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MonthlyReport(Base):
    """A project's report for one month, as it stands (its latest revision); every revision is kept in
    `major_project_report_revision`. Late when first filed after the month closed."""

    __tablename__ = "major_project_report"
    __table_args__ = (
        UniqueConstraint("project_id", "year", "month"),
        # the year's cumulative figure: read from this index alone
        Index("ix_major_project_report_period", "year", "month", "project_id", "completed_wan_cny"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    progress: Mapped[str] = mapped_column(Text, default="")  # 形象进度
    completed_wan_cny: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # 本月完成投资
    problems: Mapped[str] = mapped_column(Text, default="")  # 存在问题
    is_late: Mapped[bool] = mapped_column(Boolean, default=False)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    filed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def title(self) -> str:
        """How the audit trail names it (its photos' entries): the month, never the project's name, which a
        confidential project keeps from readers of the trail who may not see it."""
        return f"{self.year}-{self.month:02d}"


class ReportRevision(Base):
    """One filing or correction of a monthly report, never updated (as talking points are)."""

    __tablename__ = "major_project_report_revision"
    __table_args__ = (UniqueConstraint("report_id", "revision"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("major_project_report.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    progress: Mapped[str] = mapped_column(Text, default="")
    completed_wan_cny: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    problems: Mapped[str] = mapped_column(Text, default="")
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    saved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    saved_by: Mapped[User | None] = relationship(lazy="raise")


class ResponsibleDepartment(Base):
    """A responsible department (责任单位): reference data admins keep, seeded by the migration."""

    __tablename__ = "responsible_department"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100), unique=True)
    name_en: Mapped[str] = mapped_column(String(100), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    def name(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") or not self.name_en else self.name_en


class CoordinationItem(Base):
    """A problem one office cannot solve (需协调事项): what is needed, the responsible department (from the list, or
    another zone office typed), a deadline, a status, an owner; raised from a report or on the project page."""

    __tablename__ = "coordination_item"
    __table_args__ = (Index("ix_coordination_item_status_deadline", "status", "deadline_on", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("major_project_report.id", ondelete="SET NULL"))
    need: Mapped[str] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("responsible_department.id"))
    department_other: Mapped[str] = mapped_column(String(100), default="")
    deadline_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20), default=ItemStatus.PENDING.value)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    raised_on: Mapped[date] = mapped_column(Date)
    resolved_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    project: Mapped[Project] = relationship(lazy="raise")
    department: Mapped[ResponsibleDepartment | None] = relationship(lazy="raise")
    owner: Mapped[User | None] = relationship(lazy="raise", foreign_keys=[owner_id])
    log: Mapped[list[CoordinationLog]] = relationship(lazy="raise", order_by="CoordinationLog.id",
                                                      back_populates="item")

    __mapper_args__ = {"version_id_col": version}

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def department_label(self, locale: str) -> str:
        return self.department.name(locale) if self.department is not None else self.department_other

    def days_overdue(self, today: date) -> int:
        """Days past the deadline while open (0 when not overdue)."""
        return max(0, (today - self.deadline_on).days) if self.is_open else 0

    def age_days(self, today: date) -> int:
        return ((self.resolved_on or today) - self.raised_on).days


class CoordinationLog(Base):
    """What was done about an item, by whom, when: a note, a status change, a new deadline or owner, a meeting's
    decision. Never updated."""

    __tablename__ = "coordination_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("coordination_item.id", ondelete="CASCADE"), index=True)
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("scheduling_meeting.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    note: Mapped[str] = mapped_column(Text, default="")
    status_from: Mapped[str | None] = mapped_column(String(20))
    status_to: Mapped[str | None] = mapped_column(String(20))
    deadline_to: Mapped[date | None] = mapped_column(Date)
    owner_to_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    item: Mapped[CoordinationItem] = relationship(lazy="raise", back_populates="log")
    actor: Mapped[User | None] = relationship(lazy="raise", foreign_keys=[actor_id])
    owner_to: Mapped[User | None] = relationship(lazy="raise", foreign_keys=[owner_to_id])


class SchedulingMeeting(Base):
    """A scheduling meeting (调度会, usually the 党政联席会议): its date, title, attendees (users, and others typed)."""

    __tablename__ = "scheduling_meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    held_on: Mapped[date] = mapped_column(Date, index=True)
    title: Mapped[str] = mapped_column(String(200))
    other_attendees: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    version: Mapped[int] = mapped_column(Integer, default=1)

    attendees: Mapped[list[MeetingAttendee]] = relationship(lazy="raise", cascade="all, delete-orphan")

    __mapper_args__ = {"version_id_col": version}


class MeetingAttendee(Base):
    __tablename__ = "scheduling_meeting_attendee"

    meeting_id: Mapped[int] = mapped_column(ForeignKey("scheduling_meeting.id", ondelete="CASCADE"),
                                            primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)

    user: Mapped[User] = relationship(lazy="raise")


class MeetingDecision(Base):
    """A meeting's decision on one item (会议意见); recorded again, it replaces the text (the item's log keeps every
    one)."""

    __tablename__ = "meeting_decision"
    __table_args__ = (UniqueConstraint("meeting_id", "item_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("scheduling_meeting.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("coordination_item.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))


class SchedulingSetting(Base):
    """The admin's settings of scheduling, one row (id 1): the day of the next month a reporting month closes, and
    the margin (percentage points behind 序时进度) within which a project is amber rather than red."""

    __tablename__ = "scheduling_setting"

    id: Mapped[int] = mapped_column(primary_key=True)
    close_day: Mapped[int] = mapped_column(Integer, default=5)
    margin_points: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("10"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.auth.models import User
from crm.db import Base, UTCDateTime, utcnow


class OrganizationKind(StrEnum):
    INVESTOR = "investor"
    ZONE_ENTERPRISE = "zone_enterprise"
    GOVERNMENT = "government"
    PLATFORM = "platform"
    INTERMEDIARY = "intermediary"


class Ownership(StrEnum):
    STATE = "state"
    PRIVATE = "private"
    FOREIGN = "foreign"
    HK_MACAO_TAIWAN = "hmt"
    JOINT_VENTURE = "joint"


class IndustryChain(Base):
    """The zone's industry chains: a list admins can extend."""

    __tablename__ = "industry_chain"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(60))
    name_en: Mapped[str] = mapped_column(String(80))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(default=True)

    def label(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


class Organization(Base):
    __tablename__ = "organization"
    __table_args__ = (
        # The list pages: live (or archived) records in the order shown, so a page is an index range, not a sort.
        Index("ix_organization_list_updated", "archived_at", "updated_at", "id"),
        Index("ix_organization_list_name", "archived_at", "name_sort", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    name_normalized: Mapped[str] = mapped_column(String(120), index=True)
    name_sort: Mapped[str] = mapped_column(String(240), default="", index=True)
    name_en: Mapped[str] = mapped_column(String(200), default="")
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    industry_chain_id: Mapped[int | None] = mapped_column(ForeignKey("industry_chain.id"), index=True)
    ownership: Mapped[str] = mapped_column(String(20), default="")
    country_region: Mapped[str] = mapped_column(String(60), default="")
    city: Mapped[str] = mapped_column(String(60), default="")
    address: Mapped[str] = mapped_column(String(200), default="")
    website: Mapped[str] = mapped_column(String(200), default="")
    tags: Mapped[str] = mapped_column(String(300), default="")  # ",a,b," so a tag filter is one LIKE
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Lower-cased name, English name, pinyin and initials, contact names: what the search box matches.
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    owner: Mapped[User | None] = relationship(lazy="raise")
    industry_chain: Mapped[IndustryChain | None] = relationship(lazy="raise")

    __mapper_args__ = {"version_id_col": version}

    @property
    def tags_list(self) -> list[str]:
        return [t for t in self.tags.split(",") if t]

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Tag(Base):
    """A tag in use on organizations: the filter's choices come from this small table, not from a scan."""

    __tablename__ = "tag"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(20), unique=True)


class OrganizationTag(Base):
    __tablename__ = "organization_tag"

    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tag.id"), primary_key=True, index=True)

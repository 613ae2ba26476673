"""The organization form and the labels of its choices (message ids, translated when shown)."""

from __future__ import annotations

import re

from crm.forms import Field
from crm.i18n import N_, Msg
from crm.organizations.models import OrganizationKind, Ownership
from crm.spreadsheets import Column
from crm.validators import check_credit_code, check_url, normalize_credit_code

KIND_LABELS = {
    OrganizationKind.INVESTOR: N_("Investor"),
    OrganizationKind.ZONE_ENTERPRISE: N_("Zone enterprise"),
    OrganizationKind.GOVERNMENT: N_("Government body"),
    OrganizationKind.PLATFORM: N_("Platform company"),
    OrganizationKind.INTERMEDIARY: N_("Intermediary"),
}

OWNERSHIP_LABELS = {
    Ownership.STATE: N_("State-owned"),
    Ownership.PRIVATE: N_("Private"),
    Ownership.FOREIGN: N_("Foreign-owned"),
    Ownership.HK_MACAO_TAIWAN: N_("Hong Kong, Macao or Taiwan"),
    Ownership.JOINT_VENTURE: N_("Joint venture"),
}

# The Excel download of the list (routes.export_xlsx; service.export_rows gives the values in this order)
EXPORT_COLUMNS = (
    Column("name", Msg("Name"), width=30),
    Column("name_en", Msg("English name"), width=30),
    Column("kind", Msg("Kind")),
    Column("industry", Msg("Industry chain")),
    Column("credit_code", Msg("Unified social credit code"), width=22),
    Column("ownership", Msg("Ownership")),
    Column("country_region", Msg("Country or region")),
    Column("city", Msg("City")),
    Column("address", Msg("Address"), width=30),
    Column("website", Msg("Website"), width=24),
    Column("tags", Msg("Tags"), width=20),
    Column("owner", Msg("Owning officer")),
    Column("created_at", Msg("Created"), "datetime"),
    Column("updated_at", Msg("Updated"), "datetime"),
)

SORTS = ("-updated", "updated", "name", "-name", "-created", "created")
SORT_LABELS = {
    "-updated": N_("Recently updated"),
    "updated": N_("Least recently updated"),
    "name": N_("Name A–Z"),
    "-name": N_("Name Z–A"),
    "-created": N_("Newest first"),
    "created": N_("Oldest first"),
}

_TAG_SPLIT = re.compile(r"[,，、;；\s]+")


MAX_TAG_LENGTH = 20  # Tag.name
# The tags column holds them as ",a,b,": two characters more than the form's "a，b".
MAX_TAGS_LENGTH = 298


def split_tags(raw: str) -> list[str]:
    seen: list[str] = []
    for tag in _TAG_SPLIT.split(raw):
        tag = tag.strip()
        if tag and tag not in seen:
            seen.append(tag)
    return seen


def normalize_tags(raw: str) -> str:
    return "，".join(split_tags(raw))


def check_tags(value: str) -> Msg | None:
    too_long = [tag for tag in split_tags(value) if len(tag) > MAX_TAG_LENGTH]
    if too_long:
        return Msg("A tag has at most %(max)s characters: “%(tag)s” has %(n)s. Shorten it or split it in two.",
                   max=MAX_TAG_LENGTH, tag=too_long[0], n=len(too_long[0]))
    return None


def organization_fields(*, industry_ids: list[str], owner_ids: list[str]) -> list[Field]:
    return [
        Field("name", N_("Name"), required=True, max_length=120),
        Field("name_en", N_("English name"), max_length=200),
        Field("credit_code", N_("Unified social credit code"), max_length=18, normalize=normalize_credit_code,
              checks=[check_credit_code]),
        Field("kind", N_("Kind"), required=True, choices=[k.value for k in OrganizationKind]),
        Field("industry_chain_id", N_("Industry chain"), integer=True, choices=industry_ids),
        Field("ownership", N_("Ownership"), choices=[o.value for o in Ownership]),
        Field("country_region", N_("Country or region"), max_length=60),
        Field("city", N_("City"), max_length=60),
        Field("address", N_("Address"), max_length=200),
        Field("website", N_("Website"), max_length=200, checks=[check_url]),
        Field("tags", N_("Tags"), max_length=MAX_TAGS_LENGTH, normalize=normalize_tags, checks=[check_tags]),
        Field("description", N_("Description"), max_length=5000, multiline=True),
        Field("owner_id", N_("Owning officer"), integer=True, choices=owner_ids),
    ]


def _check_sort_order(value: str) -> Msg | None:
    if not value.isdigit() or int(value) > 9999:
        return Msg("Enter a whole number from 0 to 9999.")
    return None


def industry_chain_fields() -> list[Field]:
    return [
        Field("name_zh", N_("Chinese name"), required=True, max_length=60),
        Field("name_en", N_("English name"), required=True, max_length=80),
        Field("sort_order", N_("Order in lists"), required=True, max_length=4, checks=[_check_sort_order]),
    ]

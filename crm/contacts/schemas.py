from __future__ import annotations

from crm.forms import Field
from crm.i18n import N_, Msg
from crm.spreadsheets import Column
from crm.validators import check_email, check_mobile, check_phone, check_wechat

SORTS = ("name", "-name", "-updated", "updated")
SORT_LABELS = {
    "name": N_("Name A–Z"),
    "-name": N_("Name Z–A"),
    "-updated": N_("Recently updated"),
    "updated": N_("Least recently updated"),
}

# The Excel download of the list (routes.export_xlsx; service.export_rows gives the values in this order)
EXPORT_COLUMNS = (
    Column("name", Msg("Name")),
    Column("organization", Msg("Organization"), width=30),
    Column("title", Msg("Title"), width=20),
    Column("mobile", Msg("Mobile")),
    Column("phone", Msg("Phone")),
    Column("email", Msg("E-mail"), width=26),
    Column("wechat", Msg("WeChat ID")),
    Column("updated_at", Msg("Updated"), "datetime"),
)


def contact_fields() -> list[Field]:
    return [
        Field("organization_id", N_("Organization"), required=True, integer=True),
        Field("name", N_("Name"), required=True, max_length=60),
        Field("title", N_("Title"), max_length=120),
        Field("mobile", N_("Mobile"), max_length=20, checks=[check_mobile]),
        Field("phone", N_("Phone"), max_length=30, checks=[check_phone]),
        Field("email", N_("E-mail"), max_length=254, checks=[check_email]),
        Field("wechat", N_("WeChat ID"), max_length=40, checks=[check_wechat]),
        Field("notes", N_("Notes"), max_length=2000, multiline=True),
    ]

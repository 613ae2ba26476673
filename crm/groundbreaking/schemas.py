"""Groundbreaking event form fields."""

from __future__ import annotations

from crm.forms import Field
from crm.i18n import N_
from crm.tasks.schemas import check_date


def event_fields() -> list[Field]:
    return [
        Field("name", N_("Name"), required=True, max_length=200),
        Field("held_on", N_("Date"), required=True, max_length=10, checks=[check_date]),
        Field("place", N_("Place"), max_length=200),
        Field("note", N_("Note"), max_length=4000, multiline=True),
    ]


def slate_fields() -> list[Field]:
    return [Field("project_id", N_("Project"), required=True, integer=True)]

"""Labels of the assessment's five figures."""

from __future__ import annotations

from crm.i18n import N_

METRIC_LABELS = {
    "projects_signed": N_("Projects signed"),
    "investment_signed_wan_cny": N_("Total investment signed (10k CNY)"),
    "foreign_capital_signed_wan_usd": N_("Foreign capital signed (10k USD)"),
    "visits_received": N_("Visits received"),
    "projects_started": N_("Projects started"),
}

"""A briefing pack as HTML (the preview) and as PDF: one template, templates/pdf/briefing.html, fed by
`service.pack()`; the preview is the same document with a toolbar and a screen stylesheet."""

from __future__ import annotations

from pathlib import Path

from crm import charts
from crm.briefings import service
from crm.briefings.models import Variant
from crm.exports.schemas import TIER_LABELS
from crm.i18n import N_, gettext
from crm.indicators.schemas import UNIT_LABELS
from crm.organizations.schemas import KIND_LABELS as ORG_KIND_LABELS
from crm.organizations.schemas import OWNERSHIP_LABELS
from crm.parcels.schemas import STATUS_LABELS as PARCEL_STATUS_LABELS
from crm.pdf import documents
from crm.pdf.renderer import Renderer
from crm.pdf.result import RenderResult
from crm.projects.schemas import OUTCOME_LABELS, STAGE_LABELS
from crm.web import STATIC_DIR


def indicators_chart(figures: list, locale: str):
    """Key indicators against their annual targets and 序时进度 (crm.charts.progress_svg), or None."""
    rows = [charts.ProgressRow(label=f.indicator.label(locale),
                               done_pct=f.progress * 100 if f.progress is not None else None,
                               expected_pct=(f.time_progress or 0) * 100,
                               note=f"{f.progress * 100:.1f}%" if f.progress is not None else "")
            for f in figures if f.target]
    if not rows:
        return None
    return charts.progress_svg(rows, title=gettext(locale, N_("Key economic indicators against the annual target")),
                               expected_label=gettext(locale, N_("Time elapsed")))


def pack_html(pack: service.Pack, *, locale: str, timezone: str, zone_name: str, preview: bool = False,
              back_url: str = "", download_url: str = "") -> str:
    title = gettext(locale, N_("Delegation briefing"))
    if pack.investor:
        title = f"{pack.investor.name} · {title}"
    marking = gettext(locale, N_("Internal material: keep confidential")) if pack.variant == Variant.INTERNAL else ""

    def photo_src(attachment) -> str:
        return f"/attachments/{attachment.id}/thumbnail" if preview else f"crm:/attachment/{attachment.sha256}"

    return documents.render_html(
        "pdf/briefing.html",
        {"pack": pack, "indicators_chart": indicators_chart(pack.indicators, locale), "tier_labels": TIER_LABELS,
         "unit_labels": UNIT_LABELS, "talking_points": service.talking_point_blocks(pack.talking_points),
         "org_kind_labels": ORG_KIND_LABELS, "ownership_labels": OWNERSHIP_LABELS, "stage_labels": STAGE_LABELS,
         "parcel_status_labels": PARCEL_STATUS_LABELS, "outcome_labels": OUTCOME_LABELS,
         "generated_by": pack.viewer.display_name, "photo_src": photo_src, "has_cover": True,
         "back_url": back_url, "download_url": download_url},
        locale=locale, timezone=timezone, zone_name=zone_name, title=title, marking=marking, preview=preview,
        generated_at=pack.generated_at)


def pack_pdf(pack: service.Pack, *, locale: str, timezone: str, zone_name: str, data_dir: Path,
             renderer: Renderer, timeout: float | None = None) -> RenderResult:
    html = pack_html(pack, locale=locale, timezone=timezone, zone_name=zone_name)
    return renderer.render(html, static_dir=STATIC_DIR, data_dir=data_dir,
                           attachments=service.attachment_hashes(pack), timeout=timeout)

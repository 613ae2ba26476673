"""The project table's rows (projects/index.html), built in Python: the template loop with its badges cost the page
about as much as its queries (issue 17). Same markup as the loop it replaced, every value escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from markupsafe import Markup, escape

from crm.formatting import cny_text, cny_unit, highlight
from crm.listing import options
from crm.projects.schemas import STAGE_LABELS


def table_rows(cards: Sequence, *, q: str, _: Callable[..., str]) -> Markup:
    """The <tr>s of pipeline.Cards, each line indented as the page's table; `q` highlighted when searching. Amounts
    in one unit for the page (cny_unit of its rows), as the column's cells always were."""
    def word(message: str) -> str:
        return str(escape(_(message)))

    confidential = f'<span class="badge badge-muted">{word("Confidential")}</span>'
    stale = f'<span class="badge badge-warn">{word("Stale")}</span>'
    overdue = f'<span class="badge badge-danger">{word("Permit overdue")}</span>'
    gate_missing = f'<span class="badge badge-danger">{word("Gate missing")}</span>'
    comma = word(", ")
    l_project, l_investors, l_stage, l_investment, l_owner, l_days = (
        word(label) for label in ("Project", "Investors", "Stage", "Total investment", "Owning officer", "Days in stage"))
    stages = {value: word(label) for value, label in STAGE_LABELS.items()}
    mark = (lambda text: str(highlight(text, q))) if q else (lambda text: str(escape(text)))
    unit = cny_unit(card.project.total_investment_wan_cny for card in cards)
    out = []
    for card in cards:
        p = card.project
        badges = ((confidential if p.is_confidential else "") + (stale if card.stale else "")
                  + (overdue if card.overdue_permits else "") + (gate_missing if card.gate_missing else ""))
        for gate in card.lapsed:
            text = escape(_("Past a gate it does not meet: %(gate)s", gate=_(gate.label)))
            badges += f'<span class="badge badge-danger">{text}</span>'
        investment = escape(cny_text(p.total_investment_wan_cny, unit, _))
        out.append(
            f'      <tr id="project-row-{p.id}">\n'
            f'        <td data-label="{l_project}"><a href="/projects/{p.id}">{mark(p.name)}</a>\n'
            f'{badges}</td>\n'
            f'        <td data-label="{l_investors}">{comma.join(mark(name) for name in p.investors)}</td>\n'
            f'        <td data-label="{l_stage}">{stages[p.stage]}</td>\n'
            f'        <td data-label="{l_investment}" class="num">{investment}</td>\n'
            f'        <td data-label="{l_owner}">{escape(p.owner_name)}</td>\n'
            f'        <td data-label="{l_days}" class="num">{card.days_in_stage}</td>\n'
            f'      </tr>\n')
    return Markup("".join(out))  # noqa: S704 (every value above is escaped)


def industry_options(chains: Sequence[Any], *, selected: int | None, locale: str) -> Markup:
    """The industry filter's <option>s from (id, name_zh, name_en) rows, in the reader's language."""
    zh = locale.startswith("zh")
    return options(((row[0], row[1] if zh else row[2]) for row in chains), selected)

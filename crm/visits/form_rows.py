"""The visit form's repeated rows (tour stops, follow-ups, new members) as kept in a FormResult's values, named
`kind-N-field`, and what the form's own buttons do to them: add a blank row, remove one, move one up or down."""

from __future__ import annotations

from collections.abc import Callable

from crm.forms import FormResult
from crm.visits.schemas import ROW_KINDS


def row_order(form: FormResult, kind: str) -> list[int]:
    prefix = f"{kind}-"
    return sorted({int(key.split("-")[1]) for key in form.values if key.startswith(prefix)})


def renumber(form: FormResult, kind: str, order: list[int]) -> None:
    """Rewrites the rows of `kind` so they are numbered 0.. in `order` (after a move or removal)."""
    prefix = f"{kind}-"
    old = {k: v for k, v in form.values.items() if k.startswith(prefix)}
    for key in old:
        del form.values[key]
    for position, index in enumerate(order):
        for key, value in old.items():
            if key.startswith(f"{kind}-{index}-"):
                form.values[f"{kind}-{position}-{key.split('-', 2)[2]}"] = value


def add_blank_row(form: FormResult, kind: str, defaults: dict[str, str]) -> None:
    order = row_order(form, kind)
    index = (max(order) + 1) if order else 0
    for name, value in defaults.items():
        form.values[f"{kind}-{index}-{name}"] = value


def apply_action(form: FormResult, action: str, defaults: Callable[[str], dict[str, str]]) -> None:
    """One of the form's own buttons: `add:stop`, `remove:stop-2`, `up:stop-2`, `down:followup-0`; `refresh` (after
    the organizations changed) and anything unknown leave the rows as they are."""
    verb, _, target = action.partition(":")
    if verb == "add" and target in ROW_KINDS:
        add_blank_row(form, target, defaults(target))
    elif verb in ("remove", "up", "down"):
        kind, _, index_text = target.partition("-")
        if kind not in ROW_KINDS or not index_text.isdigit():
            return
        order = row_order(form, kind)
        index = int(index_text)
        if index not in order:
            return
        position = order.index(index)
        if verb == "remove":
            order.remove(index)
        elif verb == "up" and position > 0:
            order[position - 1], order[position] = order[position], order[position - 1]
        elif verb == "down" and position < len(order) - 1:
            order[position + 1], order[position] = order[position], order[position + 1]
        renumber(form, kind, order)

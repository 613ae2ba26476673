"""The import kinds. Each module registers its kind(s) when imported; add yours to MODULES (see base.py)."""

from __future__ import annotations

import importlib

from crm.imports.kinds.base import ENTITIES, KINDS, ImportKind, kinds_for

MODULES = (
    "crm.imports.kinds.organizations",
    "crm.imports.kinds.contacts",
    "crm.imports.kinds.projects",
    "crm.imports.kinds.visits",
    "crm.imports.kinds.follow_ups",
)


def load() -> dict[str, ImportKind]:
    """Every kind, registered (idempotent: importing a module twice registers nothing new)."""
    for module in MODULES:
        importlib.import_module(module)
    return KINDS


__all__ = ["ENTITIES", "KINDS", "ImportKind", "kinds_for", "load"]

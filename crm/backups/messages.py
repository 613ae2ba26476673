"""Problems kept on a backup run (why it failed, what its check found) as messages, so each reader sees them in
their own language: stored as a JSON list of {msgid, params}; any other text (an operating-system error) as is."""

from __future__ import annotations

import json
from collections.abc import Iterable

from crm.i18n import Msg

MAX_KEPT = 20  # problems kept per run (a badly damaged file can have thousands)


def dump(messages: Iterable[Msg]) -> str:
    return json.dumps([{"msgid": m.msgid, "params": {k: v if isinstance(v, (int, float)) else str(v)
                                                     for k, v in m.params.items()}}
                       for m in list(messages)[:MAX_KEPT]], ensure_ascii=False)


def readable(text: str, locale: str) -> str:
    """The stored problems in `locale`, one sentence after another."""
    if not text.startswith("[{"):
        return text
    try:
        items = json.loads(text)
        return " ".join(Msg(str(item["msgid"]), **dict(item.get("params") or {})).translate(locale) for item in items)
    except (ValueError, KeyError, TypeError):
        return text

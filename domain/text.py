"""Text the system can store: Postgres `text` holds no NUL (U+0000), and a lone surrogate (which
JSON's `\\ud800` escapes can make) has no UTF-8 form, so it can be neither stored nor encrypted.
Every other character is kept as written."""

from __future__ import annotations

import re

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """What in `text` cannot be stored, in words; None when all of it can."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    what = "a NUL character (U+0000)" if found.group() == "\x00" else "a lone surrogate (not Unicode text)"
    return f"contains {what}, which cannot be stored"

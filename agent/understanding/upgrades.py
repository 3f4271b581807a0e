"""Upgrades with counts: "4 lobster tails", "filet for everyone", "add noodles for 3", "extra protein x2",
"no lobster". Codes come from the business file (ctx.upgrade_codes); the words for a code are its own
words ("lobster_tail" -> "lobster tail", "lobster") plus a few common variants."""

from __future__ import annotations

import re
from functools import lru_cache

from .numbers import NUM, to_int
from .text import Work

# Words that do not name an upgrade on their own ("extra", "tail", "protein": every guest gets two proteins).
_GENERIC = frozenset({"extra", "add", "additional", "premium", "upgrade", "side", "tail", "protein", "third", "double"})
# Common ways to say the usual upgrades, used only for codes the business actually offers.
_VARIANTS: dict[str, tuple[str, ...]] = {
    "filet_mignon": ("filet", "fillet", "filet mignon", "fillet mignon", "mignon"),
    "lobster_tail": ("lobster", "lobster tail", "lobsters"),
    "extra_protein": ("extra protein", "third protein", "3rd protein", "additional protein", "another protein"),
    "yakisoba_noodles": ("yakisoba", "yakisoba noodle", "noodles", "noodle"),
}
_EVERYONE = (
    r"(?:everyone|everybody|every\s+guest|each\s+guest|every\s+person|each\s+person|all\s+of\s+us|all\s+of\s+them|"
    r"all\s+guests|all\s+the\s+guests|the\s+whole\s+(?:party|group|table)|the\s+(?:party|group|table)|all)"
)
_FOR_WHOM = rf"(?:{NUM})(?:\s+(?:people|persons?|guests?|of\s+us|of\s+them|adults?|kids?))?"


@lru_cache(maxsize=32)
def _patterns(codes: tuple[str, ...]) -> list[tuple[str, re.Pattern[str]]]:
    out: list[tuple[str, re.Pattern[str]]] = []
    for code in codes:
        words = code.lower().split("_")
        names = {" ".join(words)}
        names.update(w for w in words if w not in _GENERIC and len(w) > 2)
        names.update(_VARIANTS.get(code, ()))
        alt = "|".join(
            r"\s+".join(re.escape(part) for part in name.split()) for name in sorted(names, key=len, reverse=True)
        )
        mention = rf"(?:the\s+)?(?:{alt})(?:e?s)?(?:\s+(?:upgrades?|tails?|noodles?|mignons?))?\b"
        pattern = re.compile(
            rf"(?P<neg>\b(?:no|without|remove|drop|skip|cancel|minus|not|don't\s+want|do\s+not\s+want|"
            rf"hold\s+the|none\s+of\s+the)\s+(?:the\s+|any\s+)?)?"
            rf"(?:(?P<before>(?<![\w.$]){NUM})\s*(?:x\s*|×\s*)?(?:(?:orders?|servings?|portions?|plates?)\s+of\s+)?"
            rf"(?:(?:extra|more|additional)\s+)?)?"
            rf"(?P<mention>{mention})"
            rf"(?:\s*(?:x|×|\*)\s*(?P<times>\d{{1,3}})\b|\s*\(\s*(?P<paren>\d{{1,3}})\s*\)|\s*:\s*(?P<colon>\d{{1,3}})\b|"
            rf"\s+for\s+(?:all\s+)?(?P<for>{_FOR_WHOM})\b|\s+for\s+(?P<everyone>{_EVERYONE})\b)?",
            re.I,
        )
        out.append((code, pattern))
    return out


_EVERYONE_BEFORE = re.compile(
    rf"\b{_EVERYONE}\s+(?:wants?|would\s+like|will\s+(?:have|get|take)|gets?|takes?|is\s+getting)\s+(?:the\s+)?$"
)
_COUNT_BEFORE = re.compile(
    rf"(?P<n>{NUM})\s+(?:of\s+(?:us|them)|people|guests|adults|kids)?\s*(?:want|would\s+like|will\s+(?:have|get|take)|get|"
    rf"are\s+getting|take)\s+(?:the\s+)?$"
)


EVERYONE = -1  # "filet for everyone": the party size, once it is known


def find_upgrades(work: Work, codes: tuple[str, ...]) -> dict[str, int] | None:
    """Counts per code; 0 means "remove it", EVERYONE "the whole party"; None when no upgrade is
    mentioned with a count."""
    result: dict[str, int] = {}
    for code, pattern in _patterns(codes):
        for match in pattern.finditer(work.low):
            count: int | None = None
            start = match.start()
            if match.group("neg"):
                count = 0
            elif match.group("before"):
                count = to_int(match.group("before"))
            else:
                for name in ("times", "paren", "colon"):
                    if match.group(name):
                        count = int(match.group(name))
                if match.group("for"):
                    count = to_int(
                        re.split(r"\s+(?=people|persons?|guests?|of\s|adults?|kids?)", match.group("for"))[0]
                    )
                elif match.group("everyone"):
                    count = EVERYONE
            if count is None:
                prefix = work.before(match.start("mention"), 50)
                everyone = _EVERYONE_BEFORE.search(prefix)
                counted = _COUNT_BEFORE.search(prefix)
                if counted:
                    count = to_int(counted.group("n"))
                    start = match.start("mention") - len(prefix) + counted.start()
                elif everyone:
                    count = EVERYONE
            if count is None:
                continue
            result[code] = count
            work.mask(start, match.end())
    return result or None

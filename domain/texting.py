"""When a text may go out (TCPA): consent and quiet hours. Pure rules; the SMS sender
(services.sms) looks up the facts and applies them.

- Opted out (the ledger's latest sms entry is an opt-out): nothing, except the one confirmation
  of that opt-out.
- A direct reply to the customer's text needs no express consent (they wrote to us: that is
  conversational consent) and is sent at any hour: they are waiting for it.
- Anything else (notices, reminders, payment links not asked for) needs express consent (the
  latest entry is an opt-in) and waits for 08:00-21:00 local in every zone the number may be in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

WINDOW_OPENS = time(8, 0)
WINDOW_CLOSES = time(21, 0)
Refusal = Literal["opted_out", "no_consent", "quiet_hours", "no_phone"]


@dataclass(frozen=True)
class TextDecision:
    send: bool
    reason: Refusal | None = None
    hold_until: datetime | None = None  # quiet hours: when it may go


def in_window(moment: datetime, zone: str) -> bool:
    local = moment.astimezone(ZoneInfo(zone)).time()
    return WINDOW_OPENS <= local < WINDOW_CLOSES


def next_allowed(moment: datetime, zones: Sequence[str]) -> datetime:
    """`moment` if it is inside the window in every zone, else the earliest window opening (08:00 in
    one of the zones, over the next days) at which it is inside in all of them."""
    if all(in_window(moment, zone) for zone in zones):
        return moment
    openings = sorted(
        datetime.combine(moment.astimezone(ZoneInfo(zone)).date() + timedelta(days=day), WINDOW_OPENS, ZoneInfo(zone))
        for zone in zones
        for day in range(0, 4)
    )
    for opening in openings:
        if opening > moment and all(in_window(opening, zone) for zone in zones):
            return opening
    raise ValueError(f"no common texting window for zones {', '.join(zones)}")


def decide(
    *,
    latest_consent: bool | None,
    direct_reply: bool,
    confirms_opt_out: bool,
    now: datetime,
    zones: Sequence[str],
) -> TextDecision:
    """May this text go now? `latest_consent` is the ledger's latest sms entry for the number (None:
    none); `zones` the customer's candidate local time zones."""
    if latest_consent is False:
        return TextDecision(True) if confirms_opt_out else TextDecision(False, "opted_out")
    if direct_reply:
        return TextDecision(True)
    if latest_consent is not True:
        return TextDecision(False, "no_consent")
    allowed = next_allowed(now, zones)
    return TextDecision(True) if allowed == now else TextDecision(False, "quiet_hours", allowed)

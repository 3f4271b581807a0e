"""What the understanding step produces from one customer message: an intent and the slots the
message stated. Both engines (rules, llm) fill exactly this schema; the llm engine uses it as its
structured-output type, so the field descriptions are instructions to the model."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Intent = Literal[
    "book",  # wants a party / gives booking details
    "price_question",  # how much, what does it cost
    "policy_question",  # cancellation, rain, setup, allergies, gratuity, menu ...
    "reschedule",  # move an existing booking
    "cancel_booking",  # cancel an existing booking ("cancel my booking"; a lone CANCEL is an SMS opt-out)
    "human",  # asks for a person
    "complaint",  # unhappy, refund request
    "greeting",
    "later",  # stepping away for now: "I'll get back to you", "let me think about it", "bye"
    "other",
]

SmsKeyword = Literal["stop", "start", "help"]

# What the agent last asked for; lets a bare answer ("Dana Lee", "12", "yes") be read correctly.
Pending = Literal[
    "date",
    "time",
    "party",
    "zip",
    "address",
    "name",
    "email",
    "phone",
    "upgrades",
    "consent",
    "confirm",
    "reference",
    "choice",
]


class Slots(BaseModel):
    """Booking facts a message stated. None means "not mentioned in this message"."""

    model_config = ConfigDict(extra="forbid")

    date: str | None = Field(default=None, description="event date, YYYY-MM-DD, resolved against today")
    time: str | None = Field(default=None, description="start time asked for, HH:MM 24h (even if not offered)")
    party_total: int | None = Field(default=None, ge=0, description="all guests")
    party_adults: int | None = Field(default=None, ge=0)
    party_kids: int | None = Field(default=None, ge=0, description="guests 12 and under")
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = Field(default=None, description="lower-case email")
    phone: str | None = Field(default=None, description="E.164, e.g. +19165550123")
    zip: str | None = Field(default=None, description="5-digit US ZIP")
    address: str | None = Field(default=None, description="street address as written")
    upgrades: dict[str, int] | None = Field(
        default=None, description="upgrade code -> number of guests taking it (codes from the business file)"
    )
    consent_sms: bool | None = Field(default=None, description="agrees (true) / refuses (false) texts")
    reference: str | None = Field(default=None, description="booking reference like MH-7Q3K9, upper-case")


class Understanding(BaseModel):
    model_config = ConfigDict(extra="forbid")

    intent: Intent | None = None
    slots: Slots = Field(default_factory=Slots)
    confirm: bool | None = Field(default=None, description="an explicit yes (true) or no (false) to the question")
    sms_keyword: SmsKeyword | None = Field(
        default=None,
        description="a lone carrier keyword: STOP/STOPALL/UNSUBSCRIBE/CANCEL/END/QUIT, START/UNSTOP, HELP/INFO",
    )
    topic: str | None = Field(default=None, description="policy topic asked about: cancellation, rain, setup, ...")


class Context(BaseModel):
    """What the understanding step may use besides the text."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    now: datetime  # aware; "today" is now in `timezone`
    timezone: str = "America/Los_Angeles"
    known: Slots = Field(default_factory=Slots)
    pending: Pending | None = None
    upgrade_codes: tuple[str, ...] = ("filet_mignon", "lobster_tail", "extra_protein", "yakisoba_noodles")
    policy_topics: tuple[str, ...] = ("cancellation", "gratuity", "setup", "rain", "allergies", "menu")

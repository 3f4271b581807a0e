"""Request bodies of the command endpoints. Unknown fields are refused (a typo is a 422 naming it),
and numbers and flags must be JSON numbers and booleans (`Count`, `Flag`): `"kids": false` or
`"granted": 0` is a 422, not a guess."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain import commands
from domain.zones import zip_from_address

Name = Annotated[str, Field(min_length=1, max_length=100)]
Count = Annotated[int, Field(strict=True, ge=0, le=1000)]
Flag = Annotated[bool, Field(strict=True)]
Source = Literal["web", "sms", "staff", "api", "agent"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(_Body):
    first_name: Name
    last_name: Name
    email: Annotated[str, Field(max_length=254)] | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None
    consent_sms: Flag = False


class PartyIn(_Body):
    adults: Count
    kids: Count = 0


class BookingIn(_Body):
    date: dt.date
    slot: Annotated[str, Field(max_length=8, examples=["18:00"])]
    address: Annotated[str, Field(min_length=1, max_length=500)]
    zip: Annotated[str, Field(max_length=10)] | None = Field(
        default=None, description="defaults to the ZIP at the end of the address"
    )
    party: PartyIn
    upgrades: dict[Annotated[str, Field(max_length=40)], Count] = Field(
        default_factory=dict, description="upgrade code -> how many guests take it", max_length=20
    )
    notes: Annotated[str, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def zip_known(self) -> BookingIn:
        if not self.zip:
            self.zip = zip_from_address(self.address)
            if self.zip is None:
                raise ValueError("zip: give `zip` or end the address with a 5-digit ZIP code")
        return self


class CreateBookingIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "web",
                    "customer": {
                        "first_name": "Dana",
                        "last_name": "Lee",
                        "email": "dana.lee@example.com",
                        "phone": "+19165550123",
                        "consent_sms": True,
                    },
                    "booking": {
                        "date": "2026-12-12",
                        "slot": "18:00",
                        "address": "2400 J St, Sacramento, CA 95816",
                        "party": {"adults": 12, "kids": 3},
                        "upgrades": {"lobster_tail": 4},
                        "notes": "Gate code 1234",
                    },
                }
            ]
        }
    )

    source: Source = "api"
    customer: CustomerIn
    booking: BookingIn

    def to_command(self) -> commands.CreateBooking:
        b = self.booking
        return commands.CreateBooking(
            source=self.source,
            customer=commands.CustomerDetails(**self.customer.model_dump()),
            booking=commands.BookingRequest(
                date=b.date,
                slot=b.slot,
                address=b.address,
                zip=b.zip or "",
                adults=b.party.adults,
                kids=b.party.kids,
                upgrades=dict(b.upgrades),
                notes=b.notes,
            ),
        )


Reference = Annotated[str, Field(min_length=3, max_length=16, examples=["MH-7Q3K9"])]


class RescheduleBookingIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reference": "MH-7Q3K9", "date": "2026-12-19", "slot": "15:00"}]}
    )

    reference: Reference
    date: dt.date
    slot: Annotated[str, Field(max_length=8)]
    source: Source = "api"

    def to_command(self) -> commands.RescheduleBooking:
        return commands.RescheduleBooking(self.reference, self.date, self.slot, self.source)


class CancelBookingIn(_Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reference": "MH-7Q3K9", "reason": "plans changed"}]})

    reference: Reference
    reason: Annotated[str, Field(max_length=2000)] | None = None
    source: Source = "api"

    def to_command(self) -> commands.CancelBooking:
        return commands.CancelBooking(self.reference, self.reason, self.source)


class UpdateConsentIn(_Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"channel": "sms", "granted": False, "phone": "+19165550123"}]}
    )

    channel: Literal["sms", "email"]
    granted: Flag
    source: Source = "api"
    customer_id: uuid.UUID | None = None
    phone: Annotated[str, Field(max_length=32)] | None = None
    email: Annotated[str, Field(max_length=254)] | None = None
    source_message_id: Annotated[str, Field(max_length=255)] | None = None

    def to_command(self) -> commands.UpdateConsent:
        return commands.UpdateConsent(**self.model_dump(mode="json"))


# ---------------------------------------------------------------- what the commands answer


class PartyOut(BaseModel):
    adults: int
    kids: int


class BookingOut(BaseModel):
    """A booking as a command leaves it: no personal data (it is replayed and logged)."""

    booking_id: str
    reference: str = Field(examples=["MH-7Q3K9"])
    status: str = Field(examples=["deposit_pending"])
    date: dt.date
    slot: str = Field(examples=["18:00"])
    zone: str
    chef_name: str
    party: PartyOut
    upgrades: dict[str, int] = Field(description="upgrade code -> guests")
    total_due_cents: int
    deposit_due_cents: int
    total_due: str = Field(examples=["$870.00"])
    deposit_due: str
    customer_id: str
    version: int


class CancelledBookingOut(BookingOut):
    deposit_refundable: bool
    refund_cents: int


class ConsentOut(BaseModel):
    customer_id: str
    channel: Literal["sms", "email"]
    granted: bool

"""Google Calendar: chefs' calendars through the official client (`calendar.py`) built from the
vendored discovery document, with an offline fake of the same HTTP API (`fake.py`)."""

from integrations.google.calendar import (
    BOOKING_PROPERTY,
    CalendarApi,
    CalendarError,
    GoogleConfig,
    SyncTokenExpired,
    event_id_for,
)

__all__ = ["BOOKING_PROPERTY", "CalendarApi", "CalendarError", "GoogleConfig", "SyncTokenExpired", "event_id_for"]

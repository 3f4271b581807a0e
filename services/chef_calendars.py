"""Chefs' Google calendars: bookings written into them, and their own busy time read back.

- Bookings -> calendar. One outbox target (`handlers.CALENDAR_EVENT`) for create, reschedule and
  cancel: it reads the booking as it is *now* and makes the calendar match (event on the current
  chef's calendar at the current time, or gone when the booking is not active; off the previous
  chef's calendar when the chef changed). So a retry, a duplicate or rows run out of order all end
  in the same state. The event id is derived from the booking id: an insert that meets 409 already
  made it, and is followed by a patch (which also brings back an event deleted earlier: Google
  keeps a deleted event's id).
- Calendar -> busy time. `sync` pulls the changes since the calendar's stored syncToken (all
  events when there is none, or when Google answers 410 Gone: the cached busy time is then rebuilt
  from scratch) and stores busy intervals in `integra.calendar_busy`. Events carrying our private
  booking property are skipped: a booking is already counted as an event.
- Pushes. `watch` opens an events.watch channel per calendar (and renews those expiring within a
  day, stopping the old one); `push` accepts a notification only for a stored channel id with its
  token, then syncs that calendar.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, LiteralString
from zoneinfo import ZoneInfo

from db.outbox import OutboxMessage
from db.sql import execute
from db.uow import UnitOfWork
from domain.booking import ACTIVE_STATUSES
from domain.business import Business
from domain.clock import Clock
from integrations.google.calendar import (
    BOOKING_PROPERTY,
    CalendarApi,
    CalendarError,
    GoogleConfig,
    SyncTokenExpired,
    event_id_for,
    parse_time,
)
from services import handlers
from services.outbox_dispatcher import PermanentFailure, Target

log = logging.getLogger(__name__)

RENEW_WITHIN = timedelta(days=1)  # a channel this close to expiry is replaced by `watch`
CHANNEL_TTL = timedelta(days=7)  # asked of events.watch (Google's usual maximum)


class ChannelRefused(Exception):
    """A push that names no channel of ours, or the wrong token: nothing is done."""


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _ours(event: Mapping[str, Any]) -> bool:
    return BOOKING_PROPERTY in event.get("extendedProperties", {}).get("private", {})


class ChefCalendars:
    def __init__(
        self,
        config: GoogleConfig,
        api: CalendarApi,
        uow_factory: Callable[[], UnitOfWork],
        business: Business,
        clock: Clock,
    ) -> None:
        self.config = config
        self.api = api
        self.uow_factory = uow_factory
        self.business = business
        self.clock = clock

    def targets(self) -> dict[str, Target]:
        return {handlers.CALENDAR_EVENT: self.put_booking_event}

    # ------------------------------------------------------------------ bookings -> calendar
    def put_booking_event(self, message: OutboxMessage) -> dict[str, Any]:
        booking_id = str(message.payload["booking_id"])
        with self.uow_factory() as uow:
            row = execute(
                uow.conn,
                "SELECT id, reference, status, chef_id, event_date, slot, zone_id, adults, kids"
                " FROM core.bookings WHERE id = %s",
                (booking_id,),
            ).fetchone()
        if row is None:
            raise PermanentFailure(f"no booking {booking_id}")
        event_id = event_id_for(booking_id)
        chef_id = str(row.chef_id)
        result: dict[str, Any] = {"event_id": event_id}
        previous = message.payload.get("previous_chef_id")
        if previous and previous != chef_id and previous in self.config.calendars:
            result["removed_from_previous"] = self.api.delete_event(self.config.calendars[previous], event_id)
        calendar_id = self.config.calendars.get(chef_id)
        if calendar_id is None:  # this chef keeps no calendar with us
            return result | {"skipped": "no calendar for the chef"}
        if row.status not in ACTIVE_STATUSES:
            return result | {"calendar_id": calendar_id, "deleted": self.api.delete_event(calendar_id, event_id)}
        tz = ZoneInfo(self.business.timezone)
        start = datetime.combine(row.event_date, row.slot, tz)
        end = start + timedelta(minutes=self.business.calendar.event_minutes)
        body = {
            # No customer details: the chef's calendar may be shared; the reference finds the rest.
            "summary": f"Hibachi {row.reference} ({row.adults + row.kids} guests, zone {row.zone_id})",
            "start": {"dateTime": start.isoformat(), "timeZone": self.business.timezone},
            "end": {"dateTime": end.isoformat(), "timeZone": self.business.timezone},
            "status": "confirmed",
            "extendedProperties": {"private": {BOOKING_PROPERTY: booking_id}},
        }
        try:
            created = self.api.insert_event(calendar_id, body | {"id": event_id})
            if created is None:  # made by an earlier attempt (or the booking moved): bring it up to date
                self.api.patch_event(calendar_id, event_id, body)
        except CalendarError as error:
            if error.status == 400:  # Google refuses the request itself: sending it again cannot help
                raise PermanentFailure(str(error)) from error
            raise
        return result | {"calendar_id": calendar_id, "created": created is not None}

    # ------------------------------------------------------------------ calendar -> busy time
    def sync(self, calendar_id: str) -> dict[str, Any]:
        """Pull the calendar's changes into the busy-time cache; a full resync when the token expired."""
        chef_id = self.config.chef_of(calendar_id)
        if chef_id is None:
            raise LookupError(f"no chef has calendar {calendar_id!r}")
        with self.uow_factory() as uow:
            # One sync of a calendar at a time (a push and the CLI may race): the second waits here.
            execute(uow.conn, "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"calendar:{calendar_id}",))
            stored = execute(
                uow.conn, "SELECT sync_token FROM integra.calendar_sync WHERE calendar_id = %s", (calendar_id,)
            ).fetchone()
            token = stored.sync_token if stored else None
            full = token is None
            try:
                items, next_token = self.api.list_events(calendar_id, token)
            except SyncTokenExpired:
                log.info("calendar %s: sync token expired, full resync", calendar_id)
                full = True
                items, next_token = self.api.list_events(calendar_id, None)
            if full:
                execute(uow.conn, "DELETE FROM integra.calendar_busy WHERE calendar_id = %s", (calendar_id,))
            busy = 0
            past = self.clock.now() - timedelta(days=1)  # what ended before this can no longer block a booking
            for event in items:
                gone = event.get("status") == "cancelled" or event.get("transparency") == "transparent"
                if gone or _ours(event) or parse_time(event["end"], self.business.timezone) < past:
                    execute(
                        uow.conn,
                        "DELETE FROM integra.calendar_busy WHERE calendar_id = %s AND event_id = %s",
                        (calendar_id, event["id"]),
                    )
                    continue
                execute(
                    uow.conn,
                    "INSERT INTO integra.calendar_busy (calendar_id, event_id, chef_id, starts_at, ends_at)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (calendar_id, event_id)"
                    " DO UPDATE SET starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at",
                    (
                        calendar_id,
                        event["id"],
                        chef_id,
                        parse_time(event["start"], self.business.timezone),
                        parse_time(event["end"], self.business.timezone),
                    ),
                )
                busy += 1
            execute(
                uow.conn,
                "INSERT INTO integra.calendar_sync (calendar_id, chef_id, sync_token, synced_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (calendar_id)"
                " DO UPDATE SET sync_token = EXCLUDED.sync_token, synced_at = EXCLUDED.synced_at",
                (calendar_id, chef_id, next_token, self.clock.now()),
            )
            uow.commit()
        return {"calendar_id": calendar_id, "full": full, "changes": len(items), "busy": busy}

    def sync_all(self) -> list[dict[str, Any]]:
        return [self.sync(calendar_id) for calendar_id in self.config.calendars.values()]

    # ------------------------------------------------------------------ push channels
    def push(self, channel_id: str | None, token: str | None, state: str | None) -> dict[str, Any]:
        """A notification from Google: refused unless the channel is ours and the token its own."""
        with self.uow_factory() as uow:
            row = execute(
                uow.conn,
                "SELECT calendar_id, token_hash FROM integra.calendar_channels WHERE id = %s",
                (channel_id or "",),
            ).fetchone()
        if row is None or not hmac.compare_digest(bytes(row.token_hash), _token_hash(token or "")):
            raise ChannelRefused("unknown channel or wrong token")
        if state == "sync" or self.config.chef_of(row.calendar_id) is None:
            # The channel's first message (nothing changed yet), or a calendar no chef has any more
            # (its channel is left to expire): acknowledged, nothing to pull.
            return {"calendar_id": row.calendar_id, "synced": False}
        return self.sync(row.calendar_id) | {"synced": True}

    def forget_channels(self) -> None:
        """Drop the stored channels (a fresh fake, whose memory held them, is starting): the next
        `watch` opens new ones."""
        with self.uow_factory() as uow:
            execute(uow.conn, "DELETE FROM integra.calendar_channels")
            uow.commit()

    def watch(self, *, renew_within: timedelta = RENEW_WITHIN) -> list[dict[str, Any]]:
        """Make sure every chef calendar has a live push channel: open one where there is none or the
        newest expires within `renew_within`, then stop the ones it replaces."""
        now = self.clock.now()
        opened = []
        for calendar_id in self.config.calendars.values():
            with self.uow_factory() as guard:
                # One renewal of a calendar at a time: housekeeping runs in the app and in every worker.
                execute(guard.conn, "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"watch:{calendar_id}",))
                old = execute(
                    guard.conn,
                    "SELECT id, resource_id, expires_at FROM integra.calendar_channels WHERE calendar_id = %s",
                    (calendar_id,),
                ).fetchall()
                if any(r.expires_at is not None and r.expires_at > now + renew_within for r in old):
                    continue
                channel_id, token = str(uuid.uuid4()), secrets.token_urlsafe(32)
                # Stored before Google is asked: its first message ("sync") may come before watch returns.
                self._write(
                    "INSERT INTO integra.calendar_channels (id, calendar_id, token_hash, resource_id)"
                    " VALUES (%s, %s, %s, '')",
                    (channel_id, calendar_id, _token_hash(token)),
                )
                try:
                    resource_id, expires = self.api.watch(
                        calendar_id, channel_id, token, self.config.channel_address, now + CHANNEL_TTL
                    )
                except Exception:
                    self._write("DELETE FROM integra.calendar_channels WHERE id = %s", (channel_id,))
                    raise
                self._write(
                    "UPDATE integra.calendar_channels SET resource_id = %s, expires_at = %s WHERE id = %s",
                    (resource_id, expires, channel_id),
                )
                for r in old:  # the new channel is live: the old ones go (an overlap loses nothing)
                    if r.resource_id:
                        self.api.stop_channel(r.id, r.resource_id)
                    self._write("DELETE FROM integra.calendar_channels WHERE id = %s", (r.id,))
            opened.append({"calendar_id": calendar_id, "channel_id": channel_id, "expires_at": expires})
        return opened

    def _write(self, query: LiteralString, params: tuple[Any, ...]) -> None:
        """One statement in its own committed transaction (seen at once by the webhook)."""
        with self.uow_factory() as uow:
            execute(uow.conn, query, params)
            uow.commit()

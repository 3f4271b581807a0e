"""The Google Calendar adapter: the official client (google-api-python-client) built from the
vendored discovery document, so nothing is downloaded at run time and the same code talks to
Google or to the offline fake (`fake.py`) by pointing the document's rootUrl at it.

Vendor types stay here: callers get plain dicts, datetimes and the exceptions below.
"""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httplib2

DISCOVERY = Path(__file__).with_name("calendar_v3_discovery.json")
SCOPES = ("https://www.googleapis.com/auth/calendar",)
BOOKING_PROPERTY = "hibachiBookingId"  # private extended property on the events we create
TIMEOUT_SECONDS = 20


class CalendarError(Exception):
    """Google answered with an error the caller cannot treat as success."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class SyncTokenExpired(CalendarError):
    """410 Gone on an incremental list: the stored syncToken is no longer valid; resync fully."""


@dataclass(frozen=True)
class GoogleConfig:
    calendars: Mapping[str, str]  # chef id -> calendar id
    channel_address: str  # the public URL of /webhooks/google-calendar (events.watch pushes there)
    service_account_info: Mapping[str, Any] | None = field(default=None, repr=False)  # None: no auth (the fake)
    api_base: str | None = None  # the fake's URL instead of https://www.googleapis.com/
    fake: bool = False

    def chef_of(self, calendar_id: str) -> str | None:
        return next((chef for chef, cal in self.calendars.items() if cal == calendar_id), None)


def event_id_for(booking_id: str) -> str:
    """The booking's event id, the same on every call (so a retried insert meets a 409, never makes a
    second event): the UUID's 16 bytes in base32hex, lower case (Google's [a-v0-9], 5-1024 chars)."""
    return base64.b32hexencode(uuid.UUID(booking_id).bytes).decode().rstrip("=").lower()


@cache
def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DISCOVERY.read_text())
    return loaded


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: Mapping[str, Any], timezone: str) -> datetime:
    """An event's start/end: `dateTime` (RFC 3339), or an all-day `date` at midnight in `timezone`."""
    from zoneinfo import ZoneInfo

    if "dateTime" in value:
        return datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    day = datetime.fromisoformat(str(value["date"]))
    return day.replace(tzinfo=ZoneInfo(value.get("timeZone") or timezone))


class CalendarApi:
    """The subset of Calendar v3 the app uses. No client-side retries: the outbox and the sync
    callers retry, with their own backoff."""

    def __init__(self, config: GoogleConfig) -> None:
        with warnings.catch_warnings():
            # google-api-core warns at import about a grpcio this client never uses; the CLI's
            # stderr is one line per problem, so keep the notice out of it.
            warnings.simplefilter("ignore", FutureWarning)
            from googleapiclient.discovery import build_from_document

        document = dict(_document())
        if config.api_base:
            document["rootUrl"] = config.api_base.rstrip("/") + "/"
            document["baseUrl"] = document["rootUrl"] + document["servicePath"]
        http: Any = httplib2.Http(timeout=TIMEOUT_SECONDS)
        if config.service_account_info is not None:
            from google.oauth2 import service_account
            from google_auth_httplib2 import AuthorizedHttp

            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                dict(config.service_account_info), scopes=list(SCOPES)
            )
            http = AuthorizedHttp(credentials, http=http)
        self._service = build_from_document(document, http=http)

    @staticmethod
    def _run(request: Any) -> Any:
        from googleapiclient.errors import HttpError

        try:
            return request.execute()
        except HttpError as error:
            status = int(error.resp.status)
            raise (SyncTokenExpired if status == 410 else CalendarError)(status, str(error.reason)) from None

    def insert_event(self, calendar_id: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The created event; None when an event with this id exists already (409)."""
        try:
            created: dict[str, Any] = self._run(self._service.events().insert(calendarId=calendar_id, body=dict(body)))
        except CalendarError as error:
            if error.status == 409:
                return None
            raise
        return created

    def patch_event(self, calendar_id: str, event_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        patched: dict[str, Any] = self._run(
            self._service.events().patch(calendarId=calendar_id, eventId=event_id, body=dict(body))
        )
        return patched

    def delete_event(self, calendar_id: str, event_id: str) -> bool:
        """False when it was gone already (404, or 410 for an event deleted before)."""
        try:
            self._run(self._service.events().delete(calendarId=calendar_id, eventId=event_id))
        except CalendarError as error:
            if error.status in (404, 410):
                return False
            raise
        return True

    def list_events(self, calendar_id: str, sync_token: str | None) -> tuple[list[dict[str, Any]], str]:
        """Every changed event since `sync_token` (all events when None), following the pages, and
        the next sync token. SyncTokenExpired when Google no longer knows the token."""
        items: list[dict[str, Any]] = []
        page: str | None = None
        while True:
            params: dict[str, Any] = {"calendarId": calendar_id, "singleEvents": True, "maxResults": 250}
            if sync_token:
                params["syncToken"] = sync_token
            else:
                params["showDeleted"] = False
            if page:
                params["pageToken"] = page
            response = self._run(self._service.events().list(**params))
            items.extend(response.get("items", []))
            page = response.get("nextPageToken")
            if not page:
                return items, str(response["nextSyncToken"])

    def freebusy(
        self, calendar_ids: Sequence[str], start: datetime, end: datetime
    ) -> dict[str, list[tuple[datetime, datetime]]]:
        """Busy intervals of each calendar between two aware datetimes."""
        body = {"timeMin": _rfc3339(start), "timeMax": _rfc3339(end), "items": [{"id": c} for c in calendar_ids]}
        response = self._run(self._service.freebusy().query(body=body))
        return {
            cal: [
                (parse_time({"dateTime": b["start"]}, "UTC"), parse_time({"dateTime": b["end"]}, "UTC"))
                for b in info.get("busy", [])
            ]
            for cal, info in response.get("calendars", {}).items()
        }

    def watch(
        self, calendar_id: str, channel_id: str, token: str, address: str, expires: datetime | None = None
    ) -> tuple[str, datetime | None]:
        """Open a push channel on the calendar's events: (resource id, the expiry Google granted)."""
        body: dict[str, Any] = {"id": channel_id, "type": "web_hook", "address": address, "token": token}
        if expires is not None:  # asked for; Google may grant less
            body["expiration"] = str(int(expires.timestamp() * 1000))
        channel = self._run(self._service.events().watch(calendarId=calendar_id, body=body))
        expiration = channel.get("expiration")
        granted = datetime.fromtimestamp(int(expiration) / 1000, UTC) if expiration else None
        return str(channel["resourceId"]), granted

    def stop_channel(self, channel_id: str, resource_id: str) -> None:
        try:
            self._run(self._service.channels().stop(body={"id": channel_id, "resourceId": resource_id}))
        except CalendarError as error:
            if error.status != 404:  # gone already: nothing to stop
                raise

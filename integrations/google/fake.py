"""An offline Google Calendar: a small HTTP server speaking the subset of Calendar v3 the adapter
uses, so tests and `make run` drive the official client with no Google account.

    POST   /calendar/v3/calendars/{cal}/events            insert (client ids; an existing id: 409)
    PATCH  /calendar/v3/calendars/{cal}/events/{id}       patch (a deleted event comes back with status)
    DELETE /calendar/v3/calendars/{cal}/events/{id}       delete (again: 410, unknown: 404)
    GET    /calendar/v3/calendars/{cal}/events            list; syncToken gives the changes since (410 once expired)
    POST   /calendar/v3/freeBusy                          busy intervals of calendars
    POST   /calendar/v3/calendars/{cal}/events/watch      open a push channel
    POST   /calendar/v3/channels/stop                     close one

Knobs for a test or a demo: `add_busy` (a chef's dentist appointment, then a push to the app),
`expire_sync_tokens`, `notify`; over HTTP, `POST /fake/busy {"calendar", "start", "end"}` does
`add_busy`. Pushes are sent only by the knobs, never from inside an API call (the app's sync would
call back into this server while it waits).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio.to_thread
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from integrations.loopback import LoopbackServer

PREFIX = "/calendar/v3"
EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
CHANNEL_TTL = timedelta(days=7)  # Google's usual maximum for events.watch


def _error(status: int, message: str, reason: str = "invalid") -> JSONResponse:
    body = {"error": {"code": status, "message": message, "errors": [{"reason": reason, "message": message}]}}
    return JSONResponse(body, status_code=status)


def _instant(value: dict[str, Any]) -> datetime:
    if "dateTime" in value:
        return datetime.fromisoformat(str(value["dateTime"]).replace("Z", "+00:00"))
    return datetime.fromisoformat(str(value["date"])).replace(tzinfo=UTC)


class FakeGoogleCalendar:
    """The fake's state; `app` serves it, `server()` runs it on loopback in a thread."""

    def __init__(self, deliver: Callable[[str, dict[str, str]], int] | None = None) -> None:
        self.deliver = deliver  # posts (url, headers), returns the status (tests: into the TestClient)
        self.base_url = ""
        self.events: dict[str, dict[str, dict[str, Any]]] = {}  # calendar -> event id -> event
        self.seq = itertools.count(1)
        self.generation: dict[str, int] = {}  # bumped by expire_sync_tokens: older tokens answer 410
        self.epoch = secrets.token_hex(4)  # a token from another run of the fake answers 410 too
        self.channels: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []  # (method, path) of every API request
        self.pushes: list[dict[str, Any]] = []  # pushes sent, with the app's answer
        self.lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route(PREFIX + "/calendars/{cal}/events", self._insert, methods=["POST"]),
                Route(PREFIX + "/calendars/{cal}/events", self._list, methods=["GET"]),
                Route(PREFIX + "/calendars/{cal}/events/watch", self._watch, methods=["POST"]),
                Route(PREFIX + "/calendars/{cal}/events/{id}", self._patch, methods=["PATCH"]),
                Route(PREFIX + "/calendars/{cal}/events/{id}", self._delete, methods=["DELETE"]),
                Route(PREFIX + "/freeBusy", self._freebusy, methods=["POST"]),
                Route(PREFIX + "/channels/stop", self._stop, methods=["POST"]),
                Route("/fake/busy", self._fake_busy, methods=["POST"]),
            ]
        )

    # ------------------------------------------------------------------ state helpers
    def _calendar(self, cal: str) -> dict[str, dict[str, Any]]:
        self.generation.setdefault(cal, 0)
        return self.events.setdefault(cal, {})

    def _touch(self, event: dict[str, Any]) -> dict[str, Any]:
        event["_seq"] = next(self.seq)
        event["updated"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        return event

    @staticmethod
    def _public(event: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in event.items() if not k.startswith("_")}

    def live(self, cal: str) -> list[dict[str, Any]]:
        """The calendar's events that are not deleted (what a person sees)."""
        with self.lock:
            return [self._public(e) for e in self._calendar(cal).values() if e.get("status") != "cancelled"]

    # ------------------------------------------------------------------ the API
    async def _insert(self, request: Request) -> Response:
        cal = request.path_params["cal"]
        self.calls.append(("POST", request.url.path))
        body = json.loads(await request.body())
        event_id = body.get("id") or secrets.token_hex(10)
        if not EVENT_ID.match(event_id):
            return _error(400, "Invalid resource id value.")
        with self.lock:
            events = self._calendar(cal)
            if event_id in events:  # deleted ones too: Google keeps the id
                return _error(409, "The requested identifier already exists.", "duplicate")
            event = self._touch(body | {"id": event_id, "status": body.get("status", "confirmed")})
            events[event_id] = event
            return JSONResponse(self._public(event))

    async def _patch(self, request: Request) -> Response:
        cal, event_id = request.path_params["cal"], request.path_params["id"]
        self.calls.append(("PATCH", request.url.path))
        body = json.loads(await request.body())
        with self.lock:
            event = self._calendar(cal).get(event_id)
            if event is None:
                return _error(404, "Not Found", "notFound")
            event.update(body)
            return JSONResponse(self._public(self._touch(event)))

    async def _delete(self, request: Request) -> Response:
        cal, event_id = request.path_params["cal"], request.path_params["id"]
        self.calls.append(("DELETE", request.url.path))
        with self.lock:
            event = self._calendar(cal).get(event_id)
            if event is None:
                return _error(404, "Not Found", "notFound")
            if event.get("status") == "cancelled":
                return _error(410, "Resource has been deleted", "deleted")
            event["status"] = "cancelled"
            self._touch(event)
        return Response(status_code=204)

    async def _list(self, request: Request) -> Response:
        cal = request.path_params["cal"]
        self.calls.append(("GET", request.url.path))
        params = request.query_params
        size = int(params.get("maxResults", "250"))
        offset = int(params.get("pageToken") or 0)
        with self.lock:
            events = self._calendar(cal)
            token = params.get("syncToken")
            if token:
                generation, since, epoch = [*token.split("-"), "", "", ""][:3]
                if (generation, epoch) != (str(self.generation[cal]), self.epoch):
                    return _error(410, "Sync token is no longer valid, a full sync is required.", "fullSyncRequired")
                changed = [e for e in events.values() if e["_seq"] > int(since)]
            else:
                changed = [e for e in events.values() if e.get("status") != "cancelled"]
            changed.sort(key=lambda e: e["_seq"])
            page = changed[offset : offset + size]
            body: dict[str, Any] = {"kind": "calendar#events", "items": [self._public(e) for e in page]}
            if offset + size < len(changed):
                body["nextPageToken"] = str(offset + size)
            else:
                latest = max((e["_seq"] for e in events.values()), default=0)
                body["nextSyncToken"] = f"{self.generation[cal]}-{latest}-{self.epoch}"
        return JSONResponse(body)

    async def _freebusy(self, request: Request) -> Response:
        self.calls.append(("POST", request.url.path))
        body = json.loads(await request.body())
        start, end = _instant({"dateTime": body["timeMin"]}), _instant({"dateTime": body["timeMax"]})
        calendars: dict[str, Any] = {}
        with self.lock:
            for item in body.get("items", []):
                busy = [
                    (max(_instant(e["start"]), start), min(_instant(e["end"]), end))
                    for e in self._calendar(item["id"]).values()
                    if e.get("status") != "cancelled" and e.get("transparency") != "transparent"
                    if _instant(e["start"]) < end and _instant(e["end"]) > start
                ]
                calendars[item["id"]] = {
                    "busy": [{"start": s.isoformat(), "end": f.isoformat()} for s, f in sorted(busy)]
                }
        return JSONResponse({"kind": "calendar#freeBusy", "calendars": calendars})

    async def _watch(self, request: Request) -> Response:
        cal = request.path_params["cal"]
        self.calls.append(("POST", request.url.path))
        body = json.loads(await request.body())
        # The asked-for expiry as is (the app's clock may not be this machine's), else a week.
        expiration = int(body.get("expiration") or (datetime.now(UTC) + CHANNEL_TTL).timestamp() * 1000)
        channel = {
            "kind": "api#channel",
            "id": body["id"],
            "resourceId": "res-" + secrets.token_hex(8),
            "resourceUri": f"{self.base_url}{PREFIX}/calendars/{cal}/events",
            "token": body.get("token"),
            "address": body["address"],
            "expiration": str(expiration),
        }
        with self.lock:
            self._calendar(cal)
            self.channels[body["id"]] = channel | {"_calendar": cal, "_messages": itertools.count(1)}
        return JSONResponse(channel)

    async def _stop(self, request: Request) -> Response:
        self.calls.append(("POST", request.url.path))
        body = json.loads(await request.body())
        with self.lock:
            channel = self.channels.get(body["id"])
            if channel is None or channel["resourceId"] != body.get("resourceId"):
                return _error(404, "Channel not found", "notFound")
            del self.channels[body["id"]]
        return Response(status_code=204)

    # ------------------------------------------------------------------ what a person (or a test) does
    async def _fake_busy(self, request: Request) -> Response:
        body = json.loads(await request.body())
        start, end = _instant({"dateTime": body["start"]}), _instant({"dateTime": body["end"]})
        # On a worker thread: the push it sends makes the app call back into this server.
        event = await anyio.to_thread.run_sync(self.add_busy, body["calendar"], start, end, body.get("summary", "Busy"))
        return JSONResponse(event)

    def add_busy(
        self, cal: str, start: datetime, end: datetime, summary: str = "Dentist", *, notify: bool = True
    ) -> dict[str, Any]:
        """The chef puts something in their own calendar; the app's channels are told (unless not)."""
        body = {"summary": summary, "start": {"dateTime": start.isoformat()}, "end": {"dateTime": end.isoformat()}}
        with self.lock:
            event = self._touch(body | {"id": secrets.token_hex(10), "status": "confirmed"})
            self._calendar(cal)[event["id"]] = event
        if notify:
            self.notify(cal)
        return self._public(event)

    def remove(self, cal: str, event_id: str) -> None:
        with self.lock:
            self._touch(self._calendar(cal)[event_id]).update(status="cancelled")
        self.notify(cal)

    def expire_sync_tokens(self, cal: str) -> None:
        """Every sync token handed out for the calendar now answers 410 Gone."""
        with self.lock:
            self._calendar(cal)
            self.generation[cal] += 1

    def notify(self, cal: str, *, token: str | None = None) -> list[dict[str, Any]]:
        """Push "exists" to every channel watching the calendar (`token` overrides the channel's)."""
        with self.lock:
            watching = [c for c in self.channels.values() if c["_calendar"] == cal]
        sent = []
        for channel in watching:
            headers = {
                "X-Goog-Channel-ID": channel["id"],
                "X-Goog-Channel-Token": token if token is not None else str(channel.get("token") or ""),
                "X-Goog-Channel-Expiration": channel["expiration"],
                "X-Goog-Resource-ID": channel["resourceId"],
                "X-Goog-Resource-URI": channel["resourceUri"],
                "X-Goog-Resource-State": "exists",
                "X-Goog-Message-Number": str(next(channel["_messages"])),
            }
            record: dict[str, Any] = {"channel": channel["id"], "status": None}
            try:
                if self.deliver is not None:
                    record["status"] = self.deliver(channel["address"], headers)
                else:
                    record["status"] = httpx.post(channel["address"], headers=headers, timeout=30).status_code
            except httpx.HTTPError as error:  # the app is down: Google drops the message
                record["status"] = type(error).__name__
            self.pushes.append(record)
            sent.append(record)
        return sent

    # ------------------------------------------------------------------ serving
    def server(self, host: str = "127.0.0.1", port: int = 0) -> LoopbackServer:
        served = LoopbackServer(self.app, host, port)
        self.base_url = served.base_url
        return served

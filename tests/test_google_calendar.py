"""Chefs' Google calendars end to end through the offline fake: the official client talks HTTP to the
fake, the fake's pushes go into the real app's /webhooks/google-calendar."""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time as time_module
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from api.app import create_app
from db.embedded import drop_database, ensure_database
from db.engine import sqlalchemy_url
from db.outbox import OutboxMessage
from db.tables import calendar_busy, calendar_sync, outbox
from domain.availability import ChefSchedule, chef_is_free
from domain.business import Business
from domain.clock import FixedClock
from domain.commands import CancelBooking, RescheduleBooking
from domain.errors import SlotUnavailable
from hibachi.bootstrap import Container
from hibachi.cli import google_config
from hibachi.settings import KEY_SETTINGS, PROJECT_ROOT, SettingsError, fresh_keys, load_settings
from integrations.google import CalendarApi, GoogleConfig, event_id_for
from integrations.google.fake import FakeGoogleCalendar
from services import handlers
from services.chef_calendars import ChefCalendars
from services.maintenance import tend_calendars
from tests.factories import create_booking_cmd

TZ = ZoneInfo("America/Los_Angeles")
DAY = date(2026, 12, 12)


@dataclass
class World:
    fake: FakeGoogleCalendar
    client: TestClient
    calendars: ChefCalendars
    cal: dict[str, str]  # chef name -> calendar id


@pytest.fixture
def world(container: Container, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    client = TestClient(create_app(container))
    fake = FakeGoogleCalendar(deliver=lambda url, headers: client.post(url, headers=headers).status_code)
    server = fake.server()
    url = server.start()
    by_name = {
        chef.name: f"{chef.name.split()[0].lower()}@group.calendar.google.com" for chef in container.business.chefs
    }
    config = GoogleConfig(
        calendars={chef.id: by_name[chef.name] for chef in container.business.chefs},
        channel_address="/webhooks/google-calendar",
        api_base=url,
        fake=True,
    )
    calendars = ChefCalendars(config, CalendarApi(config), container.uow, container.business, container.clock)
    monkeypatch.setattr(container, "calendars", calendars)
    for name, target in calendars.targets().items():
        monkeypatch.setitem(container.dispatcher.targets, name, target)
    yield World(fake, client, calendars, by_name)
    server.stop()


def local(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), TZ)


def free_at(container: Container, slot: str, day: date = DAY) -> int:
    body = container.queries.availability(day, "95816")
    return int(next(s["chefs_free"] for s in body["slots"] if s["slot"] == slot))


def calendar_rows(container: Container) -> list[Any]:
    with container.engine.connect() as conn:
        return list(conn.execute(select(outbox).where(outbox.c.target == handlers.CALENDAR_EVENT)).all())


# ---------------------------------------------------------------- busy time
def test_a_busy_block_removes_the_chef_from_the_overlapping_slot(container: Container, world: World) -> None:
    world.calendars.watch()
    assert free_at(container, "18:00") == 3
    # Kenji's dentist at 16:30-17:15: inside the 18:00 event's travel buffer (17:00-21:00), not 12:00's.
    world.fake.add_busy(world.cal["Kenji Sato"], local(DAY, "16:30"), local(DAY, "17:15"))
    assert [p["status"] for p in world.fake.pushes] == [200]

    assert free_at(container, "18:00") == 2
    assert free_at(container, "15:00") == 2  # 15:00-17:00 plus its buffer reaches 16:30 too
    assert free_at(container, "12:00") == 3
    assert free_at(container, "18:00", DAY + timedelta(days=1)) == 3

    booked = container.bus.handle(create_booking_cmd(slot="18:00")).body
    assert booked["chef_name"] != "Kenji Sato"


def test_the_booking_command_refuses_when_every_chef_is_busy(container: Container, world: World) -> None:
    world.calendars.watch()
    for cal in world.cal.values():
        world.fake.add_busy(cal, local(DAY, "17:30"), local(DAY, "19:00"))
    assert free_at(container, "18:00") == 0
    with pytest.raises(SlotUnavailable):
        container.bus.handle(create_booking_cmd(slot="18:00"))


def test_the_systems_own_events_are_not_counted_as_busy(container: Container, world: World) -> None:
    booked = container.bus.handle(create_booking_cmd(slot="18:00")).body
    container.dispatcher.dispatch_due()
    world.calendars.sync_all()
    with container.engine.connect() as conn:
        assert conn.execute(select(calendar_busy)).all() == []
    # The booking still counts once, as an event: that chef's 15:00 is taken by its buffer only.
    assert free_at(container, "18:00") == 2
    assert booked["chef_name"] == "Kenji Sato"


# ---------------------------------------------------------------- booking lifecycle
def test_create_reschedule_cancel_keep_the_calendar_in_step_through_retries(
    container: Container, world: World, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    kenji = world.cal["Kenji Sato"]
    real = world.calendars.put_booking_event
    attempts: list[str] = []

    def lossy(message: OutboxMessage) -> Any:
        # The call reaches Google, then the answer is lost: the outbox retries a call that worked.
        result = real(message)
        attempts.append(message.id)
        if attempts.count(message.id) == 1:
            raise ConnectionError("reply lost")
        return result

    monkeypatch.setitem(container.dispatcher.targets, handlers.CALENDAR_EVENT, lossy)

    def deliver() -> None:
        for _ in range(4):
            container.dispatcher.dispatch_due()
            clock.advance(timedelta(minutes=5))

    booked = container.bus.handle(create_booking_cmd(slot="18:00")).body
    deliver()
    event_id = event_id_for(booked["booking_id"])
    (event,) = world.fake.live(kenji)
    assert event["id"] == event_id and event["start"]["dateTime"] == local(DAY, "18:00").isoformat()

    moved = container.bus.handle(RescheduleBooking(booked["reference"], DAY + timedelta(days=1), "15:00")).body
    assert moved["chef_name"] == "Kenji Sato"
    deliver()
    (event,) = world.fake.live(kenji)
    assert event["id"] == event_id
    assert event["start"]["dateTime"] == local(DAY + timedelta(days=1), "15:00").isoformat()
    assert ("PATCH", f"/calendar/v3/calendars/{kenji}/events/{event_id}") in world.fake.calls

    container.bus.handle(CancelBooking(booked["reference"], "plans changed"))
    deliver()
    assert world.fake.live(kenji) == []
    assert {r.status for r in calendar_rows(container)} == {"done"}
    assert all(r.attempts == 2 for r in calendar_rows(container))  # every call was retried once
    assert sum(len(world.fake.live(cal)) for cal in world.cal.values()) == 0


def test_a_reschedule_to_another_chef_moves_the_event_between_calendars(container: Container, world: World) -> None:
    kenji, maria = world.cal["Kenji Sato"], world.cal["Maria Lopez"]
    first = container.bus.handle(create_booking_cmd(slot="18:00")).body
    container.dispatcher.dispatch_due()
    # Kenji is busy the new day, so the reschedule goes to Maria.
    world.fake.add_busy(kenji, local(DAY + timedelta(days=2), "09:00"), local(DAY + timedelta(days=2), "23:00"))
    world.calendars.sync_all()
    moved = container.bus.handle(RescheduleBooking(first["reference"], DAY + timedelta(days=2), "18:00")).body
    assert moved["chef_name"] == "Maria Lopez"
    container.dispatcher.dispatch_due()
    assert [e["summary"] for e in world.fake.live(kenji)] == ["Dentist"]
    (event,) = world.fake.live(maria)
    assert event["id"] == event_id_for(first["booking_id"])


# ---------------------------------------------------------------- sync and pushes
def test_an_expired_sync_token_triggers_a_full_resync(container: Container, world: World) -> None:
    kenji = world.cal["Kenji Sato"]
    world.fake.add_busy(kenji, local(DAY, "09:00"), local(DAY, "10:00"))
    assert world.calendars.sync(kenji)["full"] is True
    assert world.calendars.sync(kenji) | {"calendar_id": kenji} == {
        "calendar_id": kenji,
        "full": False,
        "changes": 0,
        "busy": 0,
    }
    gone = world.fake.add_busy(kenji, local(DAY, "11:00"), local(DAY, "12:00"))
    world.fake.remove(kenji, gone["id"])
    world.fake.expire_sync_tokens(kenji)
    result = world.calendars.sync(kenji)
    assert result["full"] is True and result["busy"] == 1
    with container.engine.connect() as conn:
        (row,) = conn.execute(select(calendar_busy)).all()
        assert row.starts_at == local(DAY, "09:00")
        (state,) = conn.execute(select(calendar_sync)).all()
    assert state.sync_token and state.sync_token.startswith("1-")  # the new generation's token


def test_a_push_with_a_wrong_token_or_unknown_channel_is_refused(container: Container, world: World) -> None:
    kenji = world.cal["Kenji Sato"]
    world.calendars.watch()
    world.fake.add_busy(kenji, local(DAY, "16:30"), local(DAY, "17:15"), notify=False)

    (refused,) = world.fake.notify(kenji, token="not-the-token")
    assert refused["status"] == 403
    unknown = world.client.post(
        "/webhooks/google-calendar", headers={"X-Goog-Channel-ID": "nope", "X-Goog-Channel-Token": "x"}
    )
    assert unknown.status_code == 403
    with container.engine.connect() as conn:
        assert conn.execute(select(calendar_busy)).all() == []  # nothing was synced
    assert free_at(container, "18:00") == 3

    (accepted,) = world.fake.notify(kenji)
    assert accepted["status"] == 200
    assert free_at(container, "18:00") == 2


def test_watch_renews_channels_before_they_expire(world: World, clock: FixedClock) -> None:
    first = world.calendars.watch()
    assert len(first) == 3 and len(world.fake.channels) == 3
    assert world.calendars.watch() == []  # all live for days
    clock.advance(timedelta(days=6, hours=12))
    renewed = world.calendars.watch()
    assert len(renewed) == 3 and len(world.fake.channels) == 3
    assert {c["channel_id"] for c in renewed}.isdisjoint({c["channel_id"] for c in first})
    assert set(world.fake.channels) == {c["channel_id"] for c in renewed}


def test_freebusy_reads_a_chefs_busy_time(world: World) -> None:
    kenji = world.cal["Kenji Sato"]
    world.fake.add_busy(kenji, local(DAY, "16:30"), local(DAY, "17:15"))
    busy = world.calendars.api.freebusy([kenji], local(DAY, "00:00"), local(DAY, "23:59"))
    assert busy == {kenji: [(local(DAY, "16:30"), local(DAY, "17:15"))]}


# ---------------------------------------------------------------- the pure rule
def test_busy_time_blocks_a_slot_only_when_it_reaches_the_event_or_its_buffer(business: Business) -> None:
    rules = business.calendar  # 120 min events, 60 min travel buffer
    day = date(2026, 12, 12)

    def free(start: str, end: str) -> bool:
        busy = ((datetime.combine(day, time.fromisoformat(start)), datetime.combine(day, time.fromisoformat(end))),)
        return chef_is_free(rules, ChefSchedule("kenji", 0, frozenset("A"), (), busy), "A", day, time(18))

    assert not free("16:30", "17:01")  # reaches into the travel buffer before (17:00-18:00)
    assert free("16:00", "17:00")  # ends as the buffer starts
    assert not free("20:30", "21:00")  # inside the buffer after (20:00-21:00)
    assert free("21:00", "22:00")


def test_the_fakes_http_knob_adds_busy_time_and_pushes_it(container: Container, world: World) -> None:
    world.calendars.watch()
    kenji = world.cal["Kenji Sato"]
    body = {"calendar": kenji, "start": local(DAY, "16:30").isoformat(), "end": local(DAY, "17:15").isoformat()}
    assert httpx.post(f"{world.fake.base_url}/fake/busy", json=body, timeout=30).status_code == 200
    assert [p["status"] for p in world.fake.pushes] == [200]
    assert free_at(container, "18:00") == 2


def test_housekeeping_renews_channels_and_syncs(container: Container, world: World) -> None:
    world.fake.add_busy(world.cal["Maria Lopez"], local(DAY, "16:30"), local(DAY, "17:15"))  # no channel yet
    tend_calendars(container)
    assert len(world.fake.channels) == 3
    assert free_at(container, "18:00") == 2


# ---------------------------------------------------------------- settings
def test_calendar_settings(settings_env: pytest.MonkeyPatch, business: Business) -> None:
    assert google_config(load_settings(), business) is None  # `make run` starts the fake then

    settings_env.setenv("GOOGLE_API_BASE", "http://127.0.0.1:9")
    fake = google_config(load_settings(), business)
    assert fake is not None and fake.fake and fake.service_account_info is None
    assert sorted(fake.calendars.values()) == [
        "kenji-sato@hibachi.fake",
        "maria-lopez@hibachi.fake",
        "tony-nguyen@hibachi.fake",
    ]

    key = json.dumps({"type": "service_account", "client_email": "x@y.iam.gserviceaccount.com"})
    settings_env.setenv("GOOGLE_SERVICE_ACCOUNT_JSON", key)
    with pytest.raises(SettingsError, match="GOOGLE_CALENDAR_IDS: required"):
        google_config(load_settings(), business)
    settings_env.setenv("GOOGLE_CALENDAR_IDS", '{"Nobody": "n@group.calendar.google.com"}')
    with pytest.raises(SettingsError, match="no chef named 'Nobody'"):
        google_config(load_settings(), business)
    settings_env.setenv("GOOGLE_CALENDAR_IDS", '{"Kenji Sato": "k@group.calendar.google.com"}')
    real = google_config(load_settings(), business)
    assert real is not None and not real.fake
    assert list(real.calendars.values()) == ["k@group.calendar.google.com"]  # the others keep no calendar
    settings_env.setenv("GOOGLE_CALENDAR_IDS", "[1]")
    with pytest.raises(SettingsError, match="GOOGLE_CALENDAR_IDS"):
        load_settings()


def test_a_push_for_a_calendar_no_chef_has_any_more_is_acknowledged(
    container: Container, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.calendars.watch()
    kenji = world.cal["Kenji Sato"]
    config = world.calendars.config
    others = {chef: cal for chef, cal in config.calendars.items() if cal != kenji}
    monkeypatch.setattr(
        world.calendars, "config", GoogleConfig(others, config.channel_address, api_base=config.api_base)
    )
    world.fake.add_busy(kenji, local(DAY, "16:30"), local(DAY, "17:15"))
    assert [p["status"] for p in world.fake.pushes] == [200]
    assert free_at(container, "18:00") == 3


def test_all_day_events_are_busy_and_free_ones_are_not(container: Container, world: World) -> None:
    kenji, maria = world.cal["Kenji Sato"], world.cal["Maria Lopez"]
    world.calendars.api.insert_event(
        kenji, {"summary": "Vacation", "start": {"date": DAY.isoformat()}, "end": {"date": "2026-12-13"}}
    )
    world.calendars.api.insert_event(
        maria,
        {
            "summary": "Maybe lunch",
            "transparency": "transparent",
            "start": {"dateTime": local(DAY, "17:00").isoformat()},
            "end": {"dateTime": local(DAY, "19:00").isoformat()},
        },
    )
    world.calendars.sync_all()
    assert free_at(container, "12:00") == 2  # Kenji is away all day (local midnight to midnight)
    assert free_at(container, "21:00") == 2
    assert free_at(container, "12:00", DAY + timedelta(days=1)) == 3


def test_concurrent_renewals_open_one_channel_per_calendar(world: World) -> None:
    results: list[list[dict[str, Any]]] = []
    threads = [threading.Thread(target=lambda: results.append(world.calendars.watch())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(len(r) for r in results) == 3
    assert len(world.fake.channels) == 3


# ---------------------------------------------------------------- `hibachi run` with no service account
@pytest.fixture
def scratch_url(admin_url: str) -> Iterator[str]:
    name = f"hibachi_scratch_{uuid.uuid4().hex[:8]}"
    url = ensure_database(admin_url, name)
    yield url
    drop_database(admin_url, name)


def test_run_without_a_service_account_takes_a_chefs_appointment_from_its_fake(
    tmp_path: Path, scratch_url: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = {k: v for k, v in os.environ.items() if k not in KEY_SETTINGS and not k.startswith(("GOOGLE_", "STRIPE_"))}
    server = subprocess.Popen(
        [sys.executable, "-m", "hibachi.cli", "run"],
        env=base | fresh_keys("k1") | {"DATABASE_URL": scratch_url, "PORT": str(port), "DATA_DIR": str(tmp_path)},
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in server.stdout or []:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    engine = create_engine(sqlalchemy_url(scratch_url))
    try:
        fake_url = None
        deadline = time_module.monotonic() + 90
        while fake_url is None and time_module.monotonic() < deadline:
            found = re.search(r"fake Google Calendar at (http://\S+)", lines.get(timeout=90))
            fake_url = found.group(1) if found else None
        assert fake_url, "run printed no fake Google Calendar address"

        def count(query: str) -> int:
            with engine.connect() as conn:
                return int(conn.execute(text(query)).scalar_one())

        # Housekeeping opens a channel per chef calendar as the app starts.
        while time_module.monotonic() < deadline and count("SELECT count(*) FROM integra.calendar_channels") < 3:
            time_module.sleep(0.2)
        busy = {
            "calendar": "kenji-sato@hibachi.fake",
            "start": "2026-12-12T16:30:00-08:00",
            "end": "2026-12-12T17:30:00-08:00",
        }
        assert httpx.post(f"{fake_url}/fake/busy", json=busy, timeout=30).status_code == 200
        while time_module.monotonic() < deadline and count("SELECT count(*) FROM integra.calendar_busy") == 0:
            time_module.sleep(0.2)
        assert count("SELECT count(*) FROM integra.calendar_busy WHERE calendar_id = 'kenji-sato@hibachi.fake'") == 1
    finally:
        engine.dispose()
        server.terminate()
        server.wait(20)


def test_the_calendar_command_watches_and_syncs(tmp_path: Path, scratch_url: str) -> None:
    fake = FakeGoogleCalendar()
    server = fake.server()
    url = server.start()
    try:
        fake.add_busy("maria-lopez@hibachi.fake", local(DAY, "09:00"), local(DAY, "10:00"))
        base = {k: v for k, v in os.environ.items() if k not in KEY_SETTINGS and not k.startswith("GOOGLE_")}
        env = base | fresh_keys("k1") | {"DATABASE_URL": scratch_url, "DATA_DIR": str(tmp_path), "GOOGLE_API_BASE": url}

        def hibachi(*args: str) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "hibachi.cli", "calendar", *args]
            return subprocess.run(command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)

        watched = hibachi("watch")
        assert watched.returncode == 0, watched.stderr
        assert len(fake.channels) == 3 and watched.stdout.count(": channel ") == 3
        synced = hibachi("sync")
        assert synced.returncode == 0, synced.stderr
        assert "maria-lopez@hibachi.fake: full sync, 1 change(s), 1 busy" in synced.stdout
        assert hibachi("watch").stdout == ""  # every channel is live for days
    finally:
        server.stop()


def test_past_events_are_not_kept(container: Container, world: World) -> None:
    kenji = world.cal["Kenji Sato"]
    now = container.clock.now()
    world.fake.add_busy(kenji, now - timedelta(days=3), now - timedelta(days=3) + timedelta(hours=1))
    world.fake.add_busy(kenji, now + timedelta(hours=2), now + timedelta(hours=3))
    assert world.calendars.sync(kenji)["busy"] == 1

"""Bad input on every endpoint that takes a body or text (commands, the chat, the webhooks, the staff
forms): oversized bodies, malformed JSON, wrong content types, odd Unicode, SQL and script
injection. Each is refused with the field named, or stored exactly and shown escaped
(api/request_guards.py holds the rules). Fields come from the OpenAPI document and the routes."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.params import Form
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import text

from api.app import build_app, create_app
from api.channels.widget import widget_page
from api.request_guards import MAX_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES, body_limit
from api.security import SESSION_COOKIE
from db.tables import metadata
from domain.commands import ReceiveMessage
from hibachi.bootstrap import Container
from tests.conftest import Providers, service_headers
from tests.factories import create_booking_cmd
from tests.test_admin_pages import Staff, login

DOCUMENT = build_app("Booking API").openapi()
# Every route as the app serves it: path (with its router's prefix), methods, the route itself.
ROUTES = [
    (str(context.path), set(context.methods or ()), context.original_route)
    for context in iter_route_contexts(build_app("Booking API").routes)
    if isinstance(context.original_route, APIRoute)
]
EXAMPLE_REFERENCE = "MH-7Q3K9"

# Text that is stored as written (and must come back so) unless a field's own rule refuses it.
ODD_TEXT = {
    "rtl_override": "abc \u202edcba\u202c end",
    "zero_width_joiner": "family \U0001f469\u200d\U0001f469\u200d\U0001f467 zw\u200bsp",
    "combining_marks": "Zalgo Z\u0351\u0352a\u0354\u0355l\u0356g\u0357o",
    "four_byte_emoji": "party \U0001f389\U0001f364\U0001f525 \U00010348",
    "sql_drop": "'; DROP TABLE core.bookings; --",
    "sql_always_true": "' OR 1=1 --",
    "script_tag": "<script>alert(1)</script>",
    "img_onerror": '"><img src=x onerror=alert(1)>',
}
VERY_LONG = "x" * 20_000  # within the body limit, over every field's own
UNSTORABLE = {"nul": "a\x00b", "lone_surrogate": "a\ud800b"}


# ---------------------------------------------------------------- the document and the routes


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = DOCUMENT["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _text_fields(node: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[str]:
    """Dotted paths of the free-text fields (strings without an enum or a format) under `node`."""
    node = _resolve(node)
    for option in node.get("anyOf", []):
        yield from _text_fields(option, path)
    if node.get("type") == "object":
        for name, sub in node.get("properties", {}).items():
            yield from _text_fields(sub, (*path, name))
    elif node.get("type") == "string" and "enum" not in node and "format" not in node:
        yield ".".join(path)


def _json_body_schema(path: str) -> dict[str, Any]:
    return dict(DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"])


# The endpoints FastAPI reads JSON for (the webhooks read their raw bytes and check a signature).
JSON_PATHS = [
    path
    for path, item in DOCUMENT["paths"].items()
    if "post" in item and "requestBody" in item["post"] and not path.startswith("/webhooks/")
    if "application/json" in item["post"]["requestBody"]["content"]
]
TEXT_FIELDS = [(path, field) for path in JSON_PATHS for field in _text_fields(_json_body_schema(path))]
QUERY_TEXT = [
    (path, parameter["name"])
    for path, item in DOCUMENT["paths"].items()
    if "get" in item
    for parameter in item["get"].get("parameters", [])
    for schema in [_resolve(parameter["schema"])]
    if "string" in {schema.get("type"), *(option.get("type") for option in schema.get("anyOf", []))}
    if "format" not in schema
]
WEBHOOKS = [path for path in DOCUMENT["paths"] if path.startswith("/webhooks/")]
POST_ROUTES = sorted(path for path, methods, _ in ROUTES if "POST" in methods)
FORM_ROUTES = sorted(
    path for path, _, route in ROUTES if route.body_field and isinstance(route.body_field.field_info, Form)
)
STAFF_FORMS = [
    (path, param.alias)
    for path, methods, route in ROUTES
    if path.startswith("/admin/") and "POST" in methods
    for param in route.dependant.body_params
    if param.field_info.annotation is str
]


def test_the_fields_come_from_the_document() -> None:
    assert set(JSON_PATHS) == {
        "/commands/create-booking",
        "/commands/reschedule-booking",
        "/commands/cancel-booking",
        "/commands/update-consent",
        "/channels/web/messages",
    }
    fields = set(TEXT_FIELDS)
    assert {("/commands/create-booking", "customer.first_name"), ("/channels/web/messages", "text")} <= fields
    assert ("/admin/threads/{thread_id:uuid}/notes", "body") in STAFF_FORMS
    assert {"/login", "/admin/threads/{thread_id:uuid}/reply"} <= set(FORM_ROUTES)


# ---------------------------------------------------------------- a world to send it to


@dataclass
class World:
    container: Container
    api: TestClient  # a service's bearer token (owner: every command and query)
    browser: TestClient  # an owner's staff session
    staff: Staff
    providers: Providers

    def send(self, path: str, body: Any, *, key: str | None = None) -> Any:
        headers = {"Content-Type": "application/json", "Idempotency-Key": key or str(uuid.uuid4())}
        # json.dumps escapes what is not ASCII, so a lone surrogate travels as JSON's `\ud800`.
        return self.api.post(path, content=json.dumps(body), headers=headers)

    def form(self, path: str, **fields: str) -> Any:
        return self.browser.post(path, data={"csrf_token": self.staff.csrf, **fields})

    def book(self, n: int = 0) -> dict[str, Any]:
        day = (dt.date(2026, 12, 12) + dt.timedelta(days=n)).isoformat()
        command = create_booking_cmd(day=day, email=f"booked{n}@example.com", phone=f"+1916557{n:04d}")
        return dict(self.container.bus.handle(command).body)

    def export(self, customer_id: str) -> dict[str, Any]:
        download = self.form(f"/admin/customers/{customer_id}/export")
        assert download.status_code == 200, download.text
        return dict(download.json())

    def tables_intact(self) -> None:
        with self.container.engine.connect() as conn:
            for table in metadata.sorted_tables:
                name = f"{table.schema}.{table.name}"
                assert conn.execute(text("SELECT to_regclass(:t)"), {"t": name}).scalar() is not None, name


@pytest.fixture
def world(container: Container, wired_providers: Providers) -> Iterator[World]:
    app = create_app(container)
    with (
        TestClient(app, raise_server_exceptions=False, headers=service_headers(container, "owner")) as api,
        TestClient(
            app, raise_server_exceptions=False, base_url="https://testserver", follow_redirects=False
        ) as browser,
    ):
        staff = login(container, "owner")
        browser.cookies.set(SESSION_COOKIE, staff.cookie)
        yield World(container, api, browser, staff, wired_providers)


def body_for(world: World, path: str, n: int) -> dict[str, Any]:
    """The document's example body for `path`, made the n-th of its kind: its own contact, date,
    session and booking, so every request of a test is accepted or refused on its own merits."""
    body: dict[str, Any] = copy.deepcopy(_resolve(_json_body_schema(path))["examples"][0])
    if path == "/commands/create-booking":
        body["customer"] |= {"email": f"guest{n}@example.com", "phone": f"+1916555{n:04d}"}
        day = dt.date(2026, 12, 12) + dt.timedelta(days=n % 20)
        body["booking"] |= {"date": day.isoformat(), "zip": "95816"}
    if body.get("reference") == EXAMPLE_REFERENCE:
        body["reference"] = world.book(n)["reference"]
    if path == "/commands/update-consent":
        body["phone"] = f"+1916556{n:04d}"
    if path == "/channels/web/messages":
        # The email of a customer, so the thread is theirs and its messages are in their export.
        body |= {"session_id": f"session-{n:04d}-{uuid.uuid4().hex[:8]}", "email": f"booked{n}@example.com"}
        world.book(n)
    return body


def with_value(body: dict[str, Any], field: str, value: str) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    *parents, last = field.split(".")
    node = changed
    for name in parents:
        node = node[name]
    node[last] = value
    return changed


def filled(path: str, *, thread_id: str | None = None, reference: str = EXAMPLE_REFERENCE) -> str:
    """A concrete path for a route template (the guards answer before any lookup): every other
    parameter is an id, so a fresh UUID."""
    given = {"thread_id": thread_id, "reference": reference, "provider": "google"}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda found: given.get(found.group(1)) or str(uuid.uuid4()), path)


def refusal(response: Any) -> dict[str, Any]:
    assert response.status_code < 500, response.text
    return dict(response.json()["error"])


# ---------------------------------------------------------------- size


@pytest.mark.parametrize("path", POST_ROUTES)
def test_an_oversized_body_is_a_413_naming_the_limit(world: World, path: str) -> None:
    limit = body_limit(path)
    content_type = "application/x-www-form-urlencoded" if path in FORM_ROUTES else "application/json"
    response = world.browser.post(filled(path), content=b"x" * (limit + 1), headers={"Content-Type": content_type})
    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert (error["code"], error["field"], error["limit_bytes"]) == ("too_large", "body", limit)
    assert f"{limit // 1024} KiB" in error["message"]
    assert (MAX_BODY_BYTES, MAX_WEBHOOK_BODY_BYTES) == (64 * 1024, 256 * 1024)  # as the README says


@pytest.mark.parametrize(
    "path",
    ["/commands/create-booking", "/channels/web/messages", "/webhooks/stripe", "/admin/threads/{thread_id:uuid}/notes"],
)
def test_a_body_streamed_without_a_length_is_cut_at_the_limit(world: World, path: str) -> None:
    limit = body_limit(path)

    def chunks() -> Iterator[bytes]:
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096

    client = world.browser if path.startswith("/admin") else world.api
    content_type = "application/x-www-form-urlencoded" if path in FORM_ROUTES else "application/json"
    response = client.post(filled(path), content=chunks(), headers={"Content-Type": content_type})
    assert response.status_code == 413, response.text
    assert response.json()["error"]["limit_bytes"] == limit


def test_a_body_within_the_limit_is_read_and_judged_by_its_fields(world: World) -> None:
    body = with_value(body_for(world, "/commands/create-booking", 0), "booking.notes", "n" * 60_000)
    assert len(json.dumps(body)) < MAX_BODY_BYTES
    error = refusal(world.send("/commands/create-booking", body))
    assert error["field"] == "booking.notes"


# ---------------------------------------------------------------- malformed JSON, content types

MALFORMED = {
    "truncated": b'{"text": "hello',
    "trailing_garbage": b'{"text": "hello"} and more',
    "single_quotes": b"{'text': 'hello'}",
    "not_utf8": b'{"text": "\xff\xfe\xfa"}',
    "nested_too_deep": b"[" * 50_000,
}


@pytest.mark.parametrize("path", JSON_PATHS)
def test_malformed_json_is_a_400_naming_the_problem(world: World, path: str) -> None:
    for name, raw in MALFORMED.items():
        response = world.api.post(
            path, content=raw, headers={"Content-Type": "application/json", "Idempotency-Key": name}
        )
        assert response.status_code == 400, (name, response.text)
        error = response.json()["error"]
        assert error["field"] == "body" and error["code"] in ("malformed_json", "malformed_body"), name
        assert "not valid JSON" in error["message"] or "could not be read" in error["message"], name


@pytest.mark.parametrize("path", JSON_PATHS)
def test_an_empty_body_however_framed_is_a_4xx_naming_it(world: World, path: str) -> None:
    headers = {"Content-Type": "application/json", "Idempotency-Key": "empty-body"}
    chunked = world.api.post(path, content=iter([b""]), headers=headers)  # Transfer-Encoding: chunked
    padded = world.api.post(path, content=b"", headers=headers | {"Content-Length": "00"})
    for response in (chunked, padded):
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["error"]["code"], response.text


@pytest.mark.parametrize("path", JSON_PATHS)
def test_a_json_endpoint_refuses_other_content_types_with_a_415(world: World, path: str) -> None:
    raw = json.dumps(body_for(world, path, 0)).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/xml", None):
        headers = {"Idempotency-Key": str(uuid.uuid4())} | ({"Content-Type": content_type} if content_type else {})
        response = world.api.post(path, content=raw, headers=headers)
        assert response.status_code == 415, (content_type, response.text)
        error = response.json()["error"]
        assert error["field"] == "Content-Type" and "application/json" in error["message"]
    charset = world.api.post(
        path, content=raw, headers={"Content-Type": "application/json; charset=utf-8", "Idempotency-Key": "utf8"}
    )
    assert charset.status_code < 300, charset.text


@pytest.mark.parametrize("path", FORM_ROUTES)
def test_a_form_endpoint_refuses_json_with_a_415(world: World, path: str) -> None:
    response = world.browser.post(filled(path), json={"csrf_token": world.staff.csrf, "body": "hi"})
    assert response.status_code == 415, response.text
    assert "application/x-www-form-urlencoded" in response.json()["error"]["message"]


# ---------------------------------------------------------------- odd text in every field


@pytest.mark.parametrize(("path", "field"), TEXT_FIELDS)
def test_unstorable_text_is_a_422_naming_the_field(world: World, path: str, field: str) -> None:
    for n, (name, value) in enumerate(UNSTORABLE.items()):
        error = refusal(world.send(path, with_value(body_for(world, path, n), field, value)))
        assert (error["code"], error["field"]) == ("invalid", field), (name, error)
    world.tables_intact()


@pytest.mark.parametrize(("path", "name"), QUERY_TEXT)
def test_unstorable_or_injected_query_text_is_refused_or_harmless(world: World, path: str, name: str) -> None:
    booked = world.book(0)["reference"]  # what a matching injection would give away
    concrete = path.replace("{reference}", EXAMPLE_REFERENCE).replace("{provider}", "google")
    where = "query" if "{" + name + "}" not in path else "path"
    for value in ("a\x00b", *ODD_TEXT.values()):
        if where == "path":
            response = world.api.get(concrete.replace(EXAMPLE_REFERENCE, quote(value, safe="")))
        else:
            response = world.api.get(concrete, params={name: value})
        assert response.status_code in (200, 404, 422), (value, response.text)
        # Injected text finds nothing: no booking comes back as if `' OR 1=1 --` had matched it.
        assert response.status_code != 200 or booked not in response.text, (value, response.text)
        if "\x00" in value and response.status_code != 404:  # a 404: the path matched no route
            assert response.json()["error"]["field"] == name, response.text
    world.tables_intact()


def _customer_of(answer: dict[str, Any]) -> str:
    return str(answer["customer_id"])


# Where an accepted value can be read back exactly (all through the staff export, which decrypts
# everything held about a customer), and the staff page that must show it escaped.
Readback = Callable[[World, dict[str, Any], dict[str, Any]], tuple[str | None, str]]


def _booking_field(name: str) -> Readback:
    def read(world: World, body: dict[str, Any], answer: dict[str, Any]) -> tuple[str | None, str]:
        bundle = world.export(_customer_of(answer))
        booking = next(b for b in bundle["bookings"] if b["reference"] == answer["reference"])
        return booking[name], f"/admin/bookings/{answer['reference']}"

    return read


def _customer_field(name: str) -> Readback:
    def read(world: World, body: dict[str, Any], answer: dict[str, Any]) -> tuple[str | None, str]:
        return world.export(_customer_of(answer))["customer"][name], f"/admin/customers/{_customer_of(answer)}"

    return read


def _chat_text(world: World, body: dict[str, Any], answer: dict[str, Any]) -> tuple[str | None, str]:
    with world.container.engine.connect() as conn:
        customer_id = conn.execute(
            text("SELECT customer_id::text FROM core.message_threads WHERE id = :t"), {"t": answer["thread_id"]}
        ).scalar_one()
    thread = next(t for t in world.export(customer_id)["threads"] if t["id"] == answer["thread_id"])
    first = next(m for m in thread["messages"] if m["id"] == answer["message_id"])
    return first["body"], f"/admin/threads/{answer['thread_id']}"


def _consent_evidence(world: World, body: dict[str, Any], answer: dict[str, Any]) -> tuple[str | None, str]:
    consents = world.export(_customer_of(answer))["consents"]
    return consents[-1]["source_message_id"], f"/admin/customers/{_customer_of(answer)}"


READBACK: dict[tuple[str, str], Readback] = {
    ("/commands/create-booking", "customer.first_name"): _customer_field("first_name"),
    ("/commands/create-booking", "customer.last_name"): _customer_field("last_name"),
    ("/commands/create-booking", "booking.address"): _booking_field("address"),
    ("/commands/create-booking", "booking.notes"): _booking_field("notes"),
    ("/channels/web/messages", "text"): _chat_text,
    ("/commands/update-consent", "source_message_id"): _consent_evidence,
}
# Accepted and not kept anywhere a person reads it (so nothing to read back or escape).
NOT_KEPT = {
    ("/commands/cancel-booking", "reason"): "checked, then not stored",
    ("/channels/web/messages", "page"): "consent evidence, kept only when the visitor agrees to texts",
}
SHOWN_ON_PAGES = {("/commands/update-consent", "source_message_id")}  # evidence, not on a page


@pytest.mark.parametrize(("path", "field"), TEXT_FIELDS)
def test_odd_text_is_refused_naming_the_field_or_stored_exactly(world: World, path: str, field: str) -> None:
    problems: list[str] = []
    for n, (name, value) in enumerate({**ODD_TEXT, "very_long": VERY_LONG}.items(), start=1):
        body = with_value(body_for(world, path, n), field, value)
        response = world.send(path, body)
        if response.status_code >= 400:
            error = refusal(response)
            if error.get("field") != field:
                problems.append(f"{name}: refused naming {error.get('field')!r}, not {field!r}: {error}")
            continue
        if name == "very_long":
            problems.append(f"{name}: accepted {len(value)} characters")
        if (path, field) in NOT_KEPT:
            continue
        read = READBACK.get((path, field))
        if read is None:
            problems.append(f"{name}: accepted, and this test does not know where to read it back")
            continue
        stored, page = read(world, body, response.json())
        if stored != value:
            problems.append(f"{name}: stored {stored!r}, sent {value!r}")
        if (path, field) not in SHOWN_ON_PAGES:
            shown = world.browser.get(page)
            assert shown.status_code == 200, shown.text
            if str(escape(value)) not in shown.text or (value != str(escape(value)) and value in shown.text):
                problems.append(f"{name}: not shown escaped on {page}")
    assert not problems, "\n".join(problems)
    world.tables_intact()


def test_the_chat_widget_writes_replies_as_text() -> None:
    page = widget_page("Hibachi <Chefs>")
    assert not re.search(r"\.innerHTML\s*=", page) and "Hibachi &lt;Chefs&gt;" in page


# ---------------------------------------------------------------- the staff forms


@pytest.fixture
def thread_and_booking(world: World) -> tuple[str, str]:
    booking = world.book(30)
    received = world.container.bus.handle(
        ReceiveMessage("web", "session-forms-0001", "hello", "web-widget", str(uuid.uuid4()))
    ).body
    return str(received["thread_id"]), str(booking["reference"])


FORM_DEFAULTS = {
    "date": "2026-12-19",
    "slot": "15:00",
    "amount": "150.00",
    "until": "2026-12-05T10:00",
    "reason": "asked",
    "body": "hello",
    "confirm": "ERASE",
    "assignee": "me",
    "send_as": "me",
    "take_over": "",
}


@pytest.mark.parametrize(("path", "field"), STAFF_FORMS)
def test_staff_form_fields_refuse_or_keep_odd_text(
    world: World, thread_and_booking: tuple[str, str], path: str, field: str
) -> None:
    thread_id, reference = thread_and_booking
    where = filled(path, thread_id=thread_id, reference=reference)
    route = next(r for p, _, r in ROUTES if p == path)
    others = {p.alias: FORM_DEFAULTS.get(p.alias, reference) for p in route.dependant.body_params}
    nul = world.form(where, **(others | {field: "a\x00b"}))
    assert nul.status_code == 422 and nul.json()["error"]["field"] == field, nul.text
    for name, value in ODD_TEXT.items():
        answered = world.form(where, **(others | {field: value}))
        assert answered.status_code < 500, (name, answered.text)
        if value in answered.text and value != str(escape(value)):
            pytest.fail(f"{name} echoed unescaped by {path}")
    world.tables_intact()


def test_a_staff_note_and_reply_are_kept_exactly_and_shown_escaped(
    world: World, thread_and_booking: tuple[str, str]
) -> None:
    thread_id, _ = thread_and_booking
    assert world.form(f"/admin/threads/{thread_id}/take-over").status_code == 303
    for name, value in ODD_TEXT.items():
        assert world.form(f"/admin/threads/{thread_id}/notes", body=value).status_code == 303, name
        assert world.form(f"/admin/threads/{thread_id}/reply", body=value).status_code == 303, name
    page = world.browser.get(f"/admin/threads/{thread_id}").text
    sent = world.api.get("/channels/web/messages", params={"session_id": "session-forms-0001"}).json()["messages"]
    assert [m["text"] for m in sent if m["from"] == "staff"] == list(ODD_TEXT.values())  # byte for byte
    for name, value in ODD_TEXT.items():
        assert str(escape(value)) in page, name
        assert value == str(escape(value)) or value not in page, name
    world.tables_intact()


# ---------------------------------------------------------------- webhooks


def _junk(path: str) -> Iterator[tuple[dict[str, str], bytes]]:
    event = json.dumps({"id": "evt_1", "type": "checkout.session.completed", "body": {"type": "SMS"}}).encode()
    yield {}, b""
    yield {"Content-Type": "application/json"}, b"not json at all"
    yield {"Content-Type": "application/json"}, event
    forged = {
        "/webhooks/stripe": {"Stripe-Signature": "t=1,v1=" + "0" * 64},
        "/webhooks/plaid": {"Plaid-Verification": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImsifQ.e30.c2ln"},
        "/webhooks/ringcentral": {"Verification-Token": "not-our-token-" + "x" * 16},
        "/webhooks/google-calendar": {"X-Goog-Channel-ID": str(uuid.uuid4()), "X-Goog-Channel-Token": "guess"},
    }[path]
    yield {"Content-Type": "application/json", **forged}, event


@pytest.mark.parametrize("path", WEBHOOKS)
def test_a_webhook_refuses_unsigned_junk_with_a_4xx(world: World, path: str) -> None:
    for headers, raw in _junk(path):
        response = world.api.post(path, content=raw, headers=headers)
        assert 400 <= response.status_code < 500, (headers, raw[:40], response.text)
        assert response.json()["error"]["code"]
    with world.container.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM integra.webhook_events")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM core.messages")).scalar_one() == 0


def test_a_signed_event_missing_what_its_type_needs_is_refused_not_a_500(world: World) -> None:
    from integrations.stripe.fake import sign

    session = {"payment_status": "paid", "client_reference_id": "MH-7Q3K9"}  # no id
    for shape in (
        {"data": ["not an object"]},
        {"data": {"object": "a string"}},
        {"data": {"object": session}},
        {"data": {"object": session | {"id": "cs_1", "amount_total": "lots"}}},
    ):
        raw = json.dumps({"id": "evt_odd", "type": "checkout.session.completed", **shape}).encode()
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(raw, world.providers.stripe_secret)}
        answered = world.api.post("/webhooks/stripe", content=raw, headers=headers)
        assert answered.status_code == 400, (shape, answered.text)
        assert answered.json()["error"]["code"] == "malformed_event"
    odd_sender = {"id": "1", "type": "SMS", "direction": "Inbound", "from": "+19165550177", "subject": "hi"}
    headers = {"Content-Type": "application/json", "Verification-Token": world.providers.ringcentral_token}
    answered = world.api.post("/webhooks/ringcentral", content=json.dumps({"body": odd_sender}), headers=headers)
    assert answered.status_code == 200 and answered.json()["handled"] is False  # acknowledged, nothing to store
    with world.container.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM integra.webhook_events")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM core.messages")).scalar_one() == 0


def test_a_verified_text_with_odd_words_is_stored_exactly_or_acknowledged(world: World) -> None:
    def deliver(words: str) -> Any:
        event = {
            "uuid": str(uuid.uuid4()),
            "event": "/restapi/v1.0/account/~/extension/~/message-store/instant?type=SMS",
            "body": {
                "id": str(uuid.uuid4().int)[:12],
                "type": "SMS",
                "direction": "Inbound",
                "from": {"phoneNumber": "+19165550177"},
                "to": [{"phoneNumber": "+19165550100"}],
                "subject": words,
            },
        }
        headers = {"Content-Type": "application/json", "Verification-Token": world.providers.ringcentral_token}
        return world.api.post("/webhooks/ringcentral", content=json.dumps(event), headers=headers)

    for name, value in UNSTORABLE.items():  # acknowledged (no retries) and not stored
        answered = deliver(value)
        assert answered.status_code == 200 and answered.json()["handled"] is False, (name, answered.text)
    for name, value in ODD_TEXT.items():
        answered = deliver(value)
        assert answered.status_code == 200 and answered.json()["handled"] == "inbound", (name, answered.text)
    with world.container.engine.connect() as conn:
        thread_id = conn.execute(text("SELECT id::text FROM core.message_threads WHERE channel = 'sms'")).scalar_one()
    page = world.browser.get(f"/admin/threads/{thread_id}").text
    for name, value in ODD_TEXT.items():
        assert str(escape(value)) in page, name
        assert value == str(escape(value)) or value not in page, name
    world.tables_intact()

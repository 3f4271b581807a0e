"""The channel path: web endpoint and widget, SMS inbound, dedupe, human mode and hand back, a
takeover mid-turn, turns of one thread in order under the lock, bodies encrypted at rest."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient
from langchain_core.messages import AIMessage, HumanMessage
from sqlalchemy import create_engine, text

from api.app import create_app
from db.embedded import drop_database, ensure_database
from db.engine import sqlalchemy_url
from db.threads import StoredMessage
from graph.checkpoint import CompiledGraph
from graph.context import Context
from graph.turns import config_for
from hibachi.bootstrap import Container
from hibachi.settings import KEY_SETTINGS, PROJECT_ROOT
from services.conversations import Inbound, hand_back, hand_off, handle_inbound, receive_sms, thread_slots
from tests.graph_support import all_bookings
from tests.test_graph_booking import ONE_MESSAGE
from tests.test_migrations_and_cli import keys

PHONE = "+19165550142"


class GraphSpy:
    """The real checkpointed graph, with hooks around `invoke` (what run_turn and resume call)."""

    def __init__(self, graph: CompiledGraph, *, during: Any = None, pause: float = 0.0) -> None:
        self.graph = graph
        self.during = during  # called inside the turn, after the graph ran, before the reply is stored
        self.pause = pause
        self.turns: list[tuple[float, float]] = []
        self.mutex = threading.Lock()

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        entered = time.monotonic()
        result = self.graph.invoke(*args, **kwargs)
        time.sleep(self.pause)
        if self.during is not None:
            self.during()
        with self.mutex:
            self.turns.append((entered, time.monotonic()))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.graph, name)

    @property
    def compiled(self) -> CompiledGraph:
        return cast(CompiledGraph, self)


def transcript(container: Container, thread_id: str) -> list[StoredMessage]:
    with container.uow() as uow:
        return uow.threads.transcript(thread_id)


def inbox(container: Container, thread_id: str) -> dict[str, Any]:
    with container.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM read.inbox_threads WHERE thread_id = :t"), {"t": thread_id}).one()
    return dict(row._mapping)


def mode(container: Container, thread_id: str) -> str:
    with container.uow() as uow:
        thread = uow.threads.get(thread_id)
    assert thread is not None
    return thread.mode


def web(client: TestClient, session: str, said: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/channels/web/messages", json={"session_id": session, "text": said, **extra})
    assert response.status_code == 200, response.text
    return cast(dict[str, Any], response.json())


# ---------------------------------------------------------------- web


def test_the_web_endpoint_books_a_party_end_to_end(container: Container) -> None:
    session = str(uuid.uuid4())
    with TestClient(create_app(container)) as client:
        first = web(client, session, ONE_MESSAGE)
        assert first["reply"] and "text you at (916) 555-0123" in first["reply"]
        summary = web(client, session, "yes")
        assert summary["reply"] and "Shall I book it?" in summary["reply"]
        assert all_bookings(container) == []
        done = web(client, session, "yes")
    assert done["thread_id"] == first["thread_id"] == summary["thread_id"]  # one thread per session
    (booking,) = all_bookings(container)
    assert booking["reference"] in done["reply"] and booking["source"] == "web"
    assert (booking["adults"], booking["kids"], booking["total_due_cents"]) == (12, 3, 87000)
    messages = transcript(container, done["thread_id"])
    assert [(m.direction, m.author) for m in messages] == [("in", "customer"), ("out", "ai")] * 3
    assert messages[-1].body == done["reply"] and messages[-1].in_reply_to == messages[-2].id
    row = inbox(container, done["thread_id"])
    assert (row["channel"], row["mode"], row["status"], row["unread_count"]) == ("web", "ai", "pending", 0)
    assert row["last_message_at"] is not None and row["waiting_since"] is None


def test_a_resent_widget_message_is_answered_once(container: Container) -> None:
    session = str(uuid.uuid4())
    with TestClient(create_app(container)) as client:
        first = web(client, session, "dec 12 at 6pm", message_id="m-00000001")
        again = web(client, session, "dec 12 at 6pm", message_id="m-00000001")
    assert again["duplicate"] is True and again["reply"] == first["reply"]
    assert len(transcript(container, first["thread_id"])) == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "hi"}, "session_id"),
        ({"session_id": "short", "text": "hi"}, "session_id"),
        ({"session_id": "s-12345678", "text": "   "}, "text"),
        ({"session_id": "s-12345678", "text": "x" * 2001}, "text"),
        ({"session_id": "s-12345678", "text": "hi", "email": "x" * 300}, "email"),
        ({"session_id": "s-12345678", "text": "hi", "colour": "red"}, "colour"),
    ],
)
def test_bad_web_input_is_a_422_naming_the_field(container: Container, body: dict[str, Any], field: str) -> None:
    with TestClient(create_app(container)) as client:
        response = client.post("/channels/web/messages", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


def test_a_bad_email_is_a_422_naming_it(container: Container) -> None:
    with TestClient(create_app(container)) as client:
        response = client.post(
            "/channels/web/messages", json={"session_id": "s-12345678", "text": "hi", "email": "not-an-email"}
        )
    assert response.status_code == 422 and response.json()["error"]["field"] == "email"


def test_the_chat_widget_is_one_self_contained_page(container: Container) -> None:
    with TestClient(create_app(container)) as client:
        page = client.get("/chat")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    body = page.text
    assert "localStorage" in body and '"/channels/web/messages"' in body and "session_id" in body
    assert container.business.name in body
    for external in ("<script src", "<link", "@import", "http://", "https://"):
        assert external not in body


# ---------------------------------------------------------------- sms, dedupe, human mode


def test_the_same_provider_message_id_runs_one_turn(container: Container, agent: Any) -> None:
    spy = GraphSpy(agent)
    first = receive_sms(container, PHONE, "dec 12 at 6pm", "rc-1", graph=spy.compiled)
    again = receive_sms(container, PHONE, "dec 12 at 6pm", "rc-1", graph=spy.compiled)
    assert len(spy.turns) == 1
    assert again.duplicate and not first.duplicate and again.message_id == first.message_id
    assert again.reply == first.reply and first.reply and "how many guests" in first.reply.lower()
    assert len(transcript(container, first.thread_id)) == 2
    with container.engine.connect() as conn:
        sends = conn.execute(text("SELECT payload FROM events.outbox WHERE target = 'sms.send_message'")).all()
    assert [row.payload["thread_id"] for row in sends] == [first.thread_id]  # one text goes out


def test_sms_threads_are_keyed_by_the_phone_however_it_is_typed(container: Container, agent: Any) -> None:
    a = receive_sms(container, "(916) 555-0142", "hi", "rc-a", graph=agent)
    b = receive_sms(container, PHONE, "dec 12 at 6pm", "rc-b", graph=agent)
    assert a.thread_id == b.thread_id


def test_in_human_mode_customer_messages_are_stored_but_unanswered(container: Container, agent: Any) -> None:
    spy = GraphSpy(agent)
    first = receive_sms(container, PHONE, "hi", "rc-1", graph=spy.compiled)
    assert first.reply
    hand_off(container, first.thread_id, "staff_takeover")
    row = inbox(container, first.thread_id)
    assert row["mode"] == "human" and row["waiting_since"] is not None

    quiet = receive_sms(container, PHONE, "are you there?", "rc-2", graph=spy.compiled)
    assert quiet.reply is None and quiet.mode == "human"
    assert len(spy.turns) == 1  # no turn ran
    messages = transcript(container, first.thread_id)
    assert [(m.direction, m.body) for m in messages][-1] == ("in", "are you there?")
    assert inbox(container, first.thread_id)["unread_count"] == 1

    assert hand_back(container, first.thread_id, graph=spy.compiled) is None  # no interrupt to resume
    assert mode(container, first.thread_id) == "ai" and inbox(container, first.thread_id)["waiting_since"] is None
    answered = receive_sms(container, PHONE, "dec 12 at 6pm", "rc-3", graph=spy.compiled)
    assert answered.reply and "how many guests" in answered.reply.lower()


def test_asking_for_a_person_puts_the_thread_in_human_mode_and_hand_back_resumes(
    container: Container, agent: Any
) -> None:
    session = str(uuid.uuid4())
    handle_inbound(container, channel="web", contact=session, text="hi", graph=agent)
    asked = handle_inbound(
        container, channel="web", contact=session, text="can I talk to a real person please", graph=agent
    )
    assert asked.reply and "follow up" in asked.reply  # the agent's own handoff reply is still sent
    assert asked.mode == "human" and mode(container, asked.thread_id) == "human"
    with container.uow() as uow:
        thread = uow.threads.get(asked.thread_id)
    assert thread is not None and thread.handoff_reason == "customer_asked"
    row = inbox(container, asked.thread_id)
    assert row["mode"] == "human" and row["waiting_since"] is not None

    silent = handle_inbound(container, channel="web", contact=session, text="hello?", graph=agent)
    assert silent.reply is None

    hand_back(container, asked.thread_id, graph=agent)
    assert mode(container, asked.thread_id) == "ai"
    assert not agent.get_state(config_for(_ctx(container, asked.thread_id))).interrupts  # resumed
    nxt = handle_inbound(container, channel="web", contact=session, text="dec 12 at 6pm", graph=agent)
    assert nxt.reply and "how many guests" in nxt.reply.lower()
    assert thread_slots(container, asked.thread_id, graph=agent)["date"] == "2026-12-12"


def _ctx(container: Container, thread_id: str) -> Any:
    from graph.context import Context

    return Context(container, thread_id)


def test_a_takeover_during_a_running_turn_wins(container: Container, agent: Any) -> None:
    first = receive_sms(container, PHONE, "hi", "rc-1", graph=agent)
    spy = GraphSpy(agent, during=lambda: hand_off(container, first.thread_id, "staff_takeover"))
    during = receive_sms(container, PHONE, "dec 12 at 6pm", "rc-2", graph=spy.compiled)
    assert len(spy.turns) == 1  # the graph did run
    assert during.reply is None and during.mode == "human"
    messages = transcript(container, first.thread_id)
    assert [(m.direction, m.author) for m in messages] == [("in", "customer"), ("out", "ai"), ("in", "customer")]
    assert messages[-1].handled_at is not None  # taken by staff, not waiting for a turn
    with container.engine.connect() as conn:
        sends = conn.execute(text("SELECT count(*) FROM events.outbox WHERE target = 'sms.send_message'")).scalar()
    assert sends == 1  # only the first reply was ever sent
    # The agent's checkpoint forgets the reply that was never sent (and the question it asked), so
    # after a hand back it does not go on as if the customer had read it.
    values = agent.get_state(config_for(Context(container, first.thread_id, "sms", customer_phone=PHONE))).values
    ai_said = [m.text for m in values["messages"] if isinstance(m, AIMessage)]
    assert ai_said == [messages[1].body] and values.get("pending") is None
    assert thread_slots(container, first.thread_id, graph=agent)["date"] == "2026-12-12"  # what it heard stays


# ---------------------------------------------------------------- order under the thread lock


def test_two_concurrent_messages_on_one_thread_are_handled_in_order(container: Container, agent: Any) -> None:
    session = str(uuid.uuid4())
    handle_inbound(container, channel="web", contact=session, text="hi", graph=agent)  # the thread exists
    spy = GraphSpy(agent, pause=0.3)
    results: dict[str, Inbound] = {}
    start = threading.Barrier(2)

    def send(said: str) -> None:
        start.wait()
        results[said] = handle_inbound(container, channel="web", contact=session, text=said, graph=spy.compiled)

    threads = [threading.Thread(target=send, args=(said,)) for said in ("dec 12 at 6pm", "15 people")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(spy.turns) == 2
    (_, first_exit), (second_enter, _) = sorted(spy.turns)
    assert first_exit <= second_enter  # never concurrently

    thread_id = results["15 people"].thread_id
    messages = transcript(container, thread_id)
    inbound = [m for m in messages if m.direction == "in"][1:]
    replies = [m for m in messages if m.direction == "out"][1:]
    assert [m.in_reply_to for m in replies] == [m.id for m in inbound]  # answered in store order
    assert all(r.reply for r in results.values())
    # The graph saw them in the same order, each followed by its reply.
    graph_messages = agent.get_state(config_for(_ctx(container, thread_id))).values["messages"][2:]
    assert [type(m) for m in graph_messages] == [HumanMessage, AIMessage, HumanMessage, AIMessage]
    assert [graph_messages[0].text, graph_messages[2].text] == [m.body for m in inbound]
    assert {results[m.body].reply for m in inbound} == {r.body for r in replies}


# ---------------------------------------------------------------- at rest

SECRET_TEXT = "my gate code is 4471 and I am Quintessa Marlowe"


def test_message_bodies_are_encrypted_at_rest_and_absent_from_events_and_read_models(
    container: Container, agent: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    result = receive_sms(container, PHONE, SECRET_TEXT, "rc-secret", graph=agent)
    assert result.reply
    with container.engine.connect() as conn:
        dumps = {
            "core.messages": conn.execute(text("SELECT string_agg(m::text, ' ') FROM core.messages m")).scalar(),
            "bodies": conn.execute(
                text("SELECT string_agg(encode(body_enc, 'escape'), ' ') FROM core.messages")
            ).scalar(),
            "threads": conn.execute(
                text("SELECT string_agg(encode(contact_enc, 'escape'), ' ') FROM core.message_threads")
            ).scalar(),
            "events": conn.execute(text("SELECT string_agg(payload::text, ' ') FROM events.domain_events")).scalar(),
            "outbox": conn.execute(text("SELECT string_agg(payload::text, ' ') FROM events.outbox")).scalar(),
            "inbox": conn.execute(text("SELECT string_agg(i::text, ' ') FROM read.inbox_threads i")).scalar(),
        }
    for where, dump in dumps.items():
        assert dump, where
        for secret in ("Quintessa", "gate code", "4471", result.reply[:30], "9165550142"):
            assert secret not in dump, (where, secret)
    assert "Quintessa" not in caplog.text and "gate code" not in caplog.text
    # ...and they decrypt for whoever holds the key, bound to their own row.
    assert [m.body for m in transcript(container, result.thread_id)] == [SECRET_TEXT, result.reply]


# ---------------------------------------------------------------- hibachi chat


@pytest.fixture
def chat_db(admin_url: str) -> Iterator[str]:
    name = f"hibachi_chat_{uuid.uuid4().hex[:8]}"
    url = ensure_database(admin_url, name)
    yield url
    drop_database(admin_url, name)


def test_hibachi_chat_runs_a_scripted_session(tmp_path: Path, chat_db: str) -> None:
    script = "dec 12 at 6pm\n/state\n15 people, 3 kids\n/quit\nnever read\n"
    base = {k: v for k, v in os.environ.items() if k not in KEY_SETTINGS}
    result = subprocess.run(
        [sys.executable, "-m", "hibachi.cli", "chat", "--sms", "(916) 555-0142"],
        env=base | keys() | {"DATABASE_URL": chat_db, "DATA_DIR": str(tmp_path / "data")},
        cwd=PROJECT_ROOT,
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "over SMS as +19165550142" in out
    replies = [line for line in out.splitlines() if "agent> " in line]
    assert len(replies) == 2, out
    assert "how many guests" in replies[0].lower() and "address" in replies[1].lower()
    assert '"date": "2026-12-12"' in out  # /state printed the slots
    assert "never read" not in out
    engine = create_engine(sqlalchemy_url(chat_db))
    try:
        with engine.connect() as conn:
            counts = conn.execute(text("SELECT direction, count(*) FROM core.messages GROUP BY direction")).all()
    finally:
        engine.dispose()
    assert dict((d, n) for d, n in counts) == {"in": 2, "out": 2}


def test_stop_is_honoured_while_staff_have_the_thread_and_the_agent_stays_silent_after(
    container: Container, agent: Any
) -> None:
    first = receive_sms(container, PHONE, "dec 12 at 6pm", "rc-s1", graph=agent)
    hand_off(container, first.thread_id, "staff took over")
    stop = receive_sms(container, PHONE, "STOP", "rc-s2", graph=agent)
    assert not container.queries.sms_opted_out("+19999999999")  # an unknown number is not opted out
    assert container.queries.sms_opted_out(PHONE)
    last = transcript(container, first.thread_id)[-1]
    assert (last.author, last.in_reply_to) == ("system", stop.message_id) and "unsubscribed" in last.body.lower()

    hand_back(container, first.thread_id, graph=agent)
    after = receive_sms(container, PHONE, "12 adults", "rc-s3", graph=agent)
    assert after.reply is None  # opted out: nothing more is sent
    assert transcript(container, first.thread_id)[-1].id == after.message_id
    back = receive_sms(container, PHONE, "START", "rc-s4", graph=agent)
    assert back.reply is not None and not container.queries.sms_opted_out(PHONE)


def test_an_opted_out_number_gets_nothing_for_help_or_another_stop_only_start_reopens(
    container: Container, agent: Any
) -> None:
    stop = receive_sms(container, PHONE, "STOP", "rc-o1", graph=agent)
    assert stop.reply is not None and "unsubscribed" in stop.reply.lower()
    for n, text_ in enumerate(("HELP", "stop", "hello?")):
        assert receive_sms(container, PHONE, text_, f"rc-o{n + 2}", graph=agent).reply is None
    hand_off(container, stop.thread_id, "staff took over")  # the carrier keywords bypass human mode
    assert receive_sms(container, PHONE, "HELP", "rc-o9", graph=agent).reply is None
    outbound = [m for m in transcript(container, stop.thread_id) if m.direction == "out"]
    assert len(outbound) == 1  # the one opt-out confirmation
    back = receive_sms(container, PHONE, "START", "rc-o10", graph=agent)
    assert back.reply is not None and not container.queries.sms_opted_out(PHONE)


def test_a_plain_request_to_stop_texting_opts_out_even_while_staff_have_the_thread(
    container: Container, agent: Any
) -> None:
    first = receive_sms(container, PHONE, "party on dec 12?", "rc-p1", graph=agent)
    hand_off(container, first.thread_id, "staff took over")
    stop = receive_sms(container, PHONE, "please stop texting me", "rc-p2", graph=agent)
    assert container.queries.sms_opted_out(PHONE)
    assert stop.reply is not None and "unsubscribed" in stop.reply.lower()


def test_the_widget_polls_for_what_staff_send_while_they_have_the_conversation(container: Container) -> None:
    from domain.commands import SendStaffReply

    session = str(uuid.uuid4())
    staff_id = str(uuid.uuid4())
    with container.uow() as uow:
        uow.staff.add(user_id=staff_id, email="sam@example.com", role="staff", password_hash=None, name="Sam")
        uow.commit()
    with TestClient(create_app(container)) as client:
        first = web(client, session, "hi, is dec 12 open?")
        assert first["reply"] and isinstance(first["reply_seq"], int)

        def poll(after: int) -> list[dict[str, Any]]:
            got = client.get("/channels/web/messages", params={"session_id": session, "after": after})
            assert got.status_code == 200, got.text
            return cast(list[dict[str, Any]], got.json()["messages"])

        assert [m["text"] for m in poll(0)] == [first["reply"]]
        assert poll(first["reply_seq"]) == []
        hand_off(container, first["thread_id"], "staff took over", by=f"user:{staff_id}")
        container.bus.handle(SendStaffReply(first["thread_id"], "Hi, Sam here! Dec 12 works.", False, staff_id))
        (staff,) = poll(first["reply_seq"])
        assert (staff["from"], staff["text"]) == ("staff", "Hi, Sam here! Dec 12 works.")
        assert staff["seq"] > first["reply_seq"]
        quiet = web(client, session, "great, 12 adults")
        assert quiet["reply"] is None  # staff have it: no AI reply
        assert poll(staff["seq"]) == []
        assert client.get("/channels/web/messages", params={"session_id": str(uuid.uuid4())}).json() == {"messages": []}
        assert client.get("/channels/web/messages", params={"session_id": "no!"}).status_code == 422

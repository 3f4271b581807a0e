"""Checkpoints in Postgres (schema `agent`, made by migration 0002): a conversation survives a
restart, and replaying the book step does not book twice. The exported graph has no checkpointer."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import create_engine, text

from db.engine import sqlalchemy_url
from graph.checkpoint import compile_graph, open_pool, prune_history
from graph.turns import config_for
from hibachi.bootstrap import Container
from hibachi.settings import PROJECT_ROOT
from tests.graph_support import Chat, all_bookings
from tests.test_graph_booking import ONE_MESSAGE


def test_the_migration_made_the_checkpoint_tables_in_schema_agent(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            tables = set(
                conn.execute(text("SELECT table_name FROM information_schema.tables WHERE table_schema = 'agent'"))
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert {"checkpoints", "checkpoint_blobs", "checkpoint_writes", "checkpoint_migrations"} <= tables


def test_the_exported_graph_has_no_checkpointer_and_langgraph_json_names_it() -> None:
    from graph import builder, graph

    assert graph.checkpointer is None
    assert builder.context_schema is not None
    config = json.loads((PROJECT_ROOT / "langgraph.json").read_text())
    assert config["graphs"]["booking"] == "./graph/__init__.py:graph"


def test_a_restart_mid_conversation_resumes_from_the_checkpoint(
    agent: Any, container: Container, database_url: str
) -> None:
    chat = Chat(agent, container)
    chat.say("Hi, I'd like to book a hibachi party")
    chat.say("December 12 at 6pm")
    chat.say("12 adults and 3 kids")

    pool = open_pool(database_url, max_size=2)  # a new process: a new pool, a new compiled graph
    try:
        restarted = Chat(compile_graph(pool, container.cipher), container, thread_id=chat.thread_id)
        assert restarted.state["slots"]["party_adults"] == 12 and restarted.state["pending"] == "address"
        for said in ("2400 J St, Sacramento, CA 95816", "Dana Lee", "dana@example.com 916-555-0123", "no thanks"):
            reply = restarted.say(said)
            assert reply is not None and "what date" not in reply.lower()
        assert "Total $810.00" in (restarted.say("yes") or "")
        restarted.say("yes")
    finally:
        pool.close()
    (booking,) = all_bookings(container)
    assert (booking["adults"], booking["kids"], str(booking["event_date"])) == (12, 3, "2026-12-12")


def test_replaying_the_book_step_does_not_book_twice(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    chat.say(ONE_MESSAGE)
    chat.say("yes")
    # Turns are checkpointed once at their end; this one after every node, so there is a checkpoint
    # just before `book` to travel back to.
    yes = {"messages": [{"role": "user", "content": "yes"}]}
    agent.invoke(yes, config_for(chat.context), context=chat.context, durability="sync")
    (booking,) = all_bookings(container)

    history = list(agent.get_state_history(config_for(chat.context)))
    before_book = next(snapshot for snapshot in history if snapshot.next == ("book",))
    replayed = agent.invoke(None, before_book.config, context=chat.context)  # time travel: run `book` again

    assert replayed["booking"]["reference"] == booking["reference"]
    assert replayed["booking"]["replayed"] is True
    assert len(all_bookings(container)) == 1


def test_pruning_keeps_the_latest_checkpoint_and_the_conversation_goes_on(agent: Any, container: Container) -> None:
    chat = Chat(agent, container)
    chat.say("Hi, I'd like to book a hibachi party")
    chat.say("December 12 at 6pm")
    assert len(list(agent.get_state_history(config_for(chat.context)))) >= 2  # one a turn at least
    prune_history(agent, [chat.thread_id])
    assert len(list(agent.get_state_history(config_for(chat.context)))) == 1
    assert chat.state["slots"]["date"] == "2026-12-12"
    assert "kids" in (chat.say("15 people") or "")


def test_the_exported_graph_runs_a_turn_without_a_checkpointer(container: Container) -> None:
    from langchain_core.messages import HumanMessage

    from graph import graph
    from graph.context import Context

    result = graph.invoke({"messages": [HumanMessage(content="hi")]}, context=Context(container, "no-saver"))
    assert "What date would you like" in result["messages"][-1].text

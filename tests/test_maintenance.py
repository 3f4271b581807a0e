"""Housekeeping across processes: one round at a time (a session advisory lock), and the checkpoints of
idle conversations pruned to the latest one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from graph.turns import config_for
from hibachi.bootstrap import Container
from services.maintenance import HOUSEKEEPING_LOCK, only_one_process, prune_idle_checkpoints
from tests.graph_support import Chat


def test_only_one_process_holds_the_housekeeping_lock_at_a_time(container: Container) -> None:
    with only_one_process(container.engine, HOUSEKEEPING_LOCK) as first:
        with only_one_process(container.engine, HOUSEKEEPING_LOCK) as second:  # another session: refused
            assert (first, second) == (True, False)
        with only_one_process(container.engine, "another round") as other:
            assert other is True
    with only_one_process(container.engine, HOUSEKEEPING_LOCK) as again:  # released at the block's end
        assert again is True


def test_idle_conversations_keep_only_their_latest_checkpoint(agent: Any, container: Container) -> None:
    # Other tests' conversations share the agent schema: assert on these two threads, not on counts.
    quiet, busy = Chat(agent, container), Chat(agent, container)
    for chat in (quiet, busy):
        chat.say("Hi, I'd like to book a hibachi party")
        chat.say("December 12 at 6pm")

    def history(chat: Chat) -> int:
        return len(list(agent.get_state_history(config_for(chat.context))))

    before = {chat.thread_id: history(chat) for chat in (quiet, busy)}
    prune_idle_checkpoints(container, datetime.now(UTC) - timedelta(days=1))
    assert {chat.thread_id: history(chat) for chat in (quiet, busy)} == before  # both spoke just now
    assert min(before.values()) > 1

    now = datetime.now(UTC)
    busy.say("12 adults and 3 kids")
    kept = history(busy)
    assert prune_idle_checkpoints(container, now) >= 1  # `quiet` was last checkpointed before `now`
    assert history(quiet) == 1
    assert history(busy) == kept > 1
    assert quiet.state["slots"]["date"] == "2026-12-12"  # the latest checkpoint is whole
    assert "kids" in (quiet.say("15 people") or "")

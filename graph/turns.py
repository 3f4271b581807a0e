"""One customer turn through the graph, and resuming a thread staff hand back.

The channel layer (later) wraps these with storage of the messages, the per-thread lock and the
human-mode check; these only run the graph.
"""

from __future__ import annotations

from typing import Any, cast

from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Durability

from .context import Context
from .state import InputState, State

Graph = CompiledStateGraph[State, Context, InputState, State]

# A turn is checkpointed once, when it ends (or stops at an interrupt), not after every node: a
# handful of nodes run per turn and each checkpoint is several writes. A turn cut short by a crash
# is lost whole; its message stays unanswered and runs again with the next one, and the booking
# tool's idempotency key keeps a re-run from booking twice.
DURABILITY: Durability = "exit"


def config_for(context: Context) -> RunnableConfig:
    return {"configurable": {"thread_id": context.thread_id}}


def waiting_for_staff(compiled: Graph, context: Context) -> dict[str, Any] | None:
    """The handoff interrupt's value ({"reason": ...}) while the thread waits for staff, else None."""
    if compiled.checkpointer is None:
        return None
    snapshot = compiled.get_state(config_for(context))
    for pending in snapshot.interrupts:
        value = pending.value
        return dict(value) if isinstance(value, dict) else {"reason": str(value)}
    return None


def _new_reply(before: int, result: dict[str, Any]) -> str | None:
    messages = result.get("messages") or []
    for message in reversed(messages[before:]):
        if isinstance(message, AIMessage):
            return message.text
    return None


def run_turn(compiled: Graph, context: Context, text: str) -> str | None:
    """Run one customer message through the thread; the agent's reply, or None when it stays silent
    (an opted-out SMS customer, or a thread waiting for staff: new input would cancel the handoff
    interrupt, so the message is left to staff instead)."""
    config = config_for(context)
    before = 0
    if compiled.checkpointer is not None:
        snapshot = compiled.get_state(config)
        if snapshot.interrupts:
            return None
        before = len(snapshot.values.get("messages", []))
    # The LangGraph chat convention (what Studio sends); add_messages makes it a HumanMessage.
    turn = cast(InputState, {"messages": [{"role": "user", "content": text}]})
    result = compiled.invoke(turn, config, context=context, durability=DURABILITY)
    return _new_reply(before + 1, result)


def resume(compiled: Graph, context: Context, value: Any = None) -> str | None:
    """Staff hand the thread back: resume the handoff interrupt with `value`; the agent answers the
    customer's next message as usual. Returns a reply if resuming produced one."""
    config = config_for(context)
    snapshot = compiled.get_state(config)
    if not snapshot.interrupts:
        return None  # not waiting for staff: nothing to resume
    before = len(snapshot.values.get("messages", []))
    command: Command[Any] = Command(resume=value if value is not None else {"by": "staff"})
    result = compiled.invoke(command, config, context=context, durability=DURABILITY)
    return _new_reply(before, result)

"""One customer turn through the graph, and resuming a thread staff hand back.

The channel layer (services.conversations) wraps these with storage of the messages, the
per-thread lock and the human-mode check; these only run the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from langchain_core.messages import AIMessage, HumanMessage
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


def _interrupt_value(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {"reason": str(value)}


def waiting_for_staff(compiled: Graph, context: Context) -> dict[str, Any] | None:
    """The handoff interrupt's value ({"reason": ...}) while the thread waits for staff, else None."""
    if compiled.checkpointer is None:
        return None
    snapshot = compiled.get_state(config_for(context))
    for pending in snapshot.interrupts:
        return _interrupt_value(pending.value)
    return None


def _reply_of(result: dict[str, Any]) -> str | None:
    """The AI message that answers the turn's customer message (None when the agent stayed silent)."""
    for message in reversed(result.get("messages") or []):
        if isinstance(message, AIMessage):
            return message.text
        if isinstance(message, HumanMessage):
            return None
    return None


@dataclass(frozen=True)
class Turn:
    reply: str | None  # the agent's answer; None when it stays silent
    waiting: dict[str, Any] | None  # the handoff interrupt's value when the turn ended waiting for staff


def take_turn(compiled: Graph, context: Context, text: str, *, check_waiting: bool = True) -> Turn:
    """Run one customer message through the thread.

    A thread waiting for staff gets no turn (new input would cancel the handoff interrupt; the
    message is left to staff). `check_waiting=False` skips that read when the caller knows the
    thread is the agent's (the channel path checks the thread's mode under the thread lock).
    """
    config = config_for(context)
    if check_waiting and compiled.checkpointer is not None:
        waiting = waiting_for_staff(compiled, context)
        if waiting is not None:
            return Turn(None, waiting)
    # The LangGraph chat convention (what Studio sends); add_messages makes it a HumanMessage.
    turn = cast(InputState, {"messages": [{"role": "user", "content": text}]})
    result = compiled.invoke(turn, config, context=context, durability=DURABILITY)
    interrupts = result.get("__interrupt__") or []
    return Turn(_reply_of(result), _interrupt_value(interrupts[0].value) if interrupts else None)


def run_turn(compiled: Graph, context: Context, text: str) -> str | None:
    """The agent's reply to one customer message (see `take_turn`)."""
    return take_turn(compiled, context, text).reply


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
    new = [m for m in (result.get("messages") or [])[before:] if isinstance(m, AIMessage)]
    return new[-1].text if new else None

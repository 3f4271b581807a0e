"""The StateGraph of one customer thread.

understand ─┬─ opt_out / opt_in / help / wrap_up ───────────────────────────────> END
            ├─ escalate ─> handoff (interrupt until staff hand back) ───────────> END
            ├─ faq ─┐ (the answer prefaces the question still open)
            ├───────┴─> availability ─> pricing ─> intake | confirm ─────────────> END
            ├─ book ─> payment_link ──────────────────────────────────────────────> END
            ├─ decline ───────────────────────────────────────────────────────────> END
            └─ manage | change_booking ─(escalate)──────────────────────────────> END
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from .context import Context
from .nodes import NODES
from .routing import route_after_book, route_after_manage, route_step, route_turn
from .state import InputState, State

builder: StateGraph[State, Context, InputState, State] = StateGraph(
    State, context_schema=Context, input_schema=InputState
)
for name, node in NODES.items():
    builder.add_node(name, node)

builder.add_edge(START, "understand")
builder.add_conditional_edges("understand", route_turn)
for name in ("availability", "pricing", "faq"):
    builder.add_conditional_edges(name, route_step)
builder.add_conditional_edges("book", route_after_book)
for name in ("manage", "change_booking"):
    builder.add_conditional_edges(name, route_after_manage)
builder.add_edge("escalate", "handoff")
for name in ("opt_out", "opt_in", "help", "wrap_up", "intake", "confirm", "decline", "payment_link", "handoff"):
    builder.add_edge(name, END)

"""The LangGraph graph of a customer thread.

Exports `builder` and `graph`, compiled without a checkpointer as the LangGraph server requires
(`langgraph.json` names it `booking`). The app compiles `builder` with the Postgres checkpointer
(`graph.checkpoint`); a turn runs through `graph.turns.run_turn`.
"""

from __future__ import annotations

from .builder import builder

graph = builder.compile()

__all__ = ["builder", "graph"]

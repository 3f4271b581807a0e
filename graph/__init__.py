"""The LangGraph graph of a customer thread.

Exports `builder` and `graph`, compiled without a checkpointer as the LangGraph server requires
(`langgraph.json` names it `booking`). The app compiles `builder` with the Postgres checkpointer
(`graph.checkpoint`); a turn runs through `graph.turns.run_turn`.

`graph` is the one `langgraph dev` serves: its runs bring JSON context at most, so its context schema
is `ServerContext` and the nodes build the full `Context` from the settings (`graph.context.context_of`).
Importing this module connects to nothing.
"""

from __future__ import annotations

from .builder import builder
from .context import ServerContext

graph = builder.compile().copy(update={"context_schema": ServerContext})

__all__ = ["builder", "graph"]

"""The LangGraph graph of a customer thread.

Placeholder until the agent issue: one node that answers with where the real agent will be, so
`langgraph.json` and LangGraph Studio already open a graph. Exports `builder` and `graph`
(compiled without a checkpointer, as the LangGraph server requires).
"""

from __future__ import annotations

from typing import Annotated, Any, TypedDict

from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


def reply(state: State) -> dict[str, Any]:
    return {"messages": [AIMessage(content="Thanks! A teammate will get back to you shortly.")]}


builder = StateGraph(State)
builder.add_node("reply", reply)
builder.add_edge(START, "reply")
builder.add_edge("reply", END)

graph = builder.compile()

__all__ = ["builder", "graph"]

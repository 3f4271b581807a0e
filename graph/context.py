"""The runtime context of a turn (LangGraph `context_schema`): what the graph acts through and for.

Not checkpointed: every turn passes it again (`graph.invoke(..., context=Context(...))`); nodes read
it through `context_of(runtime)`.

Under `langgraph dev` (LangGraph Studio) nobody hands the graph a `Context`: a run carries at most
JSON (`ServerContext`: the channel and what it knows about the customer). `context_of` then builds
the `Context` from the settings the way `hibachi run` does (`default_container`, once per process)
with the run's `configurable.thread_id`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_config
from langgraph.runtime import Runtime

from hibachi.bootstrap import Container
from tools import Caller


@dataclass(frozen=True)
class Context:
    container: Container
    thread_id: str
    channel: Literal["web", "sms"] = "web"
    customer_phone: str | None = None  # the SMS sender (E.164); the customer's identity on SMS
    customer_email: str | None = None  # a web visitor's email when the site already knows it
    # The customer message this turn answers and, on the web, where it came from: the consent
    # ledger's evidence when the customer opts in or out in it.
    message_id: str | None = None
    client_ip: str | None = None
    page: str | None = None

    @cached_property
    def caller(self) -> Caller:
        """The same facts as the tools' injected argument."""
        return Caller(
            self.container,
            self.thread_id,
            self.channel,
            self.customer_phone,
            self.customer_email,
            message_id=self.message_id,
            client_ip=self.client_ip,
            page=self.page,
        )

    @classmethod
    def from_settings(
        cls,
        thread_id: str,
        channel: Literal["web", "sms"] = "web",
        customer_phone: str | None = None,
        customer_email: str | None = None,
    ) -> Context:
        """A context on the process's default container (`default_container`)."""
        return cls(default_container(), thread_id, channel, customer_phone, customer_email)


@dataclass(frozen=True)
class ServerContext:
    """What a LangGraph server run may pass as `context` (JSON only; Studio shows it as a form).
    The `graph` served by `langgraph dev` has this as its context schema; see `context_of`."""

    channel: Literal["web", "sms"] = "web"
    customer_phone: str | None = None
    customer_email: str | None = None


_default: Container | None = None
_default_lock = threading.Lock()


def default_container() -> Container:
    """The container `hibachi run` would build (DATABASE_URL or the embedded Postgres under DATA_DIR,
    keys from the environment or DATA_DIR/keys.env; migrated, business loaded), built on first use
    and kept for the life of the process."""
    global _default
    with _default_lock:
        if _default is None:
            from hibachi.cli import ensure_local_keys, prepare
            from hibachi.settings import PROJECT_ROOT, load_settings

            ensure_local_keys(Path(os.environ.get("DATA_DIR", PROJECT_ROOT / ".data")))
            _default = prepare(load_settings())
        return _default


def context_of(runtime: Runtime[Any], config: RunnableConfig | None = None) -> Context:
    """The run's `Context`: the one the caller passed, else one built on the default container from the
    run's JSON context (or none) and its thread (`configurable.thread_id` of `config`, by default the
    running node's config)."""
    given = runtime.context
    if isinstance(given, Context):
        return given
    if given is None:
        given = ServerContext()
    elif isinstance(given, dict):
        given = ServerContext(**{key: value for key, value in given.items() if key in ServerContext.__annotations__})
    if not isinstance(given, ServerContext):
        raise TypeError(f"unexpected run context {type(given).__name__}: pass a graph.context.Context")
    thread_id = ((config if config is not None else get_config()).get("configurable") or {}).get("thread_id")
    if not thread_id:
        raise ValueError("the run has no thread (configurable.thread_id): run it on a thread or pass a Context")
    return Context.from_settings(str(thread_id), given.channel, given.customer_phone, given.customer_email)

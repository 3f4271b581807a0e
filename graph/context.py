"""The runtime context of a turn (LangGraph `context_schema`): what the graph acts through and for.

Not checkpointed: every turn passes it again (`graph.invoke(..., context=Context(...))`); nodes read
it as `runtime.context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from hibachi.bootstrap import Container
from tools import Caller


@dataclass(frozen=True)
class Context:
    container: Container
    thread_id: str
    channel: Literal["web", "sms"] = "web"
    customer_phone: str | None = None  # the SMS sender (E.164); the customer's identity on SMS
    customer_email: str | None = None  # a web visitor's email when the site already knows it

    @cached_property
    def caller(self) -> Caller:
        """The same facts as the tools' injected argument."""
        return Caller(self.container, self.thread_id, self.channel, self.customer_phone, self.customer_email)

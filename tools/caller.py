"""Who a tool acts for. The graph injects it into every tool call; a model never fills it."""

from __future__ import annotations

from typing import Literal

from hibachi.bootstrap import Container

Channel = Literal["web", "sms"]


class Caller:
    """The services to act through and the conversation acting: its thread, its channel and what the
    channel already knows about the customer (the SMS sender's phone, a signed-in web email).

    A plain class on purpose: LangChain validates tool arguments with pydantic, which takes a plain
    class by `isinstance` but would try to validate a dataclass's fields (the container) one by one.
    """

    __slots__ = (
        "channel",
        "client_ip",
        "container",
        "customer_email",
        "customer_phone",
        "message_id",
        "page",
        "thread_id",
    )

    def __init__(
        self,
        container: Container,
        thread_id: str,
        channel: Channel = "web",
        customer_phone: str | None = None,
        customer_email: str | None = None,
        *,
        message_id: str | None = None,
        client_ip: str | None = None,
        page: str | None = None,
    ) -> None:
        self.container = container
        self.thread_id = thread_id
        self.channel: Channel = channel
        self.customer_phone = customer_phone
        self.customer_email = customer_email
        self.message_id = message_id  # the customer message being answered (consent evidence)
        self.client_ip = client_ip  # web only
        self.page = page  # web only

    def __repr__(self) -> str:
        return f"Caller(thread_id={self.thread_id!r}, channel={self.channel!r})"

    @property
    def actor(self) -> str:
        """How the audit log names who acted: this conversation's agent."""
        return f"agent:{self.thread_id}"

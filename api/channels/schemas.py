"""Bodies of the channel endpoints. Unknown fields are refused (a typo is a 422 naming it)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_TEXT = 2000

SessionId = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_-]{8,128}$",
        description="The visitor's session id, kept by the widget (localStorage); one thread per session",
        examples=["3f1c9a2e-5b7d-4c1e-9f00-1a2b3c4d5e6f"],
    ),
]


class WebMessageIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"session_id": "3f1c9a2e-5b7d-4c1e-9f00-1a2b3c4d5e6f", "text": "Hi! Are you free Dec 12?"}]
        },
    )

    session_id: SessionId
    text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    email: Annotated[str, Field(max_length=254)] | None = Field(
        default=None, description="the visitor's email when the site already knows it"
    )
    message_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{8,128}$")] | None = Field(
        default=None, description="the widget's id for this message: a resend with the same id is answered once"
    )
    page: Annotated[str, Field(max_length=2000)] | None = Field(
        default=None, description="the page the widget is on (kept as consent evidence); default: the Referer"
    )


class WebMessageOut(BaseModel):
    thread_id: str
    message_id: str
    reply: str | None = Field(description="the agent's answer; null while staff have the conversation")
    reply_seq: int | None = Field(default=None, description="the reply's place in the conversation (see the poll)")
    duplicate: bool = False


class SentMessage(BaseModel):
    seq: int
    from_: str = Field(alias="from", description="ai | staff | system")
    text: str

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class SentMessages(BaseModel):
    messages: list[SentMessage]

"""The understanding engines behind one interface, and the reply phrasers.

- `RulesEngine`: the offline, deterministic rules (`agent.understanding.understand`). The default.
- `LlmEngine`: a chat model (any OpenAI-compatible server through langchain-openai) with structured
  output into `Understanding`. The rules engine reads every message too: its reading is the fallback
  when the model errors or answers something invalid (a turn never fails because of the model), it
  owns carrier keywords (a lone STOP never reaches the model), and its normalisers clean the model's
  values (phone E.164, email lower-case, reference upper-case, ISO dates, known upgrade codes).

Replies come from `agent.wording` templates. `LlmPhraser` may reword a template, and is kept only
when every number in the rewording was in the template or the tool facts.

`make_engine(settings)` and `make_phraser(settings)` choose by `AGENT_ENGINE`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import ValidationError

from agent import wording
from agent.prompts import PHRASING_PROMPT, understanding_prompt
from agent.schema import Context, Understanding
from agent.understanding import understand as rules_understand
from agent.understanding.normalize import normalize

if TYPE_CHECKING:
    import httpx

    from hibachi.settings import Settings

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000  # what the model reads of one message (the rules engine reads 4000)
MAX_REPLY_GROWTH = 2.0  # a phrased reply may be at most this many times the template's length (+ 80)


@runtime_checkable
class Understander(Protocol):
    name: str

    def understand(self, text: str, ctx: Context) -> Understanding: ...


@runtime_checkable
class Phraser(Protocol):
    def phrase(self, template: str, facts: Iterable[object] = ()) -> str: ...


class RulesEngine:
    """The rules engine as an `Understander`."""

    name = "rules"

    def understand(self, text: str, ctx: Context) -> Understanding:
        return rules_understand(text, ctx)


RULES = RulesEngine()


class LlmEngine:
    """A chat model's structured reading of the message, normalised, with the rules as fallback."""

    name = "llm"

    def __init__(
        self,
        model: BaseChatModel,
        *,
        fallback: Understander = RULES,
        method: str = "function_calling",
    ) -> None:
        # Tool calling is what OpenAI-compatible servers support most widely. (OpenAI's strict
        # `json_schema` mode refuses this schema: optional fields and the free-keyed `upgrades`.)
        self.model = model
        self.fallback = fallback
        self._structured = model.with_structured_output(Understanding, method=method)

    def understand(self, text: str, ctx: Context) -> Understanding:
        rules = self.fallback.understand(text, ctx)
        if rules.sms_keyword is not None:
            return rules  # carrier keywords are exact words; no model decides an opt-out
        try:
            raw = self._structured.invoke(
                [SystemMessage(understanding_prompt(ctx)), HumanMessage(text[:MAX_MESSAGE_CHARS])]
            )
            result = raw if isinstance(raw, Understanding) else Understanding.model_validate(raw)
            return normalize(result, ctx, rules)
        except Exception as error:  # any model, transport or validation failure: the rules answer
            log.warning("llm understanding failed, using rules: %s", _brief(error))
            return rules


class TemplatePhraser:
    """Replies exactly as the templates word them (the default)."""

    def phrase(self, template: str, facts: Iterable[object] = ()) -> str:
        return template


class LlmPhraser:
    """The model rewords a template reply; the template is kept when the model errors, answers
    nothing usable, states a number it was not given, or drops a price, time, reference or link."""

    def __init__(self, model: BaseChatModel) -> None:
        self.model = model

    def phrase(self, template: str, facts: Iterable[object] = ()) -> str:
        try:
            message = self.model.invoke([SystemMessage(PHRASING_PROMPT), HumanMessage(template)])
            reply = message.text.strip()
        except Exception as error:
            log.warning("llm phrasing failed, using the template: %s", _brief(error))
            return template
        if not reply or len(reply) > MAX_REPLY_GROWTH * len(template) + 80:
            return template
        allowed = {template} | wording.fact_texts(facts)
        if not wording.numbers_are_grounded(reply, allowed) or not wording.keeps_key_facts(template, reply):
            log.info("llm phrasing rejected (numbers not grounded), using the template")
            return template
        return reply


def _brief(error: BaseException) -> str:
    if isinstance(error, ValidationError):
        return f"invalid output ({error.error_count()} errors)"
    return f"{type(error).__name__}: {str(error)[:200]}"


def chat_model(settings: Settings, *, http_client: httpx.Client | None = None) -> BaseChatModel:
    """The configured chat model. `http_client` lets tests answer at the transport."""
    from langchain_openai import ChatOpenAI  # imported only when the llm engine is chosen

    if settings.llm_api_key is None:
        raise ValueError("LLM_API_KEY is required when AGENT_ENGINE is llm")
    options: dict[str, Any] = {}
    if http_client is not None:
        options["http_client"] = http_client
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key,
        timeout=settings.llm_timeout_seconds,
        max_retries=settings.llm_max_retries,
        temperature=0,
        **options,
    )


def make_engine(settings: Settings, *, http_client: httpx.Client | None = None) -> Understander:
    """The understanding engine `AGENT_ENGINE` names (rules unless it says llm)."""
    if settings.agent_engine == "llm":
        return LlmEngine(chat_model(settings, http_client=http_client))
    return RULES


def make_phraser(settings: Settings, *, http_client: httpx.Client | None = None) -> Phraser:
    """Templates unless the llm engine is on and `LLM_PHRASE_REPLIES` asks for phrasing."""
    if settings.agent_engine == "llm" and settings.llm_phrase_replies:
        return LlmPhraser(chat_model(settings, http_client=http_client))
    return TemplatePhraser()

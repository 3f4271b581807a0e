"""The `llm` understanding engine and reply phraser, with the model faked at the HTTP transport: a
real `ChatOpenAI` talks to an `httpx.MockTransport` that answers the OpenAI chat-completions JSON.
No test needs a network."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest

from agent.engines import RULES, LlmEngine, LlmPhraser, RulesEngine, TemplatePhraser, make_engine, make_phraser
from agent.schema import Context, Slots, Understanding
from agent.understanding import understand
from agent.wording import keeps_key_facts, numbers_are_grounded
from hibachi.settings import Settings, SettingsError, load_settings

NOW = datetime.fromisoformat("2026-12-01T10:00:00-08:00")  # a Tuesday
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def env(settings_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return settings_env


@pytest.fixture
def llm_settings(env: pytest.MonkeyPatch) -> Settings:
    env.setenv("AGENT_ENGINE", "llm")
    env.setenv("LLM_API_KEY", "sk-test")
    env.setenv("LLM_BASE_URL", "http://llm.test/v1")
    env.setenv("LLM_MODEL", "test-model")
    env.setenv("LLM_MAX_RETRIES", "0")  # a 500 falls back at once instead of backing off
    return load_settings()


def completion(message: dict[str, Any]) -> httpx.Response:
    finish = "tool_calls" if message.get("tool_calls") else "stop"
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": "test-model",
            "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
        },
    )


def tool_call(arguments: dict[str, Any] | str) -> httpx.Response:
    """The model answering with the structured-output tool call."""
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call = {"id": "call_1", "type": "function", "function": {"name": "Understanding", "arguments": args}}
    return completion({"content": None, "tool_calls": [call]})


def text_reply(text: str) -> httpx.Response:
    return completion({"content": text})


class FakeServer:
    """An OpenAI-compatible server in a function: records requests, answers with `respond`."""

    def __init__(self, respond: Callable[[dict[str, Any]], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == "Bearer sk-test"
        body = json.loads(request.content)
        self.requests.append(body)
        return self.respond(body)

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self))

    def system_prompt(self, index: int = -1) -> str:
        return str(self.requests[index]["messages"][0]["content"])


def engine(settings: Settings, respond: Callable[[dict[str, Any]], httpx.Response]) -> tuple[LlmEngine, FakeServer]:
    server = FakeServer(respond)
    made = make_engine(settings, http_client=server.client())
    assert isinstance(made, LlmEngine)
    return made, server


def ctx(**kwargs: Any) -> Context:
    return Context(now=NOW, **kwargs)


# --- structured output -----------------------------------------------------------------------------


def test_structured_output_becomes_an_understanding(llm_settings: Settings) -> None:
    answer = {
        "intent": "book",
        "slots": {"date": "2026-12-12", "time": "18:00", "party_adults": 15, "party_kids": 3},
    }
    llm, server = engine(llm_settings, lambda body: tool_call(answer))
    known = Slots(first_name="Dana", zip="95816")
    result = llm.understand("Saturday the 12th at 6, 15 adults and 3 kids", ctx(known=known, pending="date"))

    assert isinstance(result, Understanding)
    assert result.intent == "book"
    assert result.slots.model_dump(exclude_none=True) == {
        "date": "2026-12-12",
        "time": "18:00",
        "party_total": 18,  # made consistent with the breakdown
        "party_adults": 15,
        "party_kids": 3,
    }
    request = server.requests[0]
    assert request["model"] == "test-model"
    assert request["tools"][0]["function"]["name"] == "Understanding"
    assert request["messages"][1] == {"role": "user", "content": "Saturday the 12th at 6, 15 adults and 3 kids"}
    prompt = server.system_prompt()
    assert "Tuesday 2026-12-01" in prompt and "America/Los_Angeles" in prompt  # today from ctx.now
    assert "the date of the party" in prompt  # the pending question
    assert '"first_name": "Dana"' in prompt and '"zip": "95816"' in prompt  # the known slots
    assert "lobster_tail" in prompt and "cancellation" in prompt  # upgrade codes and policy topics


def test_today_is_in_the_business_timezone(llm_settings: Settings) -> None:
    llm, server = engine(llm_settings, lambda body: tool_call({"intent": "greeting"}))
    late = datetime.fromisoformat("2026-12-02T06:30:00+00:00")  # still Tuesday evening in Sacramento
    llm.understand("hi", Context(now=late))
    assert "Tuesday 2026-12-01 and the local time is 22:30" in server.system_prompt()


def test_model_values_are_normalised(llm_settings: Settings) -> None:
    answer = {
        "intent": "reschedule",
        "slots": {
            "phone": "(916) 555-0123",
            "email": "  Dana.Lee@Example.COM ",
            "reference": "mh-7q3k9",
            "zip": "95816-1234",
            "time": "6:00",
            "upgrades": {"lobster_tail": 4, "caviar": 2},
        },
        "topic": "cancellation",  # only a policy question has a topic
    }
    llm, _ = engine(llm_settings, lambda body: tool_call(answer))
    result = llm.understand("move MH-7Q3K9, dana.lee@example.com, 916 555 0123", ctx())
    assert result.slots.model_dump(exclude_none=True) == {
        "phone": "+19165550123",
        "email": "dana.lee@example.com",
        "reference": "MH-7Q3K9",
        "zip": "95816",
        "time": "06:00",
        "upgrades": {"lobster_tail": 4},  # not a code of the business
    }
    assert (result.intent, result.topic) == ("reschedule", None)


def test_malformed_values_take_the_rules_reading(llm_settings: Settings) -> None:
    answer = {
        "intent": "policy_question",
        "topic": "pets",  # not a topic of this business
        "slots": {
            "date": "12/26",  # not YYYY-MM-DD: the rules engine's date is used
            "time": "6pm",  # not HH:MM
            "email": "not an email",
            "phone": "call me",
            "reference": "REF 12",
            "party_total": 5000,
        },
    }
    llm, _ = engine(llm_settings, lambda body: tool_call(answer))
    text = "12/26 at 6pm please"
    rules = understand(text, ctx())
    result = llm.understand(text, ctx())
    assert result.slots.model_dump(exclude_none=True) == {"date": "2026-12-26", "time": "18:00"}
    assert result.slots.date == rules.slots.date and result.slots.time == rules.slots.time
    assert (result.intent, result.topic) == ("policy_question", None)

    impossible = {"intent": "book", "slots": {"date": "2026-02-30"}}
    llm, _ = engine(llm_settings, lambda body: tool_call(impossible))
    assert llm.understand("the thirtieth of february", ctx()).slots.date is None


def test_a_lone_stop_never_reaches_the_model(llm_settings: Settings) -> None:
    llm, server = engine(llm_settings, lambda body: tool_call({"intent": "book"}))
    result = llm.understand("STOP", ctx())
    assert result == Understanding(sms_keyword="stop")
    assert server.requests == []


# --- fallback to the rules -------------------------------------------------------------------------

TEXT = "Dec 12 at 6pm for 15 adults and 3 kids, dana@example.com"


@pytest.mark.parametrize(
    "respond",
    [
        pytest.param(lambda body: httpx.Response(500, json={"error": {"message": "boom"}}), id="http-500"),
        pytest.param(lambda body: httpx.Response(200, content=b"{not json"), id="body-not-json"),
        pytest.param(lambda body: tool_call('{"intent": "book", "slots": {'), id="arguments-not-json"),
        pytest.param(lambda body: tool_call({"intent": "buy"}), id="intent-not-in-schema"),
        pytest.param(lambda body: tool_call({"intent": "book", "slots": {"party_total": -2}}), id="negative-party"),
        pytest.param(lambda body: tool_call({"intent": "book", "mood": "happy"}), id="extra-field"),
        pytest.param(lambda body: text_reply("Sure! A party on Dec 12."), id="no-tool-call"),
    ],
)
def test_any_model_failure_falls_back_to_the_rules(
    llm_settings: Settings, respond: Callable[[dict[str, Any]], httpx.Response]
) -> None:
    llm, server = engine(llm_settings, respond)
    result = llm.understand(TEXT, ctx())
    assert result == understand(TEXT, ctx())
    assert result.slots.party_total == 18 and result.slots.email == "dana@example.com"
    assert len(server.requests) == 1


def test_a_transport_error_falls_back_to_the_rules(llm_settings: Settings) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    made = make_engine(llm_settings, http_client=httpx.Client(transport=httpx.MockTransport(unreachable)))
    assert made.understand(TEXT, ctx()) == understand(TEXT, ctx())


# --- choosing the engine ---------------------------------------------------------------------------


def test_rules_is_the_default_engine(env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert settings.agent_engine == "rules" and settings.llm_api_key is None
    made = make_engine(settings)
    assert made is RULES and isinstance(made, RulesEngine) and made.name == "rules"
    assert made.understand("STOP", ctx()).sms_keyword == "stop"
    assert isinstance(make_phraser(settings), TemplatePhraser)


def test_llm_engine_from_settings(llm_settings: Settings) -> None:
    assert llm_settings.agent_engine == "llm"
    assert llm_settings.llm_base_url == "http://llm.test/v1"
    assert "sk-test" not in repr(llm_settings)  # the key is a secret
    assert make_engine(llm_settings).name == "llm"
    assert isinstance(make_phraser(llm_settings), TemplatePhraser)  # templates stay the default


def refusal(prefix: str) -> str:
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(prefix), message
    return message


def test_llm_engine_without_a_key_stops_start_up(env: pytest.MonkeyPatch) -> None:
    env.setenv("AGENT_ENGINE", "llm")
    assert refusal("setting LLM_API_KEY") == "setting LLM_API_KEY: required when AGENT_ENGINE is llm"
    env.setenv("LLM_API_KEY", "   ")
    refusal("setting LLM_API_KEY")


def test_a_key_is_not_needed_for_rules(env: pytest.MonkeyPatch) -> None:
    env.setenv("AGENT_ENGINE", "rules")
    assert load_settings().agent_engine == "rules"


def test_unknown_engine_is_refused(env: pytest.MonkeyPatch) -> None:
    env.setenv("AGENT_ENGINE", "gpt")
    refusal("setting AGENT_ENGINE")


def test_llm_base_url_must_be_http(env: pytest.MonkeyPatch) -> None:
    env.setenv("LLM_BASE_URL", "llm.test/v1")
    refusal("setting LLM_BASE_URL")
    env.setenv("LLM_BASE_URL", "")
    assert load_settings().llm_base_url is None


def test_llm_number_settings_are_checked(env: pytest.MonkeyPatch) -> None:
    env.setenv("LLM_TIMEOUT_SECONDS", "0")
    refusal("setting LLM_TIMEOUT_SECONDS")


# --- phrasing ----------------------------------------------------------------------------------------

SUMMARY = (
    "Here's your party:\n• Saturday, December 12 at 6pm\n• 18 guests (15 adults, 3 kids)\n"
    "Total $1,075.00, with a $100.00 deposit due now to hold the date (it counts toward the total).\n"
    "Shall I book it? (yes/no)"
)
QUOTE = {"total_due": "$1,075.00", "deposit_due": "$100.00"}


def phraser(settings: Settings, respond: Callable[[dict[str, Any]], httpx.Response]) -> tuple[LlmPhraser, FakeServer]:
    server = FakeServer(respond)
    settings = settings.model_copy(update={"llm_phrase_replies": True})
    made = make_phraser(settings, http_client=server.client())
    assert isinstance(made, LlmPhraser)
    return made, server


def test_phraser_keeps_a_reordered_reply(llm_settings: Settings) -> None:
    reworded = (
        "Great news! For Saturday, December 12 at 6pm with 18 guests (15 adults and 3 kids), your total is "
        "$1,075.00. A $100.00 deposit holds the date and counts toward the total. Want me to book it?"
    )
    made, server = phraser(llm_settings, lambda body: text_reply(reworded))
    assert made.phrase(SUMMARY, [QUOTE]) == reworded
    assert server.requests[0]["messages"][1]["content"] == SUMMARY


def test_phraser_rejects_an_invented_price(llm_settings: Settings) -> None:
    invented = SUMMARY.replace("Shall I book it?", "That's about $60 per guest. Shall I book it?")
    made, _ = phraser(llm_settings, lambda body: text_reply(invented))
    assert made.phrase(SUMMARY, [QUOTE]) == SUMMARY


def test_phraser_rejects_a_changed_number_or_a_dropped_total(llm_settings: Settings) -> None:
    for bad in (
        SUMMARY.replace("18 guests", "20 guests"),
        SUMMARY.replace("6pm", "7pm"),
        SUMMARY.replace("Total $1,075.00, with a", "With a"),
        "",
    ):
        made, _ = phraser(llm_settings, lambda body, bad=bad: text_reply(bad))  # type: ignore[misc]
        assert made.phrase(SUMMARY, [QUOTE]) == SUMMARY, bad


def test_phraser_falls_back_on_a_model_error(llm_settings: Settings) -> None:
    made, _ = phraser(llm_settings, lambda body: httpx.Response(500, json={"error": {"message": "boom"}}))
    assert made.phrase(SUMMARY, [QUOTE]) == SUMMARY


def test_template_phraser_is_the_template() -> None:
    assert TemplatePhraser().phrase(SUMMARY, [QUOTE]) == SUMMARY


# --- the grounding guard ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "grounded"),
    [
        ("Your total is $1,075.00 and the deposit $100.00.", True),
        ("Your total is $1075 and the deposit is $100.", True),  # the same amounts, written differently
        ("Your total is $1,075.00; that's $59.72 a guest.", False),  # arithmetic the model did
        ("Your total is $1,075.00 plus a $50.00 travel fee.", False),
        ("See you at 6 pm on December 12 with fifteen adults and three kids!", True),  # number words count
        ("See you at 7pm on December 12!", False),
        ("Eighteen guests, right? Twenty would be fine too.", False),
        ("Reference MH-7Q3K9, pay at https://pay.test/abc", True),
        ("Reference MH-7Q3K8", False),
        ("Which one works for you?", True),  # "one" is a word, not a count
        ("Sure! No numbers here.", True),
    ],
)
def test_numbers_are_grounded(reply: str, grounded: bool) -> None:
    allowed = {
        "Total $1,075.00, deposit $100.00, Saturday December 12 at 6pm, 18 guests (15 adults, 3 kids).",
        "MH-7Q3K9",
        "https://pay.test/abc",
    }
    assert numbers_are_grounded(reply, allowed) is grounded


def test_a_number_from_the_tool_facts_is_grounded() -> None:
    template = "Your party is booked."
    assert not numbers_are_grounded("Your party MH-7Q3K9 is booked.", {template})
    assert numbers_are_grounded("Your party MH-7Q3K9 is booked.", {template, "MH-7Q3K9"})


def test_key_facts_must_stay() -> None:
    assert keeps_key_facts(SUMMARY, SUMMARY)
    assert not keeps_key_facts(SUMMARY, SUMMARY.replace(" at 6pm", ""))
    assert not keeps_key_facts("Pay here: https://pay.test/abc", "Pay using the link we sent.")


def test_the_graph_reads_messages_with_the_containers_engine(
    llm_settings: Settings, container: Any, agent: Any
) -> None:
    """The llm engine wired into a real turn: what the model read is what the agent knows."""
    from dataclasses import replace

    from tests.graph_support import Chat

    answer = {"intent": "book", "slots": {"date": "2026-12-19", "time": "15:00", "party_adults": 9}}
    llm, server = engine(llm_settings, lambda body: tool_call(answer))
    chat = Chat(agent, replace(container, understander=llm))
    reply = chat.say("a party please, the 19th at 3, nine grown-ups")
    assert server.requests, "the model was asked"
    slots = chat.state["slots"]
    assert (slots["date"], slots["time"], slots["party_adults"]) == ("2026-12-19", "15:00", 9)
    assert reply is not None and "9 adults" in reply and "kids" in reply  # moves on, never re-asks the date


@pytest.mark.parametrize(
    ("rephrased", "kept"),
    [
        ("How many people are coming, and how many of them are kids (12 and under)?", "rephrased"),
        ("How many guests? It's $45.00 a head!", "template"),  # an invented price: the template goes out
    ],
)
def test_the_channel_path_words_replies_with_the_containers_phraser(
    env: pytest.MonkeyPatch, container: Any, agent: Any, rephrased: str, kept: str
) -> None:
    from dataclasses import replace

    from services.conversations import handle_inbound

    env.setenv("AGENT_ENGINE", "llm")
    env.setenv("LLM_API_KEY", "sk-test")
    env.setenv("LLM_PHRASE_REPLIES", "true")
    server = FakeServer(lambda body: text_reply(rephrased))
    phraser = make_phraser(load_settings(), http_client=server.client())
    said = "a party on December 12 at 6pm"
    template = handle_inbound(container, channel="web", contact="session-one", text=said, graph=agent)
    worded = handle_inbound(
        replace(container, phraser=phraser), channel="web", contact="session-two", text=said, graph=agent
    )
    assert server.requests, "the model was asked to word the reply"
    assert worded.reply == (rephrased if kept == "rephrased" else template.reply)

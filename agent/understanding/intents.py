"""What the message is for: intent and policy topic, carrier SMS keywords, yes/no answers and SMS consent."""

from __future__ import annotations

import re

from agent.schema import Intent, SmsKeyword

# --- SMS keywords (CTIA): the whole message is the keyword ----------------------------------------

_SMS_KEYWORDS: dict[str, SmsKeyword] = {
    "stop": "stop", "stopall": "stop", "unsubscribe": "stop", "cancel": "stop", "end": "stop", "quit": "stop",
    "start": "start", "unstop": "start", "help": "help", "info": "help",
}  # fmt: skip
_LONE_WORD = re.compile(r"^[\s\W_]*([A-Za-z]+)[\s\W_]*$")


# Consent may be revoked "by any reasonable means" (FCC, 2024): a plain request to stop the texts is
# an opt-out too, though it is not a lone keyword. Narrow on purpose: "stop by at 6" or "cancel my
# booking" are not requests to stop texting.
_OPT_OUT_REQUEST = re.compile(
    r"\b(?:stop|quit|no\s+more|don'?t|do\s+not|never)\s+(?:(?:sending|send)\s+(?:me\s+)?)?"
    r"(?:text|txt|sms|messag)\w*|\bunsubscribe\b|\bopt\s+(?:me\s+)?out\b|\bremove\s+me\s+from\b",
    re.IGNORECASE,
)


def sms_keyword(text: str) -> SmsKeyword | None:
    """A lone carrier keyword (any channel reads these; the web treats them as plain words)."""
    match = _LONE_WORD.match(text)
    return _SMS_KEYWORDS.get(match.group(1).lower()) if match else None


def carrier_keyword(text: str) -> SmsKeyword | None:
    """What a text message asks of the carrier program: a lone keyword, or "stop" for a plain request
    to stop the texts ("please stop texting me"). SMS only: on the web "don't text me" declines consent."""
    return sms_keyword(text) or ("stop" if _OPT_OUT_REQUEST.search(text[:400]) else None)


# --- yes / no ------------------------------------------------------------------------------------

_YES = re.compile(
    r"^\W*(?:(?:yes|yeah|yea|yep|yup|ya|yas|yess+|sure|ok|okay|k|kk|alright|all\s+right|absolutely|definitely|"
    r"of\s+course|correct|right|exactly|affirmative|perfect|great|awesome|confirm(?:ed)?|i\s+confirm|"
    r"that'?s?\s+(?:right|correct|fine|perfect|great|good)|that\s+works|works\s+for\s+me|sounds\s+(?:good|great|perfect|right)|"
    r"looks\s+(?:good|great|right|correct)|all\s+good|go\s+ahead|go\s+for\s+it|do\s+it|let'?s\s+do\s+it|"
    r"let'?s\s+book\s+it|book\s+it|please\s+(?:do|book(?:\s+it)?|confirm)|lock\s+it\s+in|deal|👍)\b|👍|y\W*$)"
)
_NO = re.compile(
    r"^\W*(?:(?:actually|oh|hmm+|um+|uh+|ah|sorry|well|wait)\W+)?(?:no|nope|nah|negative|not\s+yet|not\s+now|not\s+really|no\s+thanks|no\s+thank\s+you|"
    r"wait|hold\s+on|hang\s+on|don'?t|do\s+not|never\s*mind|nevermind|that'?s\s+(?:wrong|not\s+right|incorrect)|"
    r"incorrect|wrong)\b(?!\s+(?:problem|worries|rush|kids|children|adults|upgrades?|lobster|filet|noodles|"
    r"protein|one|more|other|way)\b)"
)
_BUT = re.compile(r"\b(?:but|except|however|although|though|actually|change|instead)\b")


def yes_no(text: str) -> bool | None:
    low = text.lower().strip()
    if _NO.match(low):
        return False
    if _YES.match(low):
        if _BUT.search(low):
            return None  # "yes, but change the time": not a plain yes to the question
        return True
    return None


# --- SMS consent ---------------------------------------------------------------------------------

_CONSENT_YES = re.compile(
    r"\b(?:(?:you\s+can|you\s+may|feel\s+free\s+to|(?:it'?s\s+)?(?:ok|okay|fine)\s+to|go\s+ahead\s+and|please)\s+"
    r"(?:text|sms|message)\s+me|text\s+me\s+(?:at|on|the|updates|reminders|whenever)|"
    r"(?:texts?|sms|text\s+messages?|texting)\s+(?:is|are)\s+(?:fine|ok|okay|good|great|perfect)|"
    r"(?:yes|ok|okay|sure)\s+to\s+(?:texts?|sms|text\s+messages?)|i\s+(?:agree|consent)\s+to\s+(?:texts?|sms))\b"
)
_CONSENT_NO = re.compile(
    r"\b(?:(?:do\s+not|don'?t|please\s+don'?t|never)\s+(?:text|sms|message)(?:\s+me)?|no\s+(?:texts?|sms|text\s+messages?|texting)|"
    r"not\s+(?:by|via)\s+text|(?:email|call)\s+only|i\s+(?:do\s+not|don'?t)\s+(?:agree|consent)|"
    r"(?:texts?|sms)\s+(?:is|are)\s+not\s+(?:ok|okay|fine))\b"
)


def consent(text: str, *, asked: bool) -> bool | None:
    low = text.lower()
    if _CONSENT_NO.search(low):
        return False
    if _CONSENT_YES.search(low):
        return True
    if asked:
        return yes_no(text)
    return None


# --- intent --------------------------------------------------------------------------------------

_COMPLAINT = re.compile(
    r"\b(?:complain(?:t|ts|ing)?|terrible|horrible|awful|disgusting|disappoint(?:ed|ing)|unacceptable|worst|rude|"
    r"never\s+(?:showed|came|arrived)|no[- ]show|didn'?t\s+show|ruined|upset|angry|furious|unhappy|not\s+happy|"
    r"bad\s+experience|food\s+poisoning|got\s+sick|overcharged|charged\s+(?:me\s+)?twice|double\s+charged|scam|"
    r"ripped\s+off|want\s+(?:my\s+money|a\s+refund)|money\s+back|give\s+me\s+a\s+refund|refund\s+me)\b"
)
_PERSON = (
    r"(?:a\s+|an\s+|the\s+|your\s+|some\s+)?(?:real\s+|live\s+|actual\s+)?(?:human|person|someone|somebody|manager|"
    r"owner|representative|rep|agent|staff|operator|people|employee)"
)
_HUMAN = re.compile(
    rf"\b(?:talk|speak|chat)\s+(?:to|with)\s+{_PERSON}\b"
    rf"|\b(?:connect|transfer|put)\s+me\s+(?:to|with|through\s+to)\s+{_PERSON}\b"
    r"|\b(?:want|need|get\s+me|can\s+i\s+(?:get|have))\s+(?:a|an|the|your|to\s+a)?\s*(?:real\s+|live\s+|actual\s+)?"
    r"(?:human|manager|owner|representative|operator|real\s+person|live\s+person)\b"
    r"|\b(?:real|live|actual)\s+(?:human|person)\b"
    r"|\b(?:can|could)\s+(?:someone|somebody|a\s+person|a\s+human|you)\s+(?:please\s+)?call\s+me\b"
    r"|\b(?:are\s+you\s+a\s+(?:bot|robot|human|real\s+person))\b"
)
_CANCEL = re.compile(
    r"\bcancel(?:l?ing|l?ed)?\s+(?:my|our|the|this|that|a|it\b|booking|reservation|party|event)"
    r"|\b(?:want|need|like|have)\s+to\s+cancel\b|\bcancel\s+(?:please|it)\b|\bplease\s+cancel\b"
)
_RESCHEDULE = re.compile(
    r"\b(?:reschedul\w*|postpone\w*|push\s+(?:it|back|the\s+(?:party|booking|date|event))|"
    r"(?:move|change|switch)\s+(?:my|our|the)\s+(?:booking|reservation|party|event)|"
    r"(?:move|change)\s+(?:it|the\s+date)\s+to\s+(?:a\s+)?(?:different|another|new)|different\s+date|"
    # "move it to 12/26 at 6pm": moving is done to a booking that exists ("change it to 7pm" stays a
    # correction of the booking being made)
    r"(?:move|push)\s+(?:it|(?:the|my|our)\s+(?:party|booking|reservation|event|date))\s+(?:back\s+)?(?:to|till|until)"
    r")\b"
)
_POLICY_WORD = re.compile(r"\bpolic(?:y|ies)\b")
_CONDITIONAL = re.compile(r"\b(?:if|policy|what\s+happens|in\s+case|how\s+(?:late|far|soon|long))\b")
_QUESTION = re.compile(
    r"\?|^\W*(?:what|whats|what's|how|hows|how's|do|does|did|can|could|is|are|will|would|should|when|where|which|"
    r"who|any|anything|tell\s+me|i\s+(?:want|wanted|would\s+like)\s+to\s+know|wondering|curious)\b"
    r"|\b(?:policy|policies|wondering|curious)\b"
)
_PRICE = re.compile(
    r"\b(?:how\s+much|price|prices|pricing|priced|cost|costs|costing|rate|rates|quote|charge|charges|per\s+person|"
    r"per\s+head|per\s+guest|fee|fees|expensive|cheap|afford\w*|budget|total|minimum|estimate)\b|\$"
)
# Asking the price without a question mark: "what would that cost", "how much for 10".
_PRICE_ASK = re.compile(
    r"\b(?:how\s+much|quote|estimate|what\s+(?:would|will|does|do|did|is|might)\s+(?:that|it|this|the\s+\w+)\s+"
    r"(?:cost|come\s+to|run|be\s+in\s+total)|what'?s\s+the\s+(?:price|cost|total))\b"
)
_BOOK = re.compile(
    r"\b(?:book|booking|reserve|reservation|reservations|schedule|hibachi|party|parties|event|chef|cater|catering|"
    r"table|dinner|lunch|birthday|anniversary|celebrat\w*|available|availability|openings?|date|guests|people)\b"
)
_GREETING = re.compile(
    r"^\W*(?:hi+|hello+|hey+|hiya|howdy|yo|greetings|good\s+(?:morning|afternoon|evening|day)|hola|sup|what'?s\s+up)"
    r"(?:\s+there)?\b[\s\W]*(?:(?:how\s+are\s+you|how'?s\s+it\s+going)[\s\W]*)?$"
)
# Stepping away for now, without a no: the agent keeps what it has and says so, rather than asking
# its question again.
_LATER = re.compile(
    r"\b(?:get\s+back\s+to\s+(?:you|u|ya)|(?:talk|chat|text)\s+(?:to\s+(?:you|u)\s+)?(?:later|soon|tomorrow)|ttyl|"
    r"think\s+(?:about\s+it|it\s+over)|let\s+me\s+(?:check|think|ask|talk|see)|check\s+with\s+(?:my|the|our)\s+\w+|"
    r"talk\s+(?:to|with)\s+my\s+\w+|good\s*bye|bye|see\s+(?:you|ya)|maybe\s+later|another\s+time|"
    r"just\s+(?:checking|looking|asking|browsing|wondering))\b"
)
_GREETING_START = re.compile(r"^\W*(?:hi+|hello+|hey+|hiya|howdy|greetings|good\s+(?:morning|afternoon|evening))\b")

# Words that point at a policy topic. A business topic not listed here is found by its own name.
_TOPIC_WORDS: dict[str, str] = {
    "cancellation": r"cancel\w*|refund\w*|deposit\s+back|get\s+(?:my|the)\s+deposit|non-?refundable",
    "gratuity": r"gratuity|tip|tips|tipping|tip\s+the\s+chef",
    "setup": r"set\s*-?\s*up|space|tables?|chairs|plates|propane|grill|equipment|bring|provide|need\s+to\s+have|"
    r"backyard|clean\s*-?\s*up",
    "rain": r"rain\w*|weather|indoors?|inside|covered|garage|patio|storm\w*|wind\w*",
    "allergies": r"allerg\w*|gluten|celiac|nuts?|peanuts?|shellfish|dairy|lactose|sesame|soy",
    "menu": r"menu|proteins?|included|include|vegetarian|vegan|tofu|dishes|food\s+options|what\s+(?:do\s+)?you\s+serve|"
    r"what\s+food|what\s+comes\s+with|sake|dessert",
}


def _topic_pattern(topic: str) -> re.Pattern[str]:
    # A topic found by its own name matches singular or plural: "pets" in "your pet policy".
    name = topic.replace("_", " ").lower()
    words = _TOPIC_WORDS.get(topic, re.escape(name.removesuffix("s")) + "s?")
    return re.compile(rf"\b(?:{words})\b")


def policy_topic(text: str, topics: tuple[str, ...]) -> str | None:
    low = text.lower()
    best: tuple[int, str] | None = None
    for topic in topics:
        match = _topic_pattern(topic).search(low)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), topic)
    return best[1] if best else None


def intent(text: str, *, has_booking_slots: bool, topics: tuple[str, ...]) -> tuple[Intent, str | None]:
    """(intent, policy topic when the intent is policy_question)."""
    low = text.lower()
    is_question = bool(_QUESTION.search(low))
    topic = policy_topic(low, topics) if is_question else None
    if _COMPLAINT.search(low) and not (topic == "cancellation" and _CONDITIONAL.search(low)):
        return "complaint", None
    if _HUMAN.search(low):
        return "human", None
    if _CANCEL.search(low) and not _CONDITIONAL.search(low):
        return "cancel_booking", None
    if _RESCHEDULE.search(low) and not _CONDITIONAL.search(low):
        return "reschedule", None
    if topic is not None and not (_PRICE.search(low) and topic in ("setup", "menu") and "policy" not in low):
        return "policy_question", topic
    if _PRICE.search(low) and (is_question or _PRICE_ASK.search(low)):
        return "price_question", None
    if is_question and _POLICY_WORD.search(low):
        return "policy_question", None  # a policy the business file does not name: staff answer it
    if not has_booking_slots and not is_question and _LATER.search(low):
        return "later", None
    if has_booking_slots or _BOOK.search(low):
        return "book", None
    if _GREETING.match(low) or _GREETING_START.match(low):
        return "greeting", None
    return "other", None

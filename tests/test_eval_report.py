"""The `--report` HTML page (evals.report), from hand-built results; no database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from evals.report import histogram, write_report
from evals.results import CaseResult, Message, TurnRecord, summarize


def _results() -> list[CaseResult]:
    passed = CaseResult(
        case_id="book-basic-web",
        kind="conversation",
        path="evals/cases/book/book-basic-web.yaml",
        categories=["book"],
        run=1,
        passed=True,
        turns=[
            TurnRecord("PASSED-CASE-TURN do you do dec 12?", [Message("ai", "PASSED-CASE-REPLY yes we do")], 4.0),
            TurnRecord("yes please book it", [Message("ai", "Booked.")], 15.0),
        ],
        expected={"outcome": "booked", "booking": {"date": "2026-12-12"}},
        actual={"outcome": "booked", "thread_mode": "ai", "new_bookings": ["HB-1"], "booking": {"date": "2026-12-12"}},
        graded=1,
        matched=1,
    )
    failed = CaseResult(
        case_id="price-quote-sms",
        kind="conversation",
        path="evals/cases/price/price-quote-sms.yaml",
        categories=["price"],
        run=1,
        passed=False,
        turns=[
            TurnRecord(
                "how much for 12 people & 3 kids?",
                [Message("ai", "That is $999.00 <script>alert(1)</script>"), Message("staff", "STAFF-NOTE hi")],
                30.0,
                problems=["reply lacks '$850.00'"],
            ),
            TurnRecord("ok", [], 250.0),
            TurnRecord("thanks", [Message("ai", "bye")], 700.0),
        ],
        expected={"outcome": "booked", "booking": {"party_adults": 12, "zone": "A"}},
        actual={"outcome": "handoff", "thread_mode": "human", "new_bookings": [], "booking": {}},
        graded=2,
        matched=0,
        failures=["outcome handoff, expected booked", "booking.party_adults: expected 12, got None"],
        violations=["dollar amount $999.00 not quoted by the pricing service"],
    )
    extraction = CaseResult(
        case_id="sgd-dev-1_00012",
        kind="extraction",
        path="evals/cases/sgd/sgd-dev-1_00012.yaml",
        categories=["sgd", "dates"],
        run=1,
        passed=False,
        turns=[TurnRecord("a table on the 8th please", [], 1.0), TurnRecord("at afternoon 12 for 4", [], 2.0)],
        expected={"date": "2019-03-08", "time": "12:00", "party_total": 4},
        actual={"date": "2019-03-08", "time": "00:00", "party_total": 4},
        graded=3,
        matched=2,
        failures=["time: expected '12:00', got '00:00'"],
    )
    return [passed, failed, extraction]


@pytest.fixture
def page(tmp_path: Path) -> str:
    results = _results()
    target = tmp_path / "report.html"
    write_report(target, results, summarize(results))
    return target.read_text(encoding="utf-8")


def _failed_section(page: str, case_id: str) -> str:
    for section in re.findall(r'<section class="case failed-case".*?</section>', page, re.S):
        if f'<span class="mono">{case_id}</span>' in section:
            return str(section)
    raise AssertionError(f"no failed-case section for {case_id}")


def test_summary_line_and_numbers(page: str) -> None:
    summary = summarize(_results())
    assert summary.line() in page
    assert "evals: 3 cases, success 0.333, slot_accuracy 0.500, violations 1, p95_turn_ms 700" in page
    assert "pass^1" not in page  # k = 1: no pass^k


def test_pass_k_when_k_above_one(tmp_path: Path) -> None:
    results = _results()
    second = [CaseResult(**{**r.__dict__, "run": 2}) for r in results]
    target = tmp_path / "k.html"
    write_report(target, results + second, summarize(results + second, k=2))
    html = target.read_text(encoding="utf-8")
    assert "pass^1" in html and "pass^2" in html
    assert "pass^1 0.333, pass^2 0.333" in html


def test_category_rows(page: str) -> None:
    rows = re.findall(r'<tr class="category"><td>([^<]*)</td><td class="num">([^<]*)</td>', page)
    assert rows == [("book", "1/1"), ("dates", "0/1"), ("price", "0/1"), ("sgd", "0/1")]


def test_histogram_counts(page: str) -> None:
    assert "<svg" in page and "</svg>" in page
    svg = page[page.index("<svg") : page.index("</svg>")]
    counts = dict(re.findall(r'data-bucket="([^"]+)" data-count="(\d+)"', svg))
    # Conversation turns only (4, 15, 30, 250, 700 ms), as the summary's p95.
    assert counts == {
        "0-10": "1",
        "10-20": "1",
        "20-50": "1",
        "50-100": "0",
        "100-200": "0",
        "200-500": "1",
        "500+": "1",
    }
    assert svg.count('<rect class="bar"') == 7
    assert re.findall(r'<text class="count"[^>]*>(\d+)</text>', svg) == ["1", "1", "1", "0", "0", "1", "1"]


def test_histogram_buckets_edges() -> None:
    assert histogram([0, 9.99, 10, 499, 500, 10_000]) == [
        ("0-10", 2),
        ("10-20", 1),
        ("20-50", 0),
        ("50-100", 0),
        ("100-200", 0),
        ("200-500", 1),
        ("500+", 2),
    ]


def test_cases_table_lists_every_run(page: str) -> None:
    table = page[page.index('<table class="cases">') :]
    table = table[: table.index("</table>")]
    assert table.count('<tr class="case-row') == 3
    for case_id in ("book-basic-web", "price-quote-sms", "sgd-dev-1_00012"):
        assert case_id in table
    assert "outcome handoff, expected booked" in table
    assert "turn 1: reply lacks &#x27;$850.00&#x27;" in table
    assert '<td class="fail">FAIL</td>' in table and '<td class="pass">pass</td>' in table


def test_failed_conversation_transcript_beside_values(page: str) -> None:
    section = _failed_section(page, "price-quote-sms")
    transcript = section[section.index('<div class="transcript">') : section.index('<div class="values">')]
    values = section[section.index('<div class="values">') :]
    assert '<div class="columns">' in section
    assert "how much for 12 people &amp; 3 kids?" in transcript
    assert "STAFF-NOTE hi" in transcript and '<div class="who">staff</div>' in transcript
    assert transcript.index("how much for 12") < transcript.index("That is $999.00") < transcript.index("STAFF-NOTE")
    assert "reply lacks" in transcript
    assert '<td class="mono">outcome</td>' in values
    assert "&quot;booked&quot;" in values and "&quot;handoff&quot;" in values
    assert '<td class="mono">booking.party_adults</td><td class="mono expected">12</td>' in values
    assert "dollar amount $999.00 not quoted by the pricing service" in values
    assert "booking.party_adults: expected 12, got None" in values


def test_failed_extraction_case(page: str) -> None:
    section = _failed_section(page, "sgd-dev-1_00012")
    assert "a table on the 8th please" in section and "at afternoon 12 for 4" in section
    assert (
        '<tr class="field differs"><td class="mono">time</td>'
        '<td class="mono expected">&quot;12:00&quot;</td><td class="mono actual">&quot;00:00&quot;</td></tr>'
    ) in section
    assert "time: expected &#x27;12:00&#x27;, got &#x27;00:00&#x27;" in section


def test_no_transcript_for_passed_case(page: str) -> None:
    assert page.count('<section class="case failed-case"') == 2
    assert "PASSED-CASE-TURN" not in page and "PASSED-CASE-REPLY" not in page


def test_self_contained(page: str) -> None:
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page.lower()
    assert not re.search(r"<script\b", page, re.I)
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "<style>" in page


def test_replies_are_escaped(page: str) -> None:
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_error_run(tmp_path: Path) -> None:
    broken = CaseResult(
        "book-fixture", "conversation", "x.yaml", ["book"], 1, passed=False, error="fixtures: ValueError: <bad>"
    )
    target = tmp_path / "error.html"
    write_report(target, [broken], summarize([broken]))
    html = target.read_text(encoding="utf-8")
    section = _failed_section(html, "book-fixture")
    assert "ERROR" in section and "fixtures: ValueError: &lt;bad&gt;" in section
    assert "No turns ran." in section

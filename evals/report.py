"""The `--report FILE.html` page of an eval run: one self-contained HTML file (inline CSS and SVG, no
scripts, nothing fetched) with the summary, success by category, a histogram of turn times, a table of
every case run, and for each failed run its transcript beside the expected and actual values.

Everything that comes from a case or from the agent is HTML-escaped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import Any

from .results import CaseResult, Message, Summary, TurnRecord, by_category, percentile

# Upper edges (ms) of the histogram's buckets; the last bucket is open-ended.
BUCKET_EDGES: tuple[float, ...] = (10, 20, 50, 100, 200, 500)
AUTHORS = frozenset({"customer", "ai", "system", "staff"})

CSS = """
:root { --fg: #1d2430; --muted: #5f6b7a; --line: #d8dee6; --bg: #ffffff; --panel: #f5f7fa;
  --pass: #1a7f37; --fail: #c62828; --error: #b35c00; --bar: #4a78c2; --diff: #fff3cd; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
  background: var(--bg); margin: 0 auto; padding: 24px; max-width: 1280px; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 18px; margin: 32px 0 10px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 0 0 8px; }
h4 { font-size: 13px; margin: 12px 0 6px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
pre { white-space: pre-wrap; word-break: break-word; margin: 0; }
.line { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px;
  display: block; overflow-x: auto; }
.stats { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.stat { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px;
  min-width: 130px; }
.stat .label { color: var(--muted); font-size: 12px; }
.stat .value { font-size: 20px; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.narrow { width: auto; min-width: 420px; }
.pass { color: var(--pass); font-weight: 600; }
.fail { color: var(--fail); font-weight: 600; }
.error { color: var(--error); font-weight: 600; }
.meter { background: var(--line); border-radius: 3px; height: 10px; width: 160px; overflow: hidden; }
.meter span { display: block; height: 100%; background: var(--pass); }
.reasons { font-size: 12.5px; }
.reasons ul, .problems { margin: 0; padding-left: 18px; }
.case { border: 1px solid var(--line); border-radius: 8px; padding: 14px; margin: 16px 0; }
.case .meta { color: var(--muted); font-size: 12.5px; margin-bottom: 10px; }
.columns { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 18px; }
.turn { border-left: 3px solid var(--line); padding: 2px 0 2px 10px; margin: 0 0 12px; }
.turn.bad { border-left-color: var(--fail); }
.msg { border-radius: 6px; padding: 6px 9px; margin: 4px 0; background: var(--panel); }
.msg .who { font-size: 11.5px; color: var(--muted); font-weight: 600; text-transform: uppercase; }
.msg.customer { background: #e8f0fe; }
.msg.ai { background: #eef7ee; }
.msg.staff { background: #fdf0e6; }
.msg.system { background: #f1f1f1; }
.ms { color: var(--muted); font-size: 11.5px; }
.none { color: var(--muted); font-style: italic; }
tr.differs td { background: var(--diff); }
.failures li { color: var(--fail); }
.violations li { color: var(--fail); font-weight: 600; }
details { margin-top: 8px; }
summary { cursor: pointer; color: var(--muted); }
svg text { font: 11px system-ui, sans-serif; fill: var(--fg); }
svg .bar { fill: var(--bar); }
svg .axis { stroke: var(--muted); }
@media (max-width: 900px) { .columns { grid-template-columns: 1fr; } }
"""


def write_report(path: Path, results: list[CaseResult], summary: Summary) -> None:
    """Write the HTML report of a run to `path`."""
    path.write_text(render_report(results, summary), encoding="utf-8")


def render_report(results: Sequence[CaseResult], summary: Summary) -> str:
    """The whole page as a string."""
    failed = [(index, r) for index, r in enumerate(results) if not r.passed]
    body = "\n".join(
        [
            "<h1>Eval report</h1>",
            _summary(results, summary),
            "<h2>Success by category</h2>",
            _categories(results),
            "<h2>Turn times</h2>",
            _histogram(turn_times(results)),
            "<h2>Cases</h2>",
            _cases_table(results),
            f"<h2>Failed runs ({len(failed)})</h2>",
            "\n".join(_failed_case(index, r) for index, r in failed)
            if failed
            else '<p class="none">Every run passed.</p>',
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(summary.line())}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def turn_times(results: Sequence[CaseResult]) -> list[float]:
    """The turn times the summary's p95 is taken over: conversation turns, or every turn of a run of
    extraction cases alone (as in `evals.results.summarize`)."""
    return [t.ms for r in results for t in r.turns if r.kind == "conversation"] or [
        t.ms for r in results for t in r.turns
    ]


def histogram(times: Iterable[float]) -> list[tuple[str, int]]:
    """(bucket label, count) for every bucket of BUCKET_EDGES, empty ones included."""
    labels = [f"{lo:g}-{hi:g}" for lo, hi in zip((0, *BUCKET_EDGES), BUCKET_EDGES, strict=False)]
    labels.append(f"{BUCKET_EDGES[-1]:g}+")
    counts = [0] * len(labels)
    for ms in times:
        index = next((i for i, edge in enumerate(BUCKET_EDGES) if ms < edge), len(BUCKET_EDGES))
        counts[index] += 1
    return list(zip(labels, counts, strict=True))


def _summary(results: Sequence[CaseResult], summary: Summary) -> str:
    runs = len(results)
    passed = sum(r.passed for r in results)
    errored = sum(r.error is not None for r in results)
    stats = [
        ("cases", str(summary.cases)),
        ("success" if summary.k == 1 else f"success (pass^{summary.k})", f"{summary.success:.3f}"),
        ("slot_accuracy", f"{summary.slot_accuracy:.3f}"),
        ("violations", str(summary.violations)),
        ("p95_turn_ms", str(round(summary.p95_turn_ms))),
    ]
    if summary.k > 1:
        stats.append(("pass^1", f"{summary.pass_1:.3f}"))
        stats.append((f"pass^{summary.k}", f"{summary.success:.3f}"))
    stats.append(("runs passed", f"{passed}/{runs}"))
    if errored:
        stats.append(("runs errored", str(errored)))
    cards = "".join(
        f'<div class="stat"><div class="label">{escape(label)}</div><div class="value">{escape(value)}</div></div>'
        for label, value in stats
    )
    extra = (
        f"<p>pass^1 {summary.pass_1:.3f}, pass^{summary.k} {summary.success:.3f} (every case run {summary.k} times)</p>"
        if summary.k > 1
        else ""
    )
    return f'<code class="line">{escape(summary.line())}</code>\n<div class="stats">{cards}</div>{extra}'


def _categories(results: Sequence[CaseResult]) -> str:
    tally = by_category(results)
    if not tally:
        return '<p class="none">No cases.</p>'
    rows = []
    for category, (passed, total) in tally.items():
        share = passed / total if total else 0.0
        rows.append(
            f'<tr class="category"><td>{escape(category)}</td><td class="num">{passed}/{total}</td>'
            f'<td class="num">{share:.3f}</td>'
            f'<td><div class="meter"><span style="width:{share * 100:.1f}%"></span></div></td></tr>'
        )
    return (
        '<table class="narrow"><thead><tr><th>category</th><th class="num">passed</th><th class="num">share</th>'
        f"<th></th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _histogram(times: Sequence[float]) -> str:
    buckets = histogram(times)
    top = max((count for _, count in buckets), default=0)
    bar_w, gap, plot_h, left, top_pad, bottom_pad = 64, 14, 160, 10, 22, 40
    width = left * 2 + len(buckets) * (bar_w + gap) - gap
    height = top_pad + plot_h + bottom_pad
    base = top_pad + plot_h
    parts = [
        f'<svg class="histogram" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="histogram of {len(times)} turn times in milliseconds">'
    ]
    for i, (label, count) in enumerate(buckets):
        x = left + i * (bar_w + gap)
        h = 0 if not top else max(2 if count else 0, math.floor(plot_h * count / top))
        parts.append(
            f'<g class="bucket" data-bucket="{escape(label)}" data-count="{count}">'
            f"<title>{escape(label)} ms: {count} turns</title>"
            f'<rect class="bar" x="{x}" y="{base - h}" width="{bar_w}" height="{h}"></rect>'
            f'<text class="count" x="{x + bar_w / 2:g}" y="{base - h - 5}" text-anchor="middle">{count}</text>'
            f'<text x="{x + bar_w / 2:g}" y="{base + 16}" text-anchor="middle">{escape(label)}</text></g>'
        )
    parts.append(f'<line class="axis" x1="{left}" y1="{base}" x2="{width - left}" y2="{base}"></line>')
    parts.append(f'<text x="{width / 2:g}" y="{height - 6}" text-anchor="middle">milliseconds per turn</text></svg>')
    note = (
        f"<p>{len(times)} turns; p50 {percentile(times, 0.5):.0f} ms, p95 {percentile(times, 0.95):.0f} ms, "
        f"max {max(times, default=0):.0f} ms.</p>"
    )
    return "".join(parts) + note


def _status(result: CaseResult) -> tuple[str, str]:
    if result.passed:
        return "pass", "pass"
    if result.error:
        return "error", "ERROR"
    return "fail", "FAIL"


def reasons(result: CaseResult) -> list[str]:
    """Why a run failed: its error, violations, failures, then each turn's failed expectations."""
    turn_problems = [
        f"turn {number}: {problem}" for number, turn in enumerate(result.turns, start=1) for problem in turn.problems
    ]
    return ([result.error] if result.error else []) + result.violations + result.failures + turn_problems


def _cases_table(results: Sequence[CaseResult]) -> str:
    if not results:
        return '<p class="none">No cases.</p>'
    rows = []
    for index, r in enumerate(results):
        css, label = _status(r)
        name = escape(r.case_id)
        case_cell = name if r.passed else f'<a href="#run-{index}">{name}</a>'
        why = reasons(r)
        why_cell = "<ul>" + "".join(f"<li>{escape(reason)}</li>" for reason in why) + "</ul>" if why else ""
        p95 = percentile([t.ms for t in r.turns], 0.95)
        rows.append(
            f'<tr class="case-row {css}-row"><td class="mono">{case_cell}</td><td class="num">{r.run}</td>'
            f'<td class="{css}">{label}</td><td class="num">{len(r.turns)}</td><td class="num">{p95:.0f}</td>'
            f'<td class="reasons">{why_cell}</td></tr>'
        )
    return (
        '<table class="cases"><thead><tr><th>case</th><th class="num">run</th><th>result</th>'
        '<th class="num">turns</th><th class="num">p95 ms</th><th>reasons</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _message(message: Message) -> str:
    author = message.author if message.author in AUTHORS else "other"
    return (
        f'<div class="msg {author}"><div class="who">{escape(message.author)}</div>'
        f"<pre>{escape(message.body)}</pre></div>"
    )


def _turn(number: int, turn: TurnRecord, kind: str) -> str:
    replies = "".join(_message(m) for m in turn.replies)
    if not replies:
        replies = (
            '<div class="none">understanding only: no reply</div>'
            if kind == "extraction"
            else '<div class="none">no reply</div>'
        )
    problems = (
        '<ul class="problems failures">' + "".join(f"<li>{escape(p)}</li>" for p in turn.problems) + "</ul>"
        if turn.problems
        else ""
    )
    return (
        f'<div class="turn{" bad" if turn.problems else ""}">'
        f'<div class="ms">turn {number} · {turn.ms:.0f} ms</div>'
        f"{_message(Message('customer', turn.user))}{replies}{problems}</div>"
    )


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _comparison(expected: dict[str, Any], actual: dict[str, Any]) -> str:
    """One row per field: expected and actual side by side; rows whose values differ are highlighted."""
    wanted, got = _flatten(expected), _flatten(actual)
    keys = list(wanted) + [key for key in got if key not in wanted]
    if not keys:
        return '<p class="none">No expected or actual values recorded.</p>'
    rows = []
    for key in keys:
        has_wanted, has_got = key in wanted, key in got
        differs = has_wanted and wanted[key] != got.get(key)
        expected_cell = escape(_value(wanted[key])) if has_wanted else '<span class="none">not graded</span>'
        actual_cell = escape(_value(got[key])) if has_got else '<span class="none">missing</span>'
        rows.append(
            f'<tr class="field{" differs" if differs else ""}"><td class="mono">{escape(key)}</td>'
            f'<td class="mono expected">{expected_cell}</td><td class="mono actual">{actual_cell}</td></tr>'
        )
    return (
        '<table class="comparison"><thead><tr><th>field</th><th>expected</th><th>actual</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _list(css: str, title: str, items: Sequence[str]) -> str:
    if not items:
        return ""
    return f'<h4>{escape(title)}</h4><ul class="{css}">' + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def _failed_case(index: int, r: CaseResult) -> str:
    css, label = _status(r)
    transcript = (
        "".join(_turn(number, turn, r.kind) for number, turn in enumerate(r.turns, start=1))
        or '<p class="none">No turns ran.</p>'
    )
    raw = json.dumps({"expected": r.expected, "actual": r.actual}, indent=2, ensure_ascii=False, default=str)
    error = f'<h4>Error</h4><pre class="error">{escape(r.error)}</pre>' if r.error else ""
    return (
        f'<section class="case failed-case" id="run-{index}">'
        f'<h3><span class="mono">{escape(r.case_id)}</span> · run {r.run} · <span class="{css}">{label}</span></h3>'
        f'<div class="meta">{escape(r.kind)} · {escape(r.path)} · categories: {escape(", ".join(r.categories))}'
        f" · graded {r.graded}, matched {r.matched}</div>"
        f'<div class="columns"><div class="transcript"><h4>Transcript</h4>{transcript}</div>'
        f'<div class="values"><h4>Expected and actual</h4>{_comparison(r.expected, r.actual)}'
        f"{error}{_list('violations', 'Violations', r.violations)}{_list('failures', 'Failures', r.failures)}"
        f"<details><summary>as JSON</summary><pre>{escape(raw)}</pre></details></div></div></section>"
    )

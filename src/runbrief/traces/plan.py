"""Read a free-form markdown plan into steps that can be checked against a trace.

A step is a list item (numbered or bulleted, nested or not, ``- [ ]`` task items too).
Numbered items promise an order; bulleted ones do not. What a step can be checked by:

- backticked references: a route (``/cart``, ``GET /cart``), a URL, a function
  (``load_cart()``, ``cart.load_items``), a file (``app/cart.py``), a SQL statement
  (its tables and verb), or a bare name (a table, service, span name or queue); the
  word after it may say which (``the `orders` table``, ``the `payments` service``);
- a budget: ``< 200 ms``, ``≤ 2 s``, ``under 150ms``, ``within 1 s``, ``at most 50 ms``,
  ``budget: 300 ms``. A budget outside any list item (a heading, a paragraph) is the
  budget of the whole trace;
- a count: ``in one query``, ``a single call``, ``once``, ``twice``, ``at most 3
  requests``, ``no more than 2 queries``, ``never``: checked against how many matching
  spans the trace holds (queries count DB spans, the rest the step's own spans);
- failing those, a kind word (database, query, cache, HTTP, queue, LLM) that makes a
  weak, category-level match.

Parsing is markdown-it's (the CommonMark parser rich already uses), so a list inside a
code fence is not mistaken for steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt

from runbrief import trust
from runbrief.errors import UsageError

__all__ = ["Ref", "Step", "Plan", "parse_plan", "read_plan", "parse_budget", "parse_count", "STEP_EXAMPLE"]

STEP_EXAMPLE = (
    "A step is a markdown list item, optionally with backticked references and a budget, e.g.\n"
    "  1. Handle `GET /cart` (< 300 ms)\n"
    "  2. Load the lines from the `cart_items` table in one query\n"
    "  3. Call `pricing.quote()` once for the whole cart\n"
    "  - Never call the `payments` service"
)

_BUDGET = re.compile(
    r"(?:<=?|≤|\bunder\b|\bwithin\b|\bat most\b|\bbelow\b|\bless than\b|\bmax(?:imum)?\b|\bbudget\b\s*[:=]?)"
    r"\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?)\b",
    re.I,
)
# A promised count: "in one query", "a single call", "once", "twice", "at most 3 requests",
# "no more than 2 queries", "≤ 1 call", "never". The unit says what is counted: queries count
# DB spans, anything else the step's own matching spans.
_NUMBERS = {"no": 0, "zero": 0, "one": 1, "a single": 1, "single": 1, "a": 1, "two": 2, "three": 3, "four": 4,
            "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
_UNIT = r"(?P<unit>quer(?:y|ies)|statements?|selects?|round[- ]trips?|calls?|requests?|times|fetch(?:es)?|lookups?|hits?)"
_COUNT = re.compile(
    r"(?:(?P<bound>\bat most\b|\bno more than\b|\bup to\b|<=|≤|\bmax(?:imum)?(?: of)?\b|\bonly\b)\s*)?"
    r"\b(?P<n>\d+|no|zero|one|a single|single|a|two|three|four|five|six|seven|eight|nine|ten)\s+"
    r"(?:(?:db|database|sql|http|api|network|separate|batched?|bulk)\s+)?" + _UNIT + r"\b",
    re.I,
)
_ADVERB = re.compile(r"\b(?P<w>once|twice|never)\b", re.I)
_ADVERB_N = {"once": 1, "twice": 2, "never": 0}
_KIND_WORDS = {
    "db": r"\b(?:database|db|sql|query|queries|select|insert|update|delete)\b",
    "cache": r"\b(?:cache|cached|redis|memcached)\b",
    "http_client": r"\b(?:http|api call|request to|fetch(?:es)? from|endpoint)\b",
    "messaging": r"\b(?:queue|publish|kafka|rabbitmq|sqs|message)\b",
    "genai": r"\b(?:llm|model|prompt|completion|embedding)\b",
}
_HINTS = {"table": "table", "tables": "table", "service": "service", "function": "function", "method": "function",
          "endpoint": "route", "route": "route", "queue": "queue", "topic": "queue", "collection": "table",
          "file": "file", "module": "file", "span": "name"}
_SQL = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH|UPSERT|REPLACE)\b", re.I)
_METHOD_ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+(/\S*)$", re.I)


@dataclass(frozen=True)
class Ref:
    kind: str  # route, url, function, file, sql, table, service, queue, name
    value: str
    method: str = ""


@dataclass
class Step:
    line: int  # 1-based line in the plan
    text: str
    ordered: bool
    list_id: int
    refs: list[Ref] = field(default_factory=list)
    budget_ms: float | None = None
    kinds: list[str] = field(default_factory=list)  # weak category matches when no refs
    max_count: int | None = None  # "in one query", "once", "at most 3 calls"
    count_unit: str = ""  # "query" (DB spans) or "call" (the step's matching spans)
    count_phrase: str = ""

    def cite(self) -> dict[str, object]:
        return {"line": self.line, "step": self.text[:200]}


@dataclass
class Plan:
    steps: list[Step]
    total_budget_ms: float | None = None
    total_budget_line: int | None = None


def parse_budget(text: str) -> float | None:
    m = _BUDGET.search(text)
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2).lower()
    return value if unit.startswith("m") else value * 1000.0


def parse_count(text: str) -> tuple[int, str, str] | None:
    """(at most how many, unit, the phrase) a step promises, or None.

    ``at most 50 ms`` is a budget, not a count (no count unit follows); a number of
    milliseconds never reads as one."""
    plain = re.sub(r"`[^`]*`", " ", text)  # what is inside backticks is a reference, not prose
    m = _COUNT.search(plain)
    if m:
        word = m.group("n").lower()
        n = int(word) if word.isdigit() else _NUMBERS.get(word)
        if n is not None and not (word == "a" and not m.group("bound") and not re.search(
                r"\b(?:in|with|using)\s+a\s+" + re.escape(m.group("unit")), plain, re.I)):
            unit = "query" if re.match(r"quer|statement|select|round", m.group("unit"), re.I) else "call"
            return n, unit, m.group(0).strip()
    m = _ADVERB.search(plain)
    if m:
        return _ADVERB_N[m.group("w").lower()], "call", m.group(0)
    return None


def classify(code: str, hint: str = "") -> Ref:
    v = code.strip()
    if m := _METHOD_ROUTE.match(v):
        return Ref("route", m.group(2), m.group(1).upper())
    if v.startswith("/"):
        return Ref("route", v)
    if re.match(r"^https?://", v, re.I):
        return Ref("url", v)
    if _SQL.match(v):
        return Ref("sql", v)
    if v.endswith(")") and "(" in v:
        return Ref("function", v[: v.index("(")])
    if re.search(r"\.(py|js|ts|go|rb|java|rs|kt|php|cs)$", v):
        return Ref("file", v)
    if hint in ("table", "service", "function", "route", "queue", "file"):
        return Ref(hint, v.lstrip("/") if hint != "route" else v)
    return Ref("name", v)


def read_plan(plan: str) -> str:
    """The plan's markdown: ``plan`` is a path to a file, or the markdown itself (the only
    form a remote caller may send: ``runbrief.trust``)."""
    if not plan or not plan.strip():
        raise UsageError("give a plan: a path to a markdown file or its text. " + STEP_EXAMPLE)
    if "\n" not in plan and len(plan) < 4096:
        if trust.origin() is not None:
            # A remote caller's one line is text, never a path to probe; one that is plainly
            # a path (no space, a plan's suffix or rooted) is refused rather than misread.
            if " " not in plan.strip() and (Path(plan).suffix.lower() in (".md", ".markdown", ".txt")
                                            or plan.startswith(("/", "./", "../", "~"))):
                trust.refuse_file("a plan", "send the plan's markdown text instead")
            return plan
        p = Path(plan).expanduser()
        if p.is_file():
            try:
                return p.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise UsageError(f"cannot read the plan {p}: {exc}") from exc
        if p.suffix.lower() in (".md", ".markdown", ".txt") or "/" in plan:
            raise UsageError(f"no plan file at {p}; pass an existing markdown file or the plan's text")
    return plan


def parse_plan(text: str) -> Plan:
    tokens = MarkdownIt("commonmark").parse(text)
    steps: list[Step] = []
    plan = Plan(steps)
    lists: list[tuple[bool, int]] = []  # (ordered, id) of the open lists
    next_list = 0
    in_item = 0
    for i, tok in enumerate(tokens):
        if tok.type in ("ordered_list_open", "bullet_list_open"):
            lists.append((tok.type == "ordered_list_open", next_list))
            next_list += 1
        elif tok.type in ("ordered_list_close", "bullet_list_close"):
            lists.pop()
        elif tok.type == "list_item_open":
            in_item += 1
        elif tok.type == "list_item_close":
            in_item -= 1
        elif tok.type == "inline" and tok.map is not None:
            content = tok.content.strip()
            first_in_item = in_item and i >= 2 and tokens[i - 2].type == "list_item_open"
            if in_item and lists and first_in_item:
                steps.append(_step(tok, content, lists[-1]))
            elif in_item and steps:
                extra = _step(tok, content, lists[-1])  # a later paragraph of the same item
                steps[-1].refs += extra.refs
                steps[-1].budget_ms = steps[-1].budget_ms or extra.budget_ms
                if steps[-1].max_count is None and extra.max_count is not None:
                    steps[-1].max_count, steps[-1].count_unit = extra.max_count, extra.count_unit
                    steps[-1].count_phrase = extra.count_phrase
            elif plan.total_budget_ms is None and (b := parse_budget(content)) is not None:
                plan.total_budget_ms, plan.total_budget_line = b, tok.map[0] + 1
    if not steps:
        raise UsageError("the plan has no steps. " + STEP_EXAMPLE)
    return plan


def _step(tok: object, content: str, lst: tuple[bool, int]) -> Step:
    line = tok.map[0] + 1  # type: ignore[attr-defined]
    text = re.sub(r"^\[[ xX]\]\s*", "", content)
    step = Step(line, " ".join(text.split()), lst[0], lst[1], budget_ms=parse_budget(text))
    children = tok.children or []  # type: ignore[attr-defined]
    for j, ch in enumerate(children):
        if ch.type != "code_inline":
            continue
        after = children[j + 1].content if j + 1 < len(children) and children[j + 1].type == "text" else ""
        before = children[j - 1].content if j > 0 and children[j - 1].type == "text" else ""
        word_after = re.match(r"\s*(\w+)", after)
        word_before = re.search(r"(\w+)\s*$", before)
        hint = _HINTS.get(word_after.group(1).lower(), "") if word_after else ""
        if not hint and word_before:
            hint = _HINTS.get(word_before.group(1).lower(), "")
        step.refs.append(classify(ch.content, hint))
    if not step.refs:
        step.kinds = [k for k, rx in _KIND_WORDS.items() if re.search(rx, text, re.I)]
    if (count := parse_count(text)) is not None:
        step.max_count, step.count_unit, step.count_phrase = count
    return step

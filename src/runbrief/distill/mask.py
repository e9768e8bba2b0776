"""Masking: find the variable parts of a log message before mining.

Masking works on whitespace tokens, because that is where values live and because a
token-level check is cheap (most tokens are words: no digit, no ``/``, ``@`` or ``:``,
nothing to do). A token is tried whole first (its wrapping ``(...)``, quotes and trailing
punctuation set aside), then, if it is compound (``uid=0``, ``(HWID=1973)``,
``[instance:``), part by part between delimiters. *Phrase* rules run on the whole
message first, for values that span blanks (``Sun Jul 24 02:38:22 2005``).

The rules are general shapes, not knowledge of any one log: UUIDs, URLs, e-mails,
IPv4/IPv6 with ports, MACs, dates and times, paths, hex, numbers, numbers with units,
identifiers that carry two or more digits (``blk_-1234``, ``rdd_42_3``, ``storage1331``),
and a number hung on a word (``node-246`` -> ``node-<*>``, ``core.114`` -> ``core.<*>``).
Plain words and names such as ``alt0``, ``tty2`` or ``SOCKS5`` are left to the miner, which
judges from what varies.

Invariant the parser's cache relies on: rules treat every digit alike (``\\d``,
``[0-9a-f]``...; no rule names one digit), so two lines that differ only in their digits
mask at the same character spans. ``tests/distill/test_mask.py`` checks it.

Rules are configurable: ``Masker(disable={"path"}, extra=[MaskRule("ticket", r"TCK-\\d+")])``
(a token rule is matched against a whole token, a phrase rule is searched in the message).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MaskRule", "DEFAULT_RULES", "Masker", "WILDCARD", "Masked"]

WILDCARD = "<*>"


@dataclass(frozen=True)
class MaskRule:
    name: str
    pattern: str
    description: str = ""
    phrase: bool = False  # True: searched in the whole message (may span blanks)
    hint: tuple[str, ...] = ()  # a phrase rule runs only on messages containing one of these


_H = "[0-9a-fA-F]"
_UNITS = (
    r"(?:ns|us|µs|ms|s|sec|secs|m|min|mins|h|hr|hrs|d|b|kb|mb|gb|tb|pb|kib|mib|gib|tib|k|g|t|"
    r"bps|kbps|mbps|gbps|hz|khz|mhz|ghz|x|%)"
)
_SIZE_NUM = r"\d+(?:[.,]\d+)?"
_SIZE_UNIT = r"(?:[KMGTP]i?B|B|[Bb]ytes)"
_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
_DOW = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*"
# The last part of a dotted name that makes it code, not a host: a source extension, or a
# camelCase word (a method or field: no host label is written that way)
_NOT_CODE = (r"(?!(?:c|h|cc|cpp|cxx|hpp|hh|java|go|py|rb|js|ts|kt|scala|swift|cs|rs|php|m|mm|lua|erl|ex|exs):)"
             r"(?![a-z][\w\-]*[A-Z])")

DEFAULT_RULES: tuple[MaskRule, ...] = (
    MaskRule(
        "datetime_phrase",
        rf"\b(?:{_DOW},? +)?{_MON} +\d{{1,2}},?(?: +\d{{4}})? +\d{{1,2}}:\d\d:\d\d(?:[.,]\d+)?(?: +[A-Z]{{3,4}})?(?: +\d{{4}})?\b"
        r"|\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}[ T]\d{1,2}:\d\d:\d\d(?:[.,]\d+)?(?: ?(?:Z|[+-]\d\d:?\d\d|UTC))?(?![\w:])",
        "dates with times written with blanks (Sun Jul 24 02:38:22 2005, 2024-01-02 10:00:00)",
        phrase=True,
        hint=(":",),
    ),
    MaskRule(
        "size_phrase",
        rf"(?<![\w.]){_SIZE_NUM} ?{_SIZE_UNIT}(?: \({_SIZE_NUM} ?{_SIZE_UNIT}\))?(?![\w])",
        "data sizes with their unit, which may vary (1.2 KB, 3 MB, 1039 bytes (1.01 KB))",
        phrase=True,
        hint=("B", "bytes"),
    ),
    MaskRule(
        "bound_phrase",
        r"(?<![\w<>])[<>]=? ?\d+(?:[.,]\d+)? ?(?i:ns|us|ms|s|sec|secs|seconds?|mins?|minutes?|h|hours?|days?)\b",
        "bounds written with a unit: <1 sec, >= 5 ms",
        phrase=True,
        hint=("<", ">"),
    ),
    MaskRule(
        "http_request",
        r"(?:" + "|".join(rf"(?<=\b{m} )" for m in ("GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS"))
        + r")\S+ HTTP/\d(?:\.\d)?(?=[\s\"']|$)",
        "an HTTP request line's target and version (RFC 9112), one value: \"GET <*>\"",
        phrase=True,
        hint=("HTTP/",),
    ),
    MaskRule("uuid", rf"{_H}{{8}}-{_H}{{4}}-{_H}{{4}}-{_H}{{4}}-{_H}{{12}}", "RFC 4122 UUIDs"),
    MaskRule("url", r"[a-zA-Z][a-zA-Z0-9+.\-]{1,15}://\S+", "URLs"),
    MaskRule("email", r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+", "e-mail addresses"),
    MaskRule(
        "host_port",
        r"(?:[A-Za-z0-9](?:[\w\-]*[A-Za-z0-9])?\.)+" + _NOT_CODE + r"[A-Za-z][\w\-]*:\d{1,5}"
        r"|[A-Za-z][\w\-]*\d[\w\-]*:\d{2,5}",
        "host:port (a dotted name, or a name with a digit: node-41:9000); a dotted name whose last part "
        "is a source file's extension or a camelCase member is code and its line (ib_sm_sweep.c:520, "
        "Session.onTransact:136, state.clipTopAmount:0): the name stays, the number is a value",
    ),
    MaskRule(
        "ipv4",
        r"(?:[A-Za-z0-9][\w.\-]*)?/?\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?::\d{1,5})?",
        "IPv4 addresses, with /prefix or :port, or Java's host/address form (node-41/10.0.0.1:9000)",
    ),
    MaskRule("mac", rf"{_H}{{2}}(?:[:\-]{_H}{{2}}){{5,}}", "MAC addresses and WWNs"),
    MaskRule("ipv6", rf"\[?(?=[^\]]*\d)(?:{_H}{{0,4}}:){{2,7}}{_H}{{0,4}}(?:\]:\d{{1,5}})?\]?", "IPv6 addresses"),
    MaskRule(
        "datetime",
        r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T_:\-]\d{1,2}[:.]\d\d(?:[:.]\d\d(?:[.,:]\d+)?)?(?:Z|[+-]\d\d:?\d\d)?)?"
        r"|\d{1,2}:\d\d(?::\d\d)?(?:[.,]\d+)?",
        "dates and clock times",
    ),
    MaskRule(
        "path",
        r"(?:~|\.{1,2})?(?:/[^/\s]+){2,}/?|/\w[\w.\-]*/?|[A-Za-z]:\\\S*|\\\\\S+",
        "file system paths (and a one-component absolute path: /default-rack)",
    ),
    MaskRule("hex", rf"\d[xX]{_H}+|(?=[0-9a-fA-F]*\d)(?=[0-9a-fA-F]*[a-fA-F]){_H}{{6,}}|[a-f]{{8,}}|[A-F]{{8,}}",
             "hexadecimal values (eight hex letters without a digit too: a mask=ffffffff; no word is spelt so)"),
    MaskRule("quantity", rf"[-+<>~]?\d+(?:[.,]\d+)*(?i:{_UNITS})", "numbers glued to a unit: 12ms, 3.5GB, 80%"),
    MaskRule("number", r"[-+]?\d+(?:[.,]\d+)*", "integers and decimals"),
    MaskRule("literal", r"true|false|True|False|TRUE|FALSE|null|NULL|nil", "boolean and null literals"),
    MaskRule(
        "account",
        r"root|admin|administrator|guest|nobody",
        "the well-known account names (superuser, guest, nobody): who did it, not what happened; "
        "'Failed password for root' and '... for oracle' are one event",
    ),
    MaskRule("indexed_id", r"[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*_\d+", "names with an index: broadcast_9, rdd_4"),
    MaskRule(
        "numbered_id",
        r"(?=(?:[^\d]*\d){2})[\w.+\-#$~]*\w",
        "identifiers with two or more digits: blk_-1234, rdd_42_3, storage1331",
    ),
)

# A number hung on a word keeps the word: node-246 -> node-<*>, core.114 -> core.<*>
_SUFFIXED = re.compile(r"([A-Za-z]+[\-.#])(\d+)")
_SUFFIXED_LONG = re.compile(r"([A-Za-z]\w*[\-.#]+)(\d+(?:\.\d+)?)")
_WRAP_L = "([{<\"'`#"  # '#' too: the number of "Reader #1", "reason #8" is a value, the sign stays
_WRAP_R = ")]}>\"'`,;.:!?"
# Numbers joined by a field separator that is no delimiter of ours ("##", "~", "^"): a
# record of fields, each its own value (a key=record stays one value: the key names it)
_FIELDS = re.compile(r"-?\d+(?:[.,]\d+)?(?:([#~^])\1*-?\d+(?:[.,]\d+)?)+")
_NUM = re.compile(r"-?\d+(?:[.,]\d+)?")
_DELIMS = re.compile(r"([=:,;()\[\]{}<>\"'|@]+)")
_NEEDS_WORK = re.compile(r"[\d/@\\:]|[a-f]{8}|[A-F]{8}")
_TOKEN = re.compile(r"\S+")
_ACCOUNTS = ("root", "admin", "administrator", "guest", "nobody")
_LITERALS = frozenset(["true", "false", "True", "False", "TRUE", "FALSE", "null", "NULL", "nil", *_ACCOUNTS])
_LITERAL_IN = re.compile(r"(?<![A-Za-z0-9_])(?:true|false|null|nil|True|False|TRUE|FALSE|NULL|"
                         + "|".join(_ACCOUNTS) + r")(?![A-Za-z0-9_])")


def _absorb_angles(tok: str, spans: tuple[tuple[int, int], ...]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A ``<`` right before a value and a ``>`` right after it belong to the value.

    ``<*>`` is itself written in angle brackets, so ``vCores:<*>>`` or ``hash <<*>`` read
    as a broken placeholder; the labelled corpora (Loghub's corrected templates) write
    ``vCores:<*>``, ``<NSXPCConnection: <*>`` for ``vCores:-27>``, ``0x7fb9e1d0a2c0>``.
    The bracket then travels with the value in the parameters. A quote or any other
    character between the value and the bracket keeps the bracket (``path="<*>">``)."""
    out: list[str] = []
    new: list[tuple[int, int]] = []
    last = 0
    n = len(tok)
    for a, b in spans:
        while a > last and tok[a - 1] == "<":
            a -= 1
        while b < n and tok[b] == ">":
            b += 1
        out.append(tok[last:a])
        out.append(WILDCARD)
        new.append((a, b))
        last = b
    out.append(tok[last:])
    return "".join(out), tuple(new)


@dataclass(slots=True)
class Masked:
    """A message after masking: its tokens, and the spans (in the message) of each
    token and of each value that became ``<*>``, token by token."""

    tokens: list[str]
    token_spans: list[tuple[int, int]]
    value_spans: list[list[tuple[int, int]]]

    @property
    def shape(self) -> str:
        return " ".join(self.tokens)


class Masker:
    """Mask variables in messages with a configurable rule list."""

    def __init__(
        self,
        rules: tuple[MaskRule, ...] | list[MaskRule] = DEFAULT_RULES,
        *,
        disable: set[str] | frozenset[str] = frozenset(),
        extra: list[MaskRule] | None = None,
    ) -> None:
        active = [r for r in (list(extra or []) + list(rules)) if r.name not in disable]
        self.rules = tuple(active)
        phrase = [r for r in active if r.phrase]
        token = [r for r in active if not r.phrase]
        self._phrases = [(re.compile(r.pattern), r.hint) for r in phrase]
        self._whole = re.compile("|".join(f"(?:{r.pattern})" for r in token)) if token else None
        self._suffixed = "numbered_id" in {r.name for r in token} or "number" in {r.name for r in token}
        self._cache: dict[str, tuple[str, tuple[tuple[int, int], ...]]] = {}
        # Every default rule needs a digit, one of / @ \ : or eight hex letters in the token; added rules may not.
        self._precheck = not extra

    def config(self) -> list[str]:
        """The active rule names (kept with the miner state, so a change is visible)."""
        return [r.name for r in self.rules]

    # ------------------------------------------------------------ tokens
    def _value(self, core: str) -> bool:
        return self._whole is not None and self._whole.fullmatch(core) is not None

    def mask_token(self, tok: str) -> tuple[str, tuple[tuple[int, int], ...]]:
        """(masked token, spans of the values inside it)."""
        hit = self._cache.get(tok)
        if hit is not None:
            return hit
        out = self._mask_token(tok)
        if out[1] and ("<" in tok or ">" in tok):
            out = _absorb_angles(tok, out[1])
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[tok] = out
        return out

    def _mask_token(self, tok: str) -> tuple[str, tuple[tuple[int, int], ...]]:
        if tok == WILDCARD or (self._precheck and not _NEEDS_WORK.search(tok) and not _LITERAL_IN.search(tok)):
            return tok, ()
        a, b = 0, len(tok)
        while a < b and tok[a] in _WRAP_L:
            a += 1
        while b > a and tok[b - 1] in _WRAP_R:
            b -= 1
        core = tok[a:b]
        if ("#" in core or "~" in core or "^" in core) and _FIELDS.fullmatch(core) and self._value(core):
            out = [tok[:a]]  # 1514038440000##7007##548365: each field a value
            spans = []
            last = a
            for m in _NUM.finditer(tok, a, b):
                out.append(tok[last : m.start()])
                out.append(WILDCARD)
                spans.append(m.span())
                last = m.end()
            out.append(tok[last:])
            return "".join(out), tuple(spans)
        if core and self._value(core):
            m = _SUFFIXED.fullmatch(core) if self._suffixed else None
            if m:
                s = a + m.end(1)
                return tok[:s] + WILDCARD + tok[b:], ((s, b),)
            return tok[:a] + WILDCARD + tok[b:], ((a, b),)
        if core and self._suffixed:
            m = _SUFFIXED_LONG.fullmatch(core)
            if m:  # instruction......0, lane-3
                s = a + m.end(1)
                return tok[:s] + WILDCARD + tok[b:], ((s, b),)
        # compound: mask the parts between delimiters, joining parts across a delimiter
        # when together they are one value (10.0.0.1:50010:Got -> <*>:Got)
        parts = _DELIMS.split(tok)
        if len(parts) == 1:
            return tok, ()
        out: list[str] = []
        spans: list[tuple[int, int]] = []
        offs = [0]
        for part in parts:
            offs.append(offs[-1] + len(part))
        i = 0
        n = len(parts)
        while i < n:
            part = parts[i]
            if i % 2 == 0 and part and (_NEEDS_WORK.search(part) or (
                    part in _LITERALS and not (part in _ACCOUNTS and parts[i + 1 : i + 2] == ["="]))):  # root=: a key
                j = min(n - 1, i + 6)
                while j > i:  # longest value starting at part i
                    # a value ends on a part, not on a delimiter run (path="/a/b"> keeps the ">)
                    if j % 2 == 0 and parts[j] and self._value(tok[offs[i] : offs[j + 1]]):
                        break
                    j -= 1
                if j > i:
                    out.append(WILDCARD)
                    spans.append((offs[i], offs[j + 1]))
                    i = j + 1
                    continue
                if self._value(part):
                    m = _SUFFIXED.fullmatch(part) if self._suffixed else None
                    if m:
                        out.append(m.group(1) + WILDCARD)
                        spans.append((offs[i] + m.end(1), offs[i + 1]))
                    else:
                        out.append(WILDCARD)
                        spans.append((offs[i], offs[i + 1]))
                    i += 1
                    continue
            out.append(part)
            i += 1
        return "".join(out), tuple(spans)

    # ------------------------------------------------------------ messages
    def _find_phrases(self, message: str) -> list[re.Match[str]]:
        """Matches of the phrase rules that apply, leftmost first, without overlaps
        (at one start the rule listed first wins)."""
        found: list[re.Match[str]] = []
        for k, (rx, hint) in enumerate(self._phrases):
            if hint and not any(h in message for h in hint):
                continue
            found.extend(rx.finditer(message))
            if k and len(found) > 1:
                found.sort(key=lambda m: m.start())
        out: list[re.Match[str]] = []
        end = -1
        for m in found:
            if m.start() >= end and m.end() > m.start():
                out.append(m)
                end = m.end()
        return out

    def mask(self, message: str, max_tokens: int = 0) -> Masked:
        """Tokens of ``message`` with values masked. With ``max_tokens``, the tokens past
        ``max_tokens - 1`` are not looked at: the rest of the message is one ``<*>`` (work
        per message stays bounded; the text is kept whole as that value)."""
        tokens: list[str] = []
        tspans: list[tuple[int, int]] = []
        vspans: list[list[tuple[int, int]]] = []
        phrases = self._find_phrases(message[:65536]) if self._phrases else []
        pi = 0
        cur = None  # the phrase the last token belongs to
        for m in _TOKEN.finditer(message):
            a, b = m.span()
            if max_tokens and len(tokens) >= max_tokens - 1 and cur is None:
                end = len(message.rstrip())
                tokens.append(WILDCARD)
                tspans.append((a, end))
                vspans.append([(a, end)])
                break
            while pi < len(phrases) and phrases[pi].end() <= a:
                pi += 1
            ph = phrases[pi] if pi < len(phrases) and phrases[pi].start() <= a else None
            if ph is not None:
                tail = message[ph.end() : b] if b > ph.end() else ""
                if cur is ph:  # a later token of the same phrase
                    tspans[-1] = (tspans[-1][0], b)
                    tokens[-1] = WILDCARD + tail
                else:
                    tokens.append(WILDCARD + tail)
                    tspans.append((a, b))
                    vspans.append([ph.span()])
                    cur = ph
                continue
            cur = None
            masked, spans = self.mask_token(message[a:b])
            tokens.append(masked)
            tspans.append((a, b))
            vspans.append([(a + s, a + e) for s, e in spans] if spans else [])
        return Masked(tokens, tspans, vspans)

    def mask_text(self, message: str) -> str:
        """``message`` with every variable written ``<*>`` (blanks collapsed)."""
        return self.mask(message).shape

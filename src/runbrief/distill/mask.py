"""Masking: find the variable parts of a log message before mining.

A rule is a named regex whose whole match is a variable, written ``<*>`` in templates.
All rules run as ONE alternation (``re`` tries them left to right at each position, so
earlier rules win), which keeps masking a single C-level pass over the line.

Rules are general shapes, not knowledge of any one log: UUIDs, URLs, e-mails, IPv4/IPv6
with ports, MACs, timestamps, paths, hex, durations and sizes with units, numbers, and
identifiers that carry numbers (``blk_-1234``, ``rdd_42_3``, ``storage1331``). What is left
(plain words, ``alt0``-style names) is for the miner to judge from what varies.

Invariant the parser's cache relies on: a rule treats every digit alike (``\\d``,
``[0-9a-f]``...; no literal digits), so two lines that differ only in which digits they
carry are masked at the same character spans. ``tests/distill/test_mask.py`` checks it.

Rules are configurable: ``Masker(disable={"path"}, extra=[MaskRule("ticket", r"TCK-\\d+")])``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MaskRule", "DEFAULT_RULES", "Masker", "WILDCARD"]

WILDCARD = "<*>"

# What may sit right before / after a masked value: start/end, blanks and punctuation.
_L = r"(?<![\w.\-+/#@$%~*])"
_R = r"(?![\w\-+/#@$%~*]|\.\w)"


@dataclass(frozen=True)
class MaskRule:
    name: str
    pattern: str
    description: str = ""


_HEX = "[0-9a-fA-F]"
_UNITS = (
    r"(?:ns|us|µs|ms|s|sec|secs|m|min|mins|h|hr|hrs|d|"
    r"b|kb|mb|gb|tb|pb|kib|mib|gib|tib|k|g|t|"
    r"bps|kbps|mbps|gbps|hz|khz|mhz|ghz|x|%)"
)

DEFAULT_RULES: tuple[MaskRule, ...] = (
    MaskRule("uuid", _L + rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}" + _R, "RFC 4122 UUIDs"),
    MaskRule("url", r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,15}://[^\s\"'<>()\[\]{}]+", "URLs (scheme://...)"),
    MaskRule("email", _L + r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+" + _R, "e-mail addresses"),
    MaskRule(
        "datetime",
        r"(?:\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? +)?\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*"
        r" +\d{1,2},?(?: +\d{4})? +\d{1,2}:\d\d:\d\d(?:[.,]\d+)?(?: +\d{4}\b)?"
        r"|\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T _:\-]\d{1,2}[:.]\d\d(?:[:.]\d\d(?:[.,:]\d+)?)?"
        r"(?:Z|[+-]\d\d:?\d\d)?)?" + _R,
        "calendar dates and timestamps inside messages",
    ),
    MaskRule(
        "ipv4",
        r"(?<![\w.])/?\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?::\d{1,5})?" + _R,
        "IPv4 addresses, with /prefix or :port",
    ),
    MaskRule("mac", _L + rf"{_HEX}{{2}}(?:[:\-]{_HEX}{{2}}){{5,}}" + _R, "MAC addresses and WWNs"),
    MaskRule(
        "ipv6",
        r"(?<![\w:.])\[?(?:" + _HEX + r"{1,4}:){2,7}(?::|" + _HEX + r"{1,4})(?:\]?:\d{1,5})?(?![\w:])",
        "IPv6 addresses",
    ),
    MaskRule("time", _L + r"\d{1,2}:\d\d(?::\d\d)?(?:[.,]\d+)?" + _R, "clock times"),
    MaskRule(
        "path",
        r"(?<![\w.\-/:\\])(?:[A-Za-z]:\\[^\s\"'<>|*?]+|(?:~|\.{1,2})?(?:/[\w.\-+@%~$#]+){2,}/?)",
        "file system paths (two or more components)",
    ),
    MaskRule("hex", _L + rf"(?:0[xX]{_HEX}+|#?{_HEX}*\d{_HEX}*[a-fA-F]{_HEX}*|{_HEX}*[a-fA-F]{_HEX}*\d{_HEX}*)" + _R,
             "hexadecimal values (0x..., or mixing hex letters and digits)"),
    MaskRule(
        "quantity",
        _L + r"[-+]?\d+(?:[.,]\d+)*(?i:" + _UNITS + r")(?![\w\-+/#@$%~*])",
        "numbers glued to a unit: 12ms, 3.5GB, 80%",
    ),
    MaskRule("number", _L + r"[-+]?\d+(?:[.,]\d+)*" + _R, "integers and decimals"),
    MaskRule(
        "numbered_id",
        _L + r"(?:[A-Za-z]+[_\-.]?)*[-+]?\d[\w\-+.:]*?\d(?:[_\-.]\w+)*" + _R,
        "identifiers with two or more digits: blk_-1234, rdd_42_3, storage1331, 30546_3215",
    ),
)


class Masker:
    """Mask variables in messages with a configurable rule list."""

    def __init__(self, rules: tuple[MaskRule, ...] | list[MaskRule] = DEFAULT_RULES,
                 *, disable: set[str] | frozenset[str] = frozenset(), extra: list[MaskRule] | None = None) -> None:
        active = [r for r in (list(extra or []) + list(rules)) if r.name not in disable]
        self.rules = tuple(active)
        if active:
            self.regex: re.Pattern[str] | None = re.compile("|".join(f"(?:{r.pattern})" for r in active))
        else:
            self.regex = None

    def spans(self, message: str) -> list[tuple[int, int]]:
        """Character spans of the variables in ``message``, left to right."""
        if self.regex is None:
            return []
        return [m.span() for m in self.regex.finditer(message)]

    def mask(self, message: str) -> str:
        """``message`` with every variable replaced by ``<*>``."""
        if self.regex is None:
            return message
        return self.regex.sub(WILDCARD, message)

    def config(self) -> list[str]:
        """The active rule names (stored with the miner state, so a change is visible)."""
        return [r.name for r in self.rules]

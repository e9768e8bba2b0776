"""Severity inference for lines whose source gave no level.

Two sources, in order: the words of the message (``error``, ``exception``, ``failed``,
``timeout``, ``refused``, ``denied``, ``panic``, ``OOM``, ``Traceback``...), and once a
pattern is known, the severity it was learned with (the source level most of its lines
carried). Inferred severities are stored apart from the source's own level.
"""

from __future__ import annotations

import re

__all__ = ["infer", "SEVERITY_RANK", "worse"]

SEVERITY_RANK = {"": 0, "TRACE": 1, "DEBUG": 2, "INFO": 3, "WARN": 4, "ERROR": 5, "FATAL": 6}

_FATAL = re.compile(
    r"\b(?:panic(?:ked)?|fatal|segmentation fault|segfault|out of memory|oom[- ]?kill(?:ed|er)?|OOM|"
    r"kernel panic|core dumped|emerg(?:ency)?|critical)\b",
    re.I,
)
_ERROR = re.compile(
    r"\b(?:errors?|(?:unhandled|uncaught|unexpected|an) exception|exceptions? (?:thrown|occurred|caught|raised|in)|"
    r"fail(?:s|ed|ure|ing)?|traceback|timed? ?out|timeouts?|refused|denied|"
    r"unreachable|unavailable|cannot|can't|could not|couldn't|unable to|abort(?:ed|ing)?|crash(?:ed)?|"
    r"invalid|corrupt(?:ed)?|rejected|forbidden|unauthorized|not found|no such|broken pipe|reset by peer|"
    r"severe|killed|stack ?trace)\b|\bexception:|\b[A-Z]\w*(?:Error|Exception)\b",
    re.I,
)
_WARN = re.compile(
    r"\b(?:warn(?:ing)?s?|deprecated|retry(?:ing)?|retries|slow|degraded|throttl(?:ed|ing)|high|"
    r"exceed(?:s|ed)?|low on|too many|backoff|skipp(?:ed|ing))\b",
    re.I,
)
# Phrases that name an error-ish word without reporting one.
_NEGATED = re.compile(r"\b(?:no|0|zero|without) (?:errors?|failures?|exceptions?)\b|error[-_ ]?(?:rate|count)s?\b", re.I)


def infer(message: str) -> str:
    """The severity a message's words suggest: FATAL, ERROR, WARN, or INFO."""
    text = message[:2000]
    if _NEGATED.search(text):
        text = _NEGATED.sub(" ", text)
    if _FATAL.search(text):
        return "FATAL"
    if _ERROR.search(text):
        return "ERROR"
    if _WARN.search(text):
        return "WARN"
    return "INFO"


def worse(a: str, b: str) -> str:
    return a if SEVERITY_RANK.get(a, 0) >= SEVERITY_RANK.get(b, 0) else b

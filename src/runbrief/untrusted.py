"""Text from the monitored system, made safe to hand to an agent: invisibles shown, instructions found.

A log line, a span name or a service name is written by whoever controls the monitored
code (or its input), and an agent reads it. Two things make such text dangerous beyond
its plain words, and both are handled here, once, for every place that shows telemetry
to an agent (``runbrief.agent.shaping`` for the MCP answers, ``runbrief.redact.quote``
for the brief):

- **Hidden characters.** Unicode tag characters (U+E0000 block: invisible, but models
  read them as ASCII), bidi overrides and isolates (the text displays in another order
  than it reads) and zero-width characters (they split a word so a filter misses it).
  ``neutralize`` replaces each with a visible ``<U+XXXX>`` escape.
- **Instructions to an agent.** ``injection`` finds the phrase that makes a text read as
  an instruction ("ignore previous instructions", "Disregard everything above", a
  ``SYSTEM:`` line, chat-role markup…). It looks at the text as a model would read it, so
  the usual disguises do not hide the phrase: zero-width splits and letter spacing
  (``I g n o r e``) are undone, look-alike letters are folded (NFKC, then a table of
  Cyrillic/Greek confusables), tag characters are decoded, base64 runs are decoded, and
  the phrase is known in Spanish, French, German, Italian, Portuguese, Chinese, Russian
  and Japanese as well as English.

Cost: the folded forms are built only when the text holds something to fold (non-ASCII,
digits inside words, base64-like runs); plain ASCII lines take one regex pass. False
positives are measured on the Loghub lines (tests/test_untrusted.py: none in 18,000).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

__all__ = ["injection", "neutralize", "fold", "has_hidden", "defuse_markers", "FENCE_MARKER"]

# --------------------------------------------------------------- hidden characters
_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u2061\u2062\u2063\u2064"
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_HIDDEN = re.compile(f"[{_ZERO_WIDTH}{_BIDI}\U000e0000-\U000e007f]")


def has_hidden(text: str) -> bool:
    """Whether ``text`` holds a tag, bidi-control or zero-width character."""
    return _HIDDEN.search(text) is not None


_ESCAPED = re.compile(r"<U\+[0-9A-F]{4,5}>")


def neutralize(text: str) -> str:
    """``text`` with every hidden character replaced by a visible ``<U+XXXX>`` escape.

    Visible rather than dropped: a reader (or an agent) should see that something was
    hidden there, and dropping a zero-width joiner could silently join two words.
    """
    if not _HIDDEN.search(text):
        return text
    return _HIDDEN.sub(lambda m: f"<U+{ord(m.group(0)):04X}>", text)


# --------------------------------------------------------------- folding
# Letters that look like Latin ones (Unicode's confusables.txt, the common subset seen in
# phishing and prompt-injection kits): after NFKC, which already folds fullwidth forms,
# mathematical alphanumerics and ligatures.
_CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
    "ɡ": "g", "һ": "h", "ո": "n", "ս": "u", "ց": "g", "օ": "o",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
    "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    # Greek
    "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    # Latin look-alikes and punctuation that stands in for '<', '>' and '/'
    "ı": "i", "ȷ": "j", "ℓ": "l", "‹": "<", "›": ">", "〈": "<", "〉": ">", "⟨": "<", "⟩": ">",
    "⁄": "/", "∕": "/", "⧸": "/", "＜": "<", "＞": ">", "﹤": "<", "﹥": ">",
})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
# Words worth reading as leetspeak: only these start an instruction (a hex ID never does).
_LEET_STEMS = ("ignor", "disregard", "forget", "previous", "prior", "instruct", "system", "prompt", "override",
               "bypass", "jailbreak", "assistant")
_TAGS = re.compile("[\U000e0020-\U000e007e]+")
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W\d_][ |._\-*]){3,}[^\W\d_](?![^\W_])")
_LEETWORD = re.compile(r"\b(?=\w*[a-z])(?=\w*[013457])[a-z013457]{4,}\b", re.IGNORECASE)


def _untag(m: re.Match[str]) -> str:
    """A run of tag characters as the ASCII it hides, set apart as words of its own."""
    run = "".join(chr(ord(c) - 0xE0000) for c in m.group(0))
    return f" {run} " if len(run) > 1 else run


def fold(text: str) -> str:
    """``text`` as a model reads it: tags decoded, invisibles dropped, look-alikes folded."""
    if text.isascii():
        return text
    out = _TAGS.sub(_untag, text)
    out = _HIDDEN.sub("", out)
    out = unicodedata.normalize("NFKC", out).translate(_CONFUSABLES)
    # Combining marks that decorate Latin letters ("ïgnöre") would survive NFKC.
    if not out.isascii():
        out = "".join(c for c in unicodedata.normalize("NFKD", out) if not unicodedata.combining(c))
    return out


# --------------------------------------------------------------- instructions
_EN = (
    r"\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.\n]{0,40}?"
    r"\b(?:previous|prior|above|earlier|all|your|the|system|preceding|any)\b"
    r"[^.\n]{0,20}?\b(?:instructions?|prompts?|rules|messages|directions|directives|guidelines|context|orders)\b"
    r"|\b(?:ignore|disregard|forget)\s+(?:everything|anything|all(?:\s+of)?(?:\s+(?:the|this|that))?(?:\s+text)?)"
    r"\s+(?:above|before|prior|previously|earlier|so\s+far|you\s+(?:were|have\s+been)\s+told)\b"
    r"|\byou\s+are\s+now\b"
    r"|\b(?:new|updated|real|important)\s+(?:new\s+)?(?:system\s+)?instructions?\b\s*[:*!]"
    r"|\bsystem\s+(?:prompt|override)\b"
    r"|\b(?:act|behave)\s+as\s+(?:an?\s+)?(?:ai|assistant|agent|admin|root|developer)\b"
    r"|\b(?:do\s+not|don't)\s+(?:tell|inform|alert)\s+the\s+(?:user|human|operator)\b"
    r"|\b(?:developer|jailbreak|dan)\s+mode\b"
    r"|\A\s*(?:system|assistant|user|human)\s*:"
    r"|^[ \t]*(?:system|assistant)\s*:"
    r"|(?-i:\b(?:SYSTEM|ASSISTANT)\b)\s*:\s*(?:you\b|ignore|disregard|from\s+now|new\s+instructions|always\b|never\b"
    r"|do\s+not|don't|delete|run\b|execute)"
    r"|\[\s*system\s*(?:override|prompt|message)?\s*\]"
    r"|<\|(?:im_start|im_end|system|user|assistant|endoftext)\|>|\[/?INST\]|<</?SYS>>"
    r"|</?(?:tool_call|tool_use|function_calls?|invoke|parameter|tool_result)\b"
    r"|\"(?:tool_calls|function_call)\"\s*:|\{\s*\"name\"\s*:\s*\"[^\"]+\"\s*,\s*\"(?:arguments|parameters|input)\"\s*:"
    r"|\b(?:run|execute)\s+(?:the\s+following|this)\s+(?:command|code|script)\b"
    r"|\bcurl\s+[^|\n]+\|\s*(?:ba|z)?sh\b"
    r"|\b(?:dear|attention|hey|hi|note\s+to|message\s+(?:to|for)|instructions?\s+(?:to|for))\s+(?:the\s+|any\s+|all\s+)?"
    r"(?:ai|llm|llms|assistant|agent|agents|model|claude|gpt|chatgpt|copilot|cursor|codex|gemini)\b"
)
# "Ignore the previous instructions" in other languages, as the multilingual kits write it.
_OTHER = (
    # Spanish / Portuguese / Italian
    r"\b(?:ignora|ignorar|ignoren|ignorad|olvida|olvide|descarta|esquece|esqueça|dimentica)\w*\b[^.\n]{0,30}?"
    r"\b(?:instrucciones|instruções|instrucoes|istruzioni|indicaciones|reglas|regras|regole)\b"
    # French
    r"|\b(?:ignore[rz]|oublie[rz]?)\b[^.\n]{0,30}?\b(?:instructions|consignes|règles|regles|directives)\b"
    # German
    r"|\b(?:ignorier\w*|vergiss|vergessen\s+sie|missachte\w*)\b[^.\n]{0,30}?"
    r"\b(?:anweisungen|instruktionen|befehle|regeln|vorgaben)\b"
    # Russian
    r"|(?:игнорир\w*|проигнорир\w*|забудь\w*|забудьте|не\s+обращай\w*)[^.\n]{0,30}?"
    r"(?:инструкци\w*|указани\w*|правил\w*|команд\w*)"
    # Chinese (simplified and traditional)
    r"|(?:忽略|无视|無視|忽视|忽視|不要理会|忘记|忘記)[^。\n]{0,12}?(?:指令|指示|说明|說明|提示|规则|規則)"
    # Japanese
    r"|(?:指示|命令|プロンプト|ルール)[^。\n]{0,12}?(?:無視|忘れ)"
)
_INJECTION = re.compile(f"(?im){_EN}")
_INJECTION_OTHER = re.compile(f"(?im){_OTHER}")
# An ASCII text can hold the other languages' phrase only with one of these verbs.
_OTHER_ASCII_STEMS = ("ignor", "olvid", "oubli", "vergiss", "vergessen", "descart", "esquec", "dimentic", "missacht")
_B64 = re.compile(r"[A-Za-z0-9+/]{16,}={0,2}|[A-Za-z0-9_-]{16,}={0,2}")
# A marker of the fence that holds untrusted text, in any disguise: spaces, look-alike
# brackets (after folding), HTML entities.
FENCE_MARKER = re.compile(r"(?:<|&lt;|&#0*60;|&#x0*3c;)\s*/?\s*untrusted", re.IGNORECASE)


def defuse_markers(text: str, *, keep_exact: bool = False) -> str:
    """``text`` with every fence marker, however disguised, made harmless.

    ``</untrusted-data>`` inside fenced text would end the fence early; so would a
    look-alike (``＜/untrusted-data＞``, ``‹/untrusted``, ``&lt;/untrusted``, one with a
    zero-width or Cyrillic letter inside), since a model reads them alike. Each is found in
    the folded text and its opening bracket replaced by ``(`` in the original.
    ``keep_exact`` leaves the tag as runbrief writes it (``<untrusted-data``,
    ``</untrusted-data``): outside a fence, in runbrief's own prose, only a disguise can
    pass for a fence.
    """
    if text.isascii() and "untrusted" not in text.lower():
        return text
    folded: list[str] = []
    where: list[int] = []
    for i, c in enumerate(text):
        f = fold(c) if not c.isascii() else c
        folded.append(f)
        where.extend([i] * len(f))
    flat = "".join(folded)
    cuts = [(where[m.start()], where[m.start()] + 1) for m in FENCE_MARKER.finditer(flat)]
    if keep_exact:
        cuts = [c for c in cuts if not text.startswith(("<untrusted-data", "</untrusted-data"), c[0])]
    if not cuts:
        return text
    out, last = [], 0
    for start, _ in cuts:
        end = start + 1
        if text.startswith("&", start):  # an entity: replace all of it
            end = text.index(";", start) + 1
        out.append(text[last:start])
        out.append("(")
        last = end
    out.append(text[last:])
    return "".join(out)


def _unspace(text: str) -> str:
    """``I g n o r e  a l l`` → ``Ignore all``: letters spaced or piped apart, joined."""
    return _SPACED.sub(lambda m: re.sub(r"[ |._\-*]", "", m.group(0)), text)


def _decoded_runs(text: str) -> list[str]:
    """Base64 runs of ``text`` that decode to readable text (a hidden instruction)."""
    out = []
    for m in _B64.finditer(text):
        run = m.group(0)
        if len(run) % 4 == 1 or run.isalpha() or run.isdigit():
            continue
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4), altchars=b"-_" if ("-" in run or "_" in run) else None)
        except (binascii.Error, ValueError):
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded and sum(c.isprintable() or c.isspace() for c in decoded) / len(decoded) > 0.95 \
                and " " in decoded:
            out.append(decoded)
    return out


def _search(text: str) -> str | None:
    m = _INJECTION.search(text)
    if m is None:
        if text.isascii():
            low = text.lower()
            if not any(stem in low for stem in _OTHER_ASCII_STEMS):
                return None
        m = _INJECTION_OTHER.search(text)
    return m.group(0).strip()[:80] if m else None


def injection(text: str) -> str | None:
    """The phrase that makes ``text`` read as an instruction to an agent, or None.

    Checked as written, then as a model would read it (folded, letters joined, leetspeak
    read as letters, base64 runs decoded), so a disguise does not hide the phrase.
    """
    if not text:
        return None
    found = _search(text)
    if found:
        return found
    variants: list[str] = []
    if "<U+" in text:  # hidden characters already shown as escapes (``neutralize``): read through them
        text = _ESCAPED.sub("", text)
        variants.append(text)
    folded = fold(text)
    if folded != text:
        variants.append(folded)
    spaced = _unspace(folded)
    if spaced != folded:
        variants.append(spaced)
    leet = [m.group(0).translate(_LEET).lower() for m in _LEETWORD.finditer(spaced)]
    if any(w.startswith(_LEET_STEMS) for w in leet):
        variants.append(_LEETWORD.sub(lambda m: m.group(0).translate(_LEET), spaced))
    if len(text) >= 16:
        variants.extend(_decoded_runs(folded))
    for v in variants:
        found = _search(v)
        if found:
            return found
    return None

"""An optional narrative for an incident, written by a language model from structured data only.

Configured by environment variables, first match wins:

    OPENAI_BASE_URL / OPENAI_API_KEY  an OpenAI-compatible chat-completions endpoint
                                      (model: RUNBRIEF_LLM_MODEL, default gpt-4o-mini)
    ANTHROPIC_API_KEY                 the Anthropic Messages API (ANTHROPIC_BASE_URL optional;
                                      model: RUNBRIEF_LLM_MODEL, default claude-3-5-haiku-latest)
    RUNBRIEF_LLM=off                  never call a model

The model sees the incident's generated claims, cause, impact, timeline and IDs — never log
lines, templates or quotes — so raw logs and anything written in them to steer an agent
never reach it. Each sentence it writes must cite evidence IDs of this incident; a sentence
citing none, or citing an ID the incident does not have, is dropped. Without a model the
deterministic diagnosis stands alone; when the endpoint fails the diagnosis stands and the
failure is noted. Narratives are cached per incident version in the store.
"""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from runbrief.redact import redact
from runbrief.store.duck import Store

__all__ = ["config", "for_incident", "filter_sentences", "SYSTEM_PROMPT"]

TIMEOUT_S = 30.0
SYSTEM_PROMPT = (
    "You write a short incident narrative (3 to 5 sentences) for an on-call engineer, using only the "
    "structured incident JSON you are given. End every sentence with the evidence IDs it rests on in "
    "square brackets, e.g. [pat_3f2a, dep_7], copied exactly from the JSON. State only what the JSON "
    "supports; do not invent causes, fixes, code changes or IDs."
)
_ID = re.compile(r"\b(?:pat|log|dep|evt|trc|spn|inc)_[0-9A-Za-z]+\b")
_SENTENCE = re.compile(r"(?<=[.!?\]])\s+(?=[A-Z(\"'])")


def config() -> dict[str, str] | None:
    """The configured provider, or None."""
    if os.environ.get("RUNBRIEF_LLM", "").lower() in ("off", "0", "false", "no"):
        return None
    model = os.environ.get("RUNBRIEF_LLM_MODEL", "")
    if os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_KEY"):
        return {"provider": "openai", "base_url": (os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1")
                .rstrip("/"), "api_key": os.environ.get("OPENAI_API_KEY", ""), "model": model or "gpt-4o-mini"}
    if os.environ.get("ANTHROPIC_API_KEY"):
        return {"provider": "anthropic", "base_url": (os.environ.get("ANTHROPIC_BASE_URL") or
                                                      "https://api.anthropic.com").rstrip("/"),
                "api_key": os.environ["ANTHROPIC_API_KEY"], "model": model or "claude-3-5-haiku-latest"}
    return None


def _input(inc: dict[str, Any]) -> dict[str, Any]:
    """What the model may see: generated text and IDs only (no quotes, templates or examples)."""
    keep = ("id", "title", "service", "status", "impact", "impact_parts", "started_at", "last_seen",
            "affected_services", "deploy", "cause", "claims", "timeline")
    data = {k: inc.get(k) for k in keep}
    if isinstance(data.get("cause"), dict):
        data["cause"] = {k: v for k, v in data["cause"].items() if k in ("name", "label", "fix", "evidence")}
    return data


def allowed_ids(inc: dict[str, Any]) -> set[str]:
    out = {inc["id"]}
    for c in inc.get("claims") or []:
        out.update(c["evidence"])
    if inc.get("deploy"):
        out.add(inc["deploy"]["id"])
    return out


def filter_sentences(text: str, allowed: set[str]) -> tuple[str, int, int]:
    """Keep the sentences that cite at least one allowed ID and no unknown one: (text, kept, dropped)."""
    kept, dropped = [], 0
    for sentence in (s.strip() for s in _SENTENCE.split(" ".join(text.split())) if s.strip()):
        cited = set(_ID.findall(sentence))
        if cited and cited <= allowed:
            kept.append(sentence)
        else:
            dropped += 1
    return " ".join(kept), len(kept), dropped


def _call(cfg: dict[str, str], payload: str) -> str:
    if cfg["provider"] == "openai":
        headers = {"Authorization": f"Bearer {cfg['api_key']}"} if cfg["api_key"] else {}
        r = httpx.post(f"{cfg['base_url']}/chat/completions", headers=headers, timeout=TIMEOUT_S, json={
            "model": cfg["model"], "temperature": 0, "max_tokens": 400,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": payload}]})
        r.raise_for_status()
        return str(r.json()["choices"][0]["message"]["content"])
    r = httpx.post(f"{cfg['base_url']}/v1/messages", timeout=TIMEOUT_S, json={
        "model": cfg["model"], "max_tokens": 400, "system": SYSTEM_PROMPT,
        "messages": [{"role": "user", "content": payload}]},
        headers={"x-api-key": cfg["api_key"], "anthropic-version": "2023-06-01"})
    r.raise_for_status()
    return "".join(b.get("text", "") for b in r.json()["content"] if b.get("type") == "text")


def for_incident(store: Store, inc: dict[str, Any]) -> dict[str, Any] | None:
    """The narrative for an incident (``{"text", "model", "kept", "dropped"}``), a noted failure, or None."""
    cfg = config()
    if cfg is None:
        return None
    payload = orjson.dumps(_input(inc), option=orjson.OPT_SORT_KEYS).decode()
    version = hashlib.blake2b(f"{cfg['model']}\n{payload}".encode(), digest_size=8).hexdigest()
    key = int(inc["id"].removeprefix("inc_"))
    cached = store.query("SELECT model, text, dropped FROM incident_narratives WHERE incident_id = ? AND version = ?",
                         [key, version])
    if cached:
        c = cached[0]
        return {"text": c["text"], "model": c["model"], "dropped": c["dropped"], "cached": True}
    try:
        raw = _call(cfg, payload)
    except (httpx.HTTPError, KeyError, IndexError, TypeError, ValueError) as exc:
        return {"text": None, "model": cfg["model"],
                "error": f"the language model at {cfg['base_url']} failed ({type(exc).__name__}: {exc}); "
                         "the deterministic diagnosis above stands on its own"}
    text, kept, dropped = filter_sentences(redact(raw), allowed_ids(inc))
    if not store.read_only:
        with store.write() as con:
            con.execute("INSERT OR REPLACE INTO incident_narratives VALUES (?, ?, ?, ?, ?, ?)",
                        [key, version, cfg["model"], text, dropped, datetime.now(UTC).replace(tzinfo=None)])
    return {"text": text or None, "model": cfg["model"], "kept": kept, "dropped": dropped, "cached": False}

"""What a model call costs: a price table in USD per million tokens, overridable in config.

The defaults are the providers' published list prices for common models (mid-2025);
prices change, so ``runbrief.toml`` can override or add entries::

    [prices]
    "gpt-4o" = { input = 2.5, output = 10.0 }      # USD per 1M tokens
    "my-finetune" = [0.3, 1.2]                       # [input, output]
    "llama3" = 0                                     # local: free
    "claude-sonnet-4" = { input = 3, output = 15, cache_read = 0.3, cache_write = 3.75 }

Cached input tokens (``gen_ai.usage.cache_read.input_tokens`` and cache creation, or
OpenInference's ``llm.token_count.prompt_details.cache_read``/``cache_write``) are counted
within the input tokens, as the GenAI conventions say, and priced at the cache prices:
the providers' published discounts (Anthropic reads 0.1x and writes 1.25x the input price;
OpenAI and Google bill cached reads at 0.1x-0.5x by model family and writes as input) unless
the entry names its own.

A model name matches the longest table key that prefixes it, after the provider prefix
is stripped (``openai/gpt-4o-2024-08-06`` and ``us.anthropic.claude-3-5-sonnet-…`` both
match), so dated snapshots need no entries of their own. A model with no match has no
cost (``null``) and is listed as unpriced rather than silently counted as free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["Price", "PriceTable", "DEFAULT_PRICES"]


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M input tokens
    output: float  # USD per 1M output tokens
    cache_read: float | None = None  # USD per 1M cached input tokens read (None: the input price)
    cache_write: float | None = None  # USD per 1M input tokens written to the cache (None: the input price)

    @property
    def read(self) -> float:
        return self.input if self.cache_read is None else self.cache_read

    @property
    def write(self) -> float:
        return self.input if self.cache_write is None else self.cache_write

    def cost(self, input_tokens: int | None, output_tokens: int | None, cache_read_tokens: int | None = None,
             cache_write_tokens: int | None = None) -> float:
        """Cached tokens are part of ``input_tokens``; the rest of the input is billed at the input price."""
        read, write = cache_read_tokens or 0, cache_write_tokens or 0
        fresh = max(0, (input_tokens or 0) - read - write)
        return (fresh * self.input + read * self.read + write * self.write + (output_tokens or 0) * self.output) / 1e6


DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    # OpenAI
    "gpt-5": (1.25, 10.0), "gpt-5-mini": (0.25, 2.0), "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0), "gpt-4.1-mini": (0.40, 1.60), "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0), "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.0, 30.0), "gpt-4": (30.0, 60.0), "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.0, 60.0), "o1-mini": (1.10, 4.40), "o3": (2.0, 8.0), "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "text-embedding-3-small": (0.02, 0.0), "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
    # Anthropic
    "claude-opus-4-5": (5.0, 25.0), "claude-opus-4": (15.0, 75.0), "claude-sonnet-4": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0), "claude-3-7-sonnet": (3.0, 15.0), "claude-3-5-sonnet": (3.0, 15.0),
    "claude-3-5-haiku": (0.80, 4.0), "claude-3-opus": (15.0, 75.0), "claude-3-sonnet": (3.0, 15.0),
    "claude-3-haiku": (0.25, 1.25),
    # Google
    "gemini-2.5-pro": (1.25, 10.0), "gemini-2.5-flash": (0.30, 2.50), "gemini-2.5-flash-lite": (0.10, 0.40),
    "gemini-2.0-flash": (0.10, 0.40), "gemini-1.5-pro": (1.25, 5.0), "gemini-1.5-flash": (0.075, 0.30),
    # Mistral
    "mistral-large": (2.0, 6.0), "mistral-medium": (0.40, 2.0), "mistral-small": (0.20, 0.60),
    "codestral": (0.30, 0.90),
}

# Cache prices as a fraction of the input price (read, write), by model family; the first prefix wins.
_CACHE_FACTORS: tuple[tuple[str, float, float], ...] = (
    ("claude", 0.1, 1.25),
    ("gpt-5", 0.1, 1.0), ("gpt-4.1", 0.25, 1.0), ("gpt-4o", 0.5, 1.0), ("o1", 0.5, 1.0), ("o3", 0.25, 1.0),
    ("o4", 0.25, 1.0), ("gemini-2.5", 0.25, 1.0),
)


def _with_cache(key: str, inp: float, out: float) -> Price:
    for prefix, read, write in _CACHE_FACTORS:
        if key.startswith(prefix):
            return Price(inp, out, round(inp * read, 6), round(inp * write, 6))
    return Price(inp, out)


_REGION = re.compile(r"^(?:us|eu|apac|global)\.")
_VENDOR = re.compile(r"^(?:anthropic|openai|meta|mistral|cohere|amazon|google|ai21)\.")


def canonical(model: str) -> str:
    """``openai/GPT-4o`` → ``gpt-4o``; ``us.anthropic.claude-3-5-sonnet-v1:0`` → ``claude-3-5-sonnet-v1:0``."""
    m = model.strip().lower().rsplit("/", 1)[-1]
    m = _REGION.sub("", m)
    return _VENDOR.sub("", m)


def _parse_entry(key: str, value: Any) -> Price:
    """A config entry: a number (both), [in, out], or {input=, output=}. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError("expected a number, [input, output] or {input = …, output = …}")
    if isinstance(value, int | float):
        return Price(float(value), float(value))
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return Price(float(value[0]), float(value[1]))
    if isinstance(value, dict) and set(value) <= {"input", "output", "cache_read", "cache_write"} and value:
        vals = {k: v for k, v in value.items()}
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in vals.values()):
            inp = float(vals.get("input", 0.0))
            base = _with_cache(canonical(key), inp, float(vals.get("output", 0.0)))
            read, write = vals.get("cache_read"), vals.get("cache_write")
            return Price(base.input, base.output, base.cache_read if read is None else float(read),
                         base.cache_write if write is None else float(write))
    raise ValueError("expected a number, [input, output] or {input = …, output = …, cache_read = …, "
                     "cache_write = …} in USD per 1M tokens")


class PriceTable:
    def __init__(self, overrides: dict[str, Any] | None = None, *, defaults: bool = True) -> None:
        table = {k: _with_cache(k, *v) for k, v in DEFAULT_PRICES.items()} if defaults else {}
        for key, value in (overrides or {}).items():
            table[canonical(key)] = value if isinstance(value, Price) else _parse_entry(key, value)
        self._table = table
        # Longest key first so "gpt-4o-mini" wins over "gpt-4o" and "gpt-4".
        self._keys = sorted(table, key=len, reverse=True)
        self._cache: dict[str, tuple[str, Price] | None] = {}

    def lookup(self, model: str | None) -> tuple[str, Price] | None:
        """(matched key, price) or None when the model is not in the table."""
        if not model:
            return None
        if model in self._cache:
            return self._cache[model]
        name = canonical(model)
        found = None
        for key in self._keys:
            if name == key or name.startswith(key) and not name[len(key)].isalnum():
                found = (key, self._table[key])
                break
        self._cache[model] = found
        return found

    def cost(self, model: str | None, input_tokens: int | None, output_tokens: int | None,
             cache_read_tokens: int | None = None, cache_write_tokens: int | None = None) -> float | None:
        hit = self.lookup(model)
        return None if hit is None else hit[1].cost(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)

    def sql_values(self, models: list[str]) -> tuple[str, list[Any]]:
        """A ``(VALUES …) AS prices(model, input_price, output_price, cache_read_price, cache_write_price)``
        for ``models`` (priced only)."""
        cols = "model, input_price, output_price, cache_read_price, cache_write_price"
        rows = [(m, hit[1]) for m in models if (hit := self.lookup(m)) is not None]
        if not rows:
            return ("(SELECT NULL::VARCHAR model, NULL::DOUBLE input_price, NULL::DOUBLE output_price, "
                    "NULL::DOUBLE cache_read_price, NULL::DOUBLE cache_write_price LIMIT 0)"), []
        args: list[Any] = []
        for m, p in rows:
            args.extend([m, p.input, p.output, p.read, p.write])
        values = ", ".join("(?::VARCHAR, ?::DOUBLE, ?::DOUBLE, ?::DOUBLE, ?::DOUBLE)" for _ in rows)
        return f"(SELECT * FROM (VALUES {values}) AS p({cols}))", args

"""``runbrief.toml``: prices, detector thresholds and the gate's checks, read once.

A config is code the project trusts (like a Makefile): it may name custom evaluators
to import. Every error names the file, the line and the key, because the reader is
usually a CI log: ``runbrief.toml:14: gate.check[2].p95_ms: expected a number, got "fast"``.
``tomllib`` reports syntax errors with a line; for errors in valid TOML the line is found
by locating the key under its table header in the text.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runbrief import trust
from runbrief.errors import UsageError
from runbrief.evals.prices import PriceTable

__all__ = ["Config", "ConfigError", "load", "DEFAULT_NAME", "find_default"]

DEFAULT_NAME = "runbrief.toml"


class ConfigError(UsageError):
    """A config file that cannot be used; the message carries file:line and key."""


@dataclass
class Config:
    path: Path | None
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    prices: PriceTable = field(default_factory=PriceTable)
    # False for a config a remote caller sent as text: its checks may not import code or
    # read files (runbrief.trust); a file this process read itself is its own configuration.
    trusted: bool = True

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def section(self, name: str) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise self.error(name, None, f"expected a table [{name}]")
        return value

    # -------------------------------------------------------------- errors
    def line_of(self, table: str, key: str | None, index: int | None = None) -> int | None:
        """Best-effort line of ``key`` under ``[table]`` (or the index-th ``[[table]]``)."""
        if not self.text:
            return None
        lines = self.text.splitlines()
        header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
        seen = -1
        in_table = table == ""
        start_line = None
        for no, line in enumerate(lines, 1):
            m = header.match(line)
            if m:
                name = m.group(1).replace('"', "")
                in_table = False
                if name == table:
                    seen += 1
                    if index is None or seen == index:
                        in_table, start_line = True, no
                continue
            if in_table and key is not None and re.match(rf'^\s*"?{re.escape(key)}"?\s*=', line):
                return no
        if key is not None and table:
            # Inline or dotted forms: `gate.since = …`, `[gate] check = [{…}]`.
            for no, line in enumerate(lines, 1):
                if re.search(rf'(^|[\s.{{,]){re.escape(key)}"?\s*=', line):
                    return no
        return start_line

    def error(self, table: str, key: str | None, message: str, index: int | None = None) -> ConfigError:
        where = str(self.path) if self.path else "<config>"
        line = self.line_of(table, key, index)
        loc = f"{where}:{line}" if line else where
        dotted = table + (f"[{index}]" if index is not None else "") + (f".{key}" if key else "")
        return ConfigError(f"{loc}: {dotted}: {message}")


def find_default(cwd: Path | None = None) -> Path | None:
    p = (cwd or Path.cwd()) / DEFAULT_NAME
    return p if p.is_file() else None


def is_text(config: str | Path) -> bool:
    """Is ``config`` the TOML itself rather than a path? (A path holds no newline or ``=``.)"""
    return isinstance(config, str) and ("\n" in config or "=" in config)


def load(path: str | Path | None = None, *, required: bool = False) -> Config:
    """Read a config: ``path`` (a file, or the TOML text itself), else ``./runbrief.toml``
    when present, else the defaults.

    A remote caller (the HTTP API, MCP) may send the text but not name a file: the server
    reads no file a request names, and echoes none of its own config's lines to one."""
    if path is not None and is_text(path):
        return _parse(None, str(path), trusted=trust.origin() is None)
    if path is None:
        found = find_default()
        if found is None:
            if required:
                raise ConfigError(f"no {DEFAULT_NAME} here; pass --config FILE (see docs/gate.md)")
            return Config(None)
        path = found
    else:
        trust.refuse_file("`config`", "send the runbrief.toml's text as `config` instead "
                                      "(the server reads its own ./runbrief.toml by default)")
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file; pass --config FILE (see docs/gate.md)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config: {exc}") from None
    return _parse(p.resolve(), text, trusted=True)


def _parse(path: Path | None, text: str, *, trusted: bool) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # A remote caller sees no line of a file the server read (it may hold anything).
        quote = path is None or trust.origin() is None
        raise ConfigError(_decode_message(path or Path("<config>"), text if quote else "", exc)) from None
    cfg = Config(path, text, data, trusted=trusted)
    prices = cfg.section("prices")
    overrides: dict[str, Any] = {}
    for key, value in prices.items():
        try:
            PriceTable({key: value}, defaults=False)
        except ValueError as exc:
            raise cfg.error("prices", key, str(exc)) from None
        overrides[key] = value
    cfg.prices = PriceTable(overrides)
    return cfg


def _decode_message(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> str:
    m = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    if not m:
        return f"{path}: invalid TOML: {exc}"
    line = int(m.group(1))
    src = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
    key = re.match(r'^\s*"?([\w.\-]+)"?\s*=', src)
    reason = str(exc).split(" (at line")[0]
    key_part = f" key {key.group(1)!r}:" if key else ""
    return f"{path}:{line}:{key_part} invalid TOML: {reason} (column {m.group(2)}): {src.strip()!r}"

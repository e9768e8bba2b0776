"""`runbrief skills install`: teach agents when and how to use runbrief.

Writes two files into a project:

- ``.claude/skills/runbrief/SKILL.md``: a skill (YAML front matter ``name`` and
  ``description``, then instructions) that Claude Code loads when the task matches.
- a section of ``AGENTS.md`` (read by Codex, Cursor and others) between
  ``<!-- runbrief:start -->`` and ``<!-- runbrief:end -->``: replaced in place on a re-run,
  so the rest of the file is never touched.

Both are idempotent: running twice changes nothing the second time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from runbrief.errors import UsageError

__all__ = ["Written", "install_skills", "skill_text", "agents_section", "START", "END"]

START = "<!-- runbrief:start -->"
END = "<!-- runbrief:end -->"


@dataclass(frozen=True)
class Written:
    path: Path
    action: str  # created | updated | unchanged


def _template(name: str) -> str:
    return resources.files("runbrief.agent").joinpath("templates", name).read_text(encoding="utf-8")


def skill_text() -> str:
    return _template("SKILL.md")


def agents_section() -> str:
    return f"{START}\n{_template('AGENTS.md').strip()}\n{END}\n"


def _write(path: Path, text: str) -> Written:
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if old == text:
        return Written(path, "unchanged")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".runbrief-tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return Written(path, "created" if old is None else "updated")


def merge_section(existing: str, section: str) -> str:
    """``existing`` with runbrief's section replaced (or appended when absent)."""
    start, end = existing.find(START), existing.find(END)
    if start != -1 and end != -1 and end > start:
        tail = existing[end + len(END):]
        return existing[:start] + section.rstrip("\n") + tail
    if start != -1 or end != -1:
        raise UsageError(
            f"AGENTS.md has only one of the markers {START} / {END}; fix or remove it, then run again"
        )
    if not existing.strip():
        return section
    sep = "" if existing.endswith("\n\n") else ("\n" if existing.endswith("\n") else "\n\n")
    return existing + sep + section


def install_skills(
    root: str | os.PathLike[str] | None = None,
    *,
    skill: bool = True,
    agents_md: str | os.PathLike[str] | None = None,
    agents: bool = True,
) -> list[Written]:
    """Write the skill and the AGENTS.md section under ``root`` (default: the current directory)."""
    base = Path(root).expanduser() if root else Path.cwd()
    out: list[Written] = []
    if skill:
        out.append(_write(base / ".claude" / "skills" / "runbrief" / "SKILL.md", skill_text()))
    if agents:
        path = Path(agents_md).expanduser() if agents_md else base / "AGENTS.md"
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        out.append(_write(path, merge_section(existing, agents_section())))
    return out

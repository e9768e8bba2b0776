"""Fixtures for the agent/eval tests: a Recorder of real SDK spans, and a few scenarios."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from evals_otel import Recorder  # noqa: E402


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


def genai_chat(model: str, inp: int, out: int, **extra: object) -> dict[str, object]:
    """Attributes of an OpenTelemetry GenAI chat span (current names)."""
    return {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": model,
            "gen_ai.usage.input_tokens": inp, "gen_ai.usage.output_tokens": out, **extra}


def genai_tool(name: str, args: dict[str, object] | str, **extra: object) -> dict[str, object]:
    return {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
            "gen_ai.tool.call.arguments": args if isinstance(args, str) else json.dumps(args), **extra}


def genai_agent(name: str, conversation: str) -> dict[str, object]:
    return {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name, "gen_ai.conversation.id": conversation}

"""Drive one real instrumentation with the known workload, in a process of its own.

    python drive.py <combination> <fake model server URL> <runbrief OTLP/HTTP URL>

Instrumentors patch the client libraries globally and cannot all be undone, so each
combination runs here, alone, and exports its spans over OTLP/HTTP to a real
``runbrief serve`` under ``service.name = <combination>``. The workload, inside one root span
``agent run``: six identical tool-call requests (``loop``: a loop), three paginated ones
(``page 1..3``: not a loop), one plain answer and one streamed answer — eleven model calls.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

PROMPTS = ["loop"] * 6 + ["page 1", "page 2", "page 3", "thanks"]
SESSION = "tl-session-1"  # traceloop-sdk's association property session_id


def _loopback_only() -> list[str]:
    """Fail on any connection (or name lookup) beyond loopback: an instrumentation's own
    telemetry or a default endpoint would otherwise hang or leak. The hook raises at the call
    and the names are kept, so ``main`` exits non-zero even if the caller swallowed the error."""
    import ipaddress

    seen: list[str] = []

    def local(host: object) -> bool:
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if host is None or host == "localhost":
            return True
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return False

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect" and isinstance(args[1], tuple):
            host = args[1][0]
        elif event == "socket.getaddrinfo":
            host = args[0]
        else:
            return
        if not local(host):
            seen.append(f"{event} {host!r}")
            raise ConnectionRefusedError(f"drive.py: no network beyond loopback ({event} {host!r})")

    sys.addaudithook(hook)
    return seen


def _openai_workload(base: str) -> None:
    import openai

    client = openai.OpenAI(base_url=f"{base}/v1", api_key="test-key", max_retries=0)
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
             for n in ("get_status", "list_reports")]
    for p in PROMPTS:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": p}], tools=tools)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "stream"}],
                                            stream=True, stream_options={"include_usage": True})
    for _ in stream:
        pass


def _anthropic_workload(base: str) -> None:
    import anthropic

    client = anthropic.Anthropic(base_url=base, api_key="test-key", max_retries=0)
    tools = [{"name": n, "description": n, "input_schema": {"type": "object"}} for n in ("get_status", "list_reports")]
    for p in PROMPTS:
        client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=[{"role": "user", "content": p}],
                               tools=tools)
    stream = client.messages.create(model="claude-haiku-4-5", max_tokens=100, stream=True,
                                    messages=[{"role": "user", "content": "stream"}])
    for _ in stream:
        pass


def _openai_agent_workload(base: str) -> None:
    """The client workload inside an agent that runs the requested tools, its agent and tool
    spans made with opentelemetry-util-genai (as a framework built on it does)."""
    import json

    import openai
    from opentelemetry.util.genai.handler import get_telemetry_handler

    handler = get_telemetry_handler()
    client = openai.OpenAI(base_url=f"{base}/v1", api_key="test-key", max_retries=0)
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
             for n in ("get_status", "list_reports")]
    with handler.invoke_local_agent(agent_name="support", request_model="gpt-4o-mini") as agent:
        agent.conversation_id = "conv-agent-1"
        for p in PROMPTS:
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": p}],
                                                   tools=tools)
            for call in reply.choices[0].message.tool_calls or []:
                with handler.tool(call.function.name, tool_call_id=call.id) as tool:
                    if tool.should_capture_content_on_span:
                        tool.arguments = json.loads(call.function.arguments)
                    tool.tool_result = "ok"
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "stream"}],
                                                stream=True, stream_options={"include_usage": True})
        for _ in stream:
            pass


def _langchain_workload(base: str) -> None:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_status(job: str) -> str:
        """Status of a job."""
        return "running"

    @tool
    def list_reports(page: int) -> str:
        """One page of reports."""
        return "[]"

    llm = ChatOpenAI(model="gpt-4o-mini", base_url=f"{base}/v1", api_key="test-key", max_retries=0)
    with_tools = llm.bind_tools([get_status, list_reports])
    for p in PROMPTS:
        with_tools.invoke(p)
    for _ in ChatOpenAI(model="gpt-4o-mini", base_url=f"{base}/v1", api_key="test-key", max_retries=0,
                        stream_usage=True).stream("stream"):
        pass


def _pydantic_ai_workload(base: str) -> None:
    """Agent runs that call tools themselves: the model asks for ``get_status`` six times in one
    run (a loop), then for pages 1-3 in another (not a loop), a plain run and a streamed one."""
    from pydantic_ai import Agent
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.openai import OpenAIProvider

    model = OpenAIChatModel("gpt-4o-mini", provider=OpenAIProvider(base_url=f"{base}/v1", api_key="test-key"))
    Agent.instrument_all(True)  # pydantic-ai's own instrumentation, on the global tracer provider
    agent = Agent(model, name="support")

    @agent.tool_plain
    def get_status(job: str) -> str:
        """Status of a job."""
        return "running"

    @agent.tool_plain
    def list_reports(page: int) -> str:
        """One page of reports."""
        return "[]"

    for p in ("loop", "page", "thanks"):
        agent.run_sync(p)

    async def streamed() -> None:
        async with agent.run_stream("stream") as run:
            await run.get_output()

    import asyncio

    asyncio.run(streamed())


def _traceloop_sdk(combination: str, model_url: str, otlp_url: str) -> None:
    """traceloop-sdk: ``Traceloop.init`` makes the tracer provider; the app's own steps are its
    decorators (an agent, a workflow per task, ``@tool`` functions that run the requested tools)."""
    import json

    import openai
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from traceloop.sdk import Traceloop
    from traceloop.sdk.associations import AssociationProperty, Associations
    from traceloop.sdk.decorators import agent, tool, workflow
    from traceloop.sdk.instruments import Instruments

    # Nothing beyond loopback: no telemetry, metrics or logs of its own, its API base (images, prompts) here,
    # and only the openai instrumentation (by default it enables every one it brings).
    os.environ.update({"TRACELOOP_TELEMETRY": "false", "TRACELOOP_METRICS_ENABLED": "false",
                       "TRACELOOP_LOGGING_ENABLED": "false", "TRACELOOP_BASE_URL": otlp_url})
    os.environ.pop("TRACELOOP_API_KEY", None)
    Traceloop.init(app_name=combination, exporter=OTLPSpanExporter(endpoint=f"{otlp_url}/v1/traces"),
                   disable_batch=True, instruments={Instruments.OPENAI}, telemetry_enabled=False)
    client = openai.OpenAI(base_url=f"{model_url}/v1", api_key="test-key", max_retries=0)
    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
             for n in ("get_status", "list_reports")]

    @tool(name="get_status")
    def get_status(job: str) -> str:
        return "running"

    @tool(name="list_reports")
    def list_reports(page: int) -> str:
        return "[]"

    run_tool = {"get_status": get_status, "list_reports": list_reports}

    @agent(name="support")
    def support() -> None:
        for p in PROMPTS:
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": p}],
                                                   tools=tools)
            for call in reply.choices[0].message.tool_calls or []:
                run_tool[call.function.name](**json.loads(call.function.arguments))
        for _ in client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "stream"}],
                                                stream=True, stream_options={"include_usage": True}):
            pass

    @workflow(name="agent run")
    def run() -> None:
        support()

    Associations.set([(AssociationProperty.SESSION_ID, SESSION)])  # on every span from here on: the conversation
    run()
    from opentelemetry import trace

    trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]


def _instrument(combination: str, provider: Any) -> Callable[[str], None]:
    """Instrument for ``combination``; returns its workload."""
    if combination in ("openai-v2", "openai-v2-metrics", "openai-v2-metrics-only"):
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = "SPAN_ONLY"
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as V2

        V2().instrument(tracer_provider=provider)
        return _openai_workload
    if combination in ("openai-v2-agent", "openai-v2-no-content"):  # with util-genai agent and tool spans
        content = "SPAN_ONLY" if combination == "openai-v2-agent" else "NO_CONTENT"
        os.environ["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"] = content
        os.environ["OTEL_SEMCONV_STABILITY_OPT_IN"] = "gen_ai_latest_experimental"
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as V2

        V2().instrument(tracer_provider=provider)
        return _openai_agent_workload
    if combination == "openinference-openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIOpenAI

        OIOpenAI().instrument(tracer_provider=provider)
        return _openai_workload
    if combination == "traceloop-openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TLOpenAI

        TLOpenAI().instrument(tracer_provider=provider)
        return _openai_workload
    if combination == "openinference-langchain":  # LangChain's spans over the OpenAI client's: each call twice
        from openinference.instrumentation.langchain import LangChainInstrumentor
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIOpenAI

        LangChainInstrumentor().instrument(tracer_provider=provider)
        OIOpenAI().instrument(tracer_provider=provider)
        return _langchain_workload
    if combination == "pydantic-ai":  # its own instrumentation (instrument=True), global provider
        return _pydantic_ai_workload
    # The anthropic SDK records its own gen_ai spans whenever a global tracer provider is set
    # (content when asked for): alone, and beside each instrumentation of it.
    os.environ["ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE"] = "content"
    if combination == "anthropic-sdk":
        return _anthropic_workload
    if combination == "openinference-anthropic":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor as OIAnthropic

        OIAnthropic().instrument(tracer_provider=provider)
        return _anthropic_workload
    if combination == "traceloop-anthropic":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as TLAnthropic

        TLAnthropic().instrument(tracer_provider=provider)
        return _anthropic_workload
    raise SystemExit(f"unknown combination {combination}")


def main() -> None:
    combination, model_url, otlp_url = sys.argv[1:4]
    beyond = _loopback_only()
    try:
        _drive(combination, model_url, otlp_url)
    finally:
        if beyond:
            raise SystemExit(f"{combination}: reached beyond loopback: {beyond}")


def _drive(combination: str, model_url: str, otlp_url: str) -> None:
    if combination == "traceloop-sdk":
        _traceloop_sdk(combination, model_url, otlp_url)
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": combination})
    meters = None
    if combination.startswith("openai-v2-metrics"):
        # GenAI client metrics too (util-genai records them); "-only": spans sampled away, metrics kept.
        from opentelemetry import metrics
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON

        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{otlp_url}/v1/metrics"),
                                               export_interval_millis=60_000)
        meters = MeterProvider(resource=resource, metric_readers=[reader])
        metrics.set_meter_provider(meters)
        sampler = ALWAYS_OFF if combination.endswith("-only") else ALWAYS_ON
        provider = TracerProvider(resource=resource, sampler=sampler)
    else:
        provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_url}/v1/traces")))
    trace.set_tracer_provider(provider)
    workload = _instrument(combination, provider)
    with provider.get_tracer("app").start_as_current_span("agent run"):
        workload(model_url)
    provider.shutdown()  # flushes the batch to the server
    if meters is not None:
        meters.shutdown()


if __name__ == "__main__":
    main()

"""The demo scenario: a store, a server, a shop, a bad deploy, and runbrief's answers.

    runbrief serve + seed data ─► inventory 1.4.2 + shop 1.0.0 ─► 60 minutes of traffic
      ─► stop shop 1.0.0 ─► mark deploy shop 2.0.0 ─► start shop 2.0.0 ─► 10 minutes of traffic
      ─► stop the services (their telemetry flushes) ─► ask: changes (shop, inventory),
         incidents, latest /cart trace, perf
      ─► close the loop: deploy the fix shop 2.0.1 ─► 10 minutes of traffic ─► ask: verify
         (the verdict, recorded in memory) ─► stop the server (unless --keep)

Minutes are fast-forwarded (``clock``): one burst of requests per minute of telemetry.

Every answer is asked through ``runbrief.client.call``, exactly as the CLI and an agent
would. An operation that this build does not have yet is reported as unavailable, never
as a crash: the demo grows as the pieces land.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from runbrief import ops
from runbrief.client import call, open_store, server_url
from runbrief.demo import catalog as catalog_mod
from runbrief.demo.clock import FastForward
from runbrief.demo.evidence import collect_ids
from runbrief.demo.findings import REGRESSIONS, findings
from runbrief.demo.procs import Child, Supervisor, interrupts_raise
from runbrief.demo.traffic import drive, plan
from runbrief.errors import RunbriefError, UsageError
from runbrief.queries import fmt_ts
from runbrief.store.duck import resolve_store_path, store_dir

__all__ = ["DemoConfig", "Progress", "run_demo", "REGRESSIONS", "questions", "has_op", "SHOP_V1", "SHOP_V2",
           "SHOP_FIX"]

SHOP_V1, SHOP_V2, INVENTORY_VERSION = "1.0.0", "2.0.0", "1.4.2"
SHOP_FIX = "2.0.1"  # shop.FIXED_VERSION: the fix deploy (not imported: shop.py loads Starlette)
CLOCK_FILE = "clock.json"


def questions(deploy_ts: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The questions the demo asks, in order: (result key, operation, parameters)."""
    return [
        ("changes", "changes", {"service": "shop", "since_deploy": True}),
        # inventory did not deploy: compare it around the shop's deploy time, against the
        # whole hour of traffic before it (as `changes --since-deploy` does for shop)
        ("changes_inventory", "changes", {"service": "inventory", "since": deploy_ts, "baseline": "60m"}),
        ("incidents", "incidents", {}),
        ("trace_summary", "trace_summary", {"latest": True, "route": "/cart", "service": "shop"}),
        ("perf", "perf", {"service": "shop", "since": deploy_ts}),
    ]


class Progress:
    """What the scenario reports as it goes; the CLI draws it with rich, tests ignore it."""

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        yield

    @contextmanager
    def bar(self, text: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda n: None

    def note(self, text: str) -> None:
        pass


@dataclass
class DemoConfig:
    store: str | os.PathLike[str] | None = None
    keep: bool = False
    # Fast-forwarded minutes of traffic (see clock.py). The baseline is longer than the hour that
    # incident detection looks back over, so detection has a baseline of its own to compare with.
    baseline_minutes: int = 60
    after_minutes: int = 10
    fix_minutes: int = 10          # traffic after the fix deploy, before `verify` judges it
    per_minute: int = 10          # requests per minute, the same before and after the deploy
    concurrency: int = 4
    seed: int = 42
    ready_timeout_s: float = 60.0
    progress: Progress = field(default_factory=Progress)


def has_op(name: str) -> bool:
    try:
        ops.get(name)
    except UsageError:
        return False
    return True


def _ask(op: str, params: dict[str, Any], db: Path) -> tuple[Any, str | None]:
    """(result, None) or (None, why it is not available). Never raises a runbrief error."""
    if not has_op(op):
        return None, f"operation {op!r} is not in this build yet"
    known = ops.get(op).params()
    params = {k: v for k, v in params.items() if k in known}
    try:
        return call(op, params, store=db), None
    except RunbriefError as exc:
        return None, f"{op} failed: {exc}"


def _prepare_store(store: str | os.PathLike[str] | None) -> Path:
    if store is None:
        store = tempfile.mkdtemp(prefix="runbrief-demo-")
    db = resolve_store_path(store)
    try:
        store_dir(db).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the demo's store folder {store_dir(db)} ({exc.strerror}); "
                         "pass a writable --store, or none for a temporary folder") from None
    if server_url(db) is not None:
        raise UsageError(f"a runbrief server already owns {db}; stop it, or run the demo with another --store")
    if db.exists():
        with open_store(db) as s:
            held = s.scalar("SELECT (SELECT count(*) FROM logs) + (SELECT count(*) FROM spans)")
        if held:
            raise UsageError(f"{store_dir(db)} already holds telemetry ({held} records); the demo needs a store of "
                             "its own: pass a new --store folder, or none for a temporary one")
    return db


def _service(sup: Supervisor, name: str, version: str, otlp: str, db: Path, work: Path, timeout: float,
             inventory_url: str = "", label: str = "") -> tuple[Child, str]:
    label = label or f"{name}-{version}"
    ready = work / f"{label}.ready"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "runbrief.demo.service", name, "--version", version, "--otlp", otlp,
            "--db", str(db), "--ready-file", str(ready), "--clock-file", str(work / CLOCK_FILE)]
    if inventory_url:
        argv += ["--inventory-url", inventory_url]
    child = sup.spawn(label, argv)
    port = child.wait_json(ready, timeout)["port"]
    return child, f"http://127.0.0.1:{port}"


def _mark_deploy(db: Path, at_ns: int, version: str = SHOP_V2, commit: str = "5e1f0c2a9d7b") -> dict[str, Any]:
    """Mark the deploy (at its fast-forwarded time); without the operation the server infers it."""
    at = fmt_ts(datetime.fromtimestamp(at_ns / 1e9, UTC).replace(tzinfo=None))
    info: dict[str, Any] = {"service": "shop", "version": version, "ts": at, "evidence_id": None}
    if has_op("deploy_mark"):
        params = {"service": "shop", "version": version, "environment": "demo", "commit": commit, "at": at}
        result, why = _ask("deploy_mark", params, db)
        if result is not None:
            info["how"] = "marked with the deploy_mark operation"
            info["evidence_id"] = next(iter(sorted(collect_ids(result))), None)
            return info
        info["deploy_mark_error"] = why
    info["how"] = "inferred by the server from the service.version change"
    return info


def _ask_all(qs: list[tuple[str, str, dict[str, Any]]], db: Path, p: Progress,
             ) -> tuple[dict[str, Any], dict[str, str]]:
    results: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    for key, op, params in qs:
        with p.step(f"asking runbrief: {key.replace('_', ' ')}"):
            result, why = _ask(op, params, db)
        if why is None:
            results[key] = result
        else:
            unavailable[key] = why
            p.note(why)
    return results, unavailable


def _close_the_loop(cfg: DemoConfig, sup: Supervisor, clock: FastForward, cat: Any, db: Path, work: Path,
                    otlp: str) -> dict[str, Any]:
    """Deploy the fix, drive traffic, and ask `verify`: the verdict, and what memory recorded.

    `verify --deploy` judges every shop incident that started before the fix deploy; the
    outcome lands in memory by itself (``incident_fixes``), which ``incident`` then shows.
    """
    p = cfg.progress
    start = cfg.baseline_minutes + cfg.after_minutes
    with p.step(f"closing the loop: deploying the fix, shop {SHOP_FIX} (the three changes reverted)"):
        _inv, inv_url = _service(sup, "inventory", INVENTORY_VERSION, otlp, work / "inventory.sqlite", work,
                                 cfg.ready_timeout_s, label=f"inventory-{INVENTORY_VERSION}-after-fix")
        deploy = _mark_deploy(db, clock.minute_start(start), SHOP_FIX, "9b3d7e41c0aa")
        shop, shop_url = _service(sup, "shop", SHOP_FIX, otlp, work / "shop.sqlite", work, cfg.ready_timeout_s,
                                  inv_url)
    minutes = plan(cat, cfg.fix_minutes, cfg.per_minute, cfg.seed + 2)
    with p.bar(f"after the fix: {cfg.fix_minutes} minutes of traffic on shop {SHOP_FIX}",
               sum(map(len, minutes))) as advance:
        traffic = drive(shop_url, minutes, lambda i: clock.begin_minute(start + i), concurrency=cfg.concurrency,
                        on_progress=advance)
    with p.step("flushing the services' telemetry"):
        sup.stop(shop)
        sup.stop(_inv)
    out: dict[str, Any] = {"deploy": deploy, "traffic": traffic.as_dict()}
    with p.step("asking runbrief: did the fix work (verify)"):
        params = {"deploy": deploy["evidence_id"]} if deploy["evidence_id"] else {}
        verdict, why = _ask("verify", params, db)
    if why is not None:
        p.note(why)
        out["unavailable"] = why
        return out
    out["verify"] = verdict
    memory = []
    for judged in verdict.get("incidents") or [verdict]:
        inc, _ = _ask("incident", {"id": judged["id"], "narrative": False}, db)
        if inc is not None:
            memory.append({"id": judged["id"], "status": inc.get("status"), "fixes": inc.get("fixes") or []})
    out["memory"] = memory
    return out


def run_demo(config: DemoConfig | None = None) -> dict[str, Any]:
    """Run the whole scenario; returns the JSON-able result (the ops' answers and their evidence IDs)."""
    cfg = config or DemoConfig()
    p = cfg.progress
    started = time.perf_counter()
    saved_url = os.environ.pop("RUNBRIEF_URL", None)  # the demo talks to its own server only
    db = _prepare_store(cfg.store)
    work = store_dir(db) / "demo"
    work.mkdir(exist_ok=True)
    out: dict[str, Any] = {"store": str(store_dir(db)), "database": str(db)}
    try:
        with interrupts_raise(), Supervisor(work / "logs") as sup:
            with p.step("starting runbrief serve, seeding the shop's catalogue and stock (SQLite)"):
                server = sup.spawn("runbrief-serve", [sys.executable, "-m", "runbrief", "serve", "--store", str(db),
                                                      "--http-port", "0", "--grpc-port", "0"], keepable=cfg.keep)
                cat = catalog_mod.seed_shop(work / "shop.sqlite")  # while the server starts
                catalog_mod.seed_inventory(work / "inventory.sqlite")
                addr = server.wait_json(store_dir(db) / "server.json", cfg.ready_timeout_s,
                                        lambda d: d.get("pid") == server.pid)
                otlp = str(addr["url"])
            out["server"] = {"url": otlp, "pid": server.pid, "log": str(server.log_path)}

            with p.step(f"starting inventory {INVENTORY_VERSION} and shop {SHOP_V1} (OpenTelemetry → runbrief)"):
                _inv, inv_url = _service(sup, "inventory", INVENTORY_VERSION, otlp, work / "inventory.sqlite",
                                         work, cfg.ready_timeout_s)
                shop, shop_url = _service(sup, "shop", SHOP_V1, otlp, work / "shop.sqlite", work,
                                          cfg.ready_timeout_s, inv_url)

            clock = FastForward(work / CLOCK_FILE, cfg.baseline_minutes + cfg.after_minutes + cfg.fix_minutes)
            minutes = plan(cat, cfg.baseline_minutes, cfg.per_minute, cfg.seed)
            with p.bar(f"baseline: {cfg.baseline_minutes} minutes of traffic on shop {SHOP_V1}",
                       sum(map(len, minutes))) as advance:
                before = drive(shop_url, minutes, clock.begin_minute, concurrency=cfg.concurrency,
                               on_progress=advance)

            with p.step(f"deploying shop {SHOP_V2} (N+1 on /cart, swallowed error, retry storm)"):
                sup.stop(shop)  # a rolling deploy of one instance: v1 drains and flushes, then v2 starts
                out["deploy"] = _mark_deploy(db, clock.minute_start(cfg.baseline_minutes))
                shop, shop_url = _service(sup, "shop", SHOP_V2, otlp, work / "shop.sqlite", work,
                                          cfg.ready_timeout_s, inv_url)

            minutes = plan(cat, cfg.after_minutes, cfg.per_minute, cfg.seed + 1)
            with p.bar(f"after the deploy: {cfg.after_minutes} minutes of traffic on shop {SHOP_V2}",
                       sum(map(len, minutes))) as advance:
                after = drive(shop_url, minutes, lambda i: clock.begin_minute(cfg.baseline_minutes + i),
                              concurrency=cfg.concurrency, on_progress=advance)
            out["traffic"] = {"baseline": before.as_dict(), "after_deploy": after.as_dict(),
                              "fast_forward": "each minute of telemetry is one burst of requests; see the README"}

            with p.step("flushing the services' telemetry"):
                for child in list(sup.children):
                    if child is not server:
                        sup.stop(child)

            results, unavailable = _ask_all(questions(out["deploy"]["ts"]), db, p)
            out["results"] = results
            out["unavailable"] = unavailable
            out["evidence_ids"] = {k: sorted(collect_ids(v)) for k, v in results.items()}
            out["findings"] = findings(results)
            if cfg.fix_minutes > 0:
                out["loop"] = _close_the_loop(cfg, sup, clock, cat, db, work, otlp)
            if cfg.keep:
                sup.keep.add(server.name)
            out["server"]["kept"] = cfg.keep
            out["processes"] = dict(sup.started)
            out["services"] = {"shop": {"before": SHOP_V1, "after": SHOP_V2}, "inventory": INVENTORY_VERSION}
            out["regressions"] = REGRESSIONS
            out["elapsed_s"] = round(time.perf_counter() - started, 1)
    finally:
        if saved_url is not None:
            os.environ["RUNBRIEF_URL"] = saved_url
    return out

"""`runbrief store copy`: move a store between backends (today: a DuckDB store into chdb)."""

from typing import Annotated

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, emit

store_app = typer.Typer(rich_markup_mode=None, name="store", help="Copy a store into another backend.",
                        no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("copy")
def copy(
    src: Annotated[str, typer.Argument(help="The DuckDB store to copy: its folder or .duckdb file (no server may hold it).")],
    dst: Annotated[str, typer.Argument(help="Where to: chdb:PATH, an embedded ClickHouse store's folder (must be empty).")],
    as_json: JsonOpt = False,
) -> None:
    """Copy every log, span, pattern, count, deploy and event of a DuckDB store into a ClickHouse store.

    Logs and spans land in the OpenTelemetry Collector exporter's tables (otel_logs,
    otel_traces), runbrief's own tables beside them. Needs the clickhouse extra
    (pip install 'runbrief[clickhouse]'). See docs/clickhouse.md for what runs on it.
    """
    import time

    from runbrief.errors import UsageError
    from runbrief.store.clickhouse.address import chdb_path, is_clickhouse
    from runbrief.store.clickhouse.chstore import ChStore
    from runbrief.store.clickhouse.copy import copy_store
    from runbrief.store.duck import Store
    from runbrief.store.paths import resolve_store_path

    if not is_clickhouse(dst):
        raise UsageError(f"the target {dst!r} is no ClickHouse store address; write chdb:PATH")
    if not resolve_store_path(src).exists():
        raise UsageError(f"no DuckDB store at {resolve_store_path(src)}")
    t0 = time.monotonic()
    with Store.open(src, read_only=True) as source, ChStore.open(chdb_path(dst)) as target:
        if target.scalar("SELECT count(*) FROM logs") or target.scalar("SELECT count(*) FROM spans"):
            raise UsageError(f"the target {target.path} already holds records; copy into an empty folder")
        copied = copy_store(source, target)
        result = {"source": str(source.path), "target": f"chdb:{target.path}", "copied": copied,
                  "seconds": round(time.monotonic() - t0, 3)}

    def human(con, r) -> None:  # noqa: ANN001
        rows = ", ".join(f"{n} {t}" for t, n in r["copied"].items() if n)
        con.print(f"copied {r['source']} into {r['target']} in {r['seconds']} s: {rows or 'nothing'}",
                  markup=False, highlight=False, soft_wrap=True)

    emit(result, as_json, human)


@store_app.command("distill")
def distill_cmd(
    store: Annotated[str, typer.Argument(help="The ClickHouse store a Collector fills: chdb:PATH.")],
    lag: Annotated[float, typer.Option("--lag", help="Seconds the cursor stays behind now, so rows the Collector "
                                       "delivers late (retries) are still counted.")] = 300.0,
    batch_rows: Annotated[int, typer.Option("--batch-rows", help="Rows per batch (cut at a minute boundary).")] = 200_000,
    shard: Annotated[str | None, typer.Option("--shard", help="I/N: distill only the services with "
                                              "cityHash64(service) % N = I (one of N nodes).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Distill the log lines a Collector wrote into otel_logs: patterns and per-minute counts.

    Reads the rows no run has counted, in time order from the stored cursor (it resumes
    after a restart and counts a row once), mines them as ingest does and writes the
    pattern, count and inferred deploy rows that changes, patterns and incidents read.
    Run it again (cron, a loop) to keep up. See docs/clickhouse.md.
    """
    from runbrief.errors import UsageError
    from runbrief.store.clickhouse.address import chdb_path, is_clickhouse
    from runbrief.store.clickhouse.chstore import ChStore
    from runbrief.store.clickhouse.collector import distill

    if not is_clickhouse(store):
        raise UsageError(f"{store!r} is no ClickHouse store address; write chdb:PATH")
    parts = None
    if shard:
        try:
            i, n = (int(x) for x in shard.split("/", 1))
        except ValueError:
            raise UsageError(f"--shard {shard!r}: write I/N, e.g. 0/3") from None
        parts = (i, n)
    if not chdb_path(store).exists():
        raise UsageError(f"no chdb store at {chdb_path(store)}")
    with ChStore.open(chdb_path(store)) as target:
        result = distill(target, lag_s=lag, batch_rows=batch_rows, shard=parts)

    def human(con, r) -> None:  # noqa: ANN001
        con.print(f"distilled {r['rows_read']} lines in {r['batches']} batches ({r['patterns']} patterns, "
                  f"{r['deploys_inferred']} deploys inferred, {r['late']} late rows behind the cursor); "
                  f"counted before {r['cursor']['before']}", markup=False, highlight=False, soft_wrap=True)

    emit(result, as_json, human)

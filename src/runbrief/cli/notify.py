"""`runbrief notify check`: read the [[notify]] tables as `runbrief serve` will, before it does."""


from typing import Annotated

import typer

from runbrief.cli import app
from runbrief.cli._common import JsonOpt, emit, esc

notify_app = typer.Typer(rich_markup_mode=None, name="notify", no_args_is_help=True,
                         help="Notifications (Slack, JSON webhooks) when incidents open, regress or are fixed.")
app.add_typer(notify_app, name="notify")


@notify_app.command("check")
def check(
    config: Annotated[str | None, typer.Option("--config", help="The runbrief.toml to read (default "
                                               "RUNBRIEF_NOTIFY_CONFIG, else ./runbrief.toml).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check the [[notify]] targets: exit 0 with the targets (URLs redacted), 2 naming file:line and key."""
    import os
    from pathlib import Path

    from runbrief.errors import UsageError
    from runbrief.notify.config import load_targets, redact_url
    from runbrief.notify.outbox import CONFIG_ENV

    path = Path(config or os.environ.get(CONFIG_ENV) or "runbrief.toml").expanduser()
    if not path.is_file():
        raise UsageError(f"{path}: no such config file; [[notify]] tables go in runbrief.toml (docs/loop.md)")
    targets = load_targets(path.resolve())
    result = {"config": str(path.resolve()), "targets": [
        {"kind": t.kind, "url": redact_url(t.url), "events": list(t.events), "service": t.service,
         "max_per_minute": t.max_per_minute, "web_url": t.web_url, "name": t.name} for t in targets]}

    def human(con, r) -> None:  # noqa: ANN001
        con.print(f"{len(r['targets'])} notification target(s) in {esc(r['config'])}")
        for t in r["targets"]:
            con.print(f"  {t['kind']:<8} {esc(t['url'])}  events {', '.join(t['events'])}"
                      + (f"  service {esc(t['service'])}" if t["service"] else "") + f"  max {t['max_per_minute']}/min")

    emit(result, as_json, human)

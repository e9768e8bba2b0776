"""The ``runbrief`` console script: ``runbrief parse FILE`` without loading the Typer app.

``runbrief parse FILE > out.jsonl`` is timed as a whole process (issue 17: 10x Drain3),
and building the Typer/click app costs ~45 ms of CPU per start, as much as the
miner's first pass over 500 new lines. So the plain form ``runbrief parse FILE`` (one
argument, a path or ``-``) runs ``distill.jsonl.parse_file`` directly, with the CLI's exit
codes (2 usage, 1 failure, 130 Ctrl-C) and the same bytes out; every other command line,
``runbrief parse --help`` and options included, goes to ``runbrief.cli.main`` unchanged.
"""

from __future__ import annotations

import errno
import os
import sys

__all__ = ["main"]


def main() -> int:
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "parse" and (args[1] == "-" or not args[1].startswith("-")):
        return _parse(args[1])
    from runbrief.cli import main as cli_main

    return cli_main()


def _parse(file: str) -> int:
    from runbrief.errors import RunbriefError, UsageError

    try:
        from runbrief.distill.jsonl import parse_file

        parse_file(file, sys.stdout.buffer)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except RunbriefError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # the reader went away (`| head`): exit 1 quietly, as click does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        from runbrief.store.damage import classify  # a full disk: told as the CLI tells it

        err = classify(exc, "")
        if err is None:
            raise
        sys.stderr.write(f"error: {err}\n")
        return 1
    return 0

"""Periodic jobs that run inside `runbrief serve` (e.g. proactive incident detection).

A job is ``fn(store) -> None`` registered with ``@job(name, every_s)`` in a module listed
in ``JOB_MODULES``; the server runs each on its own schedule in a worker thread and logs
(never raises) failures, so one broken job cannot stop ingest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runbrief.store.duck import Store

__all__ = ["Job", "job", "JOB_MODULES", "jobs"]

# Modules that register jobs. Each area adds its own line.
JOB_MODULES: list[str] = [
    "runbrief.store.retention",
    "runbrief.analyze.incidents",
    "runbrief.analyze.verify",
    "runbrief.notify.outbox",
]


@dataclass(frozen=True)
class Job:
    name: str
    every_s: float
    fn: Callable[[Store], None]


_JOBS: list[Job] = []


def job(name: str, every_s: float) -> Callable[[Callable[[Store], None]], Callable[[Store], None]]:
    def register(fn: Callable[[Store], None]) -> Callable[[Store], None]:
        _JOBS.append(Job(name, every_s, fn))
        return fn

    return register


def jobs() -> list[Job]:
    import importlib

    for mod in JOB_MODULES:
        importlib.import_module(mod)
    return list(_JOBS)

"""Evidence IDs: short typed handles for everything a claim can rest on.

An ID is ``<prefix>_<key>``: ``pat_3f2a9c1b0d4e5f60`` (pattern), ``log_1234`` (log line),
``dep_7`` (deploy), ``evt_12`` (platform event), ``trc_<32 hex>`` (trace),
``spn_<16 hex>`` (span), ``inc_3`` (incident). Each kind's owner registers a resolver;
``resolve`` turns any ID back into its object, so every claim can be checked.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runbrief.errors import NotFound

if TYPE_CHECKING:
    from runbrief.store.duck import Store

__all__ = ["KINDS", "make", "parse", "resolver", "resolve", "exists"]

KINDS = {
    "pat": "pattern",
    "log": "log",
    "dep": "deploy",
    "evt": "event",
    "trc": "trace",
    "spn": "span",
    "inc": "incident",
}

Resolver = Callable[["Store", str], dict[str, Any] | None]
_RESOLVERS: dict[str, Resolver] = {}

# The module that registers each kind's resolver. Operations are imported one by one
# (``ops.OP_HOMES``), so an ID may be resolved before its owner was ever imported:
# ``resolve`` imports the owner on first use. tests/test_ops_index.py checks the table.
RESOLVER_HOMES = {
    "pat": "runbrief.distill.ops",
    "log": "runbrief.queries",
    "dep": "runbrief.queries",
    "evt": "runbrief.queries",
    "trc": "runbrief.queries",
    "spn": "runbrief.queries",
    "inc": "runbrief.analyze.incidents",
}


def make(prefix: str, key: object) -> str:
    if prefix not in KINDS:
        raise ValueError(f"unknown evidence prefix {prefix!r}")
    return f"{prefix}_{key}"


def parse(eid: str) -> tuple[str, str]:
    """Split an ID into (prefix, key); raise NotFound with the accepted forms otherwise."""
    prefix, sep, key = (eid or "").strip().partition("_")
    if not sep or prefix not in KINDS or not key:
        forms = ", ".join(f"{p}_…" for p in KINDS)
        raise NotFound(f"{eid!r} is not an evidence ID; IDs look like {forms}")
    return prefix, key


def resolver(prefix: str) -> Callable[[Resolver], Resolver]:
    """Register the function that loads objects of one kind (returns None if absent)."""

    def register(fn: Resolver) -> Resolver:
        _RESOLVERS[prefix] = fn
        return fn

    return register


def resolve(store: Store, eid: str) -> dict[str, Any]:
    prefix, key = parse(eid)
    fn = _RESOLVERS.get(prefix)
    if fn is None and prefix in RESOLVER_HOMES:
        importlib.import_module(RESOLVER_HOMES[prefix])
        fn = _RESOLVERS.get(prefix)
    if fn is None:
        raise NotFound(f"no resolver for {KINDS[prefix]} IDs in this build")
    obj = fn(store, key)
    if obj is None:
        raise NotFound(f"no {KINDS[prefix]} with ID {eid} in {store.path}")
    # The evidence kind always wins: an object's own fields never mask what it is.
    return {**obj, "id": eid, "kind": KINDS[prefix]}


def exists(store: Store, eid: str) -> bool:
    try:
        resolve(store, eid)
    except NotFound:
        return False
    return True

"""Deploys: marked by hand or CI, sent by GitHub webhooks, or inferred from telemetry.

"What changed since the deploy?" needs the deploy. It arrives four ways, all stored as
``Deploy`` records with an evidence ID ``dep_<n>``:

- ``runbrief deploy mark`` / op ``deploy_mark`` / ``POST /api/deploys`` (source cli/api);
- GitHub webhooks: ``deployment_status`` (state success) and ``workflow_run`` (a
  completed, successful run of a deploy workflow) — source ``github``;
- inferred (source ``inferred``): a batch hook notices a service's ``service.version``
  resource attribute taking a value never seen for it in telemetry before (or one not
  seen for ``ROLLBACK_QUIET_S`` coming back: a rollback). Old and new versions overlap
  during a rolling update, so a version seen recently does not count as a change; the
  first version a service ever reports is no deploy; and a marked deploy explains the
  change that follows it, so one rollout is not recorded twice.

A deploy for a service with no telemetry yet is kept: the service then appears.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING, Any

from runbrief import ids
from runbrief.errors import IngestError, UsageError
from runbrief.ingest.pipeline import Batch, Pipeline, Prepared, commit_hook
from runbrief.ops import operation
from runbrief.queries import deploy_row
from runbrief.records import Deploy, Resource, ResourceSeen

if TYPE_CHECKING:
    from runbrief.store.duck import Store

__all__ = [
    "make_deploy",
    "parse_at",
    "find_deploy_id",
    "deploy_mark",
    "list_deploys",
    "verify_signature",
    "deploy_from_github",
    "find_github_duplicate",
    "version_from_ref",
    "ROLLBACK_QUIET_S",
]

ROLLBACK_QUIET_S = 15 * 60
DEFAULT_WORKFLOWS = "*deploy*,*release*,*rollout*"


def parse_at(at: str | int | float | None) -> int:
    """A deploy time (ISO-8601, a relative '15m' meaning 15 minutes ago, or epoch) to ns."""
    if at is None or at == "":
        return time.time_ns()
    if isinstance(at, int | float) or (isinstance(at, str) and re.fullmatch(r"\d+(\.\d+)?", at.strip())):
        from runbrief.ingest._times import epoch_to_ns

        ns = epoch_to_ns(float(at))
        if not ns:
            raise UsageError(f"--at {at!r} is not a plausible epoch time")
        return ns
    from runbrief.queries import parse_time

    dt = parse_time(str(at))
    assert dt is not None
    return int(dt.replace(tzinfo=UTC).timestamp() * 1e6) * 1000


def make_deploy(
    service: str | None,
    version: str | None,
    *,
    commit: str | None = None,
    environment: str | None = None,
    at: str | int | float | None = None,
    source: str = "cli",
    attributes: dict[str, Any] | None = None,
) -> Deploy:
    """A validated Deploy record (service and version are required)."""
    service = (service or "").strip()
    version = (version or "").strip()
    if not service:
        raise UsageError("a deploy needs a service (--service NAME)")
    if not version:
        raise UsageError("a deploy needs a version (--version V: a tag, build number or commit)")
    return Deploy(
        ts_ns=parse_at(at), service=service, version=version, commit=(commit or "").strip(),
        environment=(environment or "").strip(), source=source, attributes=dict(attributes or {}),
    )


def find_deploy_id(store: Store, d: Deploy) -> str:
    """The evidence ID of a deploy just written (deploy IDs are allocated by the writer)."""
    row = store.query(
        """SELECT max(id) id FROM deploys WHERE service = ? AND version = ? AND source = ?
           AND ts = make_timestamp(?::BIGINT)""",
        [d.service, d.version, d.source, d.ts_ns // 1000],
    )
    if not row or row[0]["id"] is None:
        raise IngestError(f"the deploy of {d.service} {d.version} was not found after writing it")
    return ids.make("dep", row[0]["id"])


@operation("deploy_mark", read_only=False)
def deploy_mark(
    store: Store,
    service: str,
    version: str,
    commit: str | None = None,
    environment: str | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    """Record a deploy of a service at a version; returns its evidence ID (dep_<n>).

    ``at`` is an ISO-8601 time or a duration ago (``10m``); default now. A service with
    no telemetry yet is fine: it appears in ``services``.
    """
    d = make_deploy(service, version, commit=commit, environment=environment, at=at, source="cli")
    Pipeline(store).write(Batch(deploys=[d]))
    eid = find_deploy_id(store, d)
    return {"id": eid, "deploy": ids.resolve(store, eid)}


@operation("deploys")
def list_deploys(
    store: Store, service: str | None = None, since: str | None = None, limit: int = 50
) -> dict[str, Any]:
    """Deploys, newest first, optionally of one service and since a time (15m, 2h or ISO)."""
    from runbrief.queries import parse_time

    where, args = [], []
    if service:
        where.append("service = ?")
        args.append(service)
    if (t := parse_time(since)) is not None:
        where.append("ts >= ?")
        args.append(t)
    limit = max(1, min(int(limit), 10_000))
    sql = "SELECT * FROM deploys" + (" WHERE " + " AND ".join(where) if where else "")
    rows = store.query(sql + " ORDER BY ts DESC, id DESC LIMIT ?", [*args, limit])
    return {"deploys": [deploy_row(r) for r in rows]}


# ---------------------------------------------------------------- GitHub webhooks
def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Check GitHub's ``X-Hub-Signature-256: sha256=<hex HMAC of the raw body>``."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[7:].strip().lower())


def _need(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj or obj[key] in (None, ""):
        raise IngestError(f"malformed {where} payload: missing {key!r}")
    return obj[key]


def _obj(obj: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    """``obj[key]`` as a JSON object (required): a 400 naming the field otherwise."""
    value = _need(obj, key, where.split(".", 1)[0])
    if not isinstance(value, dict):
        raise IngestError(f"malformed webhook: {where}.{key} must be a JSON object, not {type(value).__name__}")
    return value


def _text(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> str:
    """``obj[key]`` as a string ('' when absent and optional); a wrong type is a 400 naming the field.

    Why: a webhook field of the wrong type (``{"service": 123}``) must be the sender's
    error the sender can read, never a 500 deep in the store.
    """
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise IngestError(f"malformed webhook: missing {where}.{key}")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise IngestError(f"malformed webhook: {where}.{key} must be a string, not {type(value).__name__}")
    if key in ("service", "environment", "version") and not isinstance(value, str):
        raise IngestError(f"malformed webhook: {where}.{key} must be a string, not {type(value).__name__}")
    return str(value)


def _deployment_payload(dep: dict[str, Any]) -> dict[str, Any]:
    """The deployment's free-form ``payload``: GitHub sends an object, or a string (often JSON)."""
    raw = dep.get("payload")
    if isinstance(raw, str):
        try:
            import orjson

            raw = orjson.loads(raw) if raw.strip() else {}
        except ValueError:
            return {}  # a free-text payload carries no service/version: fine
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise IngestError(f"malformed webhook: deployment.payload must be a JSON object, not {type(raw).__name__}")
    return raw


# A ref is a version when it is a tag: ``refs/tags/v1.4.2``, or a bare ref shaped like a
# release (``v1.4.2``, ``2024.05.1``, ``1.4.2-rc.1``): deployments name a tag without
# ``refs/tags/``. A branch that merely holds a digit (``feature/JIRA-123-login``) is not.
_RELEASE_REF = re.compile(r"v?\d+(?:\.\d+)+(?:[-+][0-9A-Za-z][0-9A-Za-z.+-]*)?", re.IGNORECASE)


def version_from_ref(ref: str, sha: str = "") -> str:
    """The version a git ref names, or '' when it is a branch or a commit."""
    ref = ref.strip()
    if ref.startswith("refs/tags/"):
        return ref[len("refs/tags/"):]
    if not ref or ref == sha or ref.startswith("refs/") or "/" in ref:
        return ""
    return ref if _RELEASE_REF.fullmatch(ref) else ""


def _workflow_patterns(override: str | None) -> list[str]:
    raw = override or os.environ.get("RUNBRIEF_GITHUB_WORKFLOWS") or DEFAULT_WORKFLOWS
    return [p.strip().lower() for p in raw.split(",") if p.strip()]


DEPLOY_EVENTS = ("deployment_status", "workflow_run")


def deploy_from_github(event: str, payload: Any, params: dict[str, str] | None = None) -> Deploy | str:
    """A Deploy from a GitHub webhook, or the reason it is not one (a string).

    ``params`` (the hook URL's query string) may set ``service``, ``version``,
    ``environment`` and ``workflows`` (comma-separated name patterns). Events that cannot
    mark a deploy (org- and app-level ones carry no ``repository``) are reasons, never
    errors: GitHub would show them as failed deliveries. Raises IngestError for a deploy
    event missing what GitHub always sends, or holding a field of the wrong type.
    """
    params = params or {}
    if event not in DEPLOY_EVENTS:
        return f"GitHub event {event!r} does not mark deploys (send deployment_status or workflow_run)"
    if not isinstance(payload, dict):
        raise IngestError(f"malformed {event} payload: expected a JSON object")
    repo = _obj(payload, "repository", event)
    repo_name = _text(repo, "name", "repository", required=True)
    full_name = _text(repo, "full_name", "repository") or repo_name
    if event == "deployment_status":
        status = _obj(payload, "deployment_status", event)
        dep = _obj(payload, "deployment", event)
        state = _text(status, "state", "deployment_status", required=True)
        if state != "success":
            return f"deployment_status state is {state!r}; only 'success' marks a deploy"
        sha = _text(dep, "sha", "deployment", required=True)
        extra = _deployment_payload(dep)
        ref = _text(dep, "ref", "deployment")
        version = (params.get("version") or _text(extra, "version", "deployment.payload")
                   or version_from_ref(ref, sha) or sha[:7])
        creator = dep.get("creator") if isinstance(dep.get("creator"), dict) else {}
        return make_deploy(
            params.get("service") or _text(extra, "service", "deployment.payload") or repo_name, version,
            commit=sha,
            environment=params.get("environment") or _text(status, "environment", "deployment_status")
            or _text(dep, "environment", "deployment"),
            at=_text(status, "updated_at", "deployment_status") or _text(status, "created_at", "deployment_status")
            or None, source="github",
            attributes={k: v for k, v in {
                "github.event": event, "github.repository": full_name, "github.ref": ref,
                "github.deployment_id": dep.get("id"),
                "url": _text(status, "target_url", "deployment_status") or _text(status, "log_url",
                                                                                 "deployment_status"),
                "github.creator": creator.get("login"),
            }.items() if v},
        )
    run = _obj(payload, "workflow_run", event)
    action = payload.get("action")
    if action != "completed":
        return f"workflow_run action is {action!r}; only 'completed' runs mark a deploy"
    conclusion = run.get("conclusion")
    if conclusion != "success":
        return f"workflow_run conclusion is {conclusion!r}; only successful runs mark a deploy"
    workflow = payload.get("workflow") if isinstance(payload.get("workflow"), dict) else {}
    name = _text(run, "name", "workflow_run") or _text(workflow, "name", "workflow")
    path = _text(run, "path", "workflow_run")
    pats = _workflow_patterns(params.get("workflows"))
    if not any(fnmatch.fnmatch(name.lower(), p) or fnmatch.fnmatch(path.lower(), p) for p in pats):
        return (f"workflow {name!r} does not match the deploy workflow patterns {', '.join(pats)} "
                "(set RUNBRIEF_GITHUB_WORKFLOWS or ?workflows=)")
    sha = _text(run, "head_sha", "workflow_run", required=True)
    return make_deploy(
        params.get("service") or repo_name, params.get("version") or sha[:7], commit=sha,
        environment=params.get("environment"),
        at=_text(run, "updated_at", "workflow_run") or _text(run, "run_started_at", "workflow_run") or None,
        source="github",
        attributes={k: v for k, v in {
            "github.event": event, "github.repository": full_name, "github.workflow": name,
            "github.branch": _text(run, "head_branch", "workflow_run"), "github.run_id": run.get("id"),
            "url": _text(run, "html_url", "workflow_run"),
        }.items() if v},
    )


def find_github_duplicate(store: Store, d: Deploy, delivery: str) -> str | None:
    """The evidence ID of a deploy this GitHub delivery already made, or None.

    Why: GitHub redelivers (same ``X-GitHub-Delivery``), and one deployment reaches us
    more than once (a repository hook and an org hook, deployment_status and the workflow
    run behind it). The same delivery, the same deployment ID of the same repository, or
    the same commit already being the latest deploy of that service and environment is
    one deploy, not several. A later redeploy of a commit after another is a new deploy.
    """
    repo = str(d.attributes.get("github.repository") or "")
    dep_id = d.attributes.get("github.deployment_id")
    conds = ["json_extract_string(attributes, '$.\"github.delivery\"') = ?"]
    args: list[Any] = [delivery or "\x00"]
    if dep_id is not None:
        conds.append("(json_extract_string(attributes, '$.\"github.repository\"') = ? "
                     "AND json_extract_string(attributes, '$.\"github.deployment_id\"') = ?)")
        args += [repo, str(dep_id)]
    rows = store.query(f"SELECT max(id) id FROM deploys WHERE source = 'github' AND ({' OR '.join(conds)})", args)
    if rows and rows[0]["id"] is not None:
        return ids.make("dep", rows[0]["id"])
    if d.commit:
        rows = store.query(
            """SELECT id, commit FROM deploys WHERE service = ? AND coalesce(environment, '') = ?
               ORDER BY ts DESC, id DESC LIMIT 1""", [d.service, d.environment or ""])
        if rows and rows[0]["commit"] == d.commit:
            return ids.make("dep", rows[0]["id"])
    return None


# ---------------------------------------------------------------- inferred deploys
# Telemetry is compared with telemetry: CI often names a release differently from what the
# service reports (tag "v1.4.2" vs service.version "1.4.2", a SHA vs a build number), so a
# marked deploy never makes the next telemetry version look like a change. Instead a marked
# deploy "explains" the first version change that follows it (or precedes it by a few
# minutes), which is then not recorded twice.
MARK_EXPLAINS_S = 30 * 60
MARK_LEAD_S = 5 * 60


@dataclass
class _Versions:
    seen: dict[str, dict[str, int]] = field(default_factory=dict)  # service -> version -> last seen ns
    current: dict[str, str] = field(default_factory=dict)  # service -> latest version in telemetry
    marks: dict[str, list[Any]] = field(default_factory=dict)  # service -> [version, ts_ns, consumed]
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATE: weakref.WeakKeyDictionary[Any, _Versions] = weakref.WeakKeyDictionary()
_STATE_LOCK = threading.Lock()


def _state(store: Store) -> _Versions:
    with _STATE_LOCK:
        st = _STATE.get(store)
        if st is None:
            st = _Versions()
            last_seen: dict[str, int] = {}
            for r in store.query(
                """SELECT service, version, epoch_ns(max(last_seen)) last_ns FROM resources
                   WHERE version IS NOT NULL GROUP BY ALL ORDER BY last_ns"""
            ):
                st.seen.setdefault(r["service"], {})[r["version"]] = int(r["last_ns"] or 0)
                st.current[r["service"]] = r["version"]
                last_seen[r["service"]] = int(r["last_ns"] or 0)
            for r in store.query(
                """SELECT service, arg_max(version, ts) version, epoch_ns(max(ts)) ts FROM deploys
                   WHERE source <> 'inferred' GROUP BY service"""
            ):
                # a mark older than the service's latest telemetry was already reflected in it
                consumed = int(r["ts"] or 0) <= last_seen.get(r["service"], 0)
                st.marks[r["service"]] = [r["version"], int(r["ts"] or 0), consumed]
            _STATE[store] = st
        return st


def _explained_by_mark(st: _Versions, svc: str, ver: str, t: int) -> bool:
    mark = st.marks.get(svc)
    if mark is None or mark[2]:
        return False
    m_ver, m_ts, _ = mark
    if m_ver == ver or m_ts - MARK_LEAD_S * 10**9 <= t <= m_ts + MARK_EXPLAINS_S * 10**9:
        mark[2] = True
        return True
    return False


@commit_hook
def infer_deploys(store: Store, batch: Prepared) -> None:
    """Add a Deploy (source 'inferred') when a service's service.version changes."""
    versioned = [s for s in batch.resources if s.resource.attributes.get("service.version") is not None]
    if not versioned and not batch.deploys:
        return
    st = _state(store)
    with st.lock:
        for d in batch.deploys:
            if d.source != "inferred":
                st.marks[d.service] = [d.version, d.ts_ns, False]
        if not versioned:
            return
        # Cheap path first (this hook sees every OTLP batch): group the batch's distinct
        # resources by (service, version); only a candidate change costs a pass over records.
        groups: dict[tuple[str, str], list[ResourceSeen]] = {}
        for s in versioned:
            groups.setdefault((s.resource.service, str(s.resource.version)), []).append(s)
        batch_last = batch.max_ts or time.time_ns()
        quiet_ns = ROLLBACK_QUIET_S * 10**9
        found: list[tuple[int, str, str, Resource, bool]] = []
        for (svc, ver), rs in groups.items():
            prev = st.current.get(svc)
            last = st.seen.get(svc, {}).get(ver)
            if prev is None:
                st.current[svc] = ver  # first sight of the service: nothing changed
            elif ver != prev and (last is None or batch_last - last > quiet_ns):
                first = min((s.first_ns for s in rs if s.first_ns), default=0) or batch_last
                if last is None or first - last > quiet_ns:
                    found.append((first, svc, ver, rs[0].resource, last is not None))
        for first, svc, ver, r, rollback in sorted(found, key=lambda f: f[0]):
            prev = st.current.get(svc)
            if prev == ver:
                continue
            st.current[svc] = ver
            if _explained_by_mark(st, svc, ver, first):
                continue
            attrs: dict[str, Any] = {"previous_version": prev, "inferred_from": "service.version"}
            if rollback:
                attrs["rollback"] = True
            batch.deploys.append(Deploy(ts_ns=first, service=svc, version=ver, environment=r.environment or "",
                                        source="inferred", attributes=attrs))
        for svc, ver in groups:
            known = st.seen.setdefault(svc, {})
            known[ver] = max(known.get(ver, 0), batch_last)

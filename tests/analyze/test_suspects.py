"""`suspects`: the commits a deploy shipped, ranked against the incident's code locations.

The repository is a real one, built with the ``git`` binary in a temp dir; the incident is a
real one, detected from failing spans whose code.* attributes and stack traces name
shop/cart.py:get_cart (as test_incidents seeds them).
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from changes_fill import T0, Filler, _ns
from test_incidents import BASE_H, FAULT_AT, error_spans, ok_spans, quiet

from runbrief import ids, ops
from runbrief.records import Deploy
from runbrief.store import writer
from runbrief.store.duck import Store

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")


def git(repo: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "Ana", "GIT_AUTHOR_EMAIL": "ana@example.com", "GIT_COMMITTER_NAME": "Ana",
           "GIT_COMMITTER_EMAIL": "ana@example.com", "HOME": str(repo), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", *files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


CART = '''def get_cart(user_id):
    items = load(user_id)
    return {"items": items}


def load(user_id):
    return []
'''


def make_repo(tmp: Path) -> dict[str, str]:
    repo = tmp / "shop-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    c = {"base": commit(repo, {"shop/cart.py": CART, "shop/app.py": "def handle(req):\n    return 1\n",
                               "README.md": "shop\n"}, "initial shop")}
    c["docs"] = commit(repo, {"README.md": "shop, the demo store\n"}, "docs: describe the shop")
    c["bad"] = commit(repo, {"shop/cart.py": CART.replace('return {"items": items}',
                                                          'return {"items": items, "total": items[0]["price"]}')},
                      "cart: show the total")
    c["other"] = commit(repo, {"shop/search.py": "def search(q):\n    return []\n"}, "search: stub")
    return c


def deploy(store: Store, service: str, at, version: str, sha: str) -> str:  # noqa: ANN001
    first = store.next_ids("deploys", 1)
    with store.write() as con:
        writer.insert_deploys(con, [Deploy(ts_ns=_ns(at), service=service, version=version, commit=sha)], first)
    return f"dep_{first}"


def test_the_commit_that_changed_the_failing_function_ranks_first(store: Store, filler: Filler,
                                                                   tmp_path: Path) -> None:
    c = make_repo(tmp_path)
    quiet(filler)
    ok_spans(store, "frontend", T0, BASE_H * 60 + 60)
    deploy(store, "frontend", T0 + timedelta(hours=1), "1.0", c["base"])
    dep = deploy(store, "frontend", FAULT_AT - timedelta(minutes=5), "1.1", c["other"])
    error_spans(store, "frontend", FAULT_AT)
    (inc,) = ops.run(store, "incidents", {})
    out = ops.run(store, "suspects", {"id": inc["id"], "repo": str(tmp_path / "shop-repo")})
    assert out["deploy"] == dep and out["range"] == f"{c['base']}..{c['other']}"
    ranked = [s["commit"] for s in out["suspects"]]
    assert ranked[0] == c["bad"] and set(ranked) == {c["docs"], c["bad"], c["other"]}
    top = out["suspects"][0]
    assert top["score"] > out["suspects"][1]["score"] == 0
    assert any("get_cart" in w for w in top["why"]) and top["hunks"][0]["file"] == "shop/cart.py"
    assert {(loc["file"], loc["function"]) for loc in out["locations"]} >= {("shop/cart.py", "get_cart")}
    for e in out["evidence"]:
        assert ids.exists(store, e), e


def test_without_a_repository_the_locations_are_still_listed(store: Store, filler: Filler, tmp_path: Path) -> None:
    quiet(filler)
    ok_spans(store, "frontend", T0, BASE_H * 60 + 60)
    error_spans(store, "frontend", FAULT_AT)
    (inc,) = ops.run(store, "incidents", {})
    out = ops.run(store, "suspects", {"id": inc["id"], "repo": str(tmp_path)})
    assert out["suspects"] == [] and "not a git repository" in out["notes"][0]
    assert out["locations"][0]["file"] == "shop/cart.py" and out["locations"][0]["function"] == "get_cart"


def test_cli_ranks_and_json_is_the_op_result(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from runbrief.cli import main

    c = make_repo(tmp_path)
    path = tmp_path / "st"
    with Store.open(path) as s:
        f = Filler(s)
        quiet(f)
        ok_spans(s, "frontend", T0, BASE_H * 60 + 60)
        deploy(s, "frontend", T0 + timedelta(hours=1), "1.0", c["base"])
        deploy(s, "frontend", FAULT_AT - timedelta(minutes=5), "1.1", c["other"])
        error_spans(s, "frontend", FAULT_AT)
        (inc,) = ops.run(s, "incidents", {})
    repo = str(tmp_path / "shop-repo")
    assert main(["suspects", inc["id"], "--repo", repo, "--json", "--store", str(path)]) == 0
    import orjson

    assert orjson.loads(capsys.readouterr().out)["suspects"][0]["commit"] == c["bad"]
    assert main(["suspects", inc["id"], "--repo", repo, "--store", str(path)]) == 0
    text = capsys.readouterr().out
    assert f"1. {c['bad'][:12]}" in text and "cart: show the total" in text


def test_a_remote_caller_names_no_repository_and_no_git_option(tmp_path) -> None:  # noqa: ANN001
    from runbrief import trust
    from runbrief.analyze.suspects import _REV
    from runbrief.errors import Forbidden
    from runbrief.store.duck import Store

    s = Store.open(tmp_path / "s.duckdb")
    try:
        with trust.remote("the HTTP API"), pytest.raises(Forbidden, match="repo"):
            ops.run(s, "suspects", {"id": "inc_1", "repo": "/etc"})
    finally:
        s.close()
    assert _REV.fullmatch("3f2a9c1b") and _REV.fullmatch("v1.4.2") and _REV.fullmatch("HEAD~3")
    assert not _REV.fullmatch("--output=/tmp/x") and not _REV.fullmatch("a b") and not _REV.fullmatch("-x")

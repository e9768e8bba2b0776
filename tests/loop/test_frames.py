"""Suspects read Java and Node stack frames: real traces from public issues, real git repositories.

The traces are in tests/data/loop/ (README: their issue threads). A JVM frame names a class,
so its file is the package path under src/main/java; a Node frame's path is the container's
(/app/routes/x.js) and matches the repository's file by its tail. Library frames (Spring,
the JDK's reflection, node_modules, Node's own modules) are never locations.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from changes_fill import T0, Filler
from test_incidents import BASE_H, FAULT_AT, ns, ok_spans, quiet
from test_suspects import commit, deploy, git

from runbrief import ops
from runbrief.analyze.suspects import frames
from runbrief.ingest.pipeline import Batch, Pipeline
from runbrief.records import Resource, Span, SpanEvent
from runbrief.store.duck import Store

DATA = Path(__file__).resolve().parents[1] / "data" / "loop"


def trace(name: str) -> str:
    return (DATA / name).read_text()


def test_java_frames_map_the_package_to_the_source_tree_and_skip_the_jdk_and_spring() -> None:
    got = frames(trace("java_spring_npe.txt"))
    assert got == [{"file": "src/main/java/com/mavericsystems/digitalinterviewportal/controllers/"
                            "ForgotPasswordController.java",
                    "function": "ForgotPasswordController.forgotpassword", "line": 52,
                    "match": "com/mavericsystems/digitalinterviewportal/controllers/ForgotPasswordController.java"}]


def test_node_frames_keep_the_application_and_drop_node_modules() -> None:
    assert frames(trace("node_express_typeerror.txt")) == [
        {"file": "/app/routes/error-tracker.js", "function": "getHandler", "line": 77,
         "match": "/app/routes/error-tracker.js"}]
    (anon,) = frames(trace("node_anonymous_frame.txt"))
    assert anon["file"] == "/webapp/server/routers/remote-services.js" and anon["function"] is None
    assert anon["line"] == 259
    assert frames(trace("node_pg_library_only.txt")) == []  # node_modules and Node's own events.js


def test_typescript_kotlin_and_inner_class_shapes() -> None:
    ts = ("Error: no price\n    at CartService.total (/app/src/cart/cart.service.ts:41:13)\n"
          "    at async Promise.all (index 0)\n    at async CartController.get (/app/src/cart/cart.controller.ts:18:5)\n"
          "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)")
    assert [(f["file"], f["function"]) for f in frames(ts)] == [
        ("/app/src/cart/cart.service.ts", "CartService.total"), ("/app/src/cart/cart.controller.ts", "CartController.get")]
    kt = ("java.lang.IllegalStateException: empty\n\tat com.shop.cart.Cart$Line.price(Cart.kt:17)\n"
          "\tat app//com.shop.cart.Cart.total(Cart.kt:9)\n\tat java.base/java.util.ArrayList.forEach(ArrayList.java:1541)")
    assert [(f["file"], f["function"]) for f in frames(kt)] == [
        ("src/main/kotlin/com/shop/cart/Cart.kt", "Cart.price"), ("src/main/kotlin/com/shop/cart/Cart.kt", "Cart.total")]


def _failing(store: Store, service: str, at, stack: str, route: str, n: int = 20) -> None:  # noqa: ANN001
    res = Resource({"service.name": service})
    spans = []
    for i in range(n):
        t = ns(at + timedelta(seconds=i))
        spans.append(Span(f"{20_000 + i:032x}", f"{20_000 + i:016x}", f"POST {route}", t, t + 30_000_000, res,
                          kind="SERVER", status_code="ERROR", status_message=stack.splitlines()[0],
                          attributes={"http.route": route},
                          events=[SpanEvent("exception", t + 1000, {"exception.type": stack.split(":")[0],
                                                                   "exception.stacktrace": stack})]))
    Pipeline(store).write(Batch(spans=spans))


JAVA_CTRL = '''package com.mavericsystems.digitalinterviewportal.controllers;

public class ForgotPasswordController {
    public String forgotpassword(String email) {
        return service.reset(email);
    }
}
'''

NODE_ROUTE = '''function getHandler(req, res) {
  const ref = req.get('referrer');
  return res.send(ref);
}
module.exports = { getHandler };
'''


@pytest.mark.skipif(shutil.which("git") is None, reason="needs the git binary")
@pytest.mark.parametrize("lang", ["java", "node"])
def test_the_commit_touching_the_failing_frame_ranks_first(store: Store, filler: Filler, tmp_path: Path,
                                                           lang: str) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    if lang == "java":
        path = "src/main/java/com/mavericsystems/digitalinterviewportal/controllers/ForgotPasswordController.java"
        good, bad = JAVA_CTRL, JAVA_CTRL.replace("return service.reset(email);",
                                                 "return service.reset(email.trim());")
        stack, route = trace("java_spring_npe.txt"), "/forgot-password"
    else:
        path, good = "routes/error-tracker.js", NODE_ROUTE
        bad = NODE_ROUTE.replace("const ref = req.get('referrer');", "const ref = req.get('referrer').startsWith('h');")
        stack, route = trace("node_express_typeerror.txt"), "/r"
    base = commit(repo, {path: good, "README.md": "svc\n"}, "initial")
    culprit = commit(repo, {path: bad}, "handle the referrer")
    other = commit(repo, {"README.md": "svc, documented\n"}, "docs")
    quiet(filler, services=("svc",))
    ok_spans(store, "svc", T0, BASE_H * 60 + 60)
    deploy(store, "svc", T0 + timedelta(hours=1), "1.0", base)
    deploy(store, "svc", FAULT_AT - timedelta(minutes=5), "1.1", other)
    _failing(store, "svc", FAULT_AT, stack, route)
    (inc,) = [i for i in ops.run(store, "incidents", {}) if i["service"] == "svc"]
    out = ops.run(store, "suspects", {"id": inc["id"], "repo": str(repo)})
    assert [s["commit"] for s in out["suspects"]][0] == culprit
    top = out["suspects"][0]
    assert top["score"] >= 5 and top["hunks"][0]["file"] == path, top  # the file and the function
    assert out["suspects"][1]["score"] == 0
    assert all("node_modules" not in (loc["file"] or "") and not (loc["function"] or "").startswith("org.")
               for loc in out["locations"])

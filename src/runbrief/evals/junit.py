"""JUnit XML for a gate or eval result, so CI systems show each check as a test case.

One ``<testsuite name="runbrief gate">`` with one ``<testcase>`` per check; a failed check
carries ``<failure>`` (its detail, and its evidence IDs in the body), a check that could
not run carries ``<error>``. Content from spans is escaped by ElementTree.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

__all__ = ["junit_xml", "write_junit"]


def junit_xml(result: dict[str, Any], suite: str = "runbrief gate") -> str:
    checks = result.get("checks", [])
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", {
        "name": suite,
        "tests": str(len(checks)),
        "failures": str(sum(c["status"] == "fail" for c in checks)),
        "errors": str(sum(c["status"] == "error" for c in checks)),
        "time": f"{(result.get('elapsed_ms') or 0) / 1000:.3f}",
    })
    props = ET.SubElement(ts, "properties")
    for key, value in (result.get("scope") or {}).items():
        if value:
            ET.SubElement(props, "property", {"name": f"scope.{key}", "value": str(value)})
    if result.get("run_id"):
        ET.SubElement(props, "property", {"name": "run_id", "value": str(result["run_id"])})
    for c in checks:
        case = ET.SubElement(ts, "testcase", {"classname": f"runbrief.{c['evaluator']}", "name": c["name"]})
        evidence = "\n".join(c.get("evidence") or [])
        if c["status"] == "fail":
            el = ET.SubElement(case, "failure", {"message": c["detail"][:1000], "type": c["evaluator"]})
            el.text = f"{c['detail']}\nevidence:\n{evidence}" if evidence else c["detail"]
        elif c["status"] == "error":
            el = ET.SubElement(case, "error", {"message": (c.get("error") or "")[:1000], "type": "EvaluatorError"})
            el.text = c.get("error") or ""
        else:
            out = ET.SubElement(case, "system-out")
            out.text = c["detail"] + (f"\nevidence:\n{evidence}" if evidence else "")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(result: dict[str, Any], path: str | Path, suite: str = "runbrief gate") -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(junit_xml(result, suite), encoding="utf-8")
    return p

"""Redaction recall per kind on the detector corpora, and false positives on Loghub-2k (issue 16).

    python bench/redact_recall.py [path/to/redact.py]

With a path, that copy of the module is measured (e.g. ``git show HEAD~3:src/runbrief/redact.py``
saved to /tmp), so before and after come from the same run of the same corpus. A "false
positive" is a Loghub line the redactor changes: those logs hold no credentials.
"""

from __future__ import annotations

import collections
import importlib.util
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "redact"
LOGHUB = ROOT.parent / "shared" / "data" / "loghub-2k"


def load(path: str | None):  # noqa: ANN201
    if not path:
        from runbrief import redact
        return redact
    spec = importlib.util.spec_from_file_location("redact_under_test", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def corpus() -> list[dict[str, str]]:
    rows = [orjson.loads(line) for f in ("gitleaks.jsonl", "detect_secrets.jsonl")
            for line in (DATA / f).read_bytes().splitlines() if line]
    rows.append({"kind": "gcp_service_account", "secret": "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYw",
                 "text": " ".join((DATA / "gcp_service_account.json").read_text().split())})
    rows.append({"kind": "private_key", "secret": "xVgEXZsWgRYJKwYBBAHaRw8BAQdAaOyGdv1sNIYJ",
                 "text": (DATA / "pgp_private_key.asc").read_text()})
    return rows


def main() -> None:
    mod = load(sys.argv[1] if len(sys.argv) > 1 else None)
    tot: collections.Counter[str] = collections.Counter()
    ok: collections.Counter[str] = collections.Counter()
    for r in corpus():
        tot[r["kind"]] += 1
        ok[r["kind"]] += r["secret"] not in mod.redact(r["text"], emails=False)
    for k in sorted(tot):
        print(f"{k:22} {ok[k]:4}/{tot[k]:<4} {ok[k] / tot[k]:6.1%}")
    print(f"{'ALL':22} {sum(ok.values()):4}/{sum(tot.values()):<4} {sum(ok.values()) / sum(tot.values()):6.1%}")
    lines = [line for p in sorted(LOGHUB.glob("*/*_2k.log")) for line in p.read_text(errors="replace").splitlines()]
    t0 = time.perf_counter()
    changed = sum(mod.redact(line, emails=False) != line for line in lines)
    dt = time.perf_counter() - t0
    print(f"loghub-2k false positives: {changed}/{len(lines)} lines changed; {dt / max(1, len(lines)) * 1e6:.1f} us/line")


if __name__ == "__main__":
    main()

"""Rebuild gitleaks.jsonl and detect_secrets.jsonl from the upstream sources (run by hand, not by the tests).

    python tests/data/redact/build_corpus.py GITLEAKS_CHECKOUT DETECT_SECRETS_CHECKOUT

gitleaks: every literal string in each rule's ``tps`` (true-positive) list, labelled with the
secret the rule's own regex finds in it; for a rule whose samples are generated at random
(``secrets.NewSecret(...)``), one seeded sample of the same shape, placed bare in a log line
and in gitleaks' own ``<id>_api_token = "<secret>"`` form. detect-secrets: the keyword
detector's config and Go cases that it expects to flag, with the secret the test names.
"""

from __future__ import annotations

import ast
import random
import re
import subprocess
import sys
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parent
# The kinds runbrief claims (and the vendors issue 16 names); files outside this list are not sampled.
FAMILIES = {
    "aws": "aws_key", "github": "github_token", "gitlab": "gitlab_token", "slack": "slack",
    "stripe": "stripe_key", "npm": "npm_token", "sendgrid": "sendgrid_key", "huggingface": "huggingface_token",
    "jwt": "jwt", "privatekey": "private_key", "gcp": "google_key", "openai": "openai_key",
    "anthropic": "anthropic_key", "curl": "basic_auth", "azure": "azure_key", "pypi": "pypi_token",
    "digitalocean": "digitalocean_token", "shopify": "shopify_token", "grafana": "grafana_token",
    "doppler": "doppler_token", "databricks": "databricks_token", "heroku": "heroku_key",
    "linear": "linear_key", "sentry": "sentry_token", "twilio": "twilio_key", "age": "age_key",
}
SIZE_FNS = {
    "Numeric": "[0-9]{%s}", "Hex": "[a-f0-9]{%s}", "AlphaNumeric": "[a-z0-9]{%s}",
    "AlphaNumericExtendedShort": "[a-z0-9_-]{%s}", "AlphaNumericExtended": "[a-z0-9=_-]{%s}",
    "AlphaNumericExtendedLong": "[a-z0-9/=_+-]{%s}",
}


def go_strings(src: str) -> list[tuple[int, int, str]]:
    """(start, end, value) of every Go string literal in ``src``; comments skipped."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            i = src.find("\n", i)
            i = n if i < 0 else i
        elif c == "`":
            j = src.index("`", i + 1)
            out.append((i, j + 1, src[i + 1 : j]))
            i = j + 1
        elif c == '"':
            j = i + 1
            while src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append((i, j + 1, ast.literal_eval(src[i : j + 1].replace("\\/", "/"))))
            i = j + 1
        else:
            i += 1
    return out


def pyregex(expr: str) -> str | None:
    """The secret's pattern from a rule's ``Regex:`` expression, in Python syntax."""
    expr = re.sub(r"utils\.(\w+)\(\"(\d+)\"\)", lambda m: "`" + SIZE_FNS.get(m[1], "[a-z0-9]{%s}") % m[2] + "`", expr)
    expr = expr.replace("utils.Hex8_4_4_4_12()", "`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`")
    lits = [s for _, _, s in go_strings(expr)]
    if not lits:
        return None
    if "GenerateSemiGenericRegex" in expr:
        pat = lits[-1]
    elif "GenerateUniqueTokenRegex" in expr:
        pat = lits[0]
    else:
        pat = "".join(lits)
    flags = ""
    if "(?i)" in pat:
        pat, flags = pat.replace("(?i)", ""), "(?i)"
    if "GenerateSemiGenericRegex" in expr or expr.rstrip().endswith("true)"):
        flags = "(?i)"
    pat = flags + pat.replace(r"\z", r"\Z")
    try:
        re.compile(pat)
    except re.error:
        return None
    return pat


def sample(pattern: str, rng: random.Random) -> str:
    """A string of the shape ``[class]{n}`` sequences describe (the generators gitleaks uses)."""
    def one(m: re.Match[str]) -> str:
        cls, n = m[1], int(m[2])
        chars = []
        k = 0
        while k < len(cls):
            if cls[k] == "\\":
                chars.append(cls[k + 1])
                k += 2
            elif k + 2 < len(cls) and cls[k + 1] == "-":
                chars += [chr(x) for x in range(ord(cls[k]), ord(cls[k + 2]) + 1)]
                k += 3
            else:
                chars.append(cls[k])
                k += 1
        if cls == r"\w":
            chars = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
        return "".join(rng.choice(chars) for _ in range(n))

    out = re.sub(r"\[([^\]]+)\]\{(\d+)(?:,\d*)?\}", one, pattern)
    return re.sub(r"\\w\{(\d+)\}", lambda m: one(re.match(r"\[(.+)\]\{(\d+)\}", "[\\w]{" + m[1] + "}")), out)


def gitleaks(repo: Path) -> list[dict[str, str]]:
    commit = subprocess.check_output(["git", "-C", str(repo), "rev-parse", "HEAD"], text=True).strip()
    rng = random.Random(16)
    rows: list[dict[str, str]] = []
    for fam, kind in FAMILIES.items():
        path = f"cmd/generate/config/rules/{fam}.go"
        src = subprocess.check_output(["git", "-C", str(repo), "show", f"{commit}:{path}"], text=True)
        for func in re.split(r"\nfunc ", src)[1:]:
            rid = re.search(r'RuleID:\s*"([^"]+)"', func)
            rx = re.search(r"\bRegex:\s*(.+?),\n\t\t[A-Z]", func, re.S)
            tps = re.search(r"\btps\s*:?=([\s\S]*?)(?:\n\tfps\s*:?=|return utils\.)", func)
            if not (rid and rx and tps):
                continue
            pat = pyregex(rx[1])
            if not pat:
                print("skip (regex)", rid[1], file=sys.stderr)
                continue
            crx = re.compile(pat)
            block = tps[1]
            strings = go_strings(block)
            seen = set()
            for s, e, val in strings:
                before, after = block[:s].rstrip()[-1:], block[e:].lstrip()[:1]
                if before == "+" or after == "+" or val in seen:
                    continue
                found = [m.group(m.lastindex or 0) if m.lastindex and m.group(m.lastindex) else m.group(0)
                         for m in crx.finditer(val)]
                found = [f for f in found if f and len(f) >= 8]
                if found:
                    seen.add(val)
                    rows.append({"kind": kind, "source": f"gitleaks:{rid[1]}", "text": val,
                                 "secret": max(found, key=len)})
            # Generated samples: "prefix"+secrets.NewSecret(<pattern>)...
            for gen in re.finditer(r'GenerateSampleSecrets?\("([^"]*)",\s*((?:"[^"]*"|secrets\.NewSecret\([^()]*(?:\([^()]*\))?\)|\+|\s)+)\)', block):
                parts = []
                for p in re.finditer(r'"([^"]*)"|secrets\.NewSecret\(([^()]*(?:\([^()]*\))?)\)', gen[2]):
                    if p[1] is not None:
                        parts.append(p[1])
                    else:
                        arg = re.sub(r"utils\.(\w+)\(\"(\d+)\"\)", lambda m: SIZE_FNS.get(m[1], "[a-z0-9]{%s}") % m[2], p[2])
                        arg = arg.strip("`\"")
                        parts.append(sample(arg, rng))
                secret = "".join(parts)
                if not crx.search(secret) or secret in seen or "[" in secret or "(" in secret or "\\" in secret:
                    continue
                seen.add(secret)
                for text in (f"request 7f3a rejected: credential {secret} is not valid for this tenant",
                             f'{gen[1]}_api_token = "{secret}"'):
                    rows.append({"kind": kind, "source": f"gitleaks:{rid[1]} (generated)", "text": text, "secret": secret})
    return rows


def detect_secrets(repo: Path) -> list[dict[str, str]]:
    commit = subprocess.check_output(["git", "-C", str(repo), "rev-parse", "HEAD"], text=True).strip()
    src = subprocess.check_output(["git", "-C", str(repo), "show", f"{commit}:tests/plugins/keyword_test.py"], text=True)
    env: dict[str, object] = {}
    for name in ("COMMON_SECRET", "WHITES_SECRET", "LETTER_SECRET", "SYMBOL_SECRET"):
        env[name] = ast.literal_eval(re.search(rf"^{name} = (.+)$", src, re.M)[1])
    env["LONG_LINE"] = ""
    rows = []
    tree = ast.parse(src)
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") in ("CONFIG_TEST_CASES", "GOLANG_TEST_CASES"):
            for text, secret in eval(compile(ast.Expression(node.value), "kw", "eval"), env):  # noqa: S307
                if secret:
                    rows.append({"kind": "secret_pair", "source": f"detect-secrets:keyword_test.{node.targets[0].id}",
                                 "text": text, "secret": secret})
    return rows


def main() -> None:
    gl, ds = Path(sys.argv[1]), Path(sys.argv[2])
    for name, rows in (("gitleaks.jsonl", gitleaks(gl)), ("detect_secrets.jsonl", detect_secrets(ds))):
        (HERE / name).write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        print(name, len(rows))


if __name__ == "__main__":
    main()

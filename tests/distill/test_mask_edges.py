"""Where a masked value ends: the brackets and quotes around it (issue 17, Build 2).

Real messages from tests/data/logs (loghub-more: Hadoop, Mac; Loghub-2k BGL's chdir line).
The labelled corpora write ``vCores:<*>`` for ``vCores:32>`` and ``<NSXPCConnection: <*>``
for ``0x7fddbbb015c0>``, but keep the quote of ``path="<*>">`` and the ``)`` of
``chdir(<*>)``."""

from __future__ import annotations

import pytest

from runbrief.distill.mask import WILDCARD, Masker

M = Masker()


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        ("maxContainerCapability: <memory:8192, vCores:32>", "maxContainerCapability: <memory:<*>, vCores:<*>"),
        ("mapResourceRequest:<memory:1024, vCores:1>", "mapResourceRequest:<memory:<*>, vCores:<*>"),
        ("host connection <NSXPCConnection: 0x7fddbbb015c0> connection from pid 30298 invalidated",
         "host connection <NSXPCConnection: <*> connection from pid <*> invalidated"),
        ("descriptor <ISBindingImageDescriptor: 0x7f8ad3e0d300>.", "descriptor <ISBindingImageDescriptor: <*>."),
        ('store=<KSKeyedPersistentStore:0x100259dd0 path="/Users/xpc/Library/Google/GoogleSoftwareUpdate/'
         'TicketStore/Keystone.ticketstore" lockFile=<KSLockFile:0x100258ac0',
         'store=<KSKeyedPersistentStore:<*> path="<*>" lockFile=<KSLockFile:<*>'),
        ('serverInfoStore=<KSServerPrivateInfoStore:0x100259f40 path="/Users/xpc/Library/Google/'
         'GoogleSoftwareUpdate/Servers">', 'serverInfoStore=<KSServerPrivateInfoStore:<*> path="<*>">'),
        ("ciod: LOGIN chdir(/p/gb1/stella/RAPTOR/2183/equiv_T/L1) failed: No such file or directory",
         "ciod: LOGIN chdir(<*>) failed: No such file or directory"),
        ("a <b> and <c>", "a <b> and <c>"),  # words in brackets are not values
    ],
)
def test_value_edges(text: str, shape: str) -> None:
    assert M.mask_text(text) == shape


def test_absorbed_bracket_is_in_the_value_span() -> None:
    """The parameters keep what the template dropped: the line is the template with its
    values put back."""
    msg = "headroom=<memory:0, vCores:-27>"
    m = M.mask(msg)
    rebuilt = []
    for tok, (a, b), vs in zip(m.tokens, m.token_spans, m.value_spans, strict=True):
        out, last = [], a
        for s, e in vs:
            out.append(msg[last:s])
            out.append(WILDCARD)
            last = e
        out.append(msg[last:b])
        assert "".join(out) == tok
        rebuilt.append(tok)
    assert " ".join(rebuilt) == "headroom=<memory:<*>, vCores:<*>"
    assert [msg[s:e] for vs in m.value_spans for s, e in vs] == ["0", "-27>"]

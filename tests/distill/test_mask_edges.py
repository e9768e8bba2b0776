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


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        # real lines: loghub-more OpenSSH and Thunderbird, Loghub-2k Linux
        ("Failed password for root from 5.36.59.76 port 42393 ssh2", "Failed password for <*> from <*> port <*> ssh2"),
        ("session closed for user root", "session closed for user <*>"),
        ("(root) CMD (run-parts /etc/cron.hourly)", "(<*>) CMD (run-parts <*>)"),
        ("Invalid user admin from 5.188.10.180", "Invalid user <*> from <*>"),
        ("jA9J1UvC004306: to=root, ctladdr=root (0/0), delay=00:00:01, mailer=relay",
         "<*>: to=<*>, ctladdr=<*> (0/0), delay=<*>, mailer=relay"),
        # the account of an anonymous login is the event, a key named root is a key, words stay words
        ("ANONYMOUS FTP LOGIN FROM 84.102.20.2,  (anonymous)", "ANONYMOUS FTP LOGIN FROM <*>, (anonymous)"),
        ("Kernel command line: ro root=LABEL=/ rhgb quiet", "Kernel command line: ro root=LABEL=/ rhgb quiet"),
        ("mounting rootfs and chroot as roots", "mounting rootfs and chroot as roots"),
    ],
)
def test_well_known_accounts_are_values(text: str, shape: str) -> None:
    assert M.mask_text(text) == shape


def test_brute_force_users_are_one_pattern() -> None:
    """Real OpenSSH lines: the tried account (root, uucp, ftp) does not make a new event."""
    from runbrief.distill.parse import Parser

    lines = [
        "Dec 10 07:13:43 LabSZ sshd[24227]: Failed password for root from 5.36.59.76 port 42393 ssh2",
        "Dec 10 07:27:52 LabSZ sshd[24235]: Failed password for root from 112.95.230.3 port 45378 ssh2",
        "Dec 10 07:51:20 LabSZ sshd[24326]: Failed password for uucp from 195.154.37.122 port 59266 ssh2",
        "Dec 10 08:26:12 LabSZ sshd[24377]: Failed password for ftp from 5.188.10.180 port 54715 ssh2",
    ]
    parsed = Parser().parse(lines, params=False)
    assert len({p.pattern_id for p in parsed}) == 1
    assert parsed[0].template == "Failed password for <*> from <*> port <*> ssh2"


@pytest.mark.parametrize(
    ("text", "shape"),
    [
        # real messages (loghub-more HealthApp): a record of numbers joined by "##" is its
        # fields, each a value; the same record as a key's value is that one value
        ("getTodayTotalDetailSteps = 1514038440000##6993##548365##8661##12266##27164404",
         "getTodayTotalDetailSteps = <*>##<*>##<*>##<*>##<*>##<*>"),
        ("setTodayTotalDetailSteps=1514038440000##7007##548365##8661##12361##27173954", "setTodayTotalDetailSteps=<*>"),
        ("Reader #1 and relay=#7#@localhost", "Reader #<*> and relay=#7#@localhost"),
    ],
)
def test_number_records(text: str, shape: str) -> None:
    assert M.mask_text(text) == shape


def test_number_record_spans_are_the_numbers() -> None:
    msg = "getTodayTotalDetailSteps = 1514038440000##6993##548365"
    vals = [msg[s:e] for vs in M.mask(msg).value_spans for s, e in vs]
    assert vals == ["1514038440000", "6993", "548365"]

"""Header recognition on one line of each well-known format, and on lines with none."""

from __future__ import annotations

import pytest

from runbrief.ingest.formats import detect_format, parse_ts, split_header

NS = 1_000_000_000


@pytest.mark.parametrize(
    ("line", "message", "level", "fields"),
    [
        ("2024-03-01T12:00:01.250Z ERROR [main] com.shop.Checkout: payment failed for order 17",
         "payment failed for order 17", "ERROR", {"process": "main", "logger": "com.shop.Checkout"}),
        ("2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - "
         "Notification time out: 3200", "Notification time out: 3200", "INFO", {}),
        ("2024-03-01 12:00:01,123 - myapp.db - WARNING - slow query took 3.2s", "slow query took 3.2s", "WARN",
         {"logger": "myapp.db"}),
        ("WARNING:urllib3.connectionpool:Retrying after connection broken", "Retrying after connection broken",
         "WARN", {"logger": "urllib3.connectionpool"}),
        ("Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0",
         "authentication failure; logname= uid=0", "", {"host": "combo", "process": "sshd(pam_unix)[19939]"}),
        ("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed for lonvick",
         "'su root' failed for lonvick", "FATAL", {"host": "mymachine.example.com", "process": "su"}),
        ("I0102 15:04:05.123456    4242 controller.go:117] Reconciling deployment default/web",
         "Reconciling deployment default/web", "INFO", {"logger": "controller.go:117", "process": "4242"}),
        ("03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogs opening app wtoken",
         "printFreezingDisplayLogs opening app wtoken", "DEBUG", {"logger": "WindowManager"}),
        ('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326',
         '"GET /apache_pb.gif HTTP/1.0" 200 2326', "", {"host": "127.0.0.1"}),
        ("2023/01/01 12:00:00 [error] 1234#5678: *1 open() failed (2: No such file or directory)",
         "open() failed (2: No such file or directory)", "ERROR", {}),
        ("[Sun Dec 04 04:47:44 2005] [error] mod_jk child workerEnv in error state 6",
         "mod_jk child workerEnv in error state 6", "ERROR", {}),
        ("2009/11/10 23:00:00 listening on :8080", "listening on :8080", "", {}),
        ("1700000000.123 worker-3 started", "worker-3 started", "", {}),
        ("20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579", "onStandStepChanged 3579", "",
         {"logger": "Step_LSC"}),
        ("[10.30 16:49:06] chrome.exe - proxy.example.com:5070 open through proxy HTTPS",
         "proxy.example.com:5070 open through proxy HTTPS", "", {"process": "chrome.exe"}),
        ("17/06/09 20:10:40 INFO executor.CoarseGrainedExecutorBackend: Registered signal handlers",
         "Registered signal handlers", "INFO", {"logger": "executor.CoarseGrainedExecutorBackend"}),
    ],
)
def test_known_headers(line: str, message: str, level: str, fields: dict[str, str]) -> None:
    h = split_header(line)
    assert h.message == message
    assert h.level == level
    for k, v in fields.items():
        assert getattr(h, k) == v, k
    assert h.ts_ns is not None or h.fmt == "python-default"


@pytest.mark.parametrize(
    "line",
    ["just a message with no header", "ERROR count is 5 but the word is in the text", "", "   ",
     "\x00\x01binary\xff", "user 42 logged in at 10:00"],
)
def test_no_header_keeps_the_line(line: str) -> None:
    h = split_header(line)
    assert h.ts_ns is None
    assert h.message == line or line.startswith("ERROR")


def test_level_first_word_is_a_level() -> None:
    h = split_header("ERROR: disk full on /dev/sda1")
    assert (h.level, h.message) == ("ERROR", "disk full on /dev/sda1")


def test_timestamps_parse_to_utc_ns() -> None:
    assert parse_ts("2024-03-01T12:00:01.250Z") == 1709294401 * NS + 250_000_000
    assert parse_ts("2024-03-01 13:00:01,250+01:00") == 1709294401 * NS + 250_000_000
    assert parse_ts("10/Oct/2000:13:55:36 -0700") == 971211336 * NS
    assert parse_ts("1700000000") == 1700000000 * NS
    assert parse_ts("Mar  1 12:00:01", year=2024) == 1709294401 * NS
    assert parse_ts("no time here") is None


def test_detect_format_picks_the_common_one() -> None:
    lines = ["Jun 14 15:16:01 combo sshd[1]: a", "Jun 14 15:16:02 combo sshd[2]: b", "garbage"]
    assert detect_format(lines) == "syslog"
    assert detect_format([]) == ""


def test_huge_and_odd_lines_do_not_raise() -> None:
    for line in ["[" * 5000, "2024-01-01 " + "x" * 1_000_000, "\ud800 surrogate", "2024-13-45 99:99:99 INFO x"]:
        split_header(line)


def test_cached_walk_plans_split_like_a_fresh_walk() -> None:
    """The walk's plan is cached by the digit-masked shape of the first tokens: a line that
    reuses another line's plan must split exactly as if walked afresh."""
    import random
    from pathlib import Path

    from runbrief.ingest import formats

    data = Path(__file__).resolve().parents[1] / "data" / "loghub-2k"
    lines = [ln for f in sorted(data.glob("*/*_2k.log")) for ln in f.read_text(errors="replace").splitlines()[:300]]
    rnd = random.Random(7)
    variants = ["".join(str(rnd.randint(0, 9)) if c.isdigit() else c for c in ln) for ln in lines]
    formats._PLANS.clear()
    for ln in lines:  # warm the cache with the originals' shapes
        formats.split_header(ln)
    warm = [formats.split_header(v) for v in variants]
    formats._PLANS.clear()
    fresh = []
    for v in variants:
        formats._PLANS.clear()
        fresh.append(formats.split_header(v))
    assert warm == fresh
    assert any(h.fmt in ("level", "timestamp") for h in fresh)


# ---------------------------------------------------------------- issue 17: header classes
def _utc(y: int, mo: int, d: int, h: int, mi: int, s: int, ms: int = 0) -> int:
    from datetime import UTC, datetime

    return int(datetime(y, mo, d, h, mi, s, tzinfo=UTC).timestamp()) * NS + ms * 1_000_000


@pytest.mark.parametrize(
    ("line", "ts", "message"),
    [
        # Loghub HealthApp_2k (real): clock fields without zero padding
        ("20171224-0:0:0:232|Step_SPUtils|30002312|setDiffTotalSteps=8874", _utc(2017, 12, 24, 0, 0, 0, 232),
         "setDiffTotalSteps=8874"),
        # the same grammar padded (Loghub HealthApp_300, first line)
        ("20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579", _utc(2017, 12, 23, 22, 15, 29, 606),
         "onStandStepChanged 3579"),
        # Go's time.RFC822 as zerolog's ConsoleWriter example prints it (day, month, 2-digit year, zone)
        ("19 Jul 18 15:50 CEST INFO  hello world foo=bar", _utc(2018, 7, 19, 13, 50, 0), "hello world foo=bar"),
        # logrus's older text time: Go's default time.String(), offset and zone name
        ("2014-03-10 19:57:38.562264131 -0400 EDT INFO msg here", _utc(2014, 3, 10, 23, 57, 38, 562) + 264131,
         "msg here"),
        # C's ctime with the year after the clock
        ("Sun Dec 4 04:47:44 2005 worker started", _utc(2005, 12, 4, 4, 47, 44), "worker started"),
        # log4j "%d{yyyy-M-d H:m:s.S} %-5p [%t] %m": no zero padding anywhere
        ("2024-1-31 23:59:5.123 WARN [main] Receiving block blk_-1608999687919862906",
         _utc(2024, 1, 31, 23, 59, 5, 123), "Receiving block blk_-1608999687919862906"),
        ("2024-2-1 0:4:27.411 ERROR [main] rpc.statd startup succeeded", _utc(2024, 2, 1, 0, 4, 27, 411),
         "rpc.statd startup succeeded"),
        ("[2024-1-31 1:2:3] [error] mod_jk child workerEnv in error state 6", _utc(2024, 1, 31, 1, 2, 3),
         "mod_jk child workerEnv in error state 6"),
    ],
)
def test_header_classes_split_and_convert(line: str, ts: int, message: str) -> None:
    h = split_header(line)
    assert h.message == message
    assert h.ts_ns == ts


@pytest.mark.parametrize(
    ("zone", "shift_h"),
    [("CEST", -2), ("+0200", -2), ("+02:00", -2), ("UTC", 0), ("GMT", 0), ("PST", 8), ("EDT", 4), ("JST", -9),
     ("IST", 0), ("CST", 0)],  # IST, CST name several zones: header, but not shifted by a guess
)
def test_zone_after_the_clock_is_header_and_converts(zone: str, shift_h: int) -> None:
    line = f"2017-07-31 13:36:42.585 {zone} INFO [LeaseRenewer:user@host-41:9000] Receiving block blk_1"
    h = split_header(line)
    assert h.message == "Receiving block blk_1"
    assert zone not in h.message
    assert h.level == "INFO" and h.process == "LeaseRenewer:user@host-41:9000"
    assert h.ts_ns == _utc(2017, 7, 31, 13, 36, 42, 585) + shift_h * 3600 * NS


def test_thread_after_level_is_header_but_message_brackets_stay() -> None:
    # the thread (log4j %t) is a field: one pattern whatever thread wrote the line
    msgs = {split_header(f"2024-02-01 01:58:00.123 INFO [{t}] PacketResponder 1 terminating").message
            for t in ("main", "pool-1-thread-3", "LeaseRenewer:user@host-41:9000", "worker-15")}
    assert msgs == {"PacketResponder 1 terminating"}
    # a bracket with a blank or in capitals is message text; a dotted word after a thread
    # is a logger only with ":" or a separator
    assert split_header("2024-02-01 01:58:00 ERROR [client 10.0.0.1] File does not exist").message == (
        "[client 10.0.0.1] File does not exist")
    assert split_header("2024-02-01 01:58:00 WARN [SECURITY] login failed").message == "[SECURITY] login failed"
    assert split_header("2024-1-31 23:59:2.0 WARN [main] power/control problem").message == "power/control problem"
    h = split_header("2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: "
                     "Created MRAppMaster for application appattempt_1445144423722_0020_000001")
    assert h.logger == "org.apache.hadoop.mapreduce.v2.app.MRAppMaster" and h.process == "main"


@pytest.mark.parametrize(
    ("line", "message", "level", "fields"),
    [
        # Spring Boot's reference documentation (Logging, "Log Format")
        ("2019-03-05 10:57:51.112  INFO 45469 --- [           main] o.s.b.w.embedded.tomcat.TomcatWebServer  : "
         "Tomcat started on port(s): 8080 (http)", "Tomcat started on port(s): 8080 (http)", "INFO",
         {"process": "main", "logger": "o.s.b.w.embedded.tomcat.TomcatWebServer"}),
        # Spring Cloud Sleuth's documented sample (context bracket before the pid)
        ("2016-02-26 11:15:47.561  INFO [service1,2485ec27856c56f4,2485ec27856c56f4,true] 68058 --- "
         "[nio-8081-exec-1] i.s.c.sleuth.docs.service1.Application   : Hello from service1. Calling service2",
         "Hello from service1. Calling service2", "INFO", {"process": "nio-8081-exec-1"}),
        # PostgreSQL with Debian's log_line_prefix '%m [%p] '
        ("2024-01-31 23:59:05.123 CET [12345] LOG:  database system is ready to accept connections",
         "database system is ready to accept connections", "INFO", {}),
        # fluentd's own log
        ("2024-01-31 23:59:05 +0100 [info]: fluent/log.rb:330:info: starting fluentd-1.16.2",
         "fluent/log.rb:330:info: starting fluentd-1.16.2", "INFO", {}),
        # Cassandra's logback pattern "%-5level [%thread] %date{ISO8601} %F:%L - %msg": level first, then time
        ("INFO  [main] 2024-01-31 23:59:05,123 CassandraDaemon.java:601 - Startup complete", "Startup complete",
         "INFO", {"process": "main", "logger": "CassandraDaemon.java:601"}),
        # MySQL 8's error log
        ("2024-01-31T23:59:05.123456Z 0 [System] [MY-010116] [Server] /usr/sbin/mysqld (mysqld 8.0.35) starting",
         "[Server] /usr/sbin/mysqld (mysqld 8.0.35) starting", "INFO", {}),
    ],
)
def test_more_framework_headers(line: str, message: str, level: str, fields: dict[str, str]) -> None:
    h = split_header(line)
    assert h.message == message
    assert h.level == level
    assert h.ts_ns is not None
    for k, v in fields.items():
        assert getattr(h, k) == v


def test_bracket_only_levels_stay_words_elsewhere() -> None:
    assert split_header("System ready after 3 s").message == "System ready after 3 s"
    assert split_header("Note: disk almost full").message == "Note: disk almost full"


@pytest.mark.parametrize(
    ("line", "message", "level", "process"),
    [
        # Ruby's Logger documentation (default formatter)
        ("I, [1999-03-03T02:34:24.895701 #19074]  INFO -- Main: info.", "info.", "INFO", "19074"),
        # Redis server start-up (pid:role, then its level mark)
        ("1:C 04 Jan 2024 12:00:00.001 # Warning: no config file specified, using the default config.",
         "Warning: no config file specified, using the default config.", "WARN", "1"),
        ("1:M 04 Jan 2024 12:00:00.123 * Ready to accept connections tcp", "Ready to accept connections tcp",
         "INFO", "1"),
    ],
)
def test_ruby_and_redis_headers(line: str, message: str, level: str, process: str) -> None:
    h = split_header(line)
    assert (h.message, h.level, h.process) == (message, level, process)
    assert h.ts_ns is not None

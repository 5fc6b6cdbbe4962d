"""``python -m reactor``: --help, the built-in demo, signals, bad flags.

Each test runs the CLI in a subprocess on an ephemeral port (``--port 0``)
and reads the real port from the start-up line on stderr.
"""
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from http_helpers import ROOT, Client, get

# the same package as the tests import: an installed one first, else this checkout
ENV = dict(os.environ, PYTHONUNBUFFERED="1",
           PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), ROOT) if p))

# every flag issue 3 asks for (the parser may have more; those are checked too)
ISSUE_FLAGS = ["--host", "--port", "--threads", "--dispatcher", "--keep-alive-timeout",
               "--header-timeout", "--body-timeout", "--max-request-line", "--max-header-size",
               "--max-headers", "--max-body-size", "--max-connections", "--graceful-timeout",
               "--access-log", "--log-level",
               # issue 8
               "--access-log-format", "--log-config", "--root-path"]


def run_cli(*args, timeout=20):
    return subprocess.run([sys.executable, "-m", "reactor", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


@contextlib.contextmanager
def cli_server(*args, stdout=subprocess.DEVNULL):
    """Start the CLI demo; yield (proc, port, stderr_lines).  ``stdout``: where
    the process's stdout goes (a file object to read it afterwards)."""
    proc = subprocess.Popen([sys.executable, "-m", "reactor", "--port", "0", *args], cwd=ROOT,
                            env=ENV, stdout=stdout, stderr=subprocess.PIPE)
    lines = []
    try:
        port = None
        buf = b""
        deadline = time.monotonic() + 15
        while port is None and time.monotonic() < deadline:
            r, _, _ = select.select([proc.stderr], [], [], 0.5)
            if not r:
                if proc.poll() is not None:
                    break
                continue
            chunk = os.read(proc.stderr.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            m = re.search(rb"serving the demo on http://[^:]+:(\d+)", buf)
            if m:
                port = int(m.group(1))
        lines.append(buf.decode(errors="replace"))
        assert port, "the CLI did not start: %r" % buf
        yield proc, port, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stderr.close()


def drain_stderr(proc, lines, timeout=10):
    out = proc.stderr.read()     # the process has exited: EOF comes at once
    lines.append(out.decode(errors="replace"))
    return "".join(lines)


def test_help_lists_every_flag():
    r = run_cli("--help")
    assert r.returncode == 0
    from reactor.__main__ import build_parser
    flags = [opt for action in build_parser()._actions for opt in action.option_strings
             if opt.startswith("--")]
    for flag in set(flags) | set(ISSUE_FLAGS):
        assert flag in r.stdout, "--help does not document %s" % flag
        # each flag has a help text of its own, not just a usage mention
        assert re.search(r"^\s+(-\w( \S+)?, )?%s\b.*\n?.*\S" % re.escape(flag), r.stdout, re.M), flag
    assert "epoll" in r.stdout and "poll" in r.stdout
    assert "demo" in r.stdout


def test_demo_routes_and_stats():
    with cli_server("--threads", "2") as (proc, port, _):
        with Client(port) as c:
            c.send(get("/"))
            r = c.read_response()
            assert r.status == 200 and r.header("Content-Type").startswith("text/html")
            assert b"<html" in r.body.lower()
            c.send(get("/network"))
            r = c.read_response()
            assert r.status == 200 and r.body == b"hello, network programming"
            assert r.header("Content-Type").split(";")[0] == "text/plain"
            c.send(get("/nope"))
            assert c.read_response().status == 404
            c.send(get("/stats"))
            r = c.read_response()
            assert r.status == 200 and r.header("Content-Type").startswith("application/json")
            stats = json.loads(r.body)
        loops = stats["loops"]
        assert len(loops) == 2 and stats["threads"] == 2
        for lp in loops:
            assert {"connections", "requests"} <= set(lp)
        assert sum(lp["connections"] for lp in loops) == 1
        assert sum(lp["requests"] for lp in loops) >= 3       # the three before /stats
        # a second connection (round robin) lands on the other loop
        with Client(port) as c2:
            c2.send(get("/stats"))
            loops = json.loads(c2.read_response().body)["loops"]
        assert [lp["connections"] for lp in loops] == [1, 1] or \
            [lp.get("accepted", 1) for lp in loops] == [1, 1], loops


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_graceful_exit_zero(sig):
    with cli_server("--threads", "2", "--graceful-timeout", "3") as (proc, port, lines):
        idle = Client(port)
        try:
            idle.send(get("/network"))
            assert idle.read_response().status == 200     # an idle keep-alive connection
            t0 = time.monotonic()
            proc.send_signal(sig)
            rc = proc.wait(3 + 2)
            elapsed = time.monotonic() - t0
            assert rc == 0, drain_stderr(proc, lines)
            assert elapsed < 3, "idle connections must not hold up the exit (%.1fs)" % elapsed
            assert idle.closed_within(1)
        finally:
            idle.close()
        err = drain_stderr(proc, lines)
        assert "Traceback" not in err, err


def test_signal_lets_in_flight_request_finish():
    # a request whose body is still arriving when SIGTERM comes is answered
    with cli_server("--threads", "1", "--graceful-timeout", "3") as (proc, port, lines):
        with Client(port) as c:
            c.send(b"POST /network HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab")
            time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            time.sleep(0.2)
            c.send(b"cd")
            r = c.read_response()
            assert r.status == 200 and r.body == b"hello, network programming"
            assert r.header("Connection") == "close"
        assert proc.wait(5) == 0, drain_stderr(proc, lines)


ACCESS_LINE = re.compile(r'^127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] '
                         r'"GET /network HTTP/1\.1" 200 26 "-" "probe/1"$', re.M)


def _one_request(port):
    with Client(port) as c:
        c.send(get("/network", extra=b"Connection: close\r\nUser-Agent: probe/1\r\n"))
        assert c.read_response().status == 200


@pytest.mark.parametrize("flag", [["--access-log"], ["--access-log", "-"], ["--access-log=-"]],
                         ids=["no-value", "dash", "dash-equals"])
def test_access_log_to_stdout(tmp_path, flag):
    # gunicorn's convention: '-' is stdout; --access-log alone means the same
    out_path = tmp_path / "out.txt"
    with open(out_path, "wb") as out, \
            cli_server("--threads", "0", *flag, stdout=out) as (proc, port, lines):
        _one_request(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        err = drain_stderr(proc, lines)
    stdout = out_path.read_text()
    assert ACCESS_LINE.search(stdout), stdout
    assert len(stdout.splitlines()) == 1, stdout
    assert "GET /network" not in err, err


def test_access_log_to_file_with_format(tmp_path):
    log_file = tmp_path / "access.log"
    with cli_server("--threads", "2", "--access-log", str(log_file), "--access-log-format",
                    "%(h)s|%(m)s|%(U)s|%(q)s|%(H)s|%(s)s|%(B)s|%({x-id}i)s|%({content-type}o)s"
                    ) as (proc, port, lines):
        with Client(port) as c:
            c.send(get("/network?a=1", extra=b"X-Id: 42\r\n") + get("/nope"))
            assert c.read_response().status == 200 and c.read_response().status == 404
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        err = drain_stderr(proc, lines)
    assert log_file.read_text().splitlines() == [
        "127.0.0.1|GET|/network|a=1|HTTP/1.1|200|26|42|text/plain",
        "127.0.0.1|GET|/nope||HTTP/1.1|404|10|-|text/plain",
    ]
    assert "GET" not in err


def test_access_log_appends_to_an_existing_file(tmp_path):
    log_file = tmp_path / "access.log"
    log_file.write_text("earlier line\n")
    with cli_server("--threads", "0", "--access-log", str(log_file)) as (proc, port, lines):
        _one_request(port)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    text = log_file.read_text()
    assert text.startswith("earlier line\n") and ACCESS_LINE.search(text), text


def test_access_log_of_a_rejected_request(tmp_path):
    # issue 10: a 413 was missing from the access log
    log_file = tmp_path / "access.log"
    with cli_server("--threads", "1", "--access-log", str(log_file), "--max-body-size", "10"
                    ) as (proc, port, lines):
        with Client(port) as c:
            c.send(b"POST /network HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n")
            assert c.read_response().status == 413
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
    assert re.search(r'"POST /network HTTP/1\.1" 413 \d+ "-" "-"$', log_file.read_text()), \
        log_file.read_text()


@pytest.mark.parametrize("args,message", [
    (["--port", "abc"], "invalid int value"),
    (["--threads", "two"], "invalid int value"),
    (["--dispatcher", "kqueue"], "invalid choice"),
    (["--log-level", "loud"], "invalid choice"),
    (["--keep-alive-timeout", "soon"], "invalid float value"),
    (["--threads", "-1"], "--threads must be >= 0"),
    (["--port", "70000"], "port"),
    (["--max-body-size", "0"], "max_body_size"),
    (["--max-request-line", "-5"], "max_request_line"),
    (["--max-headers", "100000"], "max_headers"),
    (["--header-timeout", "0"], "header_timeout"),
    (["--keep-alive-timeout", "nan"], "keep_alive_timeout"),
    (["--graceful-timeout", "-1"], "graceful_timeout"),
    (["--max-connections", "0"], "max_connections"),
    (["--no-such-flag"], "unrecognized arguments"),
    (["--root-path", "app"], "--root-path must start with '/'"),
    (["--access-log-format", "%(h)s"], "--access-log-format needs --access-log"),
    (["--access-log", "-", "--access-log-format", "%(h"], "invalid access log format"),
    (["--access-log", "-", "--access-log-format", "%(h)d"], "is text"),
    (["--access-log", "tests.wsgi_apps.cli_app:app"],
     "--access-log took 'tests.wsgi_apps.cli_app:app' as its FILE"),
    (["--access-log-buffer", "0"], "--access-log-buffer must be > 0"),
    (["--access-log", "/nonexistent-dir-for-reactor/a.log"], "cannot open the access log"),
])
def test_bad_flag_value_clear_error(args, message):
    r = run_cli("--threads", "1", *args, timeout=10) if args[0] != "--threads" else \
        run_cli(*args, timeout=10)
    assert r.returncode != 0
    # the option's field name (max_body_size) or its flag (--max-body-size)
    assert message in r.stderr or "--" + message.replace("_", "-") in r.stderr, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert "serving" not in r.stderr


def test_port_in_use_is_a_clear_error():
    with cli_server("--threads", "0") as (proc, port, lines):
        r = run_cli("--port", str(port), "--threads", "0", timeout=10)
        assert r.returncode != 0
        assert "reactor:" in r.stderr and "Traceback" not in r.stderr, r.stderr
        proc.send_signal(signal.SIGINT)
        assert proc.wait(5) == 0

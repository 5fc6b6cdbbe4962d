"""Tests for the benchmark harness in bench/ (no performance assertions).

The wrk parser is checked against real wrk 4.1 outputs saved under
tests/data/wrk/ (plain, 404 -> "Non-2xx or 3xx responses", a server that
closes every connection -> read "Socket errors", nothing listening -> write
errors, pipelining, 1024 connections).  Then aggregation, the markdown
table, --compare's regression detection, the /proc sampler and the idle
client, and a 1-second smoke run of ``python -m bench`` against
reactor-static alone (skipped when wrk is not installed).

The flask-* scenarios: the Flask app's reference responses, the plan (WSGI
servers only, each running the app), the byte-exact check of a server's
answer (against a stub server, and stdlib-wsgiref really serving the app),
and a smoke run of flask-json on reactor-wsgi.  The fastapi-hello scenario:
the FastAPI app's reference response (called as ASGI, without a server), the
plan (ASGI servers only: reactor-asgi, uvicorn, granian-asgi, each running
the app with its Hello World command otherwise), each of the three really
serving it byte for byte, and a smoke run of all three.  Configuration labels: every
server's launch command is labelled, checked against argv lists saved from a
smoke run (``SAVED_ARGV``); a command missing a knob is refused; the labels
reach the table, the chart and --compare.

The workers scenario: the ~100 µs app's answers, the plan (reactor at
--workers 1 and 2, reactor-inprocess, and each peer at both counts, each
compared with reactor at the same count), the labels of its commands, the
per-worker-count ratios in the table, and a smoke run of reactor-inprocess
(reactor-w2 is started and checked only once ``python -m reactor`` has a
master: ``labels.reactor_default_workers()``).

The files scenarios: the random files (bench/files.py), ``--scenarios files``
and the plan (the four file servers, each serving the same directory), the
labels of their commands (nginx's read from its config), the byte-exact
check of a served file (against the stub server, and the stdlib's
``http.server`` really serving it), the table (MiB/s, server CPU, ratios to
reactor-files), and, once ``python -m reactor --static`` exists, reactor
serving every file and a smoke run of files-64k on it.

The tls scenarios: a smoke run of ``--scenarios tls`` (keep-alive, resumed
and full handshakes) on reactor-tls (``python -m reactor --certfile``), once
that option exists.
"""
import http.server
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import threading

import pytest

from bench import apps, idle, labels, proctree, report, wrk
from bench import run as bench_run
from bench.launcher import ServerError, dechunk, fetch
from bench.servers import DEFAULT_ORDER, SERVERS, threads_variants, workers_variants

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRK_DATA = os.path.join(ROOT, "tests", "data", "wrk")


def wrk_output(name):
    with open(os.path.join(WRK_DATA, name)) as f:
        return f.read()


# ---- units -----------------------------------------------------------------------------

@pytest.mark.parametrize("text, us", [
    ("474.52us", 474.52), ("0.00us", 0.0), ("3.08ms", 3080.0), ("1.10s", 1.1e6),
    ("2.00m", 120e6), ("1.00h", 3600e6), ("992.38ms", 992380.0),
])
def test_parse_time_units(text, us):
    assert wrk.parse_time_us(text) == pytest.approx(us)


@pytest.mark.parametrize("text, value", [
    ("646.00", 646.0), ("134.22k", 134220.0), ("1.50M", 1.5e6), ("2G", 2e9), ("42", 42.0),
])
def test_parse_metric_units(text, value):
    assert wrk.parse_metric(text) == pytest.approx(value)


@pytest.mark.parametrize("text, value", [
    ("0.00B", 0), ("357.88KB", 357.88 * 1024), ("16.73MB", 16.73 * 1024 ** 2),
    ("1.5GB", 1.5 * 1024 ** 3),
])
def test_parse_byte_units(text, value):
    assert wrk.parse_bytes(text) == pytest.approx(value)


def test_nan_and_bad_units():
    assert math.isnan(wrk.parse_metric("-nan"))
    for bad in ("12xs", "ms", "1.2.3ms", ""):
        with pytest.raises(ValueError):
            wrk.parse_time_us(bad)
    with pytest.raises(ValueError):
        wrk.parse_metric("3x")


# ---- real wrk outputs ------------------------------------------------------------------

def test_parse_plain_run():
    r = wrk.parse(wrk_output("nginx-plaintext.txt"))
    assert r["requests"] == 79570
    assert r["duration_s"] == pytest.approx(1.01)
    assert r["rps"] == pytest.approx(79072.71)
    assert r["bytes_read"] == pytest.approx(12.22 * 1024 ** 2)
    assert r["transfer_bps"] == pytest.approx(12.14 * 1024 ** 2)
    assert r["latency_us"] == pytest.approx({"avg": 1500.0, "stdev": 2330.0, "max": 19070.0,
                                             "p50": 292.0, "p75": 2120.0, "p90": 4330.0,
                                             "p99": 11430.0})
    assert r["non2xx"] == 0
    assert r["socket_errors"] == {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    assert wrk.error_count(r) == 0


def test_parse_non2xx_responses():
    r = wrk.parse(wrk_output("reactor-404.txt"))
    assert r["requests"] == 83221
    assert r["non2xx"] == 83221
    assert wrk.error_count(r) == 83221
    assert r["latency_us"]["p99"] == pytest.approx(5370.0)


def test_parse_socket_errors_from_closing_server():
    r = wrk.parse(wrk_output("closing-server.txt"))
    assert r["requests"] == 0 and r["rps"] == 0.0
    assert r["socket_errors"] == {"connect": 0, "read": 24940, "write": 0, "timeout": 0}
    assert r["latency_us"]["p50"] == 0.0
    assert math.isnan(r["latency_us"]["avg"]) is False
    assert wrk.error_count(r) == 24940


def test_parse_write_errors_when_nothing_listens():
    r = wrk.parse(wrk_output("connect-refused.txt"))
    assert r["requests"] == 0
    assert r["duration_s"] == pytest.approx(1.10)
    assert r["socket_errors"]["write"] == 1477


def test_parse_pipelined_and_large_runs():
    r = wrk.parse(wrk_output("reactor-pipeline16.txt"))
    assert r["requests"] == 722672 and r["rps"] == pytest.approx(720328.77)
    r = wrk.parse(wrk_output("uvicorn-c1024.txt"))
    assert r["latency_us"]["p99"] == pytest.approx(880240.0)
    assert r["latency_us"]["max"] == pytest.approx(992380.0)


def test_parse_pipelined_without_latency_samples():
    # a server that closes after each response: wrk never completes a batch
    r = wrk.parse(wrk_output("gunicorn-sync-pipeline16.txt"))
    assert r["requests"] == 2411
    assert r["latency_us"]["p99"] == 0.0
    r = wrk.parse(wrk_output("bjoern-pipeline16.txt"))
    assert r["requests"] == 64 and r["rps"] == pytest.approx(63.53)


def test_parse_rejects_output_without_summary():
    with pytest.raises(wrk.WrkError):
        wrk.parse("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_wrk_command():
    argv = wrk.command("http://127.0.0.1:8080/", 10, 64, threads=1, script="s.lua")
    assert argv == ["wrk", "-t1", "-c64", "-d10s", "--latency", "--timeout", "5s",
                    "-s", "s.lua", "http://127.0.0.1:8080/"]
    assert "-d1s" in wrk.command("http://x/", 0.4, 8)       # wrk takes whole seconds
    assert "-t2" in wrk.command("http://x/", 1, 2, threads=8)  # never more threads than conns


# ---- aggregation -----------------------------------------------------------------------

def wrk_run(server, rps, cpu_s, requests, p50=300.0, p99=900.0, ok=True, scenario="plaintext",
            errors=0, label=None):
    return {"scenario": scenario, "server": server, "round": 1, "ok": ok,
            "error": None if ok else "boom\nlast log line", "rps": rps, "requests": requests,
            "cpu_s": cpu_s, "cpu_us_per_req": report.cpu_us_per_request(cpu_s, requests),
            "latency_us": {"p50": p50, "p99": p99}, "errors": errors, "label": label}


def idle_run(server, kb, held=5000):
    return {"scenario": "idle-memory", "server": server, "round": 1, "ok": True, "error": None,
            "kb_per_conn": kb, "held": held, "connections": 5000, "rss_before_kb": 16384}


def test_cpu_per_request():
    assert report.cpu_us_per_request(1.3, 130000) == pytest.approx(10.0)
    assert report.cpu_us_per_request(0.5, 0) is None


def test_spread_median_min_max():
    assert report.spread([3, 1, 2]) == (2, 1, 3)
    assert report.spread([4, 1, None, 2, 3]) == (2.5, 1, 4)
    assert report.spread([None]) == (None, None, None)


def test_summarize_wrk_runs():
    runs = [wrk_run("a", 100.0, 1.0, 1000, p99=900), wrk_run("a", 120.0, 1.2, 1000, p99=1100),
            wrk_run("a", 110.0, 0.9, 1000, p99=1000, errors=3),
            wrk_run("a", 0.0, 0.0, 0, ok=False),
            wrk_run("b", 50.0, 1.0, 500, p50=0.0, p99=0.0)]
    s = report.summarize(runs)["plaintext"]
    a = s["a"]
    assert (a["rps_median"], a["rps_min"], a["rps_max"]) == (110.0, 100.0, 120.0)
    assert a["cpu_us_median"] == pytest.approx(1000.0)
    assert (a["cpu_us_min"], a["cpu_us_max"]) == pytest.approx((900.0, 1200.0))
    assert a["p99_us"] == 1000
    assert a["errors"] == 3
    assert (a["runs"], a["failed"]) == (3, 1)
    assert a["last_error"].startswith("boom")
    assert s["b"]["p50_us"] is None and s["b"]["p99_us"] is None   # wrk's 0 = no sample


def test_summarize_idle_runs():
    s = report.summarize([idle_run("a", 2.0), idle_run("a", 1.0, held=4990),
                          idle_run("a", 4.0)])["idle-memory"]["a"]
    assert (s["kb_per_conn_median"], s["kb_per_conn_min"], s["kb_per_conn_max"]) == (2.0, 1.0, 4.0)
    assert s["held_median"] == 5000


def test_baseline_prefers_reactor_static():
    summary = report.summarize([wrk_run("reactor-native", 10, 1, 10),
                                wrk_run("reactor-static", 20, 1, 20)])["plaintext"]
    assert report.baseline_of(summary) == "reactor-static"
    summary = report.summarize([wrk_run("reactor-native", 10, 1, 10),
                                wrk_run("uvicorn", 5, 1, 5)])["plaintext"]
    assert report.baseline_of(summary) == "reactor-native"
    summary = report.summarize([wrk_run("uvicorn", 5, 1, 5, scenario="fastapi-hello"),
                                wrk_run("reactor-asgi", 6, 1, 6, scenario="fastapi-hello")])
    assert report.baseline_of(summary["fastapi-hello"]) == "reactor-asgi"
    assert report.baseline_of({}) is None


# ---- markdown --------------------------------------------------------------------------

def test_markdown_table_rows():
    summary = report.summarize([
        wrk_run("reactor-static", 132000.0, 0.924, 132000, p50=460.0, p99=1800.0),
        wrk_run("uvicorn", 40000.0, 1.0, 40000, p99=12430.0),
        wrk_run("bjoern", 0, 0, 0, ok=False)])["plaintext"]
    text = report.markdown_table("plaintext", summary, "plaintext — test",
                                 skipped={"nginx": "nginx not installed"},
                                 labels={"uvicorn": "uvicorn (1 worker, uvloop+httptools, ASGI)"})
    lines = text.splitlines()
    assert lines[0] == "### plaintext — test"
    assert lines[2] == ("| server | configuration | req/s (median) | min–max | µs CPU/req "
                        "| vs reactor-static | p50 | p99 | errors |")
    assert lines[3] == "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    assert lines[4] == ("| reactor-static | — | 132,000 | 132,000–132,000 | 7.0 | 1.00× "
                        "| 460 µs | 1.80 ms | 0 |")
    assert lines[5] == ("| uvicorn | uvicorn (1 worker, uvloop+httptools, ASGI) | 40,000 "
                        "| 40,000–40,000 | 25.0 | 0.30× | 300 µs | 12.43 ms | 0 |")
    assert lines[6].startswith("| bjoern | — | failed |")
    assert "- bjoern: 1 failed run(s): boom last log line" in lines
    assert "- nginx skipped: nginx not installed" in lines


def test_markdown_idle_table():
    summary = report.summarize([idle_run("reactor-static", 1.5), idle_run("nginx", 0.5)])
    text = report.markdown_table("idle-memory", summary["idle-memory"])
    assert "| server | configuration | KB/conn (median) |" in text
    assert "| nginx | — | 0.50 | 0.50–0.50 | 5,000 / 5,000 | 16.0 | 0.33× |" in text


def test_latency_and_number_formats():
    assert report.fmt_latency(None) == "—" and report.fmt_latency(0) == "—"
    assert report.fmt_latency(999) == "999 µs"
    assert report.fmt_latency(1500) == "1.50 ms"
    assert report.fmt_latency(2.5e6) == "2.50 s"
    assert report.fmt_int(1234567.4) == "1,234,567"
    assert report.short_error("a\nb\nc") == "a c"


def test_markdown_report():
    runs = [wrk_run("reactor-static", 100.0, 0.1, 1000), wrk_run("uvicorn", 50.0, 0.2, 500)]
    result = {"started": "2024-01-01T00:00:00+00:00", "command": ["python", "-m", "bench"],
              "settings": {"server_cpus": "1", "client_cpus": "0", "rounds": 1, "duration": 1,
                           "warmup": 0},
              "machine": {"cpu_model": "cpu", "nproc": 2, "kernel": "6"},
              "scenarios": {"plaintext": {"description": "GET /", "skipped": {}}},
              "runs": runs, "summary": report.summarize(runs)}
    text = report.markdown_report(result)
    assert "### plaintext — GET /" in text and "| uvicorn | — | 50 |" in text


def test_chart_is_a_png(tmp_path):
    # in a subprocess: matplotlib keeps its font files open for the process's life
    pytest.importorskip("matplotlib")
    summary = report.summarize([wrk_run("reactor-static", 100.0, 0.1, 1000),
                                wrk_run("uvicorn", 50.0, 0.2, 500)])["plaintext"]
    (tmp_path / "s.json").write_text(json.dumps(summary))
    code = ("import json, sys; from bench import report; "
            "print(report.write_chart('plaintext', json.load(open(sys.argv[1])), sys.argv[2]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.json"),
                          str(tmp_path / "c.png")], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "c.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


# ---- compare ---------------------------------------------------------------------------

def result_with(rps, cpu_us, p99=1000.0, kb=1.0):
    return {"summary": {
        "plaintext": {"reactor-static": {"rps_median": rps, "cpu_us_median": cpu_us,
                                         "p99_us": p99},
                      "uvicorn": {"rps_median": 40000.0, "cpu_us_median": 25.0, "p99_us": 1.0}},
        "idle-memory": {"nginx": {"kb_per_conn_median": kb}}}}


def test_is_regression_direction_and_threshold():
    assert report.is_regression(100, 94, +1)            # throughput down 6 %
    assert not report.is_regression(100, 96, +1)        # 4 %: within noise
    assert not report.is_regression(100, 120, +1)       # an improvement
    assert report.is_regression(10, 10.6, -1)           # CPU/request up 6 %
    assert not report.is_regression(10, 9, -1)
    assert not report.is_regression(None, 9, -1)
    assert report.is_regression(100, 97, +1, threshold=2)


def test_compare_flags_regressions_only():
    a = result_with(130000.0, 7.0, kb=0.5)
    b = result_with(120000.0, 7.2, p99=5000.0, kb=0.6)
    text, regressions = report.compare(a, b)
    flagged = {(s, n, m) for s, n, m, *_ in regressions}
    assert flagged == {("plaintext", "reactor-static", "req/s"),
                       ("idle-memory", "nginx", "KB/conn")}     # CPU +2.9 %, p99 not flagged
    assert "req/s 130,000 -> 120,000 (-7.7%) REGRESSION" in text
    assert "2 regression(s) over 5%" in text
    _, none = report.compare(a, a)
    assert none == []


def test_compare_command_line(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(result_with(130000.0, 7.0)))
    b.write_text(json.dumps(result_with(100000.0, 9.0)))
    assert bench_run.main(["--compare", str(a), str(b)]) == 0
    assert "REGRESSION" in capsys.readouterr().out
    assert bench_run.main(["--compare", str(a), str(b), "--fail-on-regression"]) == 1
    assert bench_run.main(["--compare", str(a), str(a), "--fail-on-regression"]) == 0


# ---- command line and plan -------------------------------------------------------------

def test_missing_wrk_says_how_to_install(monkeypatch, capsys):
    monkeypatch.setattr(wrk, "find_wrk", lambda: None)
    assert bench_run.main(["--scenarios", "plaintext", "--server-cpus", "0",
                           "--client-cpus", "0"]) != 0
    assert "apt-get install wrk" in capsys.readouterr().err


def test_bad_arguments_exit_nonzero(capsys):
    assert bench_run.main(["--scenarios", "nope"]) == 2
    assert bench_run.main(["--servers", "nope"]) == 2
    assert bench_run.main(["--server-cpus", "4096"]) == 2
    assert "unknown server" in capsys.readouterr().err


def test_parse_cpus():
    assert bench_run.parse_cpus("1") == {1}
    assert bench_run.parse_cpus("0-2,5") == {0, 1, 2, 5}


def test_plan_exclusions_and_thread_variants():
    post4k = bench_run.SCENARIO_BY_NAME["post4k"]
    specs, skipped = bench_run.servers_for(post4k, {"reactor-static", "reactor-native"})
    assert "reactor-static" in skipped and all(s.name != "reactor-static" for s in specs)
    threads = bench_run.SCENARIO_BY_NAME["threads"]
    specs, skipped = bench_run.servers_for(threads, set())
    names = [s.name for s in specs] + list(skipped)
    assert sorted(names) == ["reactor-static-t0", "reactor-static-t1", "reactor-static-t2",
                             "reactor-static-t4"]
    specs, skipped = bench_run.servers_for(threads, {"uvicorn"})
    assert specs == [] and skipped == {}


# ---- the Flask app and the flask-* scenarios --------------------------------------------

FLASK_APP = "bench.apps.flask_app:app"


def test_flask_reference_responses():
    pytest.importorskip("flask")
    ref = apps.reference(FLASK_APP, "/json")
    assert (ref.status_code, ref.content_type) == (200, "application/json")
    order = json.loads(ref.body)
    assert len(order) == 10 and len(order["items"]) == 5 and order["tags"] == ["gift", "express"]
    assert order["total"] == round(sum(i["qty"] * i["unit_price"] for i in order["items"]), 2)
    assert ref.body == apps.reference(FLASK_APP, "/json").body          # deterministic
    page = apps.reference(FLASK_APP, "/template")
    assert (page.status_code, page.content_type) == (200, "text/html; charset=utf-8")
    html = page.body.decode("utf-8")
    assert html.count("<tr class=") == 10 and html.count("<em>sold out</em>") == 2
    assert "Notebook &lt;A5&gt;" in html and "Crème brûlée" in html     # escaped, UTF-8
    assert "<p>10 products, 8 in stock.</p>" in html
    assert apps.reference(FLASK_APP, "/").body == b"Hello, World!"     # what wait_ready polls
    assert ref.as_dict() == {"path": "/json", "status": 200, "content_type": "application/json",
                             "bytes": len(ref.body), "sha256": ref.sha256}


def test_flask_scenarios_take_every_wsgi_server_running_the_app():
    scenario = bench_run.SCENARIO_BY_NAME["flask-json"]
    assert scenario.path == "/json" and scenario.app == FLASK_APP
    specs, skipped = bench_run.servers_for(scenario, set())
    names = [s.name for s in specs] + list(skipped)
    assert sorted(names) == sorted(["reactor-wsgi", "reactor-wsgi-pool", "stdlib-wsgiref", "gunicorn-sync",
                                    "gunicorn-gthread", "waitress", "uvicorn-wsgi",
                                    "granian-wsgi", "bjoern"])
    for spec in specs:
        assert spec.app == FLASK_APP and FLASK_APP in spec.argv(8080, "/tmp/x")
    # named servers that cannot run a WSGI app are listed as skipped; families select
    specs, skipped = bench_run.servers_for(scenario, {"reactor-static", "uvicorn", "nginx"})
    assert skipped.pop("reactor-static").startswith("not a WSGI server")
    assert skipped.pop("nginx").startswith("not a WSGI server")
    assert [s.name for s in specs] + list(skipped) == ["uvicorn-wsgi"]   # stands in for uvicorn
    # the Hello World scenarios keep their servers; the app-only ones stay out
    specs, skipped = bench_run.servers_for(bench_run.SCENARIO_BY_NAME["plaintext"], set())
    names = {s.name for s in specs} | set(skipped)
    assert "stdlib-wsgiref" not in names and "uvicorn-wsgi" not in names
    assert {"reactor-static", "nginx", "uvicorn", "stdlib"} <= names
    _, skipped = bench_run.servers_for(bench_run.SCENARIO_BY_NAME["plaintext"], {"uvicorn-wsgi"})
    assert skipped == {"uvicorn-wsgi": "takes part in the flask-* scenarios only"}


@pytest.mark.parametrize("scenario_name, server", [("flask-template", "reactor-wsgi"),
                                                   ("fastapi-hello", "uvicorn")])
def test_app_scenario_without_its_framework_skips_everyone(monkeypatch, scenario_name, server):
    scenario = bench_run.SCENARIO_BY_NAME[scenario_name]
    monkeypatch.setattr(scenario, "needs", ("no_such_module_for_bench",))
    specs, skipped = bench_run.servers_for(scenario, {server})
    assert specs == []
    assert skipped[server] in ("module no_such_module_for_bench not importable "
                               "(pip install no_such_module_for_bench)",
                               SERVERS[server].unavailable_reason())


class _StubHandler(http.server.BaseHTTPRequestHandler):
    """Answers the reference, or a body with one byte changed, or chunked."""

    protocol_version = "HTTP/1.1"
    reply = (200, "application/json", b"{}", False)

    def do_GET(self):
        status, ctype, body, chunked = self.reply
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            half = len(body) // 2
            for part in (body[:half], body[half:]):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_check_response_is_byte_exact(stub_server):
    body = b'{"id":1042,"name":"Cr\\u00e8me"}\n'
    ref = apps.Reference("/json", "200 OK", "application/json", body)
    port = stub_server.server_address[1]
    _StubHandler.reply = (200, "application/json", body, False)
    check = bench_run.check_response(port, ref, "stub")
    assert check == {"path": "/json", "status": 200, "content_type": "application/json",
                     "bytes": len(body), "sha256": ref.sha256, "identical": True}
    _StubHandler.reply = (200, "application/json", body, True)          # chunked: same bytes
    assert bench_run.check_response(port, ref, "stub")["identical"]
    _StubHandler.reply = (200, "application/json", body.replace(b"1042", b"1043"), False)
    with pytest.raises(ServerError, match=r"stub: GET /json answered body of 32 bytes "
                                          r"differs from the app's 32 bytes at byte 9"):
        bench_run.check_response(port, ref, "stub")
    _StubHandler.reply = (200, "text/plain", body + b" ", False)
    with pytest.raises(ServerError) as exc:
        bench_run.check_response(port, ref, "stub")
    assert "Content-Type 'text/plain', expected 'application/json'" in str(exc.value)
    assert "33 bytes differs from the app's 32 bytes at byte 32" in str(exc.value)
    _StubHandler.reply = (500, "application/json", body, False)
    with pytest.raises(ServerError, match="status 500, expected 200"):
        bench_run.check_response(port, ref, "stub")


def test_fetch_and_dechunk(stub_server):
    _StubHandler.reply = (200, "text/html; charset=utf-8", b"<p>abc</p>", True)
    status, headers, body = fetch(stub_server.server_address[1], "/x")
    assert (status, headers["content-type"], body) == (200, "text/html; charset=utf-8",
                                                       b"<p>abc</p>")
    assert dechunk(b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n") == b"abcde"
    assert dechunk(b"3\r\nabc\r\n") == b"abc"                          # truncated


def test_stdlib_wsgiref_serves_the_flask_app_identically():
    pytest.importorskip("flask")
    from bench.launcher import RunningServer
    spec = SERVERS["stdlib-wsgiref"].with_app(FLASK_APP)
    with RunningServer(spec, server_cpus=None, cwd=ROOT, env=bench_run.child_env()) as srv:
        srv.wait_ready()
        for path in ("/json", "/template"):
            check = bench_run.check_response(srv.port, apps.reference(FLASK_APP, path), spec.name)
            assert check["identical"] and check["bytes"] > 500
    assert not srv.alive()


# ---- the FastAPI app and the fastapi-hello scenario ---------------------------------------

FASTAPI_APP = "bench.apps.fastapi_app:app"
ASGI_SERVERS = ["reactor-asgi", "reactor-asgi-t1", "uvicorn", "granian-asgi"]


def test_fastapi_reference_response():
    pytest.importorskip("fastapi")
    ref = apps.reference(FASTAPI_APP, "/", interface="asgi")
    assert (ref.status, ref.content_type, ref.body) == ("200 OK", "text/plain; charset=utf-8",
                                                        b"Hello, World!")
    assert ref == apps.reference(FASTAPI_APP, "/", "asgi")              # deterministic
    assert apps.reference(FASTAPI_APP, "/nope", "asgi").status_code == 404
    # the bench's own ASGI Hello World answers the same bytes, without the charset
    hello = apps.reference("bench.servers.asgi_app:app", "/", "asgi")
    assert (hello.body, hello.content_type) == (ref.body, "text/plain")
    with pytest.raises(ValueError, match="interface must be wsgi or asgi"):
        apps.reference(FASTAPI_APP, "/", "asgi2")


def test_fastapi_scenario_takes_every_asgi_server_running_the_app():
    scenario = bench_run.SCENARIO_BY_NAME["fastapi-hello"]
    assert (scenario.path, scenario.app, scenario.interface) == ("/", FASTAPI_APP, "asgi")
    assert scenario.needs == ("fastapi",)
    specs, skipped = bench_run.servers_for(scenario, set())
    assert sorted([s.name for s in specs] + list(skipped)) == sorted(ASGI_SERVERS)
    for spec in specs:
        argv = spec.argv(8080, "/tmp/x")
        assert spec.app == FASTAPI_APP and FASTAPI_APP in argv
        # the same command as in plaintext, the app swapped
        hello = SERVERS[spec.name].argv(8080, "/tmp/x")
        assert [a for a in argv if a != FASTAPI_APP] == \
            [a for a in hello if a != "bench.servers.asgi_app:app"]
    # named servers that cannot run an ASGI app are listed as skipped
    specs, skipped = bench_run.servers_for(scenario, {"reactor-asgi", "uvicorn", "reactor-wsgi",
                                                      "reactor-static", "granian-wsgi"})
    assert skipped.pop("reactor-wsgi") == ("not an ASGI server: it runs WSGI apps "
                                           "(the flask-* scenarios)")
    assert skipped.pop("granian-wsgi").startswith("not an ASGI server")
    assert skipped.pop("reactor-static") == ("not an ASGI server: it serves only its own "
                                             "Hello World")
    assert sorted([s.name for s in specs] + list(skipped)) == ["reactor-asgi", "uvicorn"]
    # and the WSGI app scenarios say why the ASGI servers sit out
    _, skipped = bench_run.servers_for(bench_run.SCENARIO_BY_NAME["flask-json"],
                                       {"reactor-asgi", "granian-asgi"})
    assert skipped == {n: "not a WSGI server: it runs ASGI apps (the fastapi-hello scenario)"
                       for n in ("reactor-asgi", "granian-asgi")}
    # variants that serve something of their own take no app
    from bench.servers import files_variants, tls_variants
    assert not [s.name for s in files_variants() + tls_variants() if s.asgi_argv or s.wsgi_argv]
    with pytest.raises(ValueError, match="runs no app but its own"):
        SERVERS["reactor-static"].with_app(FASTAPI_APP)


@pytest.mark.parametrize("server", ASGI_SERVERS)
def test_asgi_servers_serve_the_fastapi_app_identically(server):
    pytest.importorskip("fastapi")
    from bench.launcher import RunningServer
    reason = SERVERS[server].unavailable_reason()
    if reason:
        pytest.skip(reason)
    spec = SERVERS[server].with_app(FASTAPI_APP)
    with RunningServer(spec, server_cpus=None, cwd=ROOT, env=bench_run.child_env()) as srv:
        srv.wait_ready()
        ref = apps.reference(FASTAPI_APP, "/", "asgi")
        check = bench_run.check_response(srv.port, ref, spec.name)
        assert check == dict(ref.as_dict(), identical=True)
        with pytest.raises(ServerError, match="status 404, expected 200"):     # not a stub
            bench_run.check_response(srv.port, apps.Reference("/nope", "200 OK",
                                                              ref.content_type, ref.body),
                                     spec.name)
    assert not srv.alive()


def test_result_file_records_the_fastapi_check():
    pytest.importorskip("fastapi")
    args = bench_run.build_parser().parse_args(
        ["--scenarios", "fastapi-hello", "--servers", ",".join(ASGI_SERVERS),
         "--server-cpus", "0", "--client-cpus", "0"])
    plan = bench_run.make_plan(args)
    result = bench_run.new_result(args, [], plan)
    info = result["scenarios"]["fastapi-hello"]
    assert sorted(info["servers"] + list(info["skipped"])) == sorted(ASGI_SERVERS)
    assert info["path"] == "/" and info["app"] == FASTAPI_APP
    assert info["check"] == apps.reference(FASTAPI_APP, "/", "asgi").as_dict()
    for name in info["servers"]:
        assert info["configs"][name]["app"] == FASTAPI_APP
        assert info["configs"][name]["interface"] == "ASGI"
    assert {"fastapi", "starlette", "pydantic"} <= set(result["versions"])


# ---- configuration labels ----------------------------------------------------------------

# argv lists launched by a smoke run (python -m bench --duration 1 --rounds 1: plaintext and
# flask-json), with the interpreter's path shortened, and the label each run recorded.
SAVED_ARGV = [
    ("reactor-native", "python -m bench.servers.reactor_native --port 47953 --threads 1",
     "reactor (1 process, 1 sub-reactor, native handler)"),
    ("reactor-static", "python -m bench.servers.reactor_static --port 45895 --threads 1",
     "reactor (1 process, 1 sub-reactor, route_static in C)"),
    ("reactor-wsgi", "python -m reactor bench.apps.flask_app:app --port 53023 --threads 1 "
     "--handler-threads 0 --keep-alive-timeout 60 --log-level warning",
     "reactor ({reactor_processes}, WSGI)"),
    ("reactor-wsgi-pool", "python -m reactor bench.apps.flask_app:app --port 53024 --threads 1 "
     "--handler-threads 8 --keep-alive-timeout 60 --log-level warning",
     "reactor ({reactor_processes}, WSGI on 8 handler threads)"),
    ("reactor-asgi", "python -m reactor bench.servers.asgi_app:app --port 41377 --interface asgi3 "
     "--keep-alive-timeout 60 --log-level warning --lifespan off",
     "reactor (master + 1 worker x single reactor, ASGI, asyncio on the reactor loop)"),
    ("reactor-asgi-t1", "python -m reactor bench.servers.asgi_app:app --port 38621 "
     "--interface asgi3 --keep-alive-timeout 60 --log-level warning --lifespan off "
     "--threads 1",
     "reactor (master + 1 worker x 1 sub-reactor, ASGI, asyncio on the reactor loop)"),
    ("stdlib", "python -m bench.servers.stdlib_server --port 52869",
     "stdlib ThreadingHTTPServer (1 process, thread per connection, native handler)"),
    ("stdlib-wsgiref", "python -m bench.servers.wsgiref_server --port 39843 "
     "--app bench.apps.flask_app:app",
     "stdlib wsgiref (1 process, thread per connection, HTTP/1.0, WSGI)"),
    ("gunicorn-sync", "python -m gunicorn --workers 1 --worker-class sync "
     "--bind 127.0.0.1:35495 --keep-alive 60 --backlog 1024 --log-level warning "
     "--worker-tmp-dir /tmp/bench-gunicorn-sync-nf42myd5 --threads 1 bench.apps.flask_app:app",
     "gunicorn sync (1 worker x 1 thread, WSGI)"),
    ("gunicorn-gthread", "python -m gunicorn --workers 1 --worker-class gthread "
     "--bind 127.0.0.1:40347 --keep-alive 60 --backlog 1024 --log-level warning "
     "--worker-tmp-dir /tmp/bench-gunicorn-gthread-7p4mpval --threads 4 "
     "--worker-connections 16384 bench.apps.flask_app:app",
     "gunicorn gthread (1 worker x 4 threads, WSGI)"),
    ("waitress", "python -m waitress --host=127.0.0.1 --port=50421 --threads=4 "
     "--connection-limit=16384 --backlog=1024 --channel-timeout=60 bench.apps.flask_app:app",
     "waitress (1 process x 4 threads, WSGI)"),
    ("uvicorn", "python -m uvicorn bench.servers.asgi_app:app --host 127.0.0.1 --port 37299 "
     "--workers 1 --interface asgi3 --loop uvloop --http httptools --no-access-log "
     "--log-level warning --timeout-keep-alive 60 --backlog 1024 --lifespan off",
     "uvicorn (1 worker, uvloop+httptools, ASGI)"),
    ("uvicorn-wsgi", "python -m uvicorn bench.apps.flask_app:app --host 127.0.0.1 --port 57295 "
     "--workers 1 --interface wsgi --loop uvloop --http httptools --no-access-log "
     "--log-level warning --timeout-keep-alive 60 --backlog 1024 --lifespan off",
     "uvicorn (1 worker, uvloop+httptools, WSGI via {middleware})"),
    ("granian-wsgi", "python -m granian --interface wsgi --host 127.0.0.1 --port 38865 "
     "--workers 1 --runtime-threads 1 --blocking-threads 512 --http 1 --no-ws "
     "--log-level warning --backlog 1024 bench.apps.flask_app:app",
     "granian (1 worker, 1 runtime thread + up to 512 blocking threads, WSGI)"),
    ("granian-asgi", "python -m granian --interface asgi --host 127.0.0.1 --port 50119 "
     "--workers 1 --runtime-threads 1 --loop uvloop --http 1 --no-ws --log-level warning "
     "--backlog 1024 bench.servers.asgi_app:app",
     "granian (1 worker, 1 runtime thread, uvloop, ASGI)"),
    ("bjoern", "python -m bench.servers.bjoern_server --port 35109 "
     "--app bench.apps.flask_app:app", "bjoern (1 process, 1 thread, libev, WSGI)"),
]


# argv lists launched by a smoke run of fastapi-hello (python -m bench --scenarios
# fastapi-hello --duration 1 --rounds 1), the interpreter's path shortened, and their labels.
FASTAPI_SAVED_ARGV = [
    ("reactor-asgi", "python -m reactor bench.apps.fastapi_app:app --port 46031 "
     "--interface asgi3 --keep-alive-timeout 60 --log-level warning --lifespan off",
     "reactor (master + 1 worker x single reactor, ASGI, asyncio on the reactor loop)"),
    ("reactor-asgi-t1", "python -m reactor bench.apps.fastapi_app:app --port 42015 "
     "--interface asgi3 --keep-alive-timeout 60 --log-level warning --lifespan off "
     "--threads 1",
     "reactor (master + 1 worker x 1 sub-reactor, ASGI, asyncio on the reactor loop)"),
    ("uvicorn", "python -m uvicorn bench.apps.fastapi_app:app --host 127.0.0.1 --port 33923 "
     "--workers 1 --interface asgi3 --loop uvloop --http httptools --no-access-log "
     "--log-level warning --timeout-keep-alive 60 --backlog 1024 --lifespan off",
     "uvicorn (1 worker, uvloop+httptools, ASGI)"),
    ("granian-asgi", "python -m granian --interface asgi --host 127.0.0.1 --port 58007 "
     "--workers 1 --runtime-threads 1 --loop uvloop --http 1 --no-ws --log-level warning "
     "--backlog 1024 bench.apps.fastapi_app:app",
     "granian (1 worker, 1 runtime thread, uvloop, ASGI)"),
]


def _reactor_processes(threads="1 sub-reactor"):
    """How ``python -m reactor`` without --workers runs here: one process before
    the master landed, else a master and the default number of workers."""
    workers = labels.reactor_default_workers()
    if workers is None:
        return "1 process, " + threads
    return "master + %s x %s" % (labels.plural(workers, "worker"), threads)


def _expected_label(server, label):
    if server.startswith("uvicorn-wsgi"):
        pytest.importorskip("uvicorn")
        middleware, threads = labels.uvicorn_wsgi_middleware()
        label = label.format(middleware=middleware + (", %d threads" % threads if threads
                                                      else ""))
    if server.startswith("reactor-wsgi"):
        label = label.format(reactor_processes=_reactor_processes())
    return label


@pytest.mark.parametrize("server, command, label", SAVED_ARGV, ids=[x[0] for x in SAVED_ARGV])
def test_label_of_saved_argv(server, command, label):
    label = _expected_label(server, label)
    argv = ["taskset", "-c", "1"] + command.split()
    config = labels.describe(argv)
    assert config["label"] == label
    assert labels.describe(command.split()) == config                   # pinned or not
    if "--app" in command or "flask_app" in command:
        assert config["app"] == FLASK_APP


@pytest.mark.parametrize("server, command, label", FASTAPI_SAVED_ARGV,
                         ids=[x[0] for x in FASTAPI_SAVED_ARGV])
def test_label_of_fastapi_argv(server, command, label):
    config = labels.describe(["taskset", "-c", "1"] + command.split())
    assert config["label"] == label
    assert (config["app"], config["interface"]) == (FASTAPI_APP, "ASGI")
    # the same label as the server's Hello World command: only the app differs
    [(_, hello, _)] = [x for x in SAVED_ARGV if x[0] == server]
    assert labels.describe(hello.split())["label"] == label


def test_label_of_nginx_reads_its_config(tmp_path):
    from bench.servers import nginx
    argv = ["taskset", "-c", "1"] + nginx.command("/usr/sbin/nginx", str(tmp_path), 8080)
    config = labels.describe(argv)
    assert config["label"] == "nginx (1 worker, no master, return 200)"
    assert (config["workers"], config["master_process"]) == (1, False)
    (tmp_path / "nginx.conf").write_text("worker_processes 4;\nhttp {\n  return 200;\n}\n")
    assert labels.label(argv) == "nginx (4 workers, return 200)"


def test_every_launch_command_has_the_saved_label():
    """The launchers still spell out every knob, and say what the saved runs said."""
    import dataclasses
    from bench.servers import nginx
    saved = {server: label for server, _, label in SAVED_ARGV}
    saved["nginx"] = "nginx (1 worker, no master, return 200)"
    has_uvicorn = importlib.util.find_spec("uvicorn") is not None
    for spec in [SERVERS[n] for n in DEFAULT_ORDER]:
        if spec.name == "uvicorn-wsgi" and not has_uvicorn:
            continue                        # its label reads the installed uvicorn
        if spec.name == "nginx":            # whether or not nginx is installed here
            spec = dataclasses.replace(spec, argv=lambda port, workdir: nginx.command(
                "/usr/sbin/nginx", workdir, port))
        variants = [spec, spec.with_app(FLASK_APP)] if spec.wsgi_argv else [spec]
        if spec.asgi_argv:
            variants.append(spec.with_app(FASTAPI_APP))
        for variant in variants:
            config = bench_run.spec_config(variant, "1")
            assert config["label"] == _expected_label(spec.name, saved[spec.name]), config
    assert [bench_run.spec_config(s)["label"] for s in threads_variants()] == [
        "reactor (1 process, single reactor, route_static in C)",
        "reactor (1 process, 1 sub-reactor, route_static in C)",
        "reactor (1 process, 2 sub-reactors, route_static in C)",
        "reactor (1 process, 4 sub-reactors, route_static in C)"]


def test_label_refuses_a_command_without_its_knobs():
    # what the launchers ran before labels: gunicorn sync relied on its default threads
    old = ("python -m gunicorn --workers 1 --worker-class sync --bind 127.0.0.1:1 "
           "--keep-alive 60 bench.servers.wsgi_app:app").split()
    with pytest.raises(labels.LabelError, match="gunicorn: --threads is not in the command"):
        labels.describe(old)
    with pytest.raises(labels.LabelError, match="waitress: --threads"):
        labels.describe("python -m waitress --port=1 app:app".split())
    with pytest.raises(labels.LabelError, match="not a command the bench knows"):
        labels.describe("python -m hypercorn app:app".split())
    with pytest.raises(labels.LabelError, match="--interface auto does not say"):
        labels.describe("python -m uvicorn a:b --workers 1 --loop uvloop --http h11 "
                        "--interface auto".split())
    record = {}
    bench_run.label_record(record, old)                # a run is never lost over its label
    assert record["label"] is None and "--threads" in record["config"]["label_error"]


def test_label_follows_the_servers_own_rules():
    # gunicorn runs sync with --threads > 1 as gthread; reactor's handler threads show
    argv = ("python -m gunicorn --workers=2 --worker-class sync --threads=8 app:app").split()
    assert labels.label(argv) == "gunicorn gthread (2 workers x 8 threads, WSGI)"
    argv = "python -m reactor app:app --threads 0 --handler-threads 4".split()
    assert labels.label(argv) == "reactor (%s, WSGI on 4 handler threads)" % _reactor_processes(
        "single reactor")
    assert labels.option(["--x", "1", "--x=2"], "--x") == "2"            # the last one wins


def test_launchers_threading_matches_their_labels():
    from socketserver import ThreadingMixIn
    from bench.servers import stdlib_server, wsgiref_server
    assert issubclass(stdlib_server.Server, http.server.ThreadingHTTPServer)
    assert issubclass(wsgiref_server.Server, ThreadingMixIn)
    assert wsgiref_server.Server.request_queue_size == 1024


def test_labels_reach_summary_table_chart_and_compare(tmp_path):
    gthread = "gunicorn gthread (1 worker x 4 threads, WSGI)"
    runs = [wrk_run("reactor-wsgi", 3000.0, 0.5, 3000, scenario="flask-json",
                    label="reactor (1 process, 1 sub-reactor, WSGI)"),
            wrk_run("gunicorn-gthread", 1000.0, 0.4, 1000, scenario="flask-json", label=gthread),
            wrk_run("bjoern", 0, 0, 0, ok=False, scenario="flask-json")]
    summary = report.summarize(runs)["flask-json"]
    assert summary["gunicorn-gthread"]["label"] == gthread
    assert summary["bjoern"]["label"] is None
    check = {"path": "/json", "status": 200, "content_type": "application/json", "bytes": 565,
             "sha256": "8054aa076fec6143f832ef62f86b5bcce9f5bd2027bfbe952243af110a81edff"}
    text = report.markdown_table("flask-json", summary, labels={
        "bjoern": "bjoern (1 process, 1 thread, libev, WSGI)"}, check=check)
    assert ("Every server answered `GET /json` with the app's exact 565 bytes "
            "(application/json, sha256 8054aa076fec…) before it was timed.") in text
    assert "| gunicorn-gthread | %s | 1,000 | 1,000–1,000 | 400.0 | 0.33× |" % gthread in text
    assert "| vs reactor-wsgi |" in text                 # reactor-wsgi is the baseline here
    assert "| bjoern | bjoern (1 process, 1 thread, libev, WSGI) | failed |" in text
    assert report.chart_label("gunicorn-gthread", summary["gunicorn-gthread"]) == \
        "gunicorn-gthread\n" + gthread
    assert report.chart_label("x", {}) == "x"
    a = {"summary": {"flask-json": {"w": {"rps_median": 10.0, "label": "waitress (1 process "
                                          "x 4 threads, WSGI)"}}}}
    b = {"summary": {"flask-json": {"w": {"rps_median": 10.0, "label": "waitress (1 process "
                                          "x 8 threads, WSGI)"}}}}
    text, regressions = report.compare(a, b)
    assert regressions == []
    assert ("configuration changed: waitress (1 process x 4 threads, WSGI) -> "
            "waitress (1 process x 8 threads, WSGI)") in text


def test_result_file_records_labels_and_check():
    pytest.importorskip("flask")
    args = bench_run.build_parser().parse_args(
        ["--scenarios", "flask-json", "--servers", "stdlib", "--server-cpus", "0",
         "--client-cpus", "0"])
    plan = bench_run.make_plan(args)
    [(scenario, specs, skipped)] = plan
    assert [s.name for s in specs] == ["stdlib-wsgiref"]
    assert skipped == {}                          # stdlib-wsgiref stands in for stdlib
    result = bench_run.new_result(args, [], plan)
    info = result["scenarios"]["flask-json"]
    assert info["labels"] == {"stdlib-wsgiref": "stdlib wsgiref (1 process, thread per "
                                                "connection, HTTP/1.0, WSGI)"}
    assert info["configs"]["stdlib-wsgiref"]["app"] == FLASK_APP
    assert info["path"] == "/json" and info["app"] == FLASK_APP
    assert info["check"] == apps.reference(FLASK_APP, "/json").as_dict()
    assert "flask" in result["versions"] and "jinja2" in result["versions"]


# ---- the workers scenario ------------------------------------------------------------------

WORK_APP = "bench.apps.work_app:app"

# argv lists launched by a smoke run of the workers scenario (python -m bench --scenarios
# workers --duration 1 --rounds 1), the interpreter's path shortened, and their labels.
WORKERS_SAVED_ARGV = [
    ("reactor-w1", "python -m reactor bench.apps.work_app:app --port 37787 --workers 1 "
     "--threads 1 --handler-threads 0 --keep-alive-timeout 60 --log-level warning",
     "reactor (master + 1 worker x 1 sub-reactor, WSGI)"),
    ("reactor-inprocess", "python -m bench.servers.reactor_inprocess --port 52071 --threads 1 "
     "--app bench.apps.work_app:app", "reactor (1 process, no master, 1 sub-reactor, WSGI)"),
    ("gunicorn-gthread-w1", "python -m gunicorn --workers 1 --worker-class gthread "
     "--bind 127.0.0.1:51545 --keep-alive 60 --backlog 1024 --log-level warning "
     "--worker-tmp-dir /tmp/bench-gunicorn-gthread-w1-w6o_v14s --threads 4 "
     "--worker-connections 16384 bench.apps.work_app:app",
     "gunicorn gthread (1 worker x 4 threads, WSGI)"),
    ("uvicorn-wsgi-w1", "python -m uvicorn bench.apps.work_app:app --host 127.0.0.1 "
     "--port 37361 --workers 1 --interface wsgi --loop uvloop --http httptools "
     "--no-access-log --log-level warning --timeout-keep-alive 60 --backlog 1024 "
     "--lifespan off", "uvicorn (1 worker, uvloop+httptools, WSGI via {middleware})"),
    ("granian-wsgi-w1", "python -m granian --interface wsgi --host 127.0.0.1 --port 51549 "
     "--workers 1 --runtime-threads 1 --blocking-threads 512 --http 1 --no-ws "
     "--log-level warning --backlog 1024 bench.apps.work_app:app",
     "granian (1 worker, 1 runtime thread + up to 512 blocking threads, WSGI)"),
    ("reactor-w2", "python -m reactor bench.apps.work_app:app --port 40319 --workers 2 "
     "--threads 1 --handler-threads 0 --keep-alive-timeout 60 --log-level warning",
     "reactor (master + 2 workers x 1 sub-reactor, WSGI)"),
    ("gunicorn-gthread-w2", "python -m gunicorn --workers 2 --worker-class gthread "
     "--bind 127.0.0.1:57473 --keep-alive 60 --backlog 1024 --log-level warning "
     "--worker-tmp-dir /tmp/bench-gunicorn-gthread-w2-l4h6vmea --threads 4 "
     "--worker-connections 16384 bench.apps.work_app:app",
     "gunicorn gthread (2 workers x 4 threads, WSGI)"),
    ("uvicorn-wsgi-w2", "python -m uvicorn bench.apps.work_app:app --host 127.0.0.1 "
     "--port 40497 --workers 2 --interface wsgi --loop uvloop --http httptools "
     "--no-access-log --log-level warning --timeout-keep-alive 60 --backlog 1024 "
     "--lifespan off", "uvicorn (2 workers, uvloop+httptools, WSGI via {middleware})"),
    ("granian-wsgi-w2", "python -m granian --interface wsgi --host 127.0.0.1 --port 34871 "
     "--workers 2 --runtime-threads 1 --blocking-threads 256 --http 1 --no-ws "
     "--log-level warning --backlog 1024 bench.apps.work_app:app",
     "granian (2 workers, 1 runtime thread + up to 256 blocking threads, WSGI)"),
]
WORKERS_ORDER = [name for name, _, _ in WORKERS_SAVED_ARGV]


def test_work_app_answers():
    from bench.apps import work_app
    ref = apps.reference(WORK_APP, "/work")
    assert (ref.status_code, ref.content_type) == (200, "text/plain")
    assert ref.body == b"work %d: %d" % (work_app.ITERATIONS, work_app.work())
    assert ref.body == apps.reference(WORK_APP, "/work").body            # deterministic
    assert work_app.work(0) == 0 and work_app.work(3) == work_app.work(3)
    assert apps.reference(WORK_APP, "/").body == b"Hello, World!"       # what wait_ready polls
    assert apps.reference(WORK_APP, "/nope").status_code == 404
    per_call, per_work = work_app.measure(number=2, repeat=1)          # the README's timer
    assert per_call > 0 and per_work > 0


def test_workers_scenario_plan():
    scenario = bench_run.SCENARIO_BY_NAME["workers"]
    assert scenario.path == "/work" and scenario.app == WORK_APP
    specs = workers_variants()
    assert [s.name for s in specs] == WORKERS_ORDER
    for spec in specs:
        argv = spec.argv(8080, "/tmp/x")
        assert spec.app == WORK_APP and WORK_APP in argv
        assert spec.baseline == "reactor-w%d" % spec.workers
        if spec.name != "reactor-inprocess":
            assert argv[argv.index("--workers") + 1] == str(spec.workers)
    run, skipped = bench_run.servers_for(scenario, set())
    assert sorted([s.name for s in run] + list(skipped)) == sorted(WORKERS_ORDER)
    # a server's name selects its variants (uvicorn: uvicorn-wsgi's); others are skipped
    run, skipped = bench_run.servers_for(scenario, {"reactor-wsgi", "uvicorn", "nginx",
                                                    "granian-wsgi-w2"})
    assert skipped.pop("nginx").startswith("not in the workers scenario")
    assert sorted([s.name for s in run] + list(skipped)) == sorted([    # skipped: not installed
        "reactor-w1", "reactor-inprocess", "uvicorn-wsgi-w1", "reactor-w2", "uvicorn-wsgi-w2",
        "granian-wsgi-w2"])
    assert bench_run.check_args(bench_run.build_parser().parse_args(
        ["--scenarios", "workers", "--servers", "reactor-inprocess,gunicorn-gthread-w2"])) is None
    # the other scenarios do not take the variants
    specs, _ = bench_run.servers_for(bench_run.SCENARIO_BY_NAME["flask-json"], set())
    assert not {s.name for s in specs} & set(WORKERS_ORDER)


@pytest.mark.parametrize("server, command, label", WORKERS_SAVED_ARGV, ids=WORKERS_ORDER)
def test_label_of_workers_argv(server, command, label):
    label = _expected_label(server, label)
    config = labels.describe(["taskset", "-c", "1"] + command.split())
    assert config["label"] == label and config["app"] == WORK_APP
    assert config["workers"] == (int(server[-1]) if server[-1].isdigit() else 1)


def test_every_workers_command_has_the_saved_label():
    saved = {server: label for server, _, label in WORKERS_SAVED_ARGV}
    for spec in workers_variants():
        if spec.name.startswith("uvicorn") and importlib.util.find_spec("uvicorn") is None:
            continue
        config = bench_run.spec_config(spec, "1")
        assert config["label"] == _expected_label(spec.name, saved[spec.name]), config
        assert config["workers"] == spec.workers


def test_reactor_label_without_workers_follows_the_installed_reactor(monkeypatch):
    argv = "python -m reactor a:b --threads 1 --handler-threads 0".split()
    monkeypatch.setattr(labels, "reactor_default_workers", lambda: None)     # before issue 9
    config = labels.describe(argv)
    assert config["label"] == "reactor (1 process, 1 sub-reactor, WSGI)"
    assert config["processes"] == 1 and "workers" not in config
    monkeypatch.setattr(labels, "reactor_default_workers", lambda: 1)        # with a master
    config = labels.describe(argv)
    assert config["label"] == "reactor (master + 1 worker x 1 sub-reactor, WSGI)"
    assert (config["processes"], config["workers"], config["master_process"]) == (2, 1, True)
    assert labels.label(argv + ["--workers=3"]) == \
        "reactor (master + 3 workers x 1 sub-reactor, WSGI)"
    with pytest.raises(labels.LabelError, match="--workers 'two' is not a number"):
        labels.describe(argv + ["--workers", "two"])


def test_workers_table_compares_at_equal_workers():
    runs = [wrk_run("reactor-w1", 8000.0, 1.0, 8000, scenario="workers"),
            wrk_run("reactor-inprocess", 8080.0, 0.99, 8000, scenario="workers"),
            wrk_run("granian-wsgi-w1", 4000.0, 1.0, 5000, scenario="workers"),
            wrk_run("reactor-w2", 12000.0, 1.0, 10000, scenario="workers"),
            wrk_run("granian-wsgi-w2", 6000.0, 1.0, 5000, scenario="workers"),
            wrk_run("uvicorn-wsgi-w2", 0, 0, 0, ok=False, scenario="workers")]
    for run, processes in zip(runs, (2, 1, 2, 3, 3, None)):
        run["processes"] = processes
    summary = report.summarize(runs)["workers"]
    baselines = {"reactor-w1": "reactor-w1", "reactor-inprocess": "reactor-w1",
                 "granian-wsgi-w1": "reactor-w1", "reactor-w2": "reactor-w2",
                 "granian-wsgi-w2": "reactor-w2", "uvicorn-wsgi-w2": "reactor-w2"}
    configs = {n: {"workers": 2 if n.endswith("w2") else 1} for n in baselines}
    text = report.markdown_table("workers", summary, baselines=baselines, configs=configs,
                                 labels={"granian-wsgi-w2": "granian (2 workers)"})
    lines = text.splitlines()
    assert lines[2] == ("| workers | server | configuration | processes | req/s (median) "
                        "| min–max | µs CPU/req | req/s vs reactor | CPU/req vs reactor | p99 "
                        "| errors | reactor row |")
    assert "| 1 | reactor-w1 | — | 2 | 8,000 | 8,000–8,000 | 125.0 | 1.00× | 1.00× |" in text
    assert ("| 1 | reactor-inprocess | — | 1 | 8,080 | 8,080–8,080 | 123.8 | 1.01× | 0.99× |"
            in text)
    assert "| 1 | granian-wsgi-w1 | — | 2 | 4,000 | 4,000–4,000 | 200.0 | 0.50× | 1.60× |" in text
    assert ("| 2 | granian-wsgi-w2 | granian (2 workers) | 3 | 6,000 | 6,000–6,000 | 200.0 "
            "| 0.50× | 2.00× | 900 µs | 0 | reactor-w2 |") in text
    assert "| 2 | uvicorn-wsgi-w2 | — | failed |" in text
    assert "Ratios are to reactor at the same number of workers" in text
    # without its reactor row a peer has no ratio
    del summary["reactor-w2"]
    text = report.markdown_table("workers", summary, baselines=baselines, configs=configs)
    assert "| 2 | granian-wsgi-w2 | — | 3 | 6,000 | 6,000–6,000 | 200.0 | — | — |" in text


def test_result_file_records_workers_baselines():
    args = bench_run.build_parser().parse_args(
        ["--scenarios", "workers", "--servers", "reactor-inprocess,granian-wsgi-w1",
         "--server-cpus", "0", "--client-cpus", "0"])
    plan = bench_run.make_plan(args)
    result = bench_run.new_result(args, [], plan)
    info = result["scenarios"]["workers"]
    names = info["servers"] + list(info["skipped"])
    assert sorted(names) == ["granian-wsgi-w1", "reactor-inprocess"]
    assert {n: info["baselines"][n] for n in info["servers"]} == {
        n: "reactor-w1" for n in info["servers"]}
    assert info["path"] == "/work" and info["app"] == WORK_APP
    assert info["check"] == apps.reference(WORK_APP, "/work").as_dict()
    for name in info["servers"]:
        assert info["configs"][name]["workers"] == 1


def test_reactor_workers_serve_the_work_app():
    """reactor-w2 really runs a master and two workers (once --workers exists)."""
    pytest.importorskip("reactor.wsgi")
    if labels.reactor_default_workers() is None:
        pytest.skip("python -m reactor has no master yet (no reactor.supervisor)")
    import time
    from bench.launcher import RunningServer
    [spec] = [s for s in workers_variants() if s.name == "reactor-w2"]
    with RunningServer(spec, server_cpus=None, cwd=ROOT, env=bench_run.child_env()) as srv:
        srv.wait_ready()
        check = bench_run.check_response(srv.port, apps.reference(WORK_APP, "/work"), spec.name)
        assert check["identical"]
        deadline = time.monotonic() + 20
        while len(proctree.tree(srv.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(proctree.tree(srv.pid)) == 3         # the master and its two workers
    assert not srv.alive()


# ---- /proc sampling and the idle client ------------------------------------------------

def test_proctree_includes_children():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        pids = proctree.tree(os.getpid())
        assert pids[0] == os.getpid() and child.pid in pids
        assert proctree.cpu_seconds(pids) > 0
        assert proctree.rss_kb([child.pid]) > 0
        assert proctree.cpu_ticks(2 ** 22 + 12345) == 0         # no such process
    finally:
        child.kill()
        child.wait()


def test_launcher_and_idle_connections_against_reactor():
    pytest.importorskip("reactor.http_server")
    from bench.launcher import RunningServer, probe
    from bench.servers import SERVERS
    with RunningServer(SERVERS["reactor-static"], server_cpus=None, cwd=ROOT,
                       env=bench_run.child_env()) as srv:
        srv.wait_ready()
        assert probe(srv.port) == (200, b"Hello, World!")
        assert srv.pid in proctree.tree(srv.pid)
        conns = idle.open_idle("127.0.0.1", srv.port, 20, batch=8, timeout=10)
        try:
            assert (len(conns.socks), conns.failed) == (20, 0)
            assert conns.still_open() == 20
        finally:
            conns.close()
    assert not srv.alive()


# ---- smoke run ---------------------------------------------------------------------------

def _smoke_run(tmp_path, scenario, server, connections):
    """``python -m bench`` for 1 s, one round, ``server`` on the second CPU
    (if any) and wrk on the first; ``(completed process, server_cpu,
    client_cpu)`` once it exited 0."""
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[1], cpus[0]) if len(cpus) > 1 else (cpus[0], cpus[0])
    out = subprocess.run(
        [sys.executable, "-m", "bench", "--scenarios", scenario, "--servers", server,
         "--duration", "1", "--rounds", "1", "--warmup", "0",
         "--connections", str(connections), "--server-cpus", str(server_cpu),
         "--client-cpus", str(client_cpu), "--no-chart", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out, server_cpu, client_cpu

@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_smoke_run_reactor_static(tmp_path):
    pytest.importorskip("reactor.http_server")
    out, server_cpu, client_cpu = _smoke_run(tmp_path, "plaintext", "reactor-static", 16)
    assert "| reactor-static |" in out.stdout
    [json_path] = tmp_path.glob("*.json")
    result = json.loads(json_path.read_text())
    [run] = result["runs"]
    assert run["ok"] and run["requests"] > 0 and run["errors"] == 0
    assert run["cpu_us_per_req"] > 0
    assert result["machine"]["pinning"] == {"server_cpus": str(server_cpu),
                                            "client_cpus": str(client_cpu)}
    assert json_path.with_suffix(".md").exists()


@pytest.mark.slow     # several seconds: run by .ci/run, not by the README command
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_smoke_run_flask_json_on_reactor_wsgi(tmp_path):
    pytest.importorskip("reactor.wsgi")
    pytest.importorskip("flask")
    out, server_cpu, client_cpu = _smoke_run(tmp_path, "flask-json", "reactor-wsgi", 8)
    label = "reactor (%s, WSGI)" % _reactor_processes()
    assert "| reactor-wsgi | %s |" % label in out.stdout
    [json_path] = tmp_path.glob("*.json")
    result = json.loads(json_path.read_text())
    [run] = result["runs"]
    assert run["ok"], run["error"]
    assert run["requests"] > 0 and run["errors"] == 0
    assert run["wrk_argv"][-1].endswith("/json")
    assert run["label"] == label and run["config"]["app"] == FLASK_APP
    assert run["check"]["identical"] and run["check"]["content_type"] == "application/json"
    assert result["summary"]["flask-json"]["reactor-wsgi"]["label"] == label
    assert result["scenarios"]["flask-json"]["check"]["sha256"] == run["check"]["sha256"]


@pytest.mark.slow     # several seconds: run by .ci/run, not by the README command
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_smoke_run_fastapi_hello_on_the_asgi_servers(tmp_path):
    pytest.importorskip("fastapi")
    wanted = [n for n in ASGI_SERVERS if not SERVERS[n].unavailable_reason()]
    if not wanted:
        pytest.skip("none of %s can run here" % ", ".join(ASGI_SERVERS))
    out, server_cpu, client_cpu = _smoke_run(tmp_path, "fastapi-hello", ",".join(wanted), 8)
    [json_path] = tmp_path.glob("*.json")
    result = json.loads(json_path.read_text())
    info = result["scenarios"]["fastapi-hello"]
    assert info["servers"] == wanted and info["app"] == FASTAPI_APP
    assert [r["server"] for r in result["runs"]] == wanted
    for run in result["runs"]:
        assert run["ok"], run["error"]
        assert run["requests"] > 0 and run["errors"] == 0 and run["cpu_us_per_req"] > 0
        url = run["wrk_argv"][-1]
        assert url.startswith("http://127.0.0.1:") and url.split(":")[-1].endswith("/")
        assert FASTAPI_APP in run["server_argv"] and run["config"]["app"] == FASTAPI_APP
        assert run["check"] == dict(info["check"], identical=True)
        assert run["check"]["content_type"] == "text/plain; charset=utf-8"
        assert "| %s | %s |" % (run["server"], run["label"]) in out.stdout
    if "reactor-asgi" in wanted:
        assert "| vs reactor-asgi |" in out.stdout


@pytest.mark.slow     # several seconds: run by .ci/run, not by the README command
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_smoke_run_workers_on_reactor_inprocess(tmp_path):
    pytest.importorskip("reactor.wsgi")
    out, server_cpu, client_cpu = _smoke_run(tmp_path, "workers", "reactor-inprocess", 8)
    label = "reactor (1 process, no master, 1 sub-reactor, WSGI)"
    assert "| 1 | reactor-inprocess | %s | 1 |" % label in out.stdout
    [json_path] = tmp_path.glob("*.json")
    result = json.loads(json_path.read_text())
    [run] = result["runs"]
    assert run["ok"], run["error"]
    assert run["requests"] > 0 and run["errors"] == 0 and run["cpu_us_per_req"] > 0
    assert run["wrk_argv"][-1].endswith("/work")
    assert run["check"]["identical"] and run["check"]["bytes"] == len(
        apps.reference(WORK_APP, "/work").body)
    assert result["scenarios"]["workers"]["baselines"] == {"reactor-inprocess": "reactor-w1"}


# ---- the files scenarios ---------------------------------------------------------------------

FILES_SCENARIOS = ["files-1k", "files-64k", "files-10m"]
FILES_ORDER = ["reactor-files", "nginx-files", "stdlib-files", "granian-files"]
# argv lists launched by a smoke run (python -m bench --scenarios files --duration 1
# --rounds 1), the interpreter's path and the files' directory shortened, and their labels
# (nginx's is read from its config file: test_label_of_nginx_files_reads_its_config).
FILES_SAVED_ARGV = [
    ("reactor-files", "python -m reactor --static /=/tmp/bench-files-hzh355fz --port 40123 "
     "--threads 1 --keep-alive-timeout 60 --log-level warning",
     "reactor ({reactor_processes}, static files in C)"),
    ("stdlib-files", "python -m http.server --bind 127.0.0.1 --directory "
     "/tmp/bench-files-hzh355fz --protocol HTTP/1.0 48595",
     "stdlib http.server (1 process, thread per connection, HTTP/1.0, closes after each "
     "response)"),
    ("granian-files", "python -m granian --interface asgi --host 127.0.0.1 --port 34963 "
     "--workers 1 --runtime-threads 1 --loop uvloop --http 1 --no-ws --log-level warning "
     "--backlog 1024 --static-path-route /static --static-path-mount /tmp/bench-files-hzh355fz "
     "bench.servers.asgi_app:app",
     "granian (1 worker, 1 runtime thread, uvloop, static-path-mount, ASGI app elsewhere)"),
]
NGINX_FILES_LABEL = ("nginx (1 worker, no master, static files, sendfile on, "
                     "open_file_cache off)")


def test_files_are_random_bytes_made_once(tmp_path):
    from bench import files
    fs = files.FileSet(tmp_path / "d")
    assert [(f.name, f.size) for f in fs] == [("1k.bin", 1024), ("64k.bin", 65536),
                                              ("10m.bin", 10 * 1024 * 1024)]
    one = fs["64k.bin"]
    data = one.read()
    assert len(data) == 65536 and one.path == str(tmp_path / "d" / "64k.bin")
    assert one.sha256 == __import__("hashlib").sha256(data).hexdigest()
    assert one.as_dict() == {"name": "64k.bin", "bytes": 65536, "sha256": one.sha256}
    assert fs["1k.bin"].read() != files.FileSet(tmp_path / "e")["1k.bin"].read()   # random
    shared = files.shared()
    assert files.shared() is shared and os.path.isdir(shared.directory)
    assert sorted(os.listdir(shared.directory)) == ["10m.bin", "1k.bin", "64k.bin"]


def test_files_scenarios_plan():
    args = bench_run.build_parser().parse_args(["--scenarios", "files", "--connections", "32"])
    assert bench_run.check_args(args) is None
    assert bench_run.scenario_names("files") == FILES_SCENARIOS
    assert bench_run.scenario_names("files-10m,plaintext,files") == [
        "files-10m", "plaintext", "files-1k", "files-64k"]
    scenarios = [bench_run.SCENARIO_BY_NAME[n] for n in FILES_SCENARIOS]
    assert [(s.path, s.file, s.connections_for(args)) for s in scenarios] == [
        ("/1k.bin", "1k.bin", 32), ("/64k.bin", "64k.bin", 32),
        ("/10m.bin", "10m.bin", bench_run.FILES_10M_CONNECTIONS)]
    assert bench_run.FILES_10M_CONNECTIONS == 8
    for scenario in scenarios:
        specs, skipped = bench_run.servers_for(scenario, set())
        assert sorted([s.name for s in specs] + list(skipped)) == sorted(FILES_ORDER)
    # a server's name selects its file server; the others are listed as skipped
    run, skipped = bench_run.servers_for(scenarios[0], {"nginx", "stdlib", "reactor-static"})
    assert skipped.pop("reactor-static").startswith("not in the files scenarios")
    assert sorted([s.name for s in run] + list(skipped)) == ["nginx-files", "stdlib-files"]
    assert bench_run.check_args(bench_run.build_parser().parse_args(
        ["--scenarios", "files", "--servers", ",".join(FILES_ORDER)])) is None
    # the other scenarios do not take them
    for name in ("plaintext", "flask-json", "workers"):
        specs, _ = bench_run.servers_for(bench_run.SCENARIO_BY_NAME[name], set())
        assert not {s.name for s in specs} & set(FILES_ORDER)


def test_files_servers_serve_one_directory():
    from bench import files
    from bench.servers import files_variants
    directory = files.shared().directory
    specs = {s.name: s for s in files_variants()}
    assert list(specs) == FILES_ORDER
    assert {n: s.url_prefix for n, s in specs.items()} == {
        "reactor-files": "", "nginx-files": "", "stdlib-files": "", "granian-files": "/static"}
    argv = specs["reactor-files"].argv(8080, "/tmp/x")
    assert argv[argv.index("--static") + 1] == "/=" + directory
    assert argv[argv.index("--threads") + 1] == "1"
    argv = specs["stdlib-files"].argv(8080, "/tmp/x")
    assert argv[1:4] == ["-m", "http.server", "--bind"] and argv[-1] == "8080"
    assert argv[argv.index("--directory") + 1] == directory
    argv = specs["granian-files"].argv(8080, "/tmp/x")
    assert argv[argv.index("--static-path-mount") + 1] == directory
    assert argv[argv.index("--static-path-route") + 1] == "/static"
    assert argv[-1] == "bench.servers.asgi_app:app"


def test_file_servers_wait_for_their_options(monkeypatch):
    from bench import servers
    help_text = "usage: reactor [-h] [--static URL_PREFIX=DIR] [--port PORT]\n"
    assert servers.has_option(help_text, "--static")
    assert servers.has_option("  --static-path-mount DIRECTORY  Path", "--static-path-mount")
    assert not servers.has_option("  --static-path-mount DIRECTORY", "--static")
    assert not servers.has_option("usage: reactor [--port PORT]", "--static")
    monkeypatch.setattr(servers, "help_text", lambda *argv: "usage: x [--port PORT]")
    specs = {s.name: s for s in servers.files_variants()}
    assert specs["reactor-files"].check() == ("python -m reactor has no --static option yet "
                                              "(static file serving, issue 11)")
    assert specs["granian-files"].check() == "this granian has no --static-path-mount"
    monkeypatch.setattr(servers, "help_text", lambda *argv: help_text)
    assert specs["reactor-files"].check() is None


@pytest.mark.parametrize("server, command, label", FILES_SAVED_ARGV,
                         ids=[x[0] for x in FILES_SAVED_ARGV])
def test_label_of_files_argv(server, command, label):
    label = label.format(reactor_processes=_reactor_processes())
    config = labels.describe(["taskset", "-c", "1"] + command.split())
    assert config["label"] == label
    assert labels.describe(command.split()) == config                   # pinned or not
    assert config["interface"] == "static"


def test_label_of_nginx_files_reads_its_config(tmp_path):
    from bench.servers import nginx
    argv = nginx.command("/usr/sbin/nginx", str(tmp_path), 8080, root="/srv/files")
    config = labels.describe(argv)
    assert config["label"] == NGINX_FILES_LABEL
    assert (config["sendfile"], config["open_file_cache"]) == ("on", "off")
    text = (tmp_path / "nginx.conf").read_text()
    assert "        root /srv/files;\n" in text and "return" not in text
    assert "    access_log off;\n" in text and "master_process off;" in text
    (tmp_path / "nginx.conf").write_text("worker_processes 1;\nhttp {\n  root /x;\n}\n")
    assert labels.label(argv) == ("nginx (1 worker, static files, sendfile off, "  # defaults
                                  "open_file_cache off)")


def test_every_files_command_has_the_saved_label():
    import dataclasses
    from bench.servers import files_variants, nginx
    saved = {server: label.format(reactor_processes=_reactor_processes())
             for server, _, label in FILES_SAVED_ARGV}
    saved["nginx-files"] = NGINX_FILES_LABEL
    for spec in files_variants():
        if spec.name == "nginx-files":      # whether or not nginx is installed here
            spec = dataclasses.replace(spec, argv=lambda port, workdir: nginx.command(
                "/usr/sbin/nginx", workdir, port, root="/srv/files"))
        assert bench_run.spec_config(spec, "1")["label"] == saved[spec.name]


def test_check_file_is_byte_exact(stub_server, tmp_path):
    from bench import files
    served = files.FileSet(tmp_path)["64k.bin"]
    data = served.read()
    port = stub_server.server_address[1]
    _StubHandler.reply = (200, "application/octet-stream", data, False)
    assert bench_run.check_file(port, "/64k.bin", served, "stub") == {
        "path": "/64k.bin", "status": 200, "content_type": "application/octet-stream",
        "bytes": 65536, "sha256": served.sha256, "identical": True,
        "framing": "Content-Length"}
    _StubHandler.reply = (200, "application/octet-stream", data, True)
    assert bench_run.check_file(port, "/static/64k.bin", served, "stub")["framing"] == "chunked"
    changed = data[:1000] + bytes([data[1000] ^ 1]) + data[1001:]
    _StubHandler.reply = (200, "application/octet-stream", changed, False)
    with pytest.raises(ServerError, match=r"stub: GET /64k.bin answered body of 65536 bytes "
                                          r"differs from 64k.bin \(65536 bytes\) at byte 1000"):
        bench_run.check_file(port, "/64k.bin", served, "stub")
    _StubHandler.reply = (404, "text/html", b"nope", False)
    with pytest.raises(ServerError, match="status 404, expected 200; body of 4 bytes"):
        bench_run.check_file(port, "/64k.bin", served, "stub")


def test_stdlib_files_serves_the_files_identically():
    from bench import files
    from bench.launcher import RunningServer
    from bench.servers import files_variants
    [spec] = [s for s in files_variants() if s.name == "stdlib-files"]
    scenario = bench_run.SCENARIO_BY_NAME["files-64k"]
    with RunningServer(spec, server_cpus=None, cwd=ROOT, env=bench_run.child_env()) as srv:
        bench_run.wait_ready(srv, scenario, spec)
        check = bench_run.check_file(srv.port, scenario.path, scenario.served_file(), spec.name)
        assert check["bytes"] == 65536 and check["framing"] == "Content-Length"
        with pytest.raises(ServerError, match="answered 200"):     # not the probe's bytes
            srv.wait_ready(timeout=5, paths=("/64k.bin",), body=files.shared()["1k.bin"].read())
    assert not srv.alive()


def files_run(server, rps, cpu_s, requests, size, busy=1.0, framing="Content-Length", **kw):
    run = wrk_run(server, rps, cpu_s, requests, scenario="files-64k", **kw)
    run.update(file_bytes=size, body_bps=rps * size, cpu_busy=busy,
               check={"framing": framing} if run["ok"] else None)
    return run


def test_files_table_reports_bytes_cpu_and_ratios():
    size = 65536
    runs = [files_run("reactor-files", 40000.0, 0.8, 40000, size, busy=0.8),
            files_run("nginx-files", 36000.0, 0.9, 36000, size, busy=0.9),
            files_run("granian-files", 11000.0, 1.0, 10000, size, framing="chunked"),
            files_run("stdlib-files", 0, 0, 0, size, ok=False)]
    summary = report.summarize(runs)["files-64k"]
    s = summary["reactor-files"]
    assert s["body_bps_median"] == 40000.0 * size and s["cpu_busy_median"] == 0.8
    assert s["framing"] == "Content-Length" and "body_bps_median" not in report.summarize(
        [wrk_run("x", 1.0, 1.0, 1)])["plaintext"]["x"]
    file = {"name": "64k.bin", "bytes": size, "sha256": "467d4a04bc02" + "0" * 52}
    text = report.markdown_table("files-64k", summary, "files-64k — test", file=file,
                                 labels={"nginx-files": NGINX_FILES_LABEL})
    lines = text.splitlines()
    assert lines[2].startswith("Every server answered the file's exact 65,536 bytes "
                               "(sha256 467d4a04bc02…) before it was timed.")
    assert lines[4] == ("| server | configuration | req/s (median) | min–max | MiB/s "
                        "| µs CPU/req | server CPU | req/s vs reactor-files "
                        "| CPU/req vs reactor-files | p50 | p99 | errors |")
    assert ("| reactor-files | — | 40,000 | 40,000–40,000 | 2,500 | 20.0 | 80% | 1.00× "
            "| 1.00× | 300 µs | 900 µs | 0 |") in lines
    assert ("| nginx-files | %s | 36,000 | 36,000–36,000 | 2,250 | 25.0 | 90%% | 0.90× "
            "| 1.25× |" % NGINX_FILES_LABEL) in text
    assert ("| granian-files | — | 11,000 | 11,000–11,000 | 688 | 100.0 | 100% | 0.28× "
            "| 5.00× |") in text
    assert "| stdlib-files | — | failed |" in text
    assert "Sent without a Content-Length: granian-files (chunked)." in lines
    assert report.fmt_mib(10 * 1024 * 1024 * 169) == "1,690" and report.fmt_mib(52428.8) == "0.1"
    line = bench_run.progress_line(runs[0], 1, 12, 3)
    assert line.endswith("errors 0  2,500 MiB/s") and "files-64k r1/3" in line


def test_result_file_records_the_file():
    from bench import files
    args = bench_run.build_parser().parse_args(
        ["--scenarios", "files", "--servers", "granian-files,stdlib-files",
         "--server-cpus", "0", "--client-cpus", "0"])
    result = bench_run.new_result(args, [], bench_run.make_plan(args))
    assert list(result["scenarios"]) == FILES_SCENARIOS
    for name, (_, file_name, size) in zip(FILES_SCENARIOS, files.FILES):
        info = result["scenarios"][name]
        assert info["file"] == files.shared()[file_name].as_dict() and info["file"]["bytes"] == size
        assert info["path"] == "/" + file_name
        names = info["servers"] + list(info["skipped"])
        assert sorted(names) == ["granian-files", "stdlib-files"]
        assert info["url_prefixes"] == ({"granian-files": "/static"}
                                        if "granian-files" in info["servers"] else {})
    assert result["scenarios"]["files-10m"]["connections"] == 8


def test_reactor_files_serves_the_files():
    """reactor --static answers every file byte for byte (once the option exists)."""
    from bench.launcher import RunningServer
    from bench.servers import files_variants
    [spec] = [s for s in files_variants() if s.name == "reactor-files"]
    reason = spec.unavailable_reason()
    if reason:
        pytest.skip(reason)
    with RunningServer(spec, server_cpus=None, cwd=ROOT, env=bench_run.child_env()) as srv:
        bench_run.wait_ready(srv, bench_run.SCENARIO_BY_NAME["files-1k"], spec)
        for name in FILES_SCENARIOS:
            scenario = bench_run.SCENARIO_BY_NAME[name]
            check = bench_run.check_file(srv.port, scenario.path, scenario.served_file(),
                                         spec.name)
            assert check["framing"] == "Content-Length"
    assert not srv.alive()


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_smoke_run_files_on_reactor_files(tmp_path):
    from bench.servers import files_variants
    [spec] = [s for s in files_variants() if s.name == "reactor-files"]
    reason = spec.unavailable_reason()
    if reason:
        pytest.skip(reason)
    out, server_cpu, client_cpu = _smoke_run(tmp_path, "files-64k", "reactor-files", 8)
    label = "reactor (%s, static files in C)" % _reactor_processes()
    assert "| reactor-files | %s |" % label in out.stdout
    [json_path] = tmp_path.glob("*.json")
    result = json.loads(json_path.read_text())
    [run] = result["runs"]
    assert run["ok"], run["error"]
    assert run["requests"] > 0 and run["errors"] == 0 and run["cpu_us_per_req"] > 0
    assert run["wrk_argv"][-1].endswith("/64k.bin") and run["file_bytes"] == 65536
    assert run["body_bps"] == pytest.approx(run["rps"] * 65536)
    assert run["check"]["identical"] and run["check"]["bytes"] == 65536
    assert result["scenarios"]["files-64k"]["file"]["bytes"] == 65536


# ---- the tls scenarios -------------------------------------------------------------------

@pytest.mark.slow     # several seconds: run by .ci/run, not by the README command
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_smoke_run_tls_on_reactor_tls(tmp_path):
    """``--scenarios tls`` on reactor-tls: the certificate is made, the answer checked
    over https, and wrk runs keep-alive, with Connection: close (resumed) and with
    the shim (full handshakes: skipped with a note when there is no C compiler)."""
    from bench import tls
    from bench.servers import tls_variants
    [spec] = [s for s in tls_variants() if s.name == "reactor-tls"]
    reason = spec.unavailable_reason()
    if reason:
        pytest.skip(reason)
    out, server_cpu, client_cpu = _smoke_run(tmp_path, "tls", "reactor-tls", 8)
    [json_path] = tmp_path.glob("*.json")
    result = json.loads(json_path.read_text())
    scenarios = ["tls-keepalive", "tls-resumed", "tls-handshake"]
    if tls.mode_unavailable("full"):
        scenarios.remove("tls-handshake")
    runs = {r["scenario"]: r for r in result["runs"]}
    assert sorted(runs) == sorted(scenarios)
    for name, run in runs.items():
        assert run["ok"], run["error"]
        assert run["requests"] > 0 and run["errors"] == 0 and run["cpu_us_per_req"] > 0
        assert run["wrk_argv"][-1].startswith("https://127.0.0.1:")
        assert run["check"]["identical"] and run["check"]["tls_version"] == "TLSv1.3"
        assert run["check"]["certificate_sha256"] == \
            result["scenarios"][name]["tls"]["cert"]["sha256"]
        assert run["label"].endswith(", TLS ECDSA P-256)")
        assert "| reactor-tls | %s |" % run["label"] in out.stdout
    assert "Connection: close" not in runs["tls-keepalive"]["wrk_argv"]
    assert "Connection: close" in runs["tls-resumed"]["wrk_argv"]
    assert runs["tls-resumed"]["check"]["resumes_sessions"]
    if "tls-handshake" in runs:
        assert any(a.startswith("LD_PRELOAD=") for a in runs["tls-handshake"]["wrk_argv"])

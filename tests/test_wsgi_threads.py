"""Handler threads (``handler_threads=M``): slow apps run on a worker pool
and answer through the connection's loop, so a sleeping handler does not
hold up other connections of the same loop; a blocked handler is logged
once it passes ``handler_warn_time``."""
import logging
import os
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wsgi_apps import basic  # noqa: E402
from wsgi_apps.helpers import Client, fetch, wsgi_server  # noqa: E402


def _latency(port, path):
    t0 = time.monotonic()
    r = fetch(port, path=path)
    assert r.status == 200, r
    return time.monotonic() - t0, r


def test_twenty_sleepers_run_in_parallel_and_loop_stays_responsive():
    """20 concurrent 500 ms requests with 20 handler threads on ONE loop
    (threads=1) finish in about 0.5 s, not 10 s; meanwhile a route answered on
    that loop keeps answering fast."""
    with wsgi_server(basic.sleepy, threads=1, handler_threads=20) as server:
        server.http.route_static("/static-fast", b"fast")
        clients = [Client(server.port, timeout=10.0) for _ in range(20)]
        try:
            t0 = time.monotonic()
            for c in clients:
                c.request("GET", "/slow?t=0.5")
            time.sleep(0.1)                      # the sleepers are in flight now
            lat, r = _latency(server.port, "/static-fast")
            assert r.body == b"fast"
            assert lat < 0.3, "the loop was blocked for %.2fs by sleeping handlers" % lat
            for c in clients:
                r = c.read_response()
                assert r.status == 200 and r.body == b"done /slow"
            elapsed = time.monotonic() - t0
        finally:
            for c in clients:
                c.close()
    assert elapsed < 4.0, "20 x 0.5 s handlers took %.2fs" % elapsed


def test_fast_wsgi_route_answers_while_others_sleep():
    """A slow WSGI handler on one connection does not delay a fast WSGI
    request on another connection of the same loop."""
    with wsgi_server(basic.sleepy, threads=1, handler_threads=4) as server:
        slow = [Client(server.port, timeout=10.0) for _ in range(2)]
        try:
            for c in slow:
                c.request("GET", "/slow?t=1.0")
            time.sleep(0.1)
            worst = 0.0
            for _ in range(5):
                lat, r = _latency(server.port, "/fast")
                assert r.body == b"done /fast"
                worst = max(worst, lat)
            assert worst < 0.3, "a fast request waited %.2fs behind sleeping handlers" % worst
            for c in slow:
                assert c.read_response().body == b"done /slow"
        finally:
            for c in slow:
                c.close()


def test_pipelined_requests_keep_order_with_handler_threads():
    """Pipelined requests on one connection are answered in order even when
    the first one is the slow one."""
    with wsgi_server(basic.sleepy, threads=1, handler_threads=4) as server:
        with Client(server.port, timeout=10.0) as c:
            c.send(b"GET /slow?t=0.3 HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /fast1 HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /fast2 HTTP/1.1\r\nHost: x\r\n\r\n")
            bodies = [c.read_response().body for _ in range(3)]
    assert bodies == [b"done /slow", b"done /fast1", b"done /fast2"]


@pytest.mark.parametrize("size", [(1 << 20) + 4096, 3 << 20])
def test_next_request_read_after_a_large_response_from_a_handler_thread(size):
    """A handler thread's response over the output high-water mark (1 MiB)
    pauses reading; when the socket takes it all at once, reading resumes
    and the next request on the connection is answered."""
    big = b"b" * size

    def app(environ, start_response):
        body = big if environ["PATH_INFO"] == "/big" else b"small"
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    with wsgi_server(app, threads=1, handler_threads=2) as server:
        with Client(server.port, timeout=3.0) as c:
            for _ in range(3):
                c.send(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
                assert c.read_response().body == big
                c.send(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
                assert c.read_response().body == b"small"


def test_client_gone_while_handler_runs():
    """The client disconnects while its handler sleeps on a worker: the late
    response is dropped and the server keeps serving."""
    with wsgi_server(basic.sleepy, threads=1, handler_threads=2) as server:
        c = Client(server.port)
        c.request("GET", "/slow?t=0.3")
        time.sleep(0.05)
        c.close()
        time.sleep(0.4)
        assert fetch(server.port, path="/fast").body == b"done /fast"


@pytest.mark.parametrize("handler_threads", [0, 2], ids=["inline", "handler-threads"])
def test_handler_warn_time_logged_once(caplog, handler_threads):
    caplog.set_level(logging.WARNING, logger="reactor.wsgi")
    with wsgi_server(basic.sleepy, threads=1, handler_threads=handler_threads,
                     handler_warn_time=0.3) as server:
        r = fetch(server.port, path="/slow?t=0.9")
        assert r.status == 200
        r = fetch(server.port, path="/fast")             # fast: never logged
        assert r.status == 200
    records = [rec for rec in caplog.records if rec.name == "reactor.wsgi"
               and rec.levelno >= logging.WARNING]
    assert len(records) == 1, [rec.getMessage() for rec in records]
    msg = records[0].getMessage()
    assert "GET" in msg and "/slow?t=0.9" in msg, msg
    assert "/fast" not in msg


def test_handler_threads_validation():
    from reactor.wsgi import WSGIServer
    for bad in (-1, 1.5, "2"):
        with pytest.raises((ValueError, TypeError)):
            WSGIServer(basic.hello, port=0, threads=1, handler_threads=bad)


SECOND_SIGNAL_SERVER = r'''
import sys, time
from reactor.wsgi import WSGIServer

def app(environ, start_response):
    time.sleep(2.0)          # still running when the graceful stop gives up on it
    start_response("200 OK", [("Content-Length", "1")])
    return [b"x"]

server = WSGIServer(app, port=0, threads=1, graceful_timeout=0.3)
print(server.port, flush=True)
server.serve_forever()
'''


@pytest.mark.slow     # several seconds: run by .ci/run, not by the README command
def test_a_second_signal_while_the_handler_pool_stops_is_harmless(tmp_path):
    # SIGINT to a terminal's process group, then the master's SIGTERM: the second
    # signal can land after the loop closed, while the pool's threads are joined
    import signal
    import socket
    import subprocess
    proc = subprocess.Popen([sys.executable, "-c", SECOND_SIGNAL_SERVER], cwd=str(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                                p for p in (os.path.dirname(os.path.dirname(
                                    os.path.abspath(__file__))), os.environ.get("PYTHONPATH"))
                                if p)))
    try:
        port = int(proc.stdout.readline())
        deadline = time.monotonic() + 10
        while True:                              # listening once serve_forever runs
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.02)
        try:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(0.3)                      # the handler sleeps on its thread
            proc.send_signal(signal.SIGINT)
            time.sleep(1.0)                      # graceful stop over: the pool is joined
            assert proc.poll() is None, "exited before the handler finished"
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(10)
        finally:
            s.close()
        err = proc.stderr.read().decode()
        assert rc == 0 and "Traceback" not in err, (rc, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()

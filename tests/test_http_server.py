"""HttpServer end to end over real sockets: http.client, requests, curl and raw
sockets.

The main tests run against one server per (threads, dispatcher) in
{0, 1, 4} x {epoll, poll}; the heavier ones (1,000 connections, graceful
stop, backpressure) build their own server.
"""
import email.utils
import json
import logging
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

from http_helpers import (COMBO_IDS, COMBOS, WOULD_BLOCK, Client, base_url, connect, curl_tls_args,
                          exchange, get, half_close, http_connection, live_connections,
                          run_in_loop, serve, wait_for)
from reactor.http_response import HttpResponse

requests = pytest.importorskip("requests")

IMF_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                      r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


class Stream:
    """An iterable body that records whether the server closed it."""

    def __init__(self, chunks):
        self.chunks = list(chunks)
        self.closed = False

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        self.closed = True


STREAMS = []


def app(req):
    p = req.path
    if p == "/hello":
        return b"hello"
    if p == "/echo":
        h = req.headers
        return HttpResponse(json.dumps({
            "method": req.method, "path": req.path, "query": req.query, "target": req.target,
            "version": req.version, "keep_alive": req.keep_alive,
            "headers": h.items(), "x_multi": h.get_all("x-multi"), "host": h.get("HOST"),
            "has_host": "host" in h, "body": req.body.decode("latin-1"),
            "remote": list(req.remote_addr),
        }), content_type="application/json")
    if p == "/str":
        return "h\u00e9llo"
    if p == "/none":
        return None
    if p.startswith("/status/"):
        return HttpResponse(b"must not be sent", int(p[8:]), headers={"X-Status": p[8:]})
    if p == "/boom":
        raise RuntimeError("boom from the handler")
    if p == "/split-ctor":
        return HttpResponse(b"x", headers={"X-Evil": "a\r\nInjected: 1"})
    if p == "/split-add":
        r = HttpResponse(b"x")
        r.add_header("X-Evil", "a\nInjected: 1")
        return r
    if p == "/split-list":
        r = HttpResponse(b"x")
        r.headers.append((b"X-Evil", b"a\r\nInjected: 1"))
        return r
    if p == "/split-name":
        r = HttpResponse(b"x")
        r.headers.append((b"X-Evil\r\nInjected", b"1"))
        return r
    if p == "/badtype":
        return 12345
    if p == "/bad-length":
        return HttpResponse(b"abc", headers={"Content-Length": "5"})
    if p == "/custom-headers":
        return HttpResponse(b"c", headers=[("Server", "custom"), ("X-A", "1"), ("X-A", "2")])
    if p == "/bytes":
        return b"x" * int(req.query)
    if p == "/seq":
        return HttpResponse(req.query.encode(), headers={"X-Seq": req.query})
    if p.startswith("/stream"):
        n = int(req.query or 3)
        s = Stream(b"part%d;" % i for i in range(n))
        STREAMS.append(s)
        kind = p[len("/stream"):]
        size = n * 6
        if kind == "-cl":
            return HttpResponse(s, headers={"Content-Length": str(size)})
        if kind == "-long":
            return HttpResponse(s, headers={"Content-Length": str(size - 4)})
        if kind == "-short":
            return HttpResponse(s, headers={"Content-Length": str(size + 10)})
        if kind == "-raise":
            def gen():
                yield b"first;"
                raise RuntimeError("mid-stream")
            return HttpResponse(gen())
        return HttpResponse(s)
    return HttpResponse(b"not found\n", 404)


@pytest.fixture(scope="module", params=COMBOS, ids=COMBO_IDS)
def server(request):
    threads, dispatcher = request.param
    with serve(app, threads=threads, dispatcher=dispatcher,
               routes={"/static": b"static body"}) as srv:
        yield srv


@pytest.fixture
def port(server):
    return server.port


# ---- clients ------------------------------------------------------------------------------------

def test_http_client_get(port):
    conn = http_connection(port, timeout=5)
    try:
        for _ in range(3):                      # keep-alive: one connection
            conn.request("GET", "/hello")
            r = conn.getresponse()
            assert r.status == 200 and r.reason == "OK"
            assert r.read() == b"hello"
            assert r.getheader("Content-Length") == "5"
            assert r.getheader("Server") == "reactor"
            assert IMF_DATE.match(r.getheader("Date"))
            assert not r.will_close
        conn.request("POST", "/echo", body=b"abc", headers={"X-Multi": "1"})
        r = conn.getresponse()
        info = json.loads(r.read())
        assert info["method"] == "POST" and info["body"] == "abc"
    finally:
        conn.close()


def test_requests_session(port):
    with requests.Session() as s:
        remotes = set()
        for i in range(5):
            r = s.post(base_url(port) + "/echo?i=%d" % i, data=b"x" * i, timeout=5)
            assert r.status_code == 200
            info = r.json()
            assert info["query"] == "i=%d" % i and info["body"] == "x" * i
            assert r.headers["Content-Type"] == "application/json"
            remotes.add(tuple(info["remote"]))
        assert len(remotes) == 1, "requests should reuse one keep-alive connection"
        # a generator body: requests sends it chunked
        r = s.post(base_url(port) + "/echo", data=(c for c in [b"ab", b"cd", b"e"]),
                   timeout=5)
        assert r.json()["body"] == "abcde"
        assert ("Transfer-Encoding", "chunked") in [tuple(h) for h in r.json()["headers"]]
        r = s.get(base_url(port) + "/stream?4", timeout=5)
        assert r.content == b"part0;part1;part2;part3;"
        assert r.headers["Transfer-Encoding"] == "chunked"


def test_curl(port):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    url = base_url(port)
    curl = [curl, *curl_tls_args()]
    out = subprocess.run([*curl, "-sS", "-i", "--max-time", "5", url + "/hello", url + "/static"],
                         capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("latin-1")
    assert text.count("HTTP/1.1 200 OK") == 2
    assert "hello" in text and "static body" in text
    out = subprocess.run([*curl, "-sS", "--max-time", "5", "-H", "Transfer-Encoding: chunked",
                          "--data-binary", "@-", url + "/echo"],
                         input=b"curl body", capture_output=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["body"] == "curl body"
    out = subprocess.run([*curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                          "-H", "Expect: 100-continue", "--data-binary", "x" * 2000, url + "/echo"],
                         capture_output=True, timeout=10)
    assert out.stdout == b"200", out


# ---- requests as the handler sees them ----------------------------------------------------------

def test_request_attributes(port):
    with Client(port) as c:
        c.send(b"GET /echo?a=1&b=%20 HTTP/1.1\r\nHost: example.com:80\r\nX-Multi: 1\r\n"
               b"x-multi: 2\r\nX-Obs: caf\xe9\r\n\r\n")
        info = json.loads(c.read_response().body)
    assert info["method"] == "GET" and info["path"] == "/echo" and info["query"] == "a=1&b=%20"
    assert info["target"] == "/echo?a=1&b=%20"
    assert info["version"] == "HTTP/1.1" and info["keep_alive"] is True
    assert info["x_multi"] == ["1", "2"] and info["host"] == "example.com:80"
    assert info["has_host"] is True
    assert ["X-Obs", "caf\xe9"] in info["headers"]
    assert info["remote"][0] == "127.0.0.1"


def test_absolute_form_and_options(port):
    with Client(port) as c:
        c.send(b"GET http://example.com/echo?q HTTP/1.1\r\nHost: example.com\r\n\r\n"
               b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")
        info = json.loads(c.read_response().body)
        assert info["path"] == "/echo" and info["query"] == "q"
        assert c.read_response().status == 404           # the app has no "*"


def test_content_length_body(port):
    with Client(port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"
               b"PUT /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
        assert json.loads(c.read_response().body)["body"] == "hello world"
        info = json.loads(c.read_response().body)
        assert info["method"] == "PUT" and info["body"] == ""


def test_content_length_of_bodies_of_every_digit_count(port):
    sizes = [0, 1, 9, 10, 99, 100, 999, 1000, 65535, 65536, 1234567]
    with Client(port) as c:
        for n in sizes:
            c.send(b"GET /bytes?%d HTTP/1.1\r\nHost: h\r\n\r\n" % n)
            r = c.read_response()
            assert r.header_all("Content-Length") == [str(n)], (n, r.headers)
            assert r.body == b"x" * n


def test_chunked_body_with_trailers(port):
    with Client(port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
               b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
        assert json.loads(c.read_response().body)["body"] == "hello world"
        assert c.read_response().body == b"hello"


# ---- errors: the right status, Connection: close, closed -------------------------------------

BAD = [
    (b"GET / HTTP/1.1\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
    (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    (b"GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHost: h\r\nX: \x00\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
     b"0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nZ\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"0\r\nContent-Length: 5\r\n\r\n", 400),
    (b"GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    (b"CONNECT /x HTTP/1.1\r\nHost: h\r\n\r\n", 400),
]


@pytest.mark.parametrize("data,status", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_request_answered_and_closed(port, data, status):
    # a valid request pipelined behind the bad one must never be answered
    with Client(port) as c:
        c.send(data + b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.read_response()
        assert r.status == status
        assert r.header("Connection") == "close"
        assert r.header("Date") and r.header("Server")
        assert int(r.header("Content-Length")) == len(r.body)
        assert c.read_until_close() == b"", "nothing may follow an error response"


def test_good_then_bad_then_nothing(port):
    with Client(port) as c:
        c.send(b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\n\r\n"
               b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
        assert c.read_response().body == b"hello"
        r = c.read_response()
        assert r.status == 400 and r.close
        assert c.read_until_close() == b""


# ---- bodiless responses ---------------------------------------------------------------------------

def test_head_has_no_body(port):
    with Client(port) as c:
        c.send(b"HEAD /hello HTTP/1.1\r\nHost: h\r\n\r\nHEAD /static HTTP/1.1\r\nHost: h\r\n\r\n"
               b"HEAD /stream HTTP/1.1\r\nHost: h\r\n\r\nGET /hello HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.read_response("HEAD")
        assert r.status == 200 and r.header("Content-Length") == "5" and r.body == b""
        r = c.read_response("HEAD")
        assert r.header("Content-Length") == str(len(b"static body"))
        r = c.read_response("HEAD")
        assert r.status == 200
        # had the server sent a body, this parse would be garbage
        r = c.read_response()
        assert r.body == b"hello"


@pytest.mark.parametrize("status", [204, 304, 103])
def test_status_without_body(port, status):
    with Client(port) as c:
        c.send(get("/status/%d" % status) + get("/hello"))
        r = c.read_response(interim=True)
        assert r.status == status and r.header("X-Status") == str(status)
        assert r.header("Content-Length") is None and r.header("Transfer-Encoding") is None
        assert c.read_response().body == b"hello"


def test_str_and_none_bodies(port):
    # issue 8: a handler returning None (a missing return) is a 500, not an empty 200
    with Client(port) as c:
        c.send(get("/str") + get("/none") + get("/hello"))
        r = c.read_response()
        assert r.body == "h\u00e9llo".encode() and "charset=utf-8" in r.header("Content-Type")
        r = c.read_response()
        assert r.status == 500 and r.body == b"Internal Server Error\n"
        assert c.read_response().body == b"hello"       # the connection keeps serving


def test_date_and_server_headers(port):
    with Client(port) as c:
        c.send(get("/hello") + get("/static") + get("/custom-headers"))
        for _ in range(2):
            r = c.read_response()
            assert r.header_all("Server") == ["reactor"]
            assert len(r.header_all("Date")) == 1 and IMF_DATE.match(r.header("Date"))
            when = email.utils.parsedate_to_datetime(r.header("Date")).timestamp()
            assert abs(when - time.time()) < 5
        r = c.read_response()
        assert r.header_all("Server") == ["custom"] and r.header_all("X-A") == ["1", "2"]


# ---- Expect: 100-continue -----------------------------------------------------------------------

def test_expect_continue_before_body(port):
    with Client(port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        r = c.read_response(interim=True)            # arrives with no body sent yet
        assert r.status == 100 and r.raw_head == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(b"body")
        assert json.loads(c.read_response().body)["body"] == "body"
        # chunked body too
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n")
        assert c.read_response(interim=True).status == 100
        c.send(b"2\r\nok\r\n0\r\n\r\n")
        assert json.loads(c.read_response().body)["body"] == "ok"


def test_no_continue_when_body_already_sent_or_http10(port):
    with Client(port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi")
        r = c.read_response(interim=True)
        assert r.status == 200
    with Client(port) as c:
        c.send(b"POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        c.sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            c.read_response(interim=True)
        c.sock.settimeout(5)
        c.send(b"hi")
        assert c.read_response(interim=True).status == 200


# ---- keep-alive rules ----------------------------------------------------------------------------

def test_keep_alive_http11_default(port):
    with Client(port) as c:
        for _ in range(3):
            c.send(get("/hello"))
            r = c.read_response()
            assert r.body == b"hello" and r.header("Connection") is None
        assert not c.closed_within(0.1)


def test_http11_connection_close(port):
    r, closed = exchange(port, get("/hello", extra=b"Connection: close\r\n"))
    assert r.header("Connection") == "close" and closed


def test_http10_closes_by_default(port):
    r, closed = exchange(port, b"GET /hello HTTP/1.0\r\n\r\n")
    assert r.version == "HTTP/1.1" and r.body == b"hello"
    assert r.header("Connection") == "close" and closed
    r, closed = exchange(port, b"GET /static HTTP/1.0\r\n\r\n")
    assert r.body == b"static body" and r.header("Connection") == "close" and closed


def test_http10_keep_alive(port):
    with Client(port) as c:
        for path in (b"/hello", b"/static", b"/hello"):
            c.send(b"GET " + path + b" HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            assert r.status == 200
            # a 1.0 client only keeps the connection if the response says so
            assert r.header("Connection") == "keep-alive", (path, r.raw_head)
        assert not c.closed_within(0.1)
        c.send(b"GET /hello HTTP/1.0\r\n\r\n")
        assert c.read_response().close
        assert c.closed_within(2)


def test_requests_after_connection_close_are_not_answered(port):
    with Client(port) as c:
        c.send(get("/hello") + get("/seq?1", extra=b"Connection: close\r\n") + get("/hello"))
        assert c.read_response().body == b"hello"
        r = c.read_response()
        assert r.body == b"1" and r.close
        assert c.read_until_close() == b""


def test_client_half_close_still_answered(port):
    with Client(port) as c:
        c.send(get("/hello") + get("/static") + b"POST /echo HTTP/1.1\r\nHost: h\r\n"
               b"Content-Length: 2\r\n\r\nhi")
        half_close(c.sock)
        assert c.read_response().body == b"hello"
        assert c.read_response().body == b"static body"
        assert json.loads(c.read_response().body)["body"] == "hi"
        assert c.closed_within(2) and c.buf == b""


def test_large_bodies_both_ways(port):
    payload = bytes(range(256)) * 8192           # 2 MiB
    with Client(port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(payload)
               + payload)
        assert json.loads(c.read_response().body)["body"].encode("latin-1") == payload
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 100000]), payload[i:i + 100000])
                          for i in range(0, len(payload), 100000))
        c.send(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
               + chunks + b"0\r\n\r\n")
        assert json.loads(c.read_response().body)["body"].encode("latin-1") == payload


# ---- pipelining and fragmentation ------------------------------------------------------------------

def test_100_pipelined_requests_in_one_packet(port):
    reqs = []
    for i in range(100):
        if i % 10 == 3:
            reqs.append(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%d"
                        % (len(str(i)), i))
        elif i % 10 == 5:
            reqs.append(get("/static"))
        elif i % 10 == 7:
            reqs.append(b"HEAD /seq?%d HTTP/1.1\r\nHost: h\r\n\r\n" % i)
        else:
            reqs.append(get("/seq?%d" % i))
    with Client(port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(b"".join(reqs))
        for i in range(100):
            if i % 10 == 3:
                assert json.loads(c.read_response().body)["body"] == str(i)
            elif i % 10 == 5:
                assert c.read_response().body == b"static body"
            elif i % 10 == 7:
                r = c.read_response("HEAD")
                assert r.header("X-Seq") == str(i) and r.body == b""
            else:
                r = c.read_response()
                assert r.header("X-Seq") == str(i) and r.body == str(i).encode()
        assert not c.closed_within(0.05) and c.buf == b""


def test_request_fed_one_byte_at_a_time(port):
    data = (b"POST /echo?x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;e=1\r\nabc\r\n0\r\nT: 1\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nxyz")
    with Client(port) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            c.sock.send(data[i:i + 1])
            if i % 8 == 0:
                time.sleep(0.001)
        assert json.loads(c.read_response().body)["body"] == "abc"
        assert json.loads(c.read_response().body)["body"] == "xyz"


# ---- handler errors --------------------------------------------------------------------------------

def test_handler_exception_500_logged_once_connection_continues(port, caplog):
    caplog.set_level(logging.ERROR)
    with Client(port) as c:
        c.send(get("/boom") + get("/hello"))
        r = c.read_response()
        assert r.status == 500 and not r.close
        assert c.read_response().body == b"hello"
    wait_for(lambda: any("boom" in str(rec.exc_info) for rec in caplog.records), 2)
    recs = [rec for rec in caplog.records if rec.exc_info and "boom from the handler"
            in str(rec.exc_info[1])]
    assert len(recs) == 1, caplog.records
    assert recs[0].levelno == logging.ERROR and "/boom" in recs[0].getMessage()


@pytest.mark.parametrize("path", ["/badtype", "/bad-length"])
def test_bad_handler_result_is_500(port, path, caplog):
    caplog.set_level(logging.CRITICAL)
    with Client(port) as c:
        c.send(get(path) + get("/hello"))
        r = c.read_response()
        assert r.status == 500
        assert c.read_response().body == b"hello"


GARBAGE = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),   # a TLS ClientHello
    b"\x00" * 64,
    b"SSH-2.0-OpenSSH_9.0\r\n",
    b"GET /" + bytes(range(128, 256)) + b" HTTP/1.1\r\n\r\n",
    b"\r\n" * 10 + b"\n",
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X" * 100 + b"\r\n\r\n",
    b"\xff\xfe\xfd" * 50,
]


def test_scanner_garbage_does_not_flood_the_log(port, caplog):
    caplog.set_level(logging.DEBUG)
    for junk in GARBAGE:
        with Client(port) as c:
            c.send(junk)
            data = c.read_until_close()
            if data:
                assert re.match(rb"HTTP/1\.1 (400|505|414|431) ", data), data[:80]
                assert b"Connection: close\r\n" in data
    # the server is fine afterwards
    r, _ = exchange(port, get("/hello"))
    assert r.body == b"hello"
    noisy = [rec for rec in caplog.records if rec.exc_info or rec.levelno >= logging.WARNING]
    assert not noisy, [rec.getMessage() for rec in noisy]


# ---- header validation: no response splitting ---------------------------------------------------------

@pytest.mark.parametrize("path", ["/split-ctor", "/split-add", "/split-list", "/split-name"])
def test_handler_header_with_crlf_is_an_error(port, path, caplog):
    caplog.set_level(logging.CRITICAL)
    with Client(port) as c:
        c.send(get(path) + get("/hello"))
        r = c.read_response()
        assert r.status == 500
        assert b"Injected" not in r.raw_head
        assert r.header("Injected") is None
        # the stream stays in sync: the next response is intact
        r = c.read_response()
        assert r.body == b"hello"
        assert c.buf == b""


# ---- streaming bodies -----------------------------------------------------------------------------

def test_stream_chunked_on_http11(port):
    with Client(port) as c:
        c.send(get("/stream?5") + get("/hello"))
        r = c.read_response()
        assert r.header("Transfer-Encoding") == "chunked" and r.header("Content-Length") is None
        assert r.body == b"part0;part1;part2;part3;part4;"
        assert c.read_response().body == b"hello"
    assert wait_for(lambda: STREAMS and STREAMS[-1].closed, 2), "iterable not closed"


def test_stream_close_delimited_on_http10(port):
    with Client(port) as c:
        c.send(b"GET /stream?4 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        assert r.header("Transfer-Encoding") is None and r.header("Content-Length") is None
        assert r.close
        assert r.body == b"part0;part1;part2;part3;"      # read until the server closed


def test_stream_declared_length_honoured(port):
    with Client(port) as c:
        c.send(get("/stream-cl?4") + get("/hello"))
        r = c.read_response()
        assert r.header("Content-Length") == "24" and r.header("Transfer-Encoding") is None
        assert r.body == b"part0;part1;part2;part3;"
        assert c.read_response().body == b"hello"


def test_stream_longer_than_declared_truncated_and_closed(port, caplog):
    caplog.set_level(logging.CRITICAL)
    with Client(port) as c:
        c.send(get("/stream-long?4") + get("/hello"))
        r = c.read_response()
        assert r.header("Content-Length") == "20"
        assert r.body == b"part0;part1;part2;pa"
        assert c.read_until_close() == b""       # truncated, closed, nothing more


def test_stream_shorter_than_declared_closes(port, caplog):
    caplog.set_level(logging.CRITICAL)
    with Client(port) as c:
        c.send(get("/stream-short?4") + get("/hello"))
        with pytest.raises(EOFError):            # the connection closes mid-body
            c.read_response()
        assert c.eof


def test_stream_raising_midway_closes(port, caplog):
    caplog.set_level(logging.CRITICAL)
    with Client(port) as c:
        c.send(get("/stream-raise") + get("/hello"))
        with pytest.raises(EOFError):            # no terminating chunk: the client sees a cut
            c.read_response()


# ---- static routes ---------------------------------------------------------------------------------

def test_route_static_get_head_query(port):
    with Client(port) as c:
        c.send(get("/static") + get("/static?x=1&y") + b"HEAD /static?z HTTP/1.1\r\nHost: h\r\n\r\n"
               + b"POST /static HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n" + get("/static/"))
        for _ in range(2):
            r = c.read_response()
            assert r.status == 200 and r.body == b"static body"
            assert r.header("Content-Type") == "text/plain"
            assert r.header("Server") == "reactor" and IMF_DATE.match(r.header("Date"))
        r = c.read_response("HEAD")
        assert r.status == 200 and r.header("Content-Length") == "11"
        assert c.read_response().status == 404      # POST goes to the handler
        assert c.read_response().status == 404      # exact match only


def test_static_route_counts_in_stats(server):
    before = sum(s["static_requests"] for s in server.stats())
    with Client(server.port) as c:
        c.send(get("/static") * 3)
        for _ in range(3):
            c.read_response()
    assert wait_for(lambda: sum(s["static_requests"] for s in server.stats()) >= before + 3, 2)


# ---- scale, stop, backpressure (own servers) ----------------------------------------------------

def test_1000_concurrent_keep_alive_connections_on_4_subreactors():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2300:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
        if min(hard, 8192) < 2300:
            pytest.skip("RLIMIT_NOFILE hard limit too low")
    t0 = time.monotonic()
    with serve(app, threads=4, routes={"/static": b"s"}) as srv:
        clients = []
        try:
            for _ in range(1000):
                clients.append(Client(srv.port, timeout=10))
            for rnd in range(2):
                for i, c in enumerate(clients):
                    c.send(get("/seq?%d-%d" % (rnd, i) if i % 2 else "/static"))
                for i, c in enumerate(clients):
                    r = c.read_response()
                    assert r.status == 200
                    assert r.body == (b"%d-%d" % (rnd, i) if i % 2 else b"s")
            assert wait_for(lambda: live_connections(srv) == 1000, 5)
            per_loop = [s["connections"] for s in srv.stats()]
            assert len(per_loop) == 4 and all(n == 250 for n in per_loop), per_loop
        finally:
            for c in clients:
                c.close()
        assert wait_for(lambda: live_connections(srv) == 0, 5)
    assert time.monotonic() - t0 < 20


def test_graceful_stop_finishes_in_flight_and_closes_idle():
    started = threading.Event()

    def handler(req):
        if req.path == "/slow":
            started.set()
            time.sleep(1.5)
            return b"done"
        return b"ok"

    with serve(handler, threads=2, graceful_timeout=5.0) as srv:
        idle = Client(srv.port)                 # first connection: loop 1
        busy = Client(srv.port)                 # second connection: loop 2
        try:
            idle.send(get("/"))
            assert idle.read_response().body == b"ok"
            busy.send(get("/slow"))
            assert started.wait(5)
            stopper = threading.Thread(target=srv.stop)
            t0 = time.monotonic()
            stopper.start()
            assert idle.closed_within(1.0), "an idle keep-alive connection closes at once"
            assert time.monotonic() - t0 < 1.2 and not busy.buf   # before the slow one ends
            assert idle.buf == b""
            r = busy.read_response()
            assert r.body == b"done" and r.header("Connection") == "close"
            assert busy.closed_within(2)
            busy.close()                        # the server lingers until the client's FIN
            stopper.join(5)
            assert not stopper.is_alive(), "stop() must return"
            assert time.monotonic() - t0 < 3.5
            with pytest.raises(OSError):        # no longer accepting
                connect(srv.port, timeout=1).close()
        finally:
            idle.close()
            busy.close()


def test_stop_with_no_traffic_is_quick():
    with serve(app, threads=4) as srv:
        c = Client(srv.port)
        c.send(get("/hello"))
        c.read_response()
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 3
        assert c.closed_within(1)
        c.close()


def test_backpressure_pauses_reading_and_resumes_in_order():
    size = 16 * 1024
    body = b"b" * size
    n = 1000

    def handler(req):
        return HttpResponse(body, headers={"X-Seq": req.query})

    with serve(handler, threads=1, config={"output_high_water": 64 * 1024}) as srv:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", srv.port))
        c = Client(srv.port, sock=sock)
        sock = c.sock                           # TLS mode: the wrapped socket
        try:
            data = b"".join(get("/?%d" % i) for i in range(n))
            sock.setblocking(False)
            sent = 0
            deadline = time.monotonic() + 5
            while sent < len(data) and time.monotonic() < deadline:
                try:
                    sent += sock.send(data[sent:])
                except WOULD_BLOCK:
                    time.sleep(0.01)
            (loop, state), = list(srv.loop_states.items())

            def snapshot():
                conns = list(state.connections)
                assert len(conns) == 1
                conn = conns[0]
                return (conn.requests, len(conn.output_buffer),
                        len(conn.input_buffer))

            # wait until the server stops making progress
            last = None
            for _ in range(100):
                time.sleep(0.1)
                snap = run_in_loop(loop, snapshot)
                if last is not None and snap[0] == last[0]:
                    break
                last = snap
            served, out_bytes, in_bytes = snap
            assert served < n, "the server answered everything without the client reading"
            assert out_bytes <= 64 * 1024 + size + 4096, out_bytes
            assert in_bytes < 1 << 20, in_bytes
            time.sleep(0.3)
            assert run_in_loop(loop, snapshot)[0] == served, "still reading while blocked"
            # now read everything (and finish sending), all in order
            sock.setblocking(True)
            sock.settimeout(10)
            # (normally all was sent: a TLS socket must not write and read in two threads)
            sender = threading.Thread(target=sock.sendall, args=(data[sent:],), daemon=True)
            if sent < len(data):
                sender.start()
            for i in range(n):
                r = c.read_response()
                assert r.header("X-Seq") == str(i) and len(r.body) == size
            if sent < len(data):
                sender.join(5)
        finally:
            c.close()


def test_half_close_under_backpressure_answers_everything():
    body = b"b" * 16384

    def handler(req):
        return HttpResponse(body, headers={"X-Seq": req.query})

    with serve(handler, threads=1, config={"output_high_water": 64 * 1024}) as srv:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
        sock.settimeout(5)
        sock.connect(("127.0.0.1", srv.port))
        with Client(srv.port, sock=sock) as c:
            c.send(b"".join(get("/?%d" % i) for i in range(300)))
            half_close(c.sock)                       # FIN while responses are held back
            time.sleep(0.3)
            for i in range(300):
                r = c.read_response()
                assert r.header("X-Seq") == str(i) and len(r.body) == len(body)
            assert c.closed_within(2) and c.buf == b""

"""Helpers for tests/test_static_files.py (issue 11: serving a directory of
files from C): a server with file mounts, raw requests whose framing is
checked by a pipelined marker request, a link extractor for directory
listings, a multipart/byteranges parser and the RSS of a process tree.

Every socket made here has a timeout, so a server bug shows up as a failed
assertion or a ``socket.timeout``, never as a hung test run.
"""
import contextlib
import email.utils
import os
import socket
import sys
import urllib.parse
from html.parser import HTMLParser

from http_helpers import TIMEOUT, Client, tls_server_kw, wrap
from bench.proctree import rss_kb, tree
from reactor.http_server import HttpServer

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)


def http_date(ts):
    """IMF-fixdate of a POSIX timestamp."""
    return email.utils.formatdate(ts, usegmt=True)


@contextlib.contextmanager
def files_server(handler, mounts, threads=1, dispatcher=None):
    """An HttpServer on 127.0.0.1:<any port> with ``mounts``: a list of
    ``(prefix, directory, {route_files keyword arguments})``."""
    server = HttpServer(handler, port=0, threads=threads, dispatcher=dispatcher,
                        **tls_server_kw())
    try:
        for prefix, directory, kw in mounts:
            server.route_files(prefix, str(directory), **kw)
        server.start()
        yield server
    finally:
        server.stop()


def request(path, headers=(), method="GET", version="HTTP/1.1", host="x", body=b""):
    """Bytes of one request; ``path`` is sent verbatim (str as latin-1)."""
    if isinstance(path, str):
        path = path.encode("latin-1")
    out = method.encode() + b" " + path + b" " + version.encode() + b"\r\n"
    if host is not None:
        out += b"Host: " + host.encode() + b"\r\n"
    for k, v in headers:
        out += ("%s: %s\r\n" % (k, v)).encode("latin-1")
    if body:
        out += b"Content-Length: %d\r\n" % len(body)
    return out + b"\r\n" + body


def one(port, path, headers=(), method="GET", version="HTTP/1.1", timeout=TIMEOUT):
    """One request on a new connection; the response (its body read by its framing)."""
    with Client(port, timeout) as c:
        c.send(request(path, headers, method, version))
        return c.read_response(method)


def framed(port, path, headers=(), method="GET", marker=("/files/marker.txt", b"MARKER\n"),
           body=b""):
    """Send the request and, pipelined behind it, ``GET marker[0]``; return the
    first response after checking that the marker's response follows it
    exactly (so a 304/412/416/HEAD response that carried stray body bytes,
    or a wrong Content-Length, fails here).  When the first response says
    ``Connection: close`` the marker is not checked."""
    with Client(port) as c:
        c.send(request(path, headers, method, body=body) + request(marker[0]))
        resp = c.read_response(method)
        if not resp.close:
            m = c.read_response("GET")
            assert m.status == 200 and m.body == marker[1], (
                "the response to %s %s %r was misframed: the pipelined marker request "
                "got %r (first response %r)" % (method, path, headers, m, resp))
        return resp


class LinkParser(HTMLParser):
    """Collects ``(href, text)`` of every <a href> (entity references decoded)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self._href = None
        self._text = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href is not None:
                self._href = href
                self._text = []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


def listing_entries(html, base):
    """The entries of a directory listing page served at ``base`` (ending in
    "/"): ``[(resolved_href, decoded_name, link_text)]`` in page order,
    leaving out links that do not point below ``base`` (a parent link)."""
    p = LinkParser()
    p.feed(html)
    p.close()
    out = []
    for href, text in p.links:
        resolved = urllib.parse.urljoin(base, href)
        path = urllib.parse.urlsplit(resolved).path
        if not path.startswith(base) or path == base:
            continue
        out.append((path, urllib.parse.unquote(path[len(base):], errors="strict"), text.strip()))
    return out


def parse_byteranges(content_type, body):
    """Parts of a multipart/byteranges body: ``[(first, last, length, data)]``."""
    assert content_type.lower().startswith("multipart/byteranges"), content_type
    params = dict(p.strip().split("=", 1) for p in content_type.split(";")[1:] if "=" in p)
    boundary = params["boundary"].strip('"').encode("latin-1")
    text = body if body.startswith(b"\r\n") else b"\r\n" + body
    pieces = text.split(b"\r\n--" + boundary)
    assert pieces[-1].startswith(b"--"), "no closing boundary in %r" % body[-80:]
    parts = []
    for piece in pieces[1:-1]:
        assert piece.startswith(b"\r\n"), piece[:40]
        head, sep, data = piece[2:].partition(b"\r\n\r\n")
        assert sep, piece[:80]
        cr = None
        for line in head.split(b"\r\n"):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-range":
                cr = value.strip()
        assert cr is not None and cr.startswith("bytes "), head
        span, _, length = cr[6:].partition("/")
        first, _, last = span.partition("-")
        parts.append((int(first), int(last), int(length), data))
    return parts


def tree_rss_kib(pid):
    """VmRSS (KiB) of ``pid`` and all its descendants."""
    return rss_kb(tree(pid))


def connect_small_rcvbuf(port, rcvbuf=8192, timeout=TIMEOUT):
    """A connected socket whose receive buffer was made small before connect
    (TLS in TLS mode)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return wrap(s)

"""Issue 11: ``HttpServer.route_files(prefix, directory, ...)`` and
``python -m reactor --static PREFIX=DIR``: a directory of files served from C.

Black-box tests over real sockets on 127.0.0.1 (raw sockets where framing
matters, http.client for big bodies, curl once).  One module-scoped server per
configuration:

* ``main``: handler answers b"app"; mounts /files (the default options),
  /files/cc (cache_control), /dots (the same directory, show_dotfiles),
  /list (list_dirs), /idx (index="home.htm"), /pre and /nopre (precompressed
  on/off), /sym and /symf (follow_symlinks off/on), /vialink (a mount whose
  directory path is itself a symlink).
* ``root``: "/" -> SAFE/www and "/static" -> SAFE/b, with a secret file
  SAFE/secret next to the served directory (routing and the path-safety
  corpus).

Semantics are RFC 9110's (conditional requests, ranges); tests whose rule
comes from the RFC rather than the issue text say so in their docstring.
"""
import gc
import gzip
import hashlib
import http.client
import os
import re
import resource
import selectors
import socket
import ssl
import subprocess
import sys
import threading
import time
import types

import pytest

from http_helpers import (TLS, Client, base_url, curl_tls_args, http_connection, tls_cli_args,
                          tls_server_kw, wrap)
from static_helpers import (connect_small_rcvbuf, files_server, framed, http_date,
                            listing_entries, one, parse_byteranges, request, tree_rss_kib)
from conftest import _fd_table
from wsgi_apps.helpers import CliServer, free_port
from reactor.http_server import HttpServer

IMF_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                      r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")
STRONG_ETAG = re.compile(r'^"[\x21\x23-\x7e\x80-\xff]*"$')

FIXED_MTIME = 1600000000            # Sun, 13 Sep 2020 12:26:40 GMT
RANGE_N = 100
RANGE_DATA = bytes((i * 7 + 3) % 256 for i in range(RANGE_N))
MARKER = ("/files/marker.txt", b"MARKER\n")
ROOT_MARKER = ("/file.txt", b"FILE-OK\n")
SECRET = b"TOP-SECRET-7d1f"
APP_JS = b"// app.js\n" + b"console.log('hello static world');\n" * 40
APP_JS_BR = b"BROTLI-PLACEHOLDER-BYTES\x00\x01\x02"   # served as is, never decoded
ONLY_CSS = b"body { color: red; }\n" * 30
LISTING_NAMES = ["0dir/", "100%.txt", "a.txt", "a<b>&\"c'.txt", "b.txt", "h#?.txt",
                 "space name.txt", "z.txt",
                 "\u00fc.txt"]


def app(req):
    return b"app"


def write(path, data, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _open_under(directory):
    """Targets of this process's fds that lie under ``directory``."""
    d = os.path.realpath(str(directory)) + os.sep
    return sorted(t for t in _fd_table().values() if t.startswith(d))


@pytest.fixture(autouse=True)
def no_leaks(request, tmp_path_factory):
    """conftest's no_leaks, overridden for this module: the servers keep a
    per-loop cache of open file fds, so new fds on regular files under
    pytest's temporary directory may outlive a test while its module-scoped
    server runs (the fixtures check that the server's stop() closes them all,
    and test_fd_cache_is_closed_at_stop checks it alone).  Every other new
    fd (a socket, a pipe) and every thread left running still fails the test."""
    base = os.path.realpath(str(tmp_path_factory.getbasetemp())) + os.sep
    threads_before = set(threading.enumerate())
    before = _fd_table()
    yield

    def problems():
        now = _fd_table()
        extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
        new = {fd: t for fd, t in now.items() if before.get(fd) != t and not t.startswith(base)}
        lost = {fd: t for fd, t in before.items() if now.get(fd) != t and not t.startswith(base)}
        return extra, new, lost

    deadline = time.monotonic() + 2.0
    while any(problems()) and time.monotonic() < deadline:
        time.sleep(0.02)
    extra, new, lost = problems()
    msgs = []
    if extra:
        msgs.append("threads left running: %r" % (extra,))
    if new:
        msgs.append("new fds: %r" % (new,))
    if lost:
        msgs.append("fds open before the test were closed or replaced: %r" % (lost,))
    if msgs:
        pytest.fail("leak check after %s: %s" % (request.node.nodeid, "; ".join(msgs)),
                    pytrace=False)


# ---------------------------------------------------------------------------
# the trees and the servers

@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    t = tmp_path_factory.mktemp("static")
    www = t / "www"
    write(www / "index.html", b"<h1>files index</h1>\n")
    write(www / "a.txt", b"alpha\n")
    write(www / "style.css", b"body{}\n")
    write(www / "app.js", b"var x = 1;\n")
    write(www / "data.json", b'{"a": 1}\n')
    write(www / "img.png", b"\x89PNG\r\n\x1a\nnot really a png")
    write(www / "noext", b"no extension\n")
    write(www / "file.xyz", b"unknown extension\n")
    write(www / "marker.txt", MARKER[1])
    write(www / "cond.txt", b"conditional body\n", FIXED_MTIME)
    write(www / "range.bin", RANGE_DATA, FIXED_MTIME)
    write(www / "empty.txt", b"")
    write(www / "withindex" / "index.html", b"<p>sub index</p>\n")
    write(www / "noindex" / "x.txt", b"x\n")
    write(www / "sub" / "inner.txt", b"inner\n")
    write(www / "sub" / ".hidden", b"hidden\n")
    write(www / ".env", b"SECRET_KEY=dotenv\n")
    write(www / ".git" / "config", b"[core]\n")
    write(www / "space name.txt", b"spaced\n")
    write(www / "\u00fc.txt", b"umlaut\n")
    write(www / "100%.txt", b"percent\n")
    write(www / "a+b.txt", b"plus\n")
    write(www / "q?.txt", b"question\n")
    write(www / "#hash.txt", b"hash\n")
    os.mkfifo(www / "fifo")
    write(t / "many" / "placeholder", b"")
    for i in range(1500):
        write(t / "many" / ("entry-%04d-%s.txt" % (i, "x" * 40)), b"")
    write(t / "cc" / "c.txt", b"cached\n", FIXED_MTIME)

    lst = t / "list"
    write(lst / "0dir" / "inside.txt", b"inside\n")
    for name in LISTING_NAMES:
        if not name.endswith("/"):
            write(lst / name, ("content of %s\n" % name).encode())
    write(lst / ".hidden", b"h\n")
    write(lst / ".secretdir" / "f", b"f\n")
    write(lst / "0windex" / "index.html", b"<p>listed dir index</p>\n")

    idx = t / "idx"
    write(idx / "home.htm", b"<p>home</p>\n")
    write(idx / "d" / "index.html", b"<p>not the index here</p>\n")
    write(idx / "e" / "home.htm", b"<p>e home</p>\n")

    pre = t / "pre"
    write(pre / "app.js", APP_JS)
    write(pre / "app.js.gz", gzip.compress(APP_JS, mtime=0))
    write(pre / "app.js.br", APP_JS_BR)
    write(pre / "only.css", ONLY_CSS)
    write(pre / "only.css.gz", gzip.compress(ONLY_CSS, mtime=0))

    out = t / "outside"
    write(out / "out.txt", b"OUTSIDE\n")
    sym = t / "sym"
    write(sym / "real.txt", b"REAL\n")
    write(sym / "inner" / "deep_in.txt", b"DEEP-IN\n")
    os.symlink("real.txt", sym / "link_in")
    os.symlink("../sym/real.txt", sym / "link_roundtrip")
    os.symlink("../outside/out.txt", sym / "link_out")
    os.symlink(str(out / "out.txt"), sym / "abs_out")
    os.symlink("../outside", sym / "dir_out")
    os.symlink("inner", sym / "dir_in")
    os.symlink("loop_b", sym / "loop_a")
    os.symlink("loop_a", sym / "loop_b")
    os.symlink("nothing_here.txt", sym / "dangling")
    os.symlink("/etc/passwd", sym / "passwd")
    os.symlink("/dev/zero", sym / "devzero")

    real = t / "realdir"
    write(real / "r.txt", b"through a symlinked mount\n")
    os.symlink(str(real), t / "linkdir")

    safe = t / "safe"
    write(safe / "secret", SECRET + b"\n")
    write(safe / "www" / "file.txt", ROOT_MARKER[1])
    write(safe / "www" / "index.html", b"A index\n")
    write(safe / "www" / "x.txt", b"from A\n")
    write(safe / "www" / "staticfoo", b"A staticfoo\n")
    write(safe / "www" / "sub" / "inner.txt", b"inner A\n")
    write(safe / "b" / "x.txt", b"from B\n")
    return t


def _serve_port(mounts):
    """Serve ``mounts``; yield an object with only ``port`` (pytest does not
    keep the server alive), then check that no fd under a mounted directory
    is left once the stopped server is collected."""
    with files_server(app, mounts, threads=1) as srv:
        yield types.SimpleNamespace(port=srv.port)
    del srv
    gc.collect()
    left = [f for _, d, _ in mounts for f in _open_under(d)]
    assert left == [], "fds left open after the server was stopped and freed"


@pytest.fixture(scope="module")
def main(tree):
    t = tree
    mounts = [
        ("/files", t / "www", {}),
        ("/files/cc", t / "cc", {"cache_control": "public, max-age=60"}),
        ("/dots", t / "www", {"show_dotfiles": True}),
        ("/list", t / "list", {"list_dirs": True}),
        ("/many", t / "many", {"list_dirs": True}),
        ("/idx", t / "idx", {"index": "home.htm"}),
        ("/pre", t / "pre", {}),
        ("/nopre", t / "pre", {"precompressed": False}),
        ("/sym", t / "sym", {}),
        ("/symf", t / "sym", {"follow_symlinks": True}),
        ("/vialink", t / "linkdir", {}),
    ]
    yield from _serve_port(mounts)


@pytest.fixture(scope="module")
def root(tree):
    mounts = [("/", tree / "safe" / "www", {}), ("/static", tree / "safe" / "b", {})]
    yield from _serve_port(mounts)


def etag_and_lm(port, path):
    r = one(port, path)
    assert r.status == 200, r
    return r.header("ETag"), r.header("Last-Modified")


# ---------------------------------------------------------------------------
# the Python API

def test_route_files_rejects_prefix_without_leading_slash(tree):
    """A prefix must start with "/": ValueError otherwise."""
    srv = HttpServer(app, port=0, threads=0)
    try:
        for bad in ("static", "", "static/"):
            with pytest.raises(ValueError):
                srv.route_files(bad, str(tree / "www"))
    finally:
        srv.stop()


@pytest.mark.parametrize("path", [("does-not-exist",), ("www", "a.txt")],
                         ids=["missing-directory", "regular-file"])
def test_route_files_rejects_what_is_not_a_directory(tree, path):
    """A directory that does not exist, or a path naming a regular file:
    ValueError."""
    srv = HttpServer(app, port=0, threads=0)
    try:
        with pytest.raises(ValueError):
            srv.route_files("/s", str(tree.joinpath(*path)))
    finally:
        srv.stop()


def test_fd_cache_is_closed_at_stop(tmp_path):
    """The server may cache open file fds per loop, but stop() (which ends the
    loops) closes them: a stopped server that is still referenced holds no
    served file open (the mount's own directory fd may live as long as the
    object); once the server is freed nothing under the directory is open."""
    d = tmp_path / "d"
    for i in range(20):
        write(d / ("f%d.txt" % i), b"%d\n" % i)
    with files_server(app, [("/d", d, {})], threads=2) as srv:
        for i in range(20):
            assert one(srv.port, "/d/f%d.txt" % i).body == b"%d\n" % i
    held = _open_under(d)
    del srv
    gc.collect()
    assert _open_under(tmp_path) == []
    assert [f for f in held if f != str(d)] == [], "file fds still open after stop()"


def test_route_files_after_start_raises_runtime_error(tree):
    """route_files after start(): RuntimeError."""
    with files_server(app, [], threads=0) as srv:
        with pytest.raises(RuntimeError):
            srv.route_files("/late", str(tree / "www"))


def test_prefix_trailing_slash_is_ignored(tree):
    """route_files("/t/", DIR) is the mount "/t": /t/a.txt served, /t -> 301 /t/."""
    with files_server(app, [("/t/", tree / "www", {})], threads=0) as srv:
        r = one(srv.port, "/t/a.txt")
        assert (r.status, r.body) == (200, b"alpha\n")
        r = one(srv.port, "/t")
        assert r.status == 301 and r.header("Location") == "/t/", r
        assert one(srv.port, "/tx").body == b"app"


# ---------------------------------------------------------------------------
# routing

def test_longest_prefix_wins(root):
    """Mounts "/" -> A and "/static" -> B: /static/x.txt from B, /x.txt from A."""
    assert one(root.port, "/static/x.txt").body == b"from B\n"
    assert one(root.port, "/x.txt").body == b"from A\n"


def test_nested_mount_longest_prefix(main):
    """Mounts /files and /files/cc: /files/cc/c.txt comes from the /files/cc directory."""
    r = one(main.port, "/files/cc/c.txt")
    assert (r.status, r.body) == (200, b"cached\n")
    assert one(main.port, "/files/a.txt").body == b"alpha\n"


def test_prefix_matches_on_segment_boundary(main, root):
    """/staticfoo is not under /static (it is A's file); /filesfoo is not under
    /files (it goes to the handler)."""
    r = one(root.port, "/staticfoo")
    assert (r.status, r.body) == (200, b"A staticfoo\n")
    r = one(main.port, "/filesfoo")
    assert (r.status, r.body) == (200, b"app")
    r = one(main.port, "/filesfoo/a.txt")
    assert (r.status, r.body) == (200, b"app")


@pytest.mark.parametrize("path", ["/", "/other", "/fil", "/file", "/other/a.txt"])
def test_paths_outside_mounts_go_to_the_handler(main, path):
    """A path under no mount is the handler's (it answers b"app")."""
    r = one(main.port, path)
    assert (r.status, r.body) == (200, b"app")


# ---------------------------------------------------------------------------
# GET and HEAD of a file

def test_get_file_exact_bytes_and_headers(main, tree):
    """GET of a file: 200, the exact bytes, Content-Type, Content-Length,
    Last-Modified (the file's mtime as IMF-fixdate), a strong ETag,
    Accept-Ranges: bytes, Date; no Cache-Control unless configured."""
    r = one(main.port, "/files/a.txt")
    st = os.stat(tree / "www" / "a.txt")
    assert r.status == 200
    assert r.body == b"alpha\n"
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.header("Content-Length") == "6"
    assert r.header("Last-Modified") == http_date(st.st_mtime)
    etag = r.header("ETag")
    assert etag is not None and STRONG_ETAG.match(etag), etag
    assert r.header("Accept-Ranges") == "bytes"
    assert IMF_DATE.match(r.header("Date") or ""), r.header("Date")
    assert r.header("Cache-Control") is None
    assert r.header("Content-Encoding") is None
    assert r.header("Transfer-Encoding") is None
    assert len(r.header_all("Content-Length")) == 1


@pytest.mark.parametrize("name,ctype", [
    ("index.html", "text/html; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"),
    ("data.json", ("application/json", "application/json; charset=utf-8")),
    ("img.png", "image/png"),
    ("a.txt", "text/plain; charset=utf-8"),
    ("noext", "application/octet-stream"),
    ("file.xyz", "application/octet-stream"),
])
def test_content_type_from_extension(main, tree, name, ctype):
    """Content-Type comes from the extension; text/* gets "; charset=utf-8";
    unknown or no extension is application/octet-stream."""
    r = one(main.port, "/files/" + name)
    assert r.status == 200
    assert r.body == (tree / "www" / name).read_bytes()
    allowed = ctype if isinstance(ctype, tuple) else (ctype,)
    assert r.header("Content-Type") in allowed, r.header("Content-Type")


def test_cache_control_only_when_configured(main):
    """cache_control="public, max-age=60" -> exactly that header; absent by default."""
    r = one(main.port, "/files/cc/c.txt")
    assert r.header_all("Cache-Control") == ["public, max-age=60"]
    assert one(main.port, "/files/a.txt").header("Cache-Control") is None


def test_head_has_the_get_headers_and_no_body(main):
    """HEAD: the status and headers of GET (same Content-Length), no body: the
    next pipelined response follows at once."""
    g = one(main.port, "/files/style.css")
    h = framed(main.port, "/files/style.css", method="HEAD", marker=MARKER)
    assert h.status == g.status == 200
    for name in ("Content-Type", "Content-Length", "ETag", "Last-Modified", "Accept-Ranges"):
        assert h.header(name) == g.header(name), name
    assert h.header("Content-Length") == str(len(g.body))


def test_head_of_a_directory_index_has_no_body(main):
    """HEAD of a directory served by its index: 200, no body on the wire."""
    h = framed(main.port, "/files/withindex/", method="HEAD", marker=MARKER)
    assert h.status == 200
    assert h.header("Content-Length") == str(len(b"<p>sub index</p>\n"))


# ---------------------------------------------------------------------------
# methods

@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_get_405_with_allow(main, method):
    """Any method but GET/HEAD on a mounted file: 405 with "Allow: GET, HEAD"."""
    r = framed(main.port, "/files/a.txt", method=method, marker=MARKER)
    assert r.status == 405, r
    assert r.header("Allow") == "GET, HEAD"


def test_post_with_body_gets_405_and_the_connection_stays_in_sync(main):
    """POST with a body on a mounted path: 405; the body is not read as the
    next request (the pipelined GET is answered, or the connection closed)."""
    r = framed(main.port, "/files/a.txt", method="POST", body=b"x=1&y=GET / HTTP/1.1\r\n\r\n",
               marker=MARKER)
    assert r.status == 405 and r.header("Allow") == "GET, HEAD"


def test_post_with_a_large_body_gets_405_without_hanging(main):
    """POST with a 256 KiB body on a mounted path: a 405 arrives (no hang)."""
    body = b"z" * (256 * 1024)
    with Client(main.port) as c:
        try:
            c.send(request("/files/a.txt", (), "POST", body=body))
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response("POST")
        assert r.status == 405 and r.header("Allow") == "GET, HEAD"


# ---------------------------------------------------------------------------
# 404, directories, redirects

def test_missing_file_404_leaks_neither_path_nor_name(main, tree):
    """Missing file: 404; the response shows neither the directory's path nor
    the requested name."""
    r = framed(main.port, "/files/no-such-zq9.txt", marker=MARKER)
    assert r.status == 404
    whole = r.raw_head + r.body
    assert b"no-such-zq9" not in whole
    assert str(tree).encode() not in whole
    assert b"/www" not in whole


def test_directory_with_index_serves_it(main):
    """A directory with index.html (and the mount root): 200 with the index."""
    r = one(main.port, "/files/withindex/")
    assert (r.status, r.body) == (200, b"<p>sub index</p>\n")
    assert one(main.port, "/files/withindex/?v=2").body == b"<p>sub index</p>\n"
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    r = one(main.port, "/files/")
    assert (r.status, r.body) == (200, b"<h1>files index</h1>\n")


def test_directory_without_index_is_403_when_listing_is_off(main, tree):
    """A directory without an index and list_dirs off: 403, no listing, no path."""
    r = framed(main.port, "/files/noindex/", marker=MARKER)
    assert r.status == 403
    assert b"x.txt" not in r.body
    assert str(tree).encode() not in r.raw_head + r.body


@pytest.mark.parametrize("path,location", [
    ("/files/withindex", "/files/withindex/"),
    ("/files/noindex", "/files/noindex/"),
    ("/files/withindex?a=1", "/files/withindex/?a=1"),
    ("/files/withindex?a=1&b=%2F", "/files/withindex/?a=1&b=%2F"),
    ("/files", "/files/"),
    ("/files?q", "/files/?q"),
    ("/list/0dir", "/list/0dir/"),
])
def test_directory_without_slash_redirects_301(main, path, location):
    """A directory (or the mount root) without its trailing slash: 301 to the
    same path with "/" added, the query string kept."""
    r = framed(main.port, path, marker=MARKER)
    assert r.status == 301, r
    assert r.header("Location") == location


def test_mount_root_of_a_nested_prefix_redirects(root):
    """The mount root "/static": 301 to "/static/"."""
    r = framed(root.port, "/static", marker=ROOT_MARKER)
    assert r.status == 301 and r.header("Location") == "/static/"


def test_custom_index_name(main):
    """index="home.htm": a directory is served by home.htm; index.html is then
    not an index (403)."""
    assert one(main.port, "/idx/").body == b"<p>home</p>\n"
    assert one(main.port, "/idx/e/").body == b"<p>e home</p>\n"
    assert one(main.port, "/idx/d/").status == 403


# ---------------------------------------------------------------------------
# directory listings

def test_listing_is_sorted_escaped_encoded_and_hides_dotfiles(main):
    """list_dirs: a directory without an index -> 200 text/html; entries
    sorted, subdirectories with a trailing "/", names HTML-escaped, hrefs
    percent-encoded, dotfiles absent."""
    r = one(main.port, "/list/")
    assert r.status == 200
    assert r.header("Content-Type") == "text/html; charset=utf-8"
    html = r.body.decode("utf-8")
    assert 'a<b>&"c\'.txt' not in html, "a file name was written into the HTML unescaped"
    assert "a<b>" not in html
    assert ".hidden" not in html and ".secretdir" not in html
    entries = listing_entries(html, "/list/")
    names = [name for _, name, _ in entries]
    expected = sorted(LISTING_NAMES + ["0windex/"])
    assert names == expected, names
    for href, name, text in entries:
        assert not re.search(r"[\s<>\"\\\x7f-\uffff]", href), "href not percent-encoded: %r" % href
        assert text == name, (text, name)


def test_listing_links_lead_to_the_entries(main, tree):
    """Every file link in a listing, followed, returns that file's bytes."""
    r = one(main.port, "/list/")
    for href, name, _ in listing_entries(r.body.decode("utf-8"), "/list/"):
        got = one(main.port, href)
        if name.endswith("/"):
            assert got.status == 200, (href, got)
        else:
            assert (got.status, got.body) == (200, (tree / "list" / name).read_bytes()), href


def test_large_listing(main):
    """A listing of 1,500 entries is complete and sorted (and HEAD of it has no body)."""
    r = one(main.port, "/many/")
    assert r.status == 200
    names = [n for _, n, _ in listing_entries(r.body.decode(), "/many/")]
    want = sorted(["placeholder"] + ["entry-%04d-%s.txt" % (i, "x" * 40) for i in range(1500)])
    assert names == want
    h = framed(main.port, "/many/", method="HEAD", marker=MARKER)
    assert h.status == 200 and h.header("Content-Length") == str(len(r.body))


def test_listing_of_a_subdirectory_and_index_preferred(main):
    """A subdirectory is listed too; a directory with index.html serves the index."""
    r = one(main.port, "/list/0dir/")
    assert r.status == 200
    assert [n for _, n, _ in listing_entries(r.body.decode(), "/list/0dir/")] == ["inside.txt"]
    r = one(main.port, "/list/0windex/")
    assert (r.status, r.body) == (200, b"<p>listed dir index</p>\n")


# ---------------------------------------------------------------------------
# conditional requests (RFC 9110 section 13)

@pytest.mark.parametrize("form", ["exact", "list", "weak", "star"])
def test_if_none_match_hit_is_304(main, form):
    """If-None-Match with the current ETag (alone, in a list, as W/, or "*"):
    304, no body, carrying ETag and Last-Modified."""
    etag, lm = etag_and_lm(main.port, "/files/cond.txt")
    value = {"exact": etag, "list": '"nope", %s, "other"' % etag, "weak": "W/" + etag,
             "star": "*"}[form]
    r = framed(main.port, "/files/cond.txt", [("If-None-Match", value)], marker=MARKER)
    assert r.status == 304, r
    assert r.header("ETag") == etag
    assert r.header("Last-Modified") == lm


def test_if_none_match_miss_is_200(main):
    """If-None-Match with other ETags: 200 with the body."""
    r = one(main.port, "/files/cond.txt", [("If-None-Match", '"nope", W/"other"')])
    assert (r.status, r.body) == (200, b"conditional body\n")


@pytest.mark.parametrize("delta,status", [(0, 304), (3600, 304), (-3600, 200)])
def test_if_modified_since(main, delta, status):
    """If-Modified-Since equal to or later than Last-Modified: 304; earlier: 200."""
    r = framed(main.port, "/files/cond.txt",
               [("If-Modified-Since", http_date(FIXED_MTIME + delta))], marker=MARKER)
    assert r.status == status, r
    if status == 200:
        assert r.body == b"conditional body\n"


@pytest.mark.parametrize("value", ["garbage", "Sun, 99 Foo 2020 99:99:99 GMT", ""])
def test_if_modified_since_invalid_is_ignored(main, value):
    """An invalid If-Modified-Since date is ignored: 200."""
    r = one(main.port, "/files/cond.txt", [("If-Modified-Since", value)])
    assert (r.status, r.body) == (200, b"conditional body\n")


@pytest.mark.parametrize("value", ["Sunday, 13-Sep-20 12:26:40 GMT", "Sun Sep 13 12:26:40 2020"])
def test_if_modified_since_obsolete_date_formats(main, value):
    """RFC 9110 section 5.6.7: a recipient MUST accept the RFC 850 and asctime
    date formats too; equal to Last-Modified -> 304."""
    assert http_date(FIXED_MTIME) == "Sun, 13 Sep 2020 12:26:40 GMT"
    r = framed(main.port, "/files/cond.txt", [("If-Modified-Since", value)], marker=MARKER)
    assert r.status == 304, r


def test_if_none_match_takes_precedence_over_if_modified_since(main):
    """If-None-Match present: If-Modified-Since is not evaluated (a
    non-matching INM with an IMS after Last-Modified -> 200)."""
    r = one(main.port, "/files/cond.txt", [("If-None-Match", '"nope"'),
                                          ("If-Modified-Since", http_date(FIXED_MTIME + 3600))])
    assert (r.status, r.body) == (200, b"conditional body\n")


@pytest.mark.parametrize("form,status", [("other", 412), ("star", 200), ("exact", 200),
                                         ("list", 200), ("weak", 412)])
def test_if_match(main, form, status):
    """If-Match: "*" or the current ETag (alone or in a list) -> 200; another
    ETag or the W/ form (strong comparison) -> 412 with an empty body."""
    etag, _ = etag_and_lm(main.port, "/files/cond.txt")
    value = {"other": '"nope"', "star": "*", "exact": etag, "list": '"x", %s' % etag,
             "weak": "W/" + etag}[form]
    r = framed(main.port, "/files/cond.txt", [("If-Match", value)], marker=MARKER)
    assert r.status == status, r
    if status == 412:
        assert r.body == b""
    else:
        assert r.body == b"conditional body\n"


@pytest.mark.parametrize("delta,status", [(-3600, 412), (0, 200), (3600, 200)])
def test_if_unmodified_since(main, delta, status):
    """If-Unmodified-Since earlier than Last-Modified -> 412 (empty body);
    equal or later -> 200."""
    r = framed(main.port, "/files/cond.txt",
               [("If-Unmodified-Since", http_date(FIXED_MTIME + delta))], marker=MARKER)
    assert r.status == status, r
    if status == 412:
        assert r.body == b""


def test_if_unmodified_since_invalid_is_ignored(main):
    """RFC 9110 section 13.1.4: an invalid If-Unmodified-Since is ignored: 200."""
    r = one(main.port, "/files/cond.txt", [("If-Unmodified-Since", "not a date")])
    assert r.status == 200


def test_if_match_takes_precedence_over_if_unmodified_since(main):
    """RFC 9110 section 13.2.2 step 2: with If-Match present,
    If-Unmodified-Since is not evaluated (matching If-Match + an IUS before
    Last-Modified -> 200)."""
    etag, _ = etag_and_lm(main.port, "/files/cond.txt")
    r = one(main.port, "/files/cond.txt", [("If-Match", etag),
                                          ("If-Unmodified-Since", http_date(FIXED_MTIME - 3600))])
    assert r.status == 200, r


def test_failed_if_match_beats_matching_if_none_match(main):
    """RFC 9110 section 13.2.2: If-Match is evaluated first: failing If-Match
    with a matching If-None-Match -> 412, not 304."""
    etag, _ = etag_and_lm(main.port, "/files/cond.txt")
    r = framed(main.port, "/files/cond.txt", [("If-Match", '"nope"'), ("If-None-Match", etag)],
               marker=MARKER)
    assert r.status == 412, r


def test_head_with_if_none_match_is_304(main):
    """HEAD with a matching If-None-Match: 304, nothing after the head."""
    etag, _ = etag_and_lm(main.port, "/files/cond.txt")
    r = framed(main.port, "/files/cond.txt", [("If-None-Match", etag)], method="HEAD",
               marker=MARKER)
    assert r.status == 304, r


@pytest.mark.parametrize("header", ["If-None-Match", "If-Match"])
def test_preconditions_on_a_missing_file_give_404(main, header):
    """RFC 9110 section 13.2.1: preconditions are ignored when the response
    without them would not be 2xx/412: "*" on a missing file -> 404."""
    r = framed(main.port, "/files/missing-cond.txt", [(header, "*")], marker=MARKER)
    assert r.status == 404, r


def test_if_none_match_beats_range(main):
    """RFC 9110 section 13.2.2: preconditions come before Range: a matching
    If-None-Match with a Range -> 304."""
    etag, _ = etag_and_lm(main.port, "/files/range.bin")
    r = framed(main.port, "/files/range.bin", [("If-None-Match", etag), ("Range", "bytes=0-1")],
               marker=MARKER)
    assert r.status == 304, r


def test_if_none_match_with_the_gzip_etag(main):
    """A conditional GET for the gzip answer, with its ETag: 304."""
    gz = one(main.port, "/pre/app.js", [("Accept-Encoding", "gzip")])
    r = framed(main.port, "/pre/app.js", [("Accept-Encoding", "gzip"),
                                         ("If-None-Match", gz.header("ETag"))], marker=MARKER)
    assert r.status == 304, r


def test_304_keeps_cache_control(main):
    """RFC 9110 section 15.4.5: a 304 carries the Cache-Control the 200 would."""
    etag, _ = etag_and_lm(main.port, "/files/cc/c.txt")
    r = framed(main.port, "/files/cc/c.txt", [("If-None-Match", etag)], marker=MARKER)
    assert r.status == 304
    assert r.header("Cache-Control") == "public, max-age=60"


# ---------------------------------------------------------------------------
# ranges (RFC 9110 section 14)

N = RANGE_N


@pytest.mark.parametrize("spec,first,last", [
    ("bytes=0-0", 0, 0),
    ("bytes=0-%d" % (N - 1), 0, N - 1),
    ("bytes=0-%d" % N, 0, N - 1),
    ("bytes=5-1000000", 5, N - 1),
    ("bytes=10-19", 10, 19),
    ("bytes=%d-" % (N - 1), N - 1, N - 1),
    ("bytes=0-", 0, N - 1),
    ("bytes=-1", N - 1, N - 1),
    ("bytes=-%d" % N, 0, N - 1),
    ("bytes=-%d" % (N + 10), 0, N - 1),
])
def test_satisfiable_range_is_206(main, spec, first, last):
    """A satisfiable single range: 206, Content-Range bytes a-b/N (last
    clamped to N-1), exact Content-Length and bytes; ETag kept."""
    r = framed(main.port, "/files/range.bin", [("Range", spec)], marker=MARKER)
    assert r.status == 206, r
    assert r.header("Content-Range") == "bytes %d-%d/%d" % (first, last, N)
    assert r.header("Content-Length") == str(last - first + 1)
    assert r.body == RANGE_DATA[first:last + 1]
    assert r.header("ETag") is not None


@pytest.mark.parametrize("spec", ["bytes=%d-" % N, "bytes=%d-%d" % (N, N + 5), "bytes=-0",
                                  "bytes=1000-2000"])
def test_unsatisfiable_range_is_416(main, spec):
    """An unsatisfiable range: 416 with "Content-Range: bytes */N"."""
    r = framed(main.port, "/files/range.bin", [("Range", spec)], marker=MARKER)
    assert r.status == 416, r
    assert r.header("Content-Range") == "bytes */%d" % N


def test_multiple_ranges_whole_file_or_correct_multipart(main):
    """"bytes=0-1,5-6": 200 with the whole file, or a correct 206
    multipart/byteranges."""
    r = framed(main.port, "/files/range.bin", [("Range", "bytes=0-1,5-6")], marker=MARKER)
    if r.status == 200:
        assert r.body == RANGE_DATA
    else:
        assert r.status == 206, r
        parts = parse_byteranges(r.header("Content-Type"), r.body)
        assert [(a, b, n) for a, b, n, _ in parts] == [(0, 1, N), (5, 6, N)]
        assert [d for *_, d in parts] == [RANGE_DATA[0:2], RANGE_DATA[5:7]]


@pytest.mark.parametrize("spec", ["bytes=abc", "items=0-1", "bytes=5-2", "bytes=", "bytes=1-2-3",
                                  "bytes=--1"])
def test_invalid_range_is_ignored(main, spec):
    """An invalid Range is ignored: 200 with the whole file."""
    r = framed(main.port, "/files/range.bin", [("Range", spec)], marker=MARKER)
    assert (r.status, r.body) == (200, RANGE_DATA), r
    assert r.header("Content-Range") is None


def test_range_on_head_is_ignored(main):
    """Range applies to GET only: HEAD with a Range -> 200 with the full length."""
    r = framed(main.port, "/files/range.bin", [("Range", "bytes=0-0")], method="HEAD",
               marker=MARKER)
    assert r.status == 200, r
    assert r.header("Content-Length") == str(N)


def test_empty_file(main):
    """A 0-byte file: GET 200 Content-Length 0; "bytes=0-" -> 416 bytes */0."""
    r = framed(main.port, "/files/empty.txt", marker=MARKER)
    assert (r.status, r.body, r.header("Content-Length")) == (200, b"", "0")
    r = framed(main.port, "/files/empty.txt", [("Range", "bytes=0-")], marker=MARKER)
    assert r.status == 416, r
    assert r.header("Content-Range") == "bytes */0"


@pytest.mark.parametrize("form,status", [("etag", 206), ("old_etag", 200), ("weak_etag", 200),
                                         ("date", 206), ("earlier_date", 200),
                                         ("later_date", 200)])
def test_if_range(main, form, status):
    """If-Range: the current ETag or the exact Last-Modified -> 206; an old
    ETag or another date -> 200 whole; a weak ETag never matches (strong
    comparison, RFC 9110 section 13.1.5)."""
    etag, lm = etag_and_lm(main.port, "/files/range.bin")
    value = {"etag": etag, "old_etag": '"old-etag-1"', "weak_etag": "W/" + etag, "date": lm,
             "earlier_date": http_date(FIXED_MTIME - 86400),
             "later_date": http_date(FIXED_MTIME + 86400)}[form]
    r = framed(main.port, "/files/range.bin", [("Range", "bytes=10-19"), ("If-Range", value)],
               marker=MARKER)
    assert r.status == status, r
    assert r.body == (RANGE_DATA[10:20] if status == 206 else RANGE_DATA)


# ---------------------------------------------------------------------------
# precompressed siblings

def _vary_tokens(r):
    return [t.strip().lower() for v in r.header_all("Vary") for t in v.split(",")]


@pytest.mark.parametrize("ae,want", [
    ("gzip", "gzip"),
    ("gzip, br", "br"),
    ("br", "br"),
    ("gzip;q=1, br;q=0", "gzip"),
    ("GZIP", "gzip"),
    ("gzip;q=0", None),
    ("identity", None),
    (None, None),
])
def test_precompressed_sibling_selection(main, tree, ae, want):
    """app.js with .gz and .br siblings: the Accept-Encoding picks the file
    (gzip -> .gz, "gzip, br" -> .br, q=0 excludes, codings are
    case-insensitive); Content-Encoding and "Vary: Accept-Encoding" on a
    compressed answer; Content-Type stays the .js one."""
    headers = [("Accept-Encoding", ae)] if ae is not None else []
    r = framed(main.port, "/pre/app.js", headers, marker=MARKER)
    assert r.status == 200
    assert r.header("Content-Type") == "text/javascript; charset=utf-8"
    if want is None:
        assert r.body == APP_JS
        assert r.header("Content-Encoding") is None
    else:
        sibling = {"gzip": "app.js.gz", "br": "app.js.br"}[want]
        assert r.body == (tree / "pre" / sibling).read_bytes()
        assert r.header("Content-Encoding") == want
        assert "accept-encoding" in _vary_tokens(r), r.headers
        assert r.header("Content-Length") == str(len(r.body))


@pytest.mark.parametrize("ae,want_gz", [("br", False), ("gzip", True), ("br, gzip", True)])
def test_only_gz_sibling(main, ae, want_gz):
    """only.css has just a .gz sibling: "br" -> identity; gzip accepted -> .gz."""
    r = one(main.port, "/pre/only.css", [("Accept-Encoding", ae)])
    assert r.status == 200
    if want_gz:
        assert r.header("Content-Encoding") == "gzip"
        assert gzip.decompress(r.body) == ONLY_CSS
    else:
        assert r.header("Content-Encoding") is None
        assert r.body == ONLY_CSS


def test_precompressed_off(main):
    """precompressed=False: the siblings are never substituted."""
    r = one(main.port, "/nopre/app.js", [("Accept-Encoding", "gzip, br")])
    assert (r.status, r.body) == (200, APP_JS)
    assert r.header("Content-Encoding") is None


def test_head_of_precompressed_has_the_sibling_length(main, tree):
    """HEAD with Accept-Encoding: gzip: the .gz's Content-Length, no body."""
    r = framed(main.port, "/pre/app.js", [("Accept-Encoding", "gzip")], method="HEAD",
               marker=MARKER)
    assert r.status == 200
    assert r.header("Content-Encoding") == "gzip"
    assert r.header("Content-Length") == str(len((tree / "pre" / "app.js.gz").read_bytes()))


def test_compressed_representation_has_its_own_strong_etag(main):
    """RFC 9110 section 8.8.3: a strong ETag differs between representations:
    the gzip answer's ETag is not the identity answer's."""
    plain = one(main.port, "/pre/app.js")
    gz = one(main.port, "/pre/app.js", [("Accept-Encoding", "gzip")])
    assert gz.header("Content-Encoding") == "gzip"
    assert gz.header("ETag") != plain.header("ETag")
    # and a conditional GET with the gzip ETag must not make a 304 for identity
    r = one(main.port, "/pre/app.js", [("If-None-Match", gz.header("ETag"))])
    assert (r.status, r.body) == (200, APP_JS)


def test_range_on_a_precompressed_answer_is_consistent(main, tree):
    """A Range with Accept-Encoding: gzip: a 206 is a slice of the body it
    says it is (the .gz with Content-Encoding: gzip, or identity without);
    or a 200."""
    gz = (tree / "pre" / "app.js.gz").read_bytes()
    r = framed(main.port, "/pre/app.js", [("Accept-Encoding", "gzip"), ("Range", "bytes=0-9")],
               marker=MARKER)
    assert r.status in (200, 206), r
    whole = gz if r.header("Content-Encoding") == "gzip" else APP_JS
    if r.status == 206:
        assert r.body == whole[0:10]
        assert r.header("Content-Range") == "bytes 0-9/%d" % len(whole)
    else:
        assert r.body == whole


def test_curl_compressed_download(main, tmp_path):
    """curl --compressed fetches /pre/only.css (gz sibling) and decodes it to
    the original; curl -r 10-19 gets the range."""
    out = tmp_path / "out"
    url = base_url(main.port)
    p = subprocess.run(["/usr/bin/curl", *curl_tls_args(), "-sS", "--compressed", "-o", str(out),
                        "-D", "-",
                        url + "/pre/only.css"], capture_output=True, timeout=20)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes() == ONLY_CSS
    assert b"content-encoding: gzip" in p.stdout.lower()
    p = subprocess.run(["/usr/bin/curl", *curl_tls_args(), "-sS", "-r", "10-19", "-o", str(out),
                        "-w", "%{http_code}", url + "/files/range.bin"], capture_output=True,
                       timeout=20)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"206"
    assert out.read_bytes() == RANGE_DATA[10:20]


# ---------------------------------------------------------------------------
# path safety

SAFETY_CORPUS = [
    "/../secret", "/%2e%2e/secret", "/%2E%2E%2Fsecret", "/..%2fsecret", "/..%2Fsecret",
    "/%252e%252e/secret", "/%252e%252e%252fsecret", "/%c0%ae%c0%ae/secret",
    "/%c0%af..%c0%afsecret", "/%e0%80%ae%e0%80%ae/secret", "/sub/../../secret",
    "/sub/%2e%2e/%2e%2e/secret", "/sub/..%2f..%2fsecret", "/..\\secret", "/%5c..%5csecret",
    "/..%5csecret", "/sub\\..\\..\\secret", "/file%00.txt", "/file.txt%00", "/./././file.txt",
    "//file.txt", "/.%2e/secret", "/%2e./secret", "/..", "/../", "/...", "/.../secret",
    "/..;/secret", "/;/../secret", "/%2fetc%2fpasswd", "//etc/passwd", "///etc/passwd",
    "/%2F%2Fetc/passwd", "/static/../../secret", "/static/..%2f..%2fsecret",
    "/static/%2e%2e/%2e%2e/secret", "/static//etc/passwd", "/static/%2fetc/passwd",
    "/file.txt/../../secret", "/file.txt/", "/file.txt%2f..%2f..%2fsecret",
    "/../../../../../../../../etc/passwd", "/" + "../" * 40 + "etc/passwd",
    "http://x/../secret", "/%u002e%u002e/secret", "/%%32%65%%32%65/secret", "/.%00./secret",
    "/sub/./../../secret", "/sub/.../secret", "/~/secret", "/%7e/../secret", "/\x7f/../secret",
    "/secret", "/%73ecret", "/sub/%2e%2e%2f%2e%2e%2fsecret", "/" + "a" * 4000, "/%ff%fe",
    "/file.txt?../../secret", "/file.txt#../../secret", "/.env/../../secret",
    "/" + "a/" * 1500 + "x", "/" + "%2e%2e/" * 50 + "secret", "/sub/" + "../" * 3 + "secret",
]


def _safety_id(path):
    return re.sub(r"[^A-Za-z0-9%._/-]", "_", path)[:60]


@pytest.mark.parametrize("path", SAFETY_CORPUS, ids=[_safety_id(p) for p in SAFETY_CORPUS])
def test_path_safety_corpus(root, path):
    """No request target may return the secret next to the served directory
    (or /etc/passwd), cause a 5xx, or go unanswered."""
    with Client(root.port) as c:
        c.send(request(path))
        r = c.read_response("GET")
    whole = r.raw_head + r.body
    assert r.status < 500, r
    assert SECRET not in whole
    assert b"root:" not in r.body
    if r.status == 200 and path in ("/./././file.txt", "//file.txt"):
        assert r.body == ROOT_MARKER[1]


@pytest.mark.parametrize("path", [
    "/%zz", "/%4", "/%", "/file%zz.txt", "/sub/%g1inner.txt",     # bad percent escapes
    "/file%00.txt", "/%00", "/sub/%00/inner.txt",                  # NUL
    "/..\\secret", "/%5c..%5csecret", "/sub%5cinner.txt", "/sub\\inner.txt",   # backslash
    "/../secret", "/sub/../../secret", "/..", "/static/../../secret",          # above the root
])
def test_rejected_paths_are_400(root, path):
    """A bad percent escape, a NUL (%00), a backslash (literal or %5C), or a
    ".." climbing above the mount root: 400."""
    with Client(root.port) as c:
        c.send(request(path))
        r = c.read_response("GET")
    assert r.status == 400, (path, r)
    assert SECRET not in r.body


@pytest.mark.parametrize("path", ["/sub/../file.txt", "/./././file.txt", "/sub/./../file.txt",
                                  "/sub/../sub/../file.txt", "/file.txt?x=1"])
def test_dot_segments_staying_inside_serve_the_file(root, path):
    """Dot segments that stay inside the mount resolve: 200 with the file."""
    r = one(root.port, path)
    assert (r.status, r.body) == (200, ROOT_MARKER[1]), (path, r)


def test_dot_dot_out_of_a_nested_mount(root):
    """/static/../x.txt: either normalized first (A's x.txt) or rejected (400);
    never B's content, never the secret."""
    r = one(root.port, "/static/../x.txt")
    assert r.status in (200, 400), r
    if r.status == 200:
        assert r.body == b"from A\n"


@pytest.mark.parametrize("path,body", [("/files/space%20name.txt", b"spaced\n"),
                                       ("/files/100%25.txt", b"percent\n"),
                                       ("/files/a+b.txt", b"plus\n"),
                                       ("/files/a%2Bb.txt", b"plus\n"),
                                       ("/files/q%3F.txt", b"question\n"),
                                       ("/files/%23hash.txt", b"hash\n"),
                                       ("/files/%C3%BC.txt", b"umlaut\n"),
                                       ("/files/%61.txt", b"alpha\n"),
                                       ("/files/sub%2Finner.txt", None)])
def test_percent_decoded_names(main, path, body):
    """Percent escapes are decoded (UTF-8 names too); an encoded "/" is
    either a separator or refused, never a 5xx."""
    r = one(main.port, path)
    if body is None:
        assert r.status in (200, 400, 404), r
        if r.status == 200:
            assert r.body == b"inner\n"
    else:
        assert (r.status, r.body) == (200, body), r


# ---------------------------------------------------------------------------
# symlinks

@pytest.mark.parametrize("path,default,follow", [
    ("link_in", b"REAL\n", b"REAL\n"),
    ("link_roundtrip", b"REAL\n", b"REAL\n"),
    ("dir_in/deep_in.txt", b"DEEP-IN\n", b"DEEP-IN\n"),
    ("link_out", None, b"OUTSIDE\n"),
    ("abs_out", None, b"OUTSIDE\n"),
    ("dir_out/out.txt", None, b"OUTSIDE\n"),
    ("loop_a", None, None),
    ("loop_b/x", None, None),
    ("dangling", None, None),
])
def test_symlinks(main, path, default, follow):
    """A symlink to inside the directory: 200. To outside (file or directory):
    404 unless follow_symlinks. A loop or a dangling link: 404, no hang."""
    for prefix, want in (("/sym/", default), ("/symf/", follow)):
        r = one(main.port, prefix + path)
        if want is None:
            assert r.status == 404, (prefix + path, r)
        else:
            assert (r.status, r.body) == (200, want), (prefix + path, r)


def test_symlink_to_etc_passwd_is_404(main):
    """A symlink out to /etc/passwd is not followed by default."""
    r = one(main.port, "/sym/passwd")
    assert r.status == 404 and b"root:" not in r.body


def test_mount_directory_given_through_a_symlink(main):
    """The mounted directory's own path may be a symlink (the operator's
    choice): files under it are served with follow_symlinks off."""
    r = one(main.port, "/vialink/r.txt")
    assert (r.status, r.body) == (200, b"through a symlinked mount\n")


# ---------------------------------------------------------------------------
# dotfiles

DOTPATHS = [(".env", b"SECRET_KEY=dotenv\n"), (".git/config", b"[core]\n"),
            ("sub/.hidden", b"hidden\n")]


@pytest.mark.parametrize("path", [p for p, _ in DOTPATHS] + ["%2eenv", ".git/", ".git",
                                                                "sub/%2Ehidden"])
def test_dotfiles_are_404_by_default(main, path):
    """A path with a segment starting with "." is 404 by default (also percent-encoded)."""
    r = one(main.port, "/files/" + path)
    assert r.status == 404, (path, r)
    assert b"SECRET_KEY" not in r.body


@pytest.mark.parametrize("path,body", DOTPATHS)
def test_dotfiles_served_with_show_dotfiles(main, path, body):
    """show_dotfiles=True serves them."""
    r = one(main.port, "/dots/" + path)
    assert (r.status, r.body) == (200, body)


# ---------------------------------------------------------------------------
# connections

def test_pipelined_mix_in_order(main):
    """5 pipelined GETs (200, 304, 404, 206, 200) in one send: 5 responses in order."""
    etag, _ = etag_and_lm(main.port, "/files/cond.txt")
    data = (request("/files/a.txt") + request("/files/cond.txt", [("If-None-Match", etag)])
            + request("/files/nope.txt") + request("/files/range.bin", [("Range", "bytes=3-7")])
            + request(MARKER[0]))
    with Client(main.port) as c:
        c.send(data)
        rs = [c.read_response() for _ in range(5)]
        assert not c.closed_within(0.05)
        assert c.buf == b""
    assert [r.status for r in rs] == [200, 304, 404, 206, 200]
    assert rs[0].body == b"alpha\n"
    assert rs[1].body == b""
    assert rs[3].body == RANGE_DATA[3:8]
    assert rs[4].body == MARKER[1]


def test_http10_closes_after_the_response(main):
    """HTTP/1.0 without keep-alive: the file, then the connection is closed."""
    with Client(main.port) as c:
        c.send(request("/files/a.txt", version="HTTP/1.0", host=None))
        r = c.read_response()
        assert (r.status, r.body) == (200, b"alpha\n")
        assert c.closed_within(2.0)


def test_http10_keep_alive(main):
    """HTTP/1.0 with "Connection: keep-alive": the connection stays open."""
    with Client(main.port) as c:
        for _ in range(2):
            c.send(request("/files/a.txt", [("Connection", "keep-alive")], version="HTTP/1.0"))
            r = c.read_response()
            assert (r.status, r.body) == (200, b"alpha\n")
        assert not c.closed_within(0.1)


# ---------------------------------------------------------------------------
# large files

BIG_SIZE = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def big_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("big")
    data = os.urandom(BIG_SIZE)
    (d / "big.bin").write_bytes(data)
    return d, data


@pytest.mark.parametrize("threads,dispatcher", [(0, "epoll"), (2, "epoll"), (2, "poll")])
def test_large_file_exact_bytes(big_dir, threads, dispatcher):
    """A 5 MiB random file: the exact bytes (sha256), and a range in the middle."""
    d, data = big_dir
    with files_server(app, [("/b", d, {})], threads=threads, dispatcher=dispatcher) as srv:
        conn = http_connection(srv.port, timeout=10)
        try:
            conn.request("GET", "/b/big.bin")
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200
            assert int(r.getheader("Content-Length")) == BIG_SIZE
            assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
            a, b = 2_000_001, 3_500_000
            conn.request("GET", "/b/big.bin", headers={"Range": "bytes=%d-%d" % (a, b)})
            r = conn.getresponse()
            body = r.read()
            assert r.status == 206
            assert r.getheader("Content-Range") == "bytes %d-%d/%d" % (a, b, BIG_SIZE)
            assert body == data[a:b + 1]
        finally:
            conn.close()


# ---------------------------------------------------------------------------
# files that change

def test_fifo_and_devices_are_not_served_and_do_not_block(main):
    """A named pipe in the directory (opening it would block) and a symlink to
    /dev/zero (with follow_symlinks): 403 or 404 at once, and the server
    keeps answering."""
    for path in ("/files/fifo", "/symf/devzero", "/sym/devzero"):
        r = one(main.port, path)
        assert r.status in (403, 404), (path, r)
    assert one(main.port, "/files/a.txt").body == b"alpha\n"


def test_pipelined_requests_after_a_large_file(big_dir):
    """GET 5 MiB (sent with sendfile), then a small file, then a suffix
    range of the big one, pipelined in one send: all in order, exact."""
    d, data = big_dir
    write(d / "small.txt", b"small\n")
    with files_server(app, [("/b", d, {})], threads=1) as srv:
        with Client(srv.port, timeout=10) as c:
            c.send(request("/b/big.bin") + request("/b/small.txt")
                   + request("/b/big.bin", [("Range", "bytes=-100")]))
            r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    assert r1.status == 200 and hashlib.sha256(r1.body).digest() == hashlib.sha256(data).digest()
    assert (r2.status, r2.body) == (200, b"small\n")
    assert (r3.status, r3.body) == (206, data[-100:])
    assert r3.header("Content-Range") == "bytes %d-%d/%d" % (BIG_SIZE - 100, BIG_SIZE - 1,
                                                             BIG_SIZE)


def test_small_file_rewritten_in_place_with_its_mtime_restored(tmp_path):
    """Never stale: a small file rewritten in place with the same size and
    its mtime put back (as a deploy tool preserving times would) is served
    with its new bytes (its ctime changed; a server must not keep serving
    bytes it cached)."""
    d = tmp_path / "d"
    f = write(d / "v.txt", b"AAAA\n", FIXED_MTIME)
    with files_server(app, [("/d", d, {})], threads=0) as srv:
        assert one(srv.port, "/d/v.txt").body == b"AAAA\n"
        with open(f, "r+b") as fh:
            fh.write(b"BBBB\n")
        os.utime(f, (FIXED_MTIME, FIXED_MTIME))
        assert one(srv.port, "/d/v.txt").body == b"BBBB\n"


def test_changed_file_is_never_served_stale(main, tree):
    """A file rewritten between requests (new content, new mtime): the next
    response has the new bytes, Content-Length and ETag. Also: the same size
    with a new mtime, a replacement with the same size and mtime, a delete
    (404) and a re-create (200)."""
    f = tree / "www" / "mut.txt"
    write(f, b"version one\n", FIXED_MTIME)
    r1 = one(main.port, "/files/mut.txt")
    assert r1.body == b"version one\n"

    write(f, b"the second, longer version\n", FIXED_MTIME + 10)
    r2 = one(main.port, "/files/mut.txt")
    assert r2.body == b"the second, longer version\n"
    assert r2.header("Content-Length") == str(len(r2.body))
    assert r2.header("ETag") != r1.header("ETag")
    assert r2.header("Last-Modified") == http_date(FIXED_MTIME + 10)

    write(f, b"THE SECOND, LONGER VERSION\n", FIXED_MTIME + 20)       # same size
    r3 = one(main.port, "/files/mut.txt")
    assert r3.body == b"THE SECOND, LONGER VERSION\n"
    assert r3.header("ETag") not in (r1.header("ETag"), r2.header("ETag"))

    tmp = tree / "www" / "mut.tmp"
    write(tmp, b"tHE sECOND, lONGER vERSION\n", FIXED_MTIME + 20)      # same size and mtime
    os.replace(tmp, f)
    assert one(main.port, "/files/mut.txt").body == b"tHE sECOND, lONGER vERSION\n"

    os.unlink(f)
    assert one(main.port, "/files/mut.txt").status == 404
    write(f, b"back\n")
    r = one(main.port, "/files/mut.txt")
    assert (r.status, r.body) == (200, b"back\n")


def test_file_replaced_while_clients_download(tmp_path):
    """os.replace of a 2 MiB file (alternating contents A and B of different
    lengths) under 8 downloading clients: every complete response is all A
    or all B, its Content-Length is its body's, and an ETag never names two
    contents."""
    d = tmp_path / "r"
    d.mkdir()
    a = b"a" * (2 * 1024 * 1024)
    b = b"b" * (2 * 1024 * 1024 + 4097)
    write(tmp_path / "A", a)
    write(tmp_path / "B", b)
    os.link(tmp_path / "A", d / "f.bin")
    stop = threading.Event()
    errors, counts, etags = [], [0, 0], {}
    lock = threading.Lock()

    def download(port):
        conn = http_connection(port, timeout=10)
        try:
            while not stop.is_set():
                try:
                    conn.request("GET", "/r/f.bin")
                    r = conn.getresponse()
                    body = r.read()
                except (http.client.IncompleteRead, http.client.RemoteDisconnected,
                        ConnectionError, ssl.SSLEOFError):      # TLS: cut without close_notify
                    with lock:
                        counts[1] += 1
                    conn.close()
                    conn = http_connection(port, timeout=10)
                    continue
                kind = "A" if body == a else "B" if body == b else None
                with lock:
                    counts[0] += 1
                    if r.status != 200 or kind is None:
                        errors.append((r.status, len(body), body[:1], r.getheader("Content-Length")))
                    elif int(r.getheader("Content-Length")) != len(body):
                        errors.append(("length", r.getheader("Content-Length"), len(body)))
                    else:
                        etags.setdefault(r.getheader("ETag"), set()).add(kind)
        except Exception as exc:                  # a timeout is a failure too
            with lock:
                errors.append(repr(exc))
        finally:
            conn.close()

    with files_server(app, [("/r", d, {})], threads=2) as srv:
        threads = [threading.Thread(target=download, args=(srv.port,)) for _ in range(8)]
        for t in threads:
            t.start()
        try:
            deadline = time.monotonic() + 1.5
            i = 0
            while time.monotonic() < deadline:
                i += 1
                src = tmp_path / ("B" if i % 2 else "A")
                os.link(src, d / "f.tmp")
                os.replace(d / "f.tmp", d / "f.bin")
                time.sleep(0.003)
        finally:
            stop.set()
            for t in threads:
                t.join(20)
    assert not errors, errors[:5]
    assert counts[0] >= 8, counts
    assert all(len(kinds) == 1 for kinds in etags.values()), etags
    seen = set().union(*etags.values())
    assert seen == {"A", "B"}, "the test never saw both contents: %r" % (counts,)
    print("replaced file: %d complete, %d cut short, %d replacements" % (counts[0], counts[1], i))


def test_file_truncated_while_being_sent(tmp_path):
    """A 64 MiB file truncated to 1 MiB during the send: the server closes the
    connection; the body received is shorter than its Content-Length (never
    padded), and nothing hangs."""
    d = tmp_path / "t"
    d.mkdir()
    f = d / "big.bin"
    with open(f, "wb") as fh:
        fh.write(b"x" * (2 * 1024 * 1024))
        fh.truncate(64 * 1024 * 1024)
    with files_server(app, [("/t", d, {})], threads=1) as srv:
        s = connect_small_rcvbuf(srv.port, 16384, timeout=10)
        try:
            s.sendall(request("/t/big.bin"))
            buf = b""
            while b"\r\n\r\n" not in buf or len(buf) < 8192:
                chunk = s.recv(65536)
                assert chunk, "closed before any body"
                buf += chunk
            head, _, body = buf.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            cl = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
            assert cl == 64 * 1024 * 1024
            os.truncate(f, 1024 * 1024)
            total = len(body)
            deadline = time.monotonic() + 30
            while True:
                assert time.monotonic() < deadline, "no EOF after the truncation"
                try:
                    chunk = s.recv(1 << 20)
                except (ConnectionResetError, ssl.SSLEOFError):    # TLS: no close_notify
                    break
                if not chunk:
                    break
                total += len(chunk)
                assert total <= cl, "more body than Content-Length"
            assert total < cl, "the whole Content-Length arrived from a truncated file"
        finally:
            s.close()


# ---------------------------------------------------------------------------
# the command line

@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """python -m reactor --static /s=S --static /t=T --list-dirs --follow-symlinks
    --static-cache-control no-cache --access-log - (no app)."""
    w = tmp_path_factory.mktemp("cli")
    write(w / "S" / "a.txt", b"cli a\n")
    write(w / "S" / "c304.txt", b"cli c\n")
    write(w / "S" / "d" / "f.txt", b"f\n")
    write(w / "T" / "b.txt", b"cli b\n")
    write(w / "outside.txt", b"cli outside\n")
    os.symlink("../outside.txt", w / "S" / "out")
    write(w / "T" / ".well-known" / "acme-challenge" / "tok", b"tok.key\n")
    with CliServer(w, None, "--threads", "1", "--static", "/s=%s" % (w / "S"),
                   "--static", "/t=%s" % (w / "T"), "--list-dirs", "--follow-symlinks",
                   "--show-dotfiles",
                   "--static-cache-control", "no-cache", "--access-log", "-") as srv:
        srv.wait_ready("/s/a.txt")
        yield srv


def test_cli_show_dotfiles_serves_well_known(cli):
    """--show-dotfiles serves names starting with '.' (ACME's /.well-known/);
    without it (the default) they stay hidden."""
    r = one(cli.port, "/t/.well-known/acme-challenge/tok")
    assert (r.status, r.body) == (200, b"tok.key\n")
    from reactor.config import Config
    assert Config().files_options()["show_dotfiles"] is False
    assert Config(show_dotfiles=True).files_options()["show_dotfiles"] is True


def test_cli_static_only_serves_files_and_404s_the_rest(cli):
    """--static without an app: the mounts are served (repeatable --static,
    --list-dirs, --follow-symlinks, --static-cache-control); every other
    path is 404, not the demo."""
    r = one(cli.port, "/s/a.txt")
    assert (r.status, r.body) == (200, b"cli a\n")
    assert r.header("Cache-Control") == "no-cache"
    assert one(cli.port, "/t/b.txt").body == b"cli b\n"
    r = one(cli.port, "/s/d/")
    assert r.status == 200 and b"f.txt" in r.body
    assert one(cli.port, "/s/out").body == b"cli outside\n"
    for path in ("/", "/network", "/stats", "/x"):
        assert one(cli.port, path).status == 404, path


def test_cli_access_log_has_static_requests(cli):
    """--access-log -: static requests appear with their path and status."""
    etag = one(cli.port, "/s/c304.txt").header("ETag")
    assert one(cli.port, "/s/c304.txt", [("If-None-Match", etag)]).status == 304
    assert one(cli.port, "/s/missing-file.txt").status == 404
    one(cli.port, "/s/a.txt")

    def found(path, status):
        return any(path in line and re.search(r"(^|\s)%d(\s|$)" % status, line)
                   for line in cli.stdout().splitlines())

    deadline = time.monotonic() + 5
    want = [("/s/a.txt", 200), ("/s/c304.txt", 304), ("/s/missing-file.txt", 404)]
    while not all(found(*w) for w in want) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(found(*w) for w in want), cli.stdout()


def test_cli_with_app_and_static(tmp_path):
    """python -m reactor basic:hello --static /s=DIR: files under /s, the app elsewhere."""
    import wsgi_apps.helpers as wh
    write(tmp_path / "S" / "a.txt", b"with app\n")
    with wh.CliServer(tmp_path, "basic:hello", "--threads", "1",
                      "--static", "/s=%s" % (tmp_path / "S")) as srv:
        srv.wait_ready("/")
        r = one(srv.port, "/s/a.txt")
        assert (r.status, r.body) == (200, b"with app\n")
        assert one(srv.port, "/other").body == b"Hello, World!"
        assert one(srv.port, "/s").status == 301
        assert one(srv.port, "/s/missing").status == 404


# ---------------------------------------------------------------------------
# slow: memory under 1,000 slow readers

@pytest.mark.slow
@pytest.mark.plaintext_only("1,000 raw non-blocking sockets on a selector: not converted to TLS")
def test_thousand_slow_readers_of_a_10mib_file_keep_rss_bounded(tmp_path):
    """1,000 connections GET a 10 MiB file and read slowly, then to the end:
    the CLI server's RSS stays below its starting RSS + 64 MiB, and every
    download is complete."""
    n_conns, size = 1000, 10 * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n_conns * 2 + 200
    if soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        if new < n_conns + 100:
            pytest.skip("RLIMIT_NOFILE hard limit %d is too low" % hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    try:
        d = tmp_path / "S"
        data = os.urandom(size)
        write(d / "big.bin", data)
        write(d / "ping.txt", b"ping\n")
        with CliServer(tmp_path, None, "--threads", "2", "--static", "/=%s" % d) as srv:
            srv.wait_ready("/ping.txt")
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            conn.request("GET", "/big.bin")
            assert conn.getresponse().read() == data
            conn.close()
            time.sleep(0.3)
            base = tree_rss_kib(srv.proc.pid)
            peak = base
            sel = selectors.DefaultSelector()
            states = []
            try:
                for _ in range(n_conns):
                    s = socket.socket()
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                    s.settimeout(10)
                    s.connect(("127.0.0.1", srv.port))
                    s.sendall(request("/big.bin"))
                    s.setblocking(False)
                    st = {"sock": s, "head": b"", "cl": None, "got": 0, "done": False}
                    states.append(st)
                buf = bytearray(1 << 18)
                view = memoryview(buf)

                def feed(st, limit):
                    try:
                        n = st["sock"].recv_into(view[:limit])
                    except BlockingIOError:
                        return False
                    except ConnectionError:
                        n = 0
                    if n == 0:
                        st["done"] = True
                        return False
                    chunk = bytes(view[:n]) if st["cl"] is None else None
                    if chunk is not None:
                        st["head"] += chunk
                        if b"\r\n\r\n" in st["head"]:
                            head, _, rest = st["head"].partition(b"\r\n\r\n")
                            assert head.startswith(b"HTTP/1.1 200"), head[:100]
                            st["cl"] = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)",
                                                     head).group(1))
                            st["got"] = len(rest)
                    else:
                        st["got"] += n
                    if st["cl"] is not None and st["got"] >= st["cl"]:
                        st["done"] = True
                    return True

                slow_until = time.monotonic() + 4.0
                while time.monotonic() < slow_until:
                    for st in states:
                        if not st["done"]:
                            feed(st, 4096)
                    peak = max(peak, tree_rss_kib(srv.proc.pid))
                    time.sleep(0.05)
                for st in states:
                    if not st["done"]:
                        sel.register(st["sock"], selectors.EVENT_READ, st)
                deadline = time.monotonic() + 240
                last_rss = 0.0
                while any(not st["done"] for st in states):
                    assert time.monotonic() < deadline, "downloads did not finish"
                    for key, _ in sel.select(1.0):
                        st = key.data
                        while feed(st, len(buf)):
                            pass
                        if st["done"]:
                            sel.unregister(st["sock"])
                    if time.monotonic() - last_rss > 0.2:
                        peak = max(peak, tree_rss_kib(srv.proc.pid))
                        last_rss = time.monotonic()
            finally:
                sel.close()
                for st in states:
                    st["sock"].close()
            bad = [(st["cl"], st["got"]) for st in states if st["cl"] != size or st["got"] != size]
            assert not bad, "%d incomplete downloads, e.g. %r" % (len(bad), bad[:5])
            print("server RSS: start %d KiB, peak %d KiB" % (base, peak))
            assert peak < base + 64 * 1024, "RSS grew from %d KiB to %d KiB" % (base, peak)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---------------------------------------------------------------------------
# findings of the review of the C code (each failed before its fix)

def test_redirect_location_is_the_normalised_path_never_another_host(tmp_path):
    """The /dir -> /dir/ redirect is built from the decoded, normalised path
    (re-encoded): a raw path starting with '//host/' or '/\\host/' that
    normalises into a mount must not come back as a scheme-relative
    Location (an open redirect)."""
    write(tmp_path / "S" / "sub" / "x.txt", b"x")
    with files_server(app, [("/static", tmp_path / "S", {}), ("/", tmp_path / "S", {})]) as srv:
        r = one(srv.port, "//evil.example/%2e%2e%2fstatic")
        assert r.status == 301, r
        assert r.header("location") == "/static/", r.headers
        r = one(srv.port, "//evil.example/%2e%2e/sub?q=1")
        assert (r.status, r.header("location")) == (301, "/sub/?q=1"), r
        r = one(srv.port, "/s%75b")
        assert (r.status, r.header("location")) == (301, "/sub/"), r
        write(tmp_path / "S" / "a b%" / "y", b"y")
        r = one(srv.port, "/a%20b%25")
        assert (r.status, r.header("location")) == (301, "/a%20b%25/"), r


def test_a_fast_download_does_not_starve_its_loop(tmp_path):
    """One client pulling a big file as fast as it can does not hold up the
    other connections of the same (only) sub-reactor: sendfile is done in
    bounded slices per event."""
    big = tmp_path / "F" / "huge.bin"
    big.parent.mkdir()
    with open(big, "wb") as f:
        f.truncate(4 << 30)                 # sparse: 4 GiB of zeros, no disk
    srv_ctx = files_server(app, [("/f", tmp_path / "F", {})], threads=1)
    with srv_ctx as srv:
        srv.route_static("/ping", b"pong")
        stop = threading.Event()

        def pull():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
            s.settimeout(10)
            s.connect(("127.0.0.1", srv.port))
            s = wrap(s)
            s.sendall(request("/f/huge.bin"))
            buf = bytearray(8 << 20)
            try:
                while not stop.is_set() and s.recv_into(buf):
                    pass
            except OSError:
                pass
            finally:
                s.close()

        t = threading.Thread(target=pull)
        t.start()
        try:
            time.sleep(0.2)                 # the download is under way
            waits = []
            with Client(srv.port, 10) as c:
                for _ in range(30):
                    t0 = time.monotonic()
                    c.send(request("/ping"))
                    assert c.read_response("GET").body == b"pong"
                    waits.append(time.monotonic() - t0)
                    time.sleep(0.02)
            waits.sort()
            # before the fix: median 0.12 s, max 1.4 s (the loop sent until EAGAIN)
            assert waits[len(waits) // 2] < 0.05, waits
        finally:
            stop.set()
            t.join(10)


def test_the_file_cache_does_not_exhaust_a_low_fd_limit(tmp_path):
    """Under a low RLIMIT_NOFILE (256) a client that touches many large files
    never gets 503 for want of fds, and new connections are still accepted:
    the cache is sized from the limit and gives back fds when open() says
    EMFILE."""
    d = tmp_path / "many"
    d.mkdir()
    for i in range(600):
        (d / ("f%03d.bin" % i)).write_bytes(b"%03d" % i * 10000)    # 30 KB: sendfile, fd kept
    port = free_port()
    script = ("import resource,sys; resource.setrlimit(resource.RLIMIT_NOFILE,(256,256)); "
              "sys.argv=['reactor','--static','/m=%s','--threads','2','--port','%d',"
              "'--log-level','warning'] + %r; import runpy; runpy.run_module('reactor',"
              "run_name='__main__')" % (d, port, tls_cli_args()))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if one(port, "/m/f000.bin").status == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.05)
        statuses = []
        clients = [Client(port, 10) for _ in range(4)]
        try:
            for i in range(600):
                c = clients[i % 4]
                c.send(request("/m/f%03d.bin" % i, method="HEAD"))
                statuses.append(c.read_response("HEAD").status)
        finally:
            for c in clients:
                c.close()
        assert set(statuses) == {200}, sorted(set(statuses))
        r = one(port, "/m/f599.bin")
        assert r.status == 200 and r.body == b"599" * 10000
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stderr.close()


def test_far_future_mtime_keeps_its_validators_right(tmp_path):
    """A file dated 2446 (ext4's limit; the seconds times 1e9 overflow int64)
    gets its own Last-Modified, and If-Modified-Since of today is not a 304."""
    f = write(tmp_path / "T" / "future.txt", b"from the future\n")
    t = 15032385535                         # Thu, 10 May 2446
    try:
        os.utime(f, (t, t))
    except OSError:
        pytest.skip("this filesystem cannot store a 2446 mtime")
    if int(os.stat(f).st_mtime) != t:
        pytest.skip("this filesystem clamps the mtime")
    with files_server(app, [("/t", tmp_path / "T", {})]) as srv:
        r = one(srv.port, "/t/future.txt")
        assert r.status == 200 and r.header("last-modified") == http_date(t), r.headers
        r = one(srv.port, "/t/future.txt", [("If-Modified-Since", http_date(time.time()))])
        assert r.status == 200, r
        r = one(srv.port, "/t/future.txt", [("If-Modified-Since", http_date(t))])
        assert r.status == 304, r


@pytest.mark.slow
def test_stop_does_not_wait_a_keep_alive_timeout_after_a_download(tmp_path):
    """A download that finishes during a graceful stop closes its connection
    (Connection state 'stopping'), so stop() returns soon after, not after
    keep_alive_timeout."""
    f = tmp_path / "D" / "big.bin"
    f.parent.mkdir()
    f.write_bytes(os.urandom(16 << 20))
    server = HttpServer(app, port=0, threads=1, keep_alive_timeout=20.0, **tls_server_kw())
    server.route_files("/d", str(tmp_path / "D"))
    server.start()
    stopped = None
    try:
        s = wrap(socket.create_connection(("127.0.0.1", server.port), timeout=30))
        s.sendall(request("/d/big.bin"))
        s.recv(1000)                        # the download has begun
        t = threading.Thread(target=server.stop)
        t0 = time.monotonic()
        t.start()
        got = 0
        while True:
            # slowly: the download ends well after the drain's first sweep
            chunk = s.recv(128 << 10)
            if not chunk:
                break
            got += len(chunk)
            # (a TLS recv returns one record, <= 16 KiB: keep the same byte rate)
            time.sleep(0.01 * len(chunk) / (128 << 10) if TLS else 0.01)
        t.join(30)
        stopped = time.monotonic() - t0
        s.close()
        assert got > (16 << 20) - 1000     # the whole file came (its head too)
    finally:
        server.stop()
    assert stopped is not None and stopped < 8.0, stopped


def test_vary_is_sent_for_a_file_with_precompressed_siblings_even_uncompressed(main):
    """With precompressed siblings, the uncompressed answer varies by
    Accept-Encoding too (RFC 9110 12.5.5): a shared cache must not hand it
    to a client that accepts gzip."""
    r = one(main.port, "/pre/app.js", [("Accept-Encoding", "gzip;q=0, br;q=0")])
    assert r.status == 200 and r.header("content-encoding") is None
    assert r.header("vary") == "Accept-Encoding", r.headers
    r = one(main.port, "/pre/app.js")
    assert r.header("vary") == "Accept-Encoding", r.headers

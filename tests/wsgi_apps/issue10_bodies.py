"""The upload app of tests/test_wsgi_bodies.py (issue 10), and a server
process around it.

``app``: ``GET /rss`` answers ``<VmRSS> <VmHWM>`` (kB, from
/proc/self/status); any other request reads ``wsgi.input`` in
``read(65536)`` blocks and answers ``<byte count> <sha256 hexdigest>``.

``python issue10_bodies.py [HANDLER_THREADS]`` runs
``reactor.wsgi.WSGIServer(app, port=0, threads=1)`` (with
``handler_threads=HANDLER_THREADS`` only when given), prints its port on a
line of its own, and serves until its stdin is closed (HTTPS when
REACTOR_TEST_CERTFILE/REACTOR_TEST_KEYFILE are set).  Also usable as
``python -m reactor issue10_bodies:app --app-dir tests/wsgi_apps``.
"""
import hashlib
import os
import sys


def read_input(inp, how="blocks", size=65536, limit=None):
    """Read all of ``wsgi.input`` ``inp`` the way ``how`` says (``read``: one
    read(); ``blocks``: read(size); ``readline``: readline(limit); ``iter``:
    its lines); ``(byte count, sha256 object)``."""
    h = hashlib.sha256()
    n = 0
    if how == "read":
        data = inp.read()
        n = len(data)
        h.update(data)
    elif how in ("blocks", "readline"):
        while True:
            b = inp.read(size) if how == "blocks" else \
                inp.readline() if limit is None else inp.readline(limit)
            if not b:
                break
            if how == "readline":
                assert b.endswith(b"\n") or b"\n" not in b
                assert limit is None or len(b) <= limit
            n += len(b)
            h.update(b)
    elif how == "iter":
        for line in inp:
            n += len(line)
            h.update(line)
    else:
        raise AssertionError(how)
    return n, h


def _vm(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("%s not in /proc/self/status" % field)


def app(environ, start_response):
    if environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"] == "/rss":
        body = b"%d %d" % (_vm("VmRSS"), _vm("VmHWM"))
    else:
        n, h = read_input(environ["wsgi.input"], "blocks", 65536)
        body = b"%d %s" % (n, h.hexdigest().encode())
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def main(argv):
    from reactor.wsgi import WSGIServer
    kw = {}
    if argv:
        kw["handler_threads"] = int(argv[0])
    if os.environ.get("REACTOR_TEST_CERTFILE"):
        kw["certfile"] = os.environ["REACTOR_TEST_CERTFILE"]
        kw["keyfile"] = os.environ.get("REACTOR_TEST_KEYFILE")
    server = WSGIServer(app, port=0, threads=1, **kw)
    server.start()
    try:
        print(server.port, flush=True)
        sys.stdin.read()            # until the test closes our stdin
    finally:
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])

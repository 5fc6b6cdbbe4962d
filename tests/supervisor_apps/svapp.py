"""The WSGI app the supervisor tests serve (copied into tmp_path, where a test may edit it).

Every response body is ``pid=<worker pid> version=<VERSION> path=<path>``, so a client
knows which worker answered and which code it ran.  Endpoints:

- ``/slow?S``: sleep S seconds (default 1) first;
- ``/spin``: ``while True: pass`` (a hung handler; the eval loop still drops the GIL);
- ``/gil``: a C loop that never releases the GIL (``sum`` over ``itertools.repeat``);
- ``/crash``: ``os._exit(1)``;
- ``/env``: ``scheme=<wsgi.url_scheme> remote=<REMOTE_ADDR> port=<SERVER_PORT>``;
- anything else: answer at once.
"""
import itertools
import os
import time

VERSION = "v1"

# SVAPP_IMPORT_LOG=FILE: every process that imports this module appends its pid (the
# master must never import the app; its workers do, afresh after a reload)
if os.environ.get("SVAPP_IMPORT_LOG"):
    with open(os.environ["SVAPP_IMPORT_LOG"], "a") as _f:
        _f.write("%d\n" % os.getpid())

# SVAPP_IMPORT_SLEEP=S: a slow import (a big framework's start-up)
if os.environ.get("SVAPP_IMPORT_SLEEP"):
    time.sleep(float(os.environ["SVAPP_IMPORT_SLEEP"]))


def spin():
    while True:
        pass


def hold_gil():
    return sum(itertools.repeat(1, 10 ** 15))


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        time.sleep(float(environ.get("QUERY_STRING") or 1))
    elif path == "/spin":
        spin()
    elif path == "/gil":
        hold_gil()
    elif path == "/crash":
        os._exit(1)
    elif path == "/env":
        body = ("scheme=%s remote=%s port=%s" % (
            environ["wsgi.url_scheme"], environ.get("REMOTE_ADDR"),
            environ["SERVER_PORT"])).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    body = ("pid=%d version=%s path=%s" % (os.getpid(), VERSION, path)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

"""Apps for the issue 10 CLI tests in tests/test_wsgi_conformance.py
(``python -m reactor issue10_apps:<name> --app-dir tests/wsgi_apps``), also
imported in-process as ``wsgi_apps.issue10_apps``."""
import threading
import time

_lock = threading.Lock()
_sleeping = [0]          # how many /sleep calls of this process are sleeping now


def sleeper(environ, start_response):
    """``/sleep`` sleeps 1.5 s (``/sleep?t=S``: S seconds) and answers
    ``slept``; anything else answers at once ``fast sleeping=N``, N being the
    number of /sleep calls of this process asleep at that moment."""
    if environ["PATH_INFO"] == "/sleep":
        q = environ.get("QUERY_STRING") or ""
        delay = float(q[2:]) if q.startswith("t=") else 1.5
        with _lock:
            _sleeping[0] += 1
        try:
            time.sleep(delay)
        finally:
            with _lock:
                _sleeping[0] -= 1
        body = b"slept"
    else:
        with _lock:
            n = _sleeping[0]
        body = b"fast sleeping=%d" % n
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def flags(environ, start_response):
    """``repr((wsgi.multithread, wsgi.multiprocess))``."""
    body = repr((environ["wsgi.multithread"], environ["wsgi.multiprocess"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

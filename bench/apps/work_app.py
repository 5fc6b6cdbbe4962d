"""A WSGI app that spends about 100 µs of pure-Python work per request:
``bench.apps.work_app:app`` (the ``workers`` scenario).

- ``GET /work``: ``work()`` runs ``ITERATIONS`` steps of a linear congruential
  generator folded into a checksum (integer arithmetic in a Python loop: it
  holds the GIL the whole time, like an app's own code), and answers the
  checksum as ``text/plain`` (``work 800: 312414``, 16 bytes).
- ``GET /``: ``Hello, World!`` as ``text/plain``, which is what the harness
  polls to know a server is ready; anything else is a 404.

Deterministic (no clock, no randomness): every server must answer the same
bytes, checked against a call of the app without a server before timing.
``ITERATIONS`` was calibrated once so that one call of ``app`` for
``/work`` costs about 100 µs on the 2-core benchmark machine;
``python -m bench.apps.work_app`` measures it here, in-process, with
``timeit`` (best of several repeats), and prints the µs per call.
"""
ITERATIONS = 800

BODY = b"Hello, World!"
HELLO_HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
NOT_FOUND = b"Not Found"


def work(n=ITERATIONS):
    """``n`` LCG steps summed modulo a prime: ~125 ns of bytecode per step."""
    x = 1
    acc = 0
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        acc = (acc + (x >> 16)) % 1000003
    return acc


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/work":
        body = b"work %d: %d" % (ITERATIONS, work())
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/":
        start_response("200 OK", HELLO_HEADERS)
        return [BODY]
    start_response("404 Not Found", [("Content-Type", "text/plain"),
                                     ("Content-Length", str(len(NOT_FOUND)))])
    return [NOT_FOUND]


def measure(number=200, repeat=7):
    """``(µs per app call for GET /work, µs per work() call)``: the best of
    ``repeat`` timeit runs of ``number`` calls each, in this process."""
    import io
    import sys
    import timeit
    import wsgiref.util
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/work", "QUERY_STRING": "",
               "wsgi.input": io.BytesIO(b""), "wsgi.errors": sys.stderr}
    wsgiref.util.setup_testing_defaults(environ)

    def start_response(status, headers, exc_info=None):
        return None

    def call():
        b"".join(app(environ, start_response))

    per_call = min(timeit.repeat(call, number=number, repeat=repeat)) / number
    per_work = min(timeit.repeat(work, number=number, repeat=repeat)) / number
    return per_call * 1e6, per_work * 1e6


def main():
    per_call, per_work = measure()
    print("GET /work: %.1f µs per app call (work(%d): %.1f µs), best of 7 x 200 calls"
          % (per_call, ITERATIONS, per_work))


if __name__ == "__main__":
    main()

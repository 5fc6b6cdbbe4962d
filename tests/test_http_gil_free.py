"""Static routes are served without the GIL.

A handler on one sub-reactor holds the GIL for 1.5 s (``usleep`` called
through ``ctypes.PyDLL``, which does not release it), so no Python code runs
in the server process meanwhile.  A client in another process keeps a
connection on the other sub-reactor: its ``route_static`` answers must come
back at once, while a Python-handled request on that same connection has to
wait until the GIL is free again.
"""
import ctypes
import json
import subprocess
import sys
import textwrap

from http_helpers import CLIENT_PRELUDE, serve
from reactor.http_response import HttpResponse

HOG_SECONDS = 1.5

CLIENT = CLIENT_PRELUDE + textwrap.dedent(r'''
    def request(s, path):
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: t\r\n\r\n")


    hog, other = conn(), conn()        # round robin: loop 1, then loop 2
    request(hog, b"/ping"); response(hog)
    request(other, b"/static"); response(other)
    request(hog, b"/hog")
    time.sleep(0.2)                    # the hog now holds the GIL
    t_start = time.monotonic()
    lat = []
    for _ in range(20):
        t0 = time.monotonic()
        request(other, b"/static")
        assert response(other) == b"from C"
        lat.append(time.monotonic() - t0)
    window = time.monotonic() - t_start
    t0 = time.monotonic()
    request(other, b"/python")
    assert response(other) == b"python"
    python_wait = time.monotonic() - t0
    response(hog)
    print(json.dumps({"latencies": lat, "window": window, "python_wait": python_wait}))
''')


def test_static_route_answers_while_a_handler_holds_the_gil():
    libc = ctypes.PyDLL(None)          # PyDLL: the call keeps the GIL

    def handler(req):
        if req.path == "/hog":
            libc.usleep(int(HOG_SECONDS * 1e6))
            return HttpResponse(b"done")
        return HttpResponse(b"python")

    with serve(handler, threads=2) as srv:
        srv.route_static("/static", b"from C")
        out = subprocess.run([sys.executable, "-c", CLIENT, str(srv.port)],
                             capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    # all 20 static answers came back while the GIL was held ...
    assert res["window"] < 0.5, res
    assert max(res["latencies"]) < 0.1, res
    # ... and a Python request on the same free loop had to wait for it
    assert res["python_wait"] > 0.5, res

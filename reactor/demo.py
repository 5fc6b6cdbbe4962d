"""The built-in demo that ``python -m reactor`` serves when given no APP:
``/`` (a page), ``/network`` (text) and ``/stats`` (the worker's loops, JSON)."""
import json

from reactor.http_response import HttpResponse

DEMO_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>reactor</title></head>
<body><h1>Hello from reactor</h1>
<p>A multi-reactor HTTP/1.1 server. Try <a href="/network">/network</a> and
<a href="/stats">/stats</a>.</p></body></html>
"""


def make_demo(server_ref):
    """The demo handler; ``server_ref[0]`` is the HttpServer (for /stats)."""
    def demo(request):
        path = request.path
        if path == "/":
            return HttpResponse(DEMO_PAGE, content_type="text/html; charset=utf-8")
        if path == "/network":
            return HttpResponse(b"hello, network programming", content_type="text/plain")
        if path == "/stats":
            srv = server_ref[0]
            body = json.dumps({"loops": srv.stats(), "threads": srv.threads}, indent=1)
            return HttpResponse(body + "\n", content_type="application/json")
        return HttpResponse(b"Not Found\n", 404, content_type="text/plain")
    return demo

"""Hello, HTTP: typed handlers on reactor's HttpServer (checked by mypy --strict).

    python examples/hello_http.py --host 127.0.0.1 --port 8080 --threads 2

``/hello`` and ``/info`` answer from Python, ``/count`` streams its body (chunked),
``POST /echo`` returns the request body, and ``/ping`` is answered in C
(``route_static``, no GIL).  SIGINT / SIGTERM stop the server gracefully.
"""
import argparse
import json
import sys
from collections.abc import Iterator, Sequence

from reactor import HttpRequest, HttpResponse, HttpServer


def count(n: int) -> Iterator[bytes]:
    for i in range(1, n + 1):
        yield b"%d\n" % i


def handler(request: HttpRequest) -> HttpResponse:
    """Runs on the connection's sub-reactor thread, one handler at a time."""
    if request.path == "/hello":
        name = request.headers.get("x-name", "World")
        return HttpResponse(f"Hello, {name}!\n")        # str: sent as UTF-8 text/plain
    if request.path == "/info":
        info = {
            "method": request.method,
            "target": request.target,
            "path": request.path,
            "query": request.query,
            "version": request.version,
            "host": request.host,
            "remote_addr": request.remote_addr,
            "keep_alive": request.keep_alive,
            "headers": request.headers.items(),
        }
        return HttpResponse(json.dumps(info, indent=1) + "\n", content_type="application/json")
    if request.path == "/count":
        return HttpResponse(count(5), content_type="text/plain")   # streamed, chunked
    if request.path == "/echo" and request.method == "POST":
        ctype = request.headers.get("content-type", "application/octet-stream")
        return HttpResponse(request.body, content_type=ctype)
    return HttpResponse(b"not here\n", 404, content_type="text/plain")


def build_server(host: str = "127.0.0.1", port: int = 8080, threads: int = 2) -> HttpServer:
    server = HttpServer(handler, host=host, port=port, threads=threads)
    server.route_static("/ping", b"pong")
    return server


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="reactor hello-HTTP example")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--threads", type=int, default=2, help="sub-reactor threads")
    args = ap.parse_args(argv)
    server = build_server(args.host, args.port, args.threads)

    def ready() -> None:
        print("serving on http://%s:%d" % (server.host, server.port), file=sys.stderr, flush=True)

    server.serve_forever(on_ready=ready)


if __name__ == "__main__":
    main()

"""``python -m reactor [module:app] [options]``: run a WSGI app or the demo."""
import argparse
import json
import logging
import os
import sys

from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer

DEMO_PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>reactor</title></head>
<body><h1>Hello from reactor</h1>
<p>A multi-reactor HTTP/1.1 server. Try <a href="/network">/network</a> and
<a href="/stats">/stats</a>.</p></body></html>
"""


def make_demo(server_ref):
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


def build_parser():
    ap = argparse.ArgumentParser(
        prog="reactor",
        description="reactor: a multi-reactor HTTP/1.1 server. With no APP it serves "
                    "a built-in demo (/, /network, /stats).")
    ap.add_argument("app", nargs="?", default=None,
                    help="WSGI application as module:attr (module:factory() calls a factory)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=8080, help="port to bind (default 8080; 0 = any)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="sub-reactor threads (default: CPU count; 0 = single reactor)")
    ap.add_argument("--dispatcher", choices=["epoll", "poll"], default=None,
                    help="event backend (default epoll; env REACTOR_DISPATCHER overrides)")
    ap.add_argument("--keep-alive-timeout", type=float, default=5.0, metavar="S",
                    help="close idle keep-alive connections after S seconds (default 5)")
    ap.add_argument("--header-timeout", type=float, default=10.0, metavar="S",
                    help="close clients that have not sent a full head after S seconds (default 10)")
    ap.add_argument("--body-timeout", type=float, default=30.0, metavar="S",
                    help="close clients that stall sending a body for S seconds (default 30)")
    ap.add_argument("--min-body-rate", type=float, default=500.0, metavar="BYTES_PER_S",
                    help="a request body gets --body-timeout plus 1 s per this many bytes "
                         "received, in all; slower uploads are cut with 408 (default 500; 0 = off)")
    ap.add_argument("--max-request-line", type=int, default=8192, metavar="BYTES",
                    help="longest request line, else 414 (default 8192)")
    ap.add_argument("--max-header-size", type=int, default=65536, metavar="BYTES",
                    help="largest request head, else 431 (default 65536)")
    ap.add_argument("--max-headers", type=int, default=100, metavar="N",
                    help="most header fields, else 431 (default 100)")
    ap.add_argument("--max-body-size", type=int, default=16 * 1024 * 1024, metavar="BYTES",
                    help="largest request body, else 413 (default 16 MiB)")
    ap.add_argument("--max-connections", type=int, default=None, metavar="N",
                    help="most open connections; extra ones are closed at once (default unlimited)")
    ap.add_argument("--graceful-timeout", type=float, default=10.0, metavar="S",
                    help="on SIGINT/SIGTERM wait up to S seconds for in-flight requests (default 10)")
    ap.add_argument("--reuse-port", action="store_true",
                    help="set SO_REUSEPORT so several processes can share the port")
    ap.add_argument("--access-log", action="store_true",
                    help="log every request (common log format plus response time)")
    ap.add_argument("--app-dir", default=None, metavar="DIR",
                    help="directory to import APP from (default: the current directory)")
    ap.add_argument("--root-path", default="", metavar="PATH",
                    help="WSGI SCRIPT_NAME prefix the app is mounted under")
    ap.add_argument("--handler-threads", type=int, default=0, metavar="M",
                    help="run WSGI app calls on M worker threads (default 0: on the sub-reactor)")
    ap.add_argument("--handler-warn-time", type=float, default=10.0, metavar="S",
                    help="log a handler that has been running longer than S seconds (default 10)")
    ap.add_argument("--forwarded-allow-ips", default="127.0.0.1", metavar="IPS",
                    help="comma-separated proxy IPs trusted for X-Forwarded-For/Proto "
                         "('*' = any; default 127.0.0.1)")
    ap.add_argument("--log-level", default="info",
                    choices=["debug", "info", "warning", "error", "critical"],
                    help="logging level (default info)")
    return ap


def server_kwargs(args):
    return dict(host=args.host, port=args.port, threads=args.threads,
                dispatcher=args.dispatcher, keep_alive_timeout=args.keep_alive_timeout,
                header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                min_body_rate=args.min_body_rate,
                max_request_line=args.max_request_line, max_header_size=args.max_header_size,
                max_headers=args.max_headers, max_body_size=args.max_body_size,
                max_connections=args.max_connections, graceful_timeout=args.graceful_timeout,
                reuse_port=args.reuse_port, access_log=args.access_log)


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=getattr(logging, args.log_level.upper()),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads < 0:
        print("reactor: --threads must be >= 0", file=sys.stderr)
        return 2
    if args.app is not None:
        try:
            from reactor import wsgi
        except ImportError as exc:
            print("reactor: WSGI support is not available: %s" % exc, file=sys.stderr)
            return 2
        return wsgi.main_from_args(args)
    ref = []
    try:
        server = HttpServer(make_demo(ref), **server_kwargs(args))
    except (ValueError, TypeError, OSError) as exc:
        print("reactor: %s" % exc, file=sys.stderr)
        return 2
    ref.append(server)
    ready = lambda: print("reactor: serving the demo on http://%s:%d (%d sub-reactor threads, %s)"
                          % (args.host, server.port, args.threads, args.dispatcher or "epoll"),
                          file=sys.stderr, flush=True)
    server.serve_forever(on_ready=ready)
    return 0


if __name__ == "__main__":
    sys.exit(main())

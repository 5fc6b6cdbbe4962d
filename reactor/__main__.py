"""``python -m reactor [module:app] [options]``: run a WSGI app or the demo.

Logging is configured here, and only here (library code never adds handlers
or touches the root logger), and never the root logger: reactor's own
loggers (``reactor.*``) get a stderr handler at ``--log-level`` and do not
propagate, so an app that configures logging itself (Django does) sees each
of its messages once.  ``reactor.access`` is at INFO whatever
``--log-level`` says, with a handler for ``--access-log``.  ``--log-config``
replaces the stderr handler with a dictConfig file (an explicit
``--access-log`` still gets its handler).
"""
import argparse
import json
import logging
import logging.config
import os
import re
import sys

from reactor.access_log import DEFAULT_FORMAT
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

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
    ap.add_argument("--access-log", nargs="?", const="-", default=None, metavar="FILE",
                    help="log every request, one line each, to FILE ('-', or no FILE: "
                         "stdout); lines go to the reactor.access logger at INFO, whatever "
                         "--log-level says")
    ap.add_argument("--access-log-format", default=None, metavar="FORMAT",
                    help="access line format with gunicorn's atoms: h l u t r m U q H s B b "
                         "f a T M D L p {header}i {header}o {var}e (default: %s)"
                         % DEFAULT_FORMAT.replace("%", "%%"))
    ap.add_argument("--access-log-buffer", type=int, default=1024, metavar="RECORDS",
                    help="access records each sub-reactor queues for static routes (answered "
                         "without the GIL) before it drops and counts them (default 1024)")
    ap.add_argument("--log-config", default=None, metavar="FILE",
                    help="configure logging with logging.config.dictConfig from a .json file "
                         "(or .toml on Python 3.11+); disable_existing_loggers defaults to "
                         "false")
    ap.add_argument("--app-dir", default=None, metavar="DIR",
                    help="directory to import APP from (default: the current directory)")
    ap.add_argument("--root-path", default="", metavar="PATH",
                    help="WSGI SCRIPT_NAME prefix the app is mounted under (starts with '/')")
    ap.add_argument("--handler-threads", type=int, default=0, metavar="M",
                    help="run WSGI app calls on M worker threads (default 0: on the sub-reactor)")
    ap.add_argument("--handler-warn-time", type=float, default=10.0, metavar="S",
                    help="log a handler that has been running longer than S seconds (default 10)")
    ap.add_argument("--forwarded-allow-ips", default="127.0.0.1", metavar="IPS",
                    help="comma-separated proxy IPs trusted for X-Forwarded-For/Proto "
                         "('*' = any; default 127.0.0.1)")
    ap.add_argument("--log-level", default="info",
                    choices=["debug", "info", "warning", "error", "critical"],
                    help="level of reactor's own loggers (default info); not of the "
                         "access log")
    return ap


def _load_log_config(path):
    """The dict in a --log-config file (.json; .toml on Python 3.11+).
    ValueError with a one-line reason for anything unusable."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".json", ".toml"):
        raise ValueError("--log-config %s: the file must be .json or .toml" % path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise ValueError("--log-config %s: %s" % (path, exc.strerror or exc)) from None
    if ext == ".json":
        try:
            cfg = json.loads(data)
        except ValueError as exc:
            raise ValueError("--log-config %s is not valid JSON: %s" % (path, exc)) from None
    else:
        try:
            import tomllib
        except ImportError:
            raise ValueError("--log-config %s: TOML needs Python 3.11 or later (tomllib); "
                             "use a .json file" % path) from None
        try:
            cfg = tomllib.loads(data.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ValueError("--log-config %s is not valid TOML: %s" % (path, exc)) from None
    if not isinstance(cfg, dict):
        raise ValueError("--log-config %s must hold a dictConfig object (a dict), not %s"
                         % (path, type(cfg).__name__))
    cfg.setdefault("disable_existing_loggers", False)
    return cfg


def _configure_logging(args):
    """Set up logging for the CLI (the only place reactor does).  Returns
    whether access lines are wanted: --access-log, or a --log-config that
    gives ``reactor.access`` a handler at INFO.  ValueError if unusable."""
    level = getattr(logging, args.log_level.upper())
    rlog = logging.getLogger("reactor")
    access = logging.getLogger("reactor.access")
    for lg in (rlog, access):       # main() run again in one process: no doubles
        for old in [h for h in lg.handlers if getattr(h, "_reactor_cli", False)]:
            lg.removeHandler(old)
            old.close()
    rlog.setLevel(level)
    access.setLevel(logging.INFO)       # independent of --log-level, as gunicorn's
    if args.log_config is None:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter(_LOG_FORMAT))
        h._reactor_cli = True
        rlog.addHandler(h)
        rlog.propagate = False      # never twice through an app's root handler
    else:
        cfg = _load_log_config(args.log_config)
        try:
            logging.config.dictConfig(cfg)
        except (ValueError, TypeError, AttributeError, ImportError, KeyError) as exc:
            raise ValueError("--log-config %s: %s" % (args.log_config, exc)) from None
    if args.access_log is not None:
        if args.access_log == "-":
            h = logging.StreamHandler(sys.stdout)
        else:
            try:
                h = logging.FileHandler(args.access_log, encoding="utf-8")
            except OSError as exc:
                raise ValueError("cannot open the access log %s: %s"
                                 % (args.access_log, exc.strerror or exc)) from None
        h.setFormatter(logging.Formatter("%(message)s"))
        h._reactor_cli = True
        access.setLevel(logging.INFO)
        access.addHandler(h)
        access.propagate = False
        return True
    return args.log_config is not None and access.isEnabledFor(logging.INFO) \
        and access.hasHandlers()


_APP_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(\))?")


def _check_args(args):
    """Errors argparse cannot see: a message, or None."""
    if args.threads < 0:
        return "--threads must be >= 0"
    if args.root_path and not args.root_path.startswith("/"):
        return "--root-path must start with '/' (e.g. /app), got %r" % args.root_path
    if args.app is None and args.access_log is not None and _APP_SPEC.fullmatch(args.access_log):
        return ("--access-log took %r as its FILE: put the APP before the options, or write "
                "--access-log=- (stdout) or --access-log FILE" % args.access_log)
    if args.access_log_format is not None:
        if args.access_log is None and args.log_config is None:
            return "--access-log-format needs --access-log (or a --log-config)"
        try:
            from reactor.access_log import parse_format
            parse_format(args.access_log_format)
        except ValueError as exc:
            return "--access-log-format: %s" % exc
    if args.access_log_buffer <= 0:
        return "--access-log-buffer must be > 0"
    return None


def server_kwargs(args):
    return dict(host=args.host, port=args.port, threads=args.threads,
                dispatcher=args.dispatcher, keep_alive_timeout=args.keep_alive_timeout,
                header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                min_body_rate=args.min_body_rate,
                max_request_line=args.max_request_line, max_header_size=args.max_header_size,
                max_headers=args.max_headers, max_body_size=args.max_body_size,
                max_connections=args.max_connections, graceful_timeout=args.graceful_timeout,
                reuse_port=args.reuse_port,
                access_log=getattr(args, "access_log_on", args.access_log is not None),
                access_log_format=args.access_log_format,
                access_ring_size=args.access_log_buffer)


def main(argv=None):
    args = build_parser().parse_args(argv)
    problem = _check_args(args)
    if problem is None:
        try:
            args.access_log_on = _configure_logging(args)
        except ValueError as exc:
            problem = str(exc)
    if problem is not None:
        print("reactor: %s" % problem, file=sys.stderr)
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

"""``python -m reactor [module:app] [options]``: the command line.

It fills a ``reactor.config.Config`` (flags over ``REACTOR_*`` variables
over a ``--config`` file over the defaults), configures logging and runs the
supervisor (``reactor.supervisor``): a master that binds the sockets and
forks ``--workers`` worker processes.  Nothing imports this module.

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
import dataclasses
import json
import logging
import logging.config
import os
import re
import sys

import reactor
from reactor.config import Config, make_config
from reactor.listeners import BindError
from reactor.supervisor import StartError, Supervisor

_LOG_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"

_TYPES = {"int": int, "optint": int, "float": float}


def build_parser():
    """The argparse parser, made from Config's fields (flags, help texts).
    Options not given are absent from the result (argparse.SUPPRESS), so
    the environment and the config file can fill them."""
    ap = argparse.ArgumentParser(
        prog="reactor", argument_default=argparse.SUPPRESS,
        description="reactor: a multi-reactor HTTP/1.1 server. With no APP it serves "
                    "a built-in demo (/, /network, /stats). A master process binds the "
                    "sockets and supervises --workers worker processes: SIGTERM/SIGINT "
                    "drain them, SIGQUIT stops at once, SIGHUP reloads, SIGTTIN/SIGTTOU "
                    "add/remove a worker. Every option can also be set as REACTOR_<NAME> "
                    "in the environment or in a --config file.")
    ap.add_argument("app", nargs="?",
                    help="WSGI or ASGI application as module:attr (module:factory() calls a "
                         "factory; --interface says which, default auto)")
    ap.add_argument("--version", action="version", version="reactor %s" % reactor.__version__,
                    help="print the version and exit")
    for f in dataclasses.fields(Config):
        meta = f.metadata
        if not meta.get("cli"):
            continue
        kw = {"dest": f.name, "help": meta["help"]}
        kind = meta["kind"]
        if kind == "bool":
            kw["action"] = "store_true"
        else:
            if kind == "list":
                kw["action"] = "append"
            elif kind == "access_log":
                kw.update(nargs="?", const="-")
            if kind in _TYPES:
                kw["type"] = _TYPES[kind]
            if meta.get("metavar"):
                kw["metavar"] = meta["metavar"]
            if meta.get("choices"):
                kw["choices"] = meta["choices"]
        ap.add_argument(*meta["flags"], **kw)
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


def _configure_logging(args):  # args: a Config
    """Set up logging for the CLI (the only place reactor does); the
    workers inherit it (``worker.access_log_wanted`` reads the result).
    ValueError if unusable."""
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


_APP_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*(\(\))?")


def _banner(cfg):
    def announce(sup):
        scheme = "https" if cfg.certfile is not None else "http"
        urls = ", ".join(lst.url(scheme) for lst in sup.listeners)
        mounts = ", ".join("%s from %s" % (p or "/", d) for p, d in cfg.mounts())
        if cfg.app is not None:
            what = str(cfg.app) + (" and files at " + mounts if mounts else "")
        else:
            what = "files at " + mounts if mounts else "the demo"
        workers = "%d worker%s" % (cfg.workers, "" if cfg.workers == 1 else "s")
        # ASGI: the I/O threads ASGIServer takes (without --threads: 1 with --static)
        io = cfg.threads if cfg.threads is not None else (1 if cfg.static else 0)
        asgi = "asyncio + %d I/O thread%s" % (io, "" if io == 1 else "s") if io else \
            "asyncio on one thread"
        if cfg.interface in ("asgi3", "asgi2"):
            how = "%s x %s, %s" % (workers, asgi, cfg.interface.upper())
        else:
            extra = "" if cfg.app is None else ", %d handler threads" % cfg.handler_threads
            if cfg.app is not None and cfg.interface == "auto":
                extra += " if WSGI; ASGI apps: " + asgi
            how = "%s x %d sub-reactor threads%s, %s" % (
                workers, cfg.sub_reactors(), extra,
                cfg.dispatcher or os.environ.get("REACTOR_DISPATCHER") or "epoll")
        print("reactor: serving %s on %s (%s)" % (what, urls, how), file=sys.stderr, flush=True)
    return announce


def load_config(argv=None, environ=None):
    """The Config for a command line: ``(config, None)`` or ``(None, message)``."""
    ns = vars(build_parser().parse_args(argv))
    app = ns.get("app")
    access = ns.get("access_log")
    if app is None and access is not None and _APP_SPEC.fullmatch(access):
        return None, ("--access-log took %r as its FILE: put the APP before the options, or "
                      "write --access-log=- (stdout) or --access-log FILE" % access)
    try:
        return make_config(ns, environ=environ, source=None), None
    except ValueError as exc:
        return None, str(exc)


def main(argv=None):
    cfg, problem = load_config(argv)
    if problem is None:
        try:
            _configure_logging(cfg)
        except ValueError as exc:
            problem = str(exc)
    if problem is not None:
        print("reactor: %s" % problem, file=sys.stderr)
        return 2
    try:
        return Supervisor(cfg, on_ready=_banner(cfg)).run()
    except (BindError, StartError) as exc:
        print("reactor: %s" % exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

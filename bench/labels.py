"""Configuration labels, read from the exact command that starts each server.

    describe(argv) -> {"label": "gunicorn gthread (1 worker x 4 threads, WSGI)",
                       "software": "gunicorn gthread", "workers": 1, "threads": 4,
                       "interface": "WSGI", "app": "bench.apps.flask_app:app", ...}

The label is what the result tables and charts show next to a server's
name, and what the JSON records (per scenario and per run): processes or
workers, threads, event loop and HTTP parser, and how the app is called
(WSGI, ASGI, a native handler, a static route, nginx's ``return``), or how
files are served (reactor ``--static``, nginx's ``sendfile``, the stdlib's
``http.server`` and its protocol, granian's ``--static-path-mount``).

It is parsed from the argv the harness launches (``srv.argv``, with
``taskset`` in front) and nothing else, so it cannot drift from what was
measured: a knob the label needs that is missing from the command raises
``LabelError`` instead of assuming the server's default (the launchers in
bench/servers spell every knob out; tests/test_bench.py labels every one).
The few facts not in the command are facts of the code it names: the
bench's own launchers in bench/servers (their threading is fixed in their
source, see ``_LAUNCHERS``; ``python -m http.server`` runs a
``ThreadingHTTPServer``), nginx's config file (``-c``, read back: ``return``,
or ``sendfile`` and ``open_file_cache``, nginx's defaults when absent),
which WSGI-to-ASGI middleware uvicorn ``--interface wsgi`` wraps the app in
(read from the installed uvicorn, the way uvicorn picks it), and how many
workers ``python -m reactor`` runs when the command has no ``--workers``
(the default in the installed ``reactor.config``; one process for a reactor
without a master).
"""
import dataclasses
import importlib.util
import inspect
import os
import re


class LabelError(ValueError):
    """The command does not say enough to label it (or is not a known server)."""


_REQUIRED = object()


def option(args, name, default=_REQUIRED, command="command"):
    """The value of ``--name value`` or ``--name=value`` (the last one wins)."""
    value = default
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith(name + "="):
            value = arg[len(name) + 1:]
    if value is _REQUIRED:
        raise LabelError("%s: %s is not in the command (say it explicitly)" % (command, name))
    return value


def int_option(args, name, default=_REQUIRED, command="command"):
    value = option(args, name, default, command)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise LabelError("%s: %s %r is not a number" % (command, name, value)) from None


def strip_pin(argv):
    """The server's own argv, without a leading ``taskset -c CPUS``."""
    argv = list(argv)
    if len(argv) >= 3 and os.path.basename(argv[0]) == "taskset" and argv[1] == "-c":
        argv = argv[3:]
    return argv


def plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def _positional(args):
    """The first argument that is neither an option nor an option's value
    (every option the launchers pass takes a value, except these flags)."""
    flags = {"--no-access-log", "--no-ws", "--reuse-port", "--access-log", "--factory"}
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = "=" not in arg and arg not in flags
        else:
            return arg
    return None


def _config(software, parts, interface, app=None, **facts):
    config = {"software": software, "interface": interface, "app": app}
    config.update(facts)
    config["label"] = "%s (%s)" % (software, ", ".join(parts))
    return config


def _reactor_threads(threads):
    return "single reactor" if threads == 0 else plural(threads, "sub-reactor")


# ---- one parser per server ------------------------------------------------------------

def reactor_default_workers():
    """How many workers ``python -m reactor`` runs without ``--workers``, as the
    reactor that runs here decides (the default of ``reactor.config.Config.workers``;
    its master, ``reactor.supervisor``, always runs above them), or None for a
    reactor without a master (no ``reactor.supervisor``: one process serves)."""
    try:
        if importlib.util.find_spec("reactor.supervisor") is None:
            return None
        from reactor.config import Config
    except (ImportError, ValueError) as exc:
        raise LabelError("reactor: %s" % exc) from None
    field = {f.name: f for f in dataclasses.fields(Config)}.get("workers")
    if field is None or not isinstance(field.default, int):
        raise LabelError("reactor: reactor.config.Config has no default for workers")
    return field.default


def _reactor_cli(args):
    """``python -m reactor APP [--workers W] --threads N --handler-threads M``: a master
    and W workers, each running N sub-reactors (without --workers: the installed
    reactor's default, see ``reactor_default_workers``).  ``python -m reactor
    --static PREFIX=DIR`` without an APP serves files from C (no handler threads)."""
    static = option(args, "--static", None)
    app = _positional(args)
    asgi = option(args, "--interface", None) in ("asgi3", "asgi2")
    # ASGI: asyncio on one thread per worker, its selector the reactor loop; with
    # --threads N the connections run on N sub-reactors of their own
    threads = int_option(args, "--threads", 0 if asgi else _REQUIRED, command="reactor")
    if asgi:
        handler_threads = None
        interface = "ASGI, asyncio on the reactor loop"
    elif static is not None and app is None:
        handler_threads = None
        interface = "static files in C"
    else:
        handler_threads = int_option(args, "--handler-threads", command="reactor")
        interface = "WSGI" if not handler_threads else \
            "WSGI on %s" % plural(handler_threads, "handler thread")
    if option(args, "--workers", None) is None:
        workers = reactor_default_workers()
    else:
        workers = int_option(args, "--workers", command="reactor")
    if workers is None:
        processes = ["1 process", _reactor_threads(threads)]
        facts = {"processes": 1}
    else:
        processes = ["master + %s x %s" % (plural(workers, "worker"), _reactor_threads(threads))]
        facts = {"processes": workers + 1, "workers": workers, "master_process": True}
    if asgi:
        return _config("reactor", processes + [interface], "ASGI", app=app, threads=threads,
                       **facts)
    if handler_threads is None:
        return _config("reactor", processes + [interface], "static", static=static,
                       threads=threads, **facts)
    return _config("reactor", processes + [interface], "WSGI", app=app,
                   threads=threads, handler_threads=handler_threads, **facts)


def _reactor_inprocess(args):
    """bench.servers.reactor_inprocess: ``WSGIServer(app, threads=N)`` in one process."""
    threads = int_option(args, "--threads", command="reactor_inprocess")
    return _config("reactor", ["1 process, no master", _reactor_threads(threads), "WSGI"],
                   "WSGI", app=option(args, "--app", command="reactor_inprocess"),
                   processes=1, workers=1, master_process=False, threads=threads,
                   handler_threads=0)


def _reactor_launcher(interface, part):
    def parse(args):
        threads = int_option(args, "--threads", command="reactor launcher")
        return _config("reactor", ["1 process", _reactor_threads(threads), part], interface,
                       processes=1, threads=threads)
    return parse


def _gunicorn(args):
    workers = int_option(args, "--workers", command="gunicorn")
    worker_class = option(args, "--worker-class", command="gunicorn")
    threads = int_option(args, "--threads", command="gunicorn")
    if worker_class == "sync" and threads > 1:
        worker_class = "gthread"        # what gunicorn itself does
    return _config("gunicorn " + worker_class,
                   ["%s x %s" % (plural(workers, "worker"), plural(threads, "thread")), "WSGI"],
                   "WSGI", app=_positional(args), worker_class=worker_class,
                   workers=workers, threads=threads)


def _waitress(args):
    threads = int_option(args, "--threads", command="waitress")
    return _config("waitress", ["1 process x %s" % plural(threads, "thread"), "WSGI"], "WSGI",
                   app=_positional(args), processes=1, threads=threads)


def uvicorn_wsgi_middleware():
    """``(name, threads)`` of the middleware ``uvicorn --interface wsgi`` uses here:
    a2wsgi's when it is installed, else uvicorn's own (as uvicorn decides); threads
    is the default of its ``workers`` argument (None if it has none)."""
    try:
        from uvicorn.middleware import wsgi
    except ImportError as exc:
        raise LabelError("uvicorn --interface wsgi: %s" % exc) from None
    middleware = wsgi.WSGIMiddleware
    name = "a2wsgi" if middleware.__module__.startswith("a2wsgi") else "uvicorn's middleware"
    param = inspect.signature(middleware).parameters.get("workers")
    threads = param.default if param is not None and isinstance(param.default, int) else None
    return name, threads


def _uvicorn(args):
    workers = int_option(args, "--workers", command="uvicorn")
    loop = option(args, "--loop", command="uvicorn")
    http = option(args, "--http", command="uvicorn")
    interface = option(args, "--interface", command="uvicorn")
    parts = [plural(workers, "worker"), "%s+%s" % (loop, http)]
    facts = {"workers": workers, "loop": loop, "http": http}
    if interface == "wsgi":
        middleware, threads = uvicorn_wsgi_middleware()
        parts.append("WSGI via %s%s" % (middleware, ", " + plural(threads, "thread")
                                            if threads else ""))
        facts.update(middleware=middleware, threads=threads)
        kind = "WSGI"
    elif interface in ("asgi3", "asgi2"):
        parts.append("ASGI")
        kind = "ASGI"
    else:
        raise LabelError("uvicorn: --interface %s does not say WSGI or ASGI" % interface)
    return _config("uvicorn", parts, kind, app=_positional(args), **facts)


def _granian(args):
    interface = option(args, "--interface", command="granian").upper()
    workers = int_option(args, "--workers", command="granian")
    runtime = int_option(args, "--runtime-threads", command="granian")
    parts = [plural(workers, "worker"), plural(runtime, "runtime thread")]
    facts = {"workers": workers, "runtime_threads": runtime}
    if interface == "WSGI":
        blocking = int_option(args, "--blocking-threads", command="granian")
        parts[-1] += " + up to %s" % plural(blocking, "blocking thread")
        facts["blocking_threads"] = blocking
    elif interface == "ASGI":
        facts["loop"] = option(args, "--loop", command="granian")
        parts.append(facts["loop"])
    else:
        raise LabelError("granian: interface %s is not WSGI or ASGI" % interface)
    mount = option(args, "--static-path-mount", None)
    if mount is not None:             # files answered by granian itself; the app gets the rest
        facts.update(static_mount=mount,
                     static_route=option(args, "--static-path-route", command="granian"))
        return _config("granian", parts + ["static-path-mount", "%s app elsewhere" % interface],
                       "static", app=_positional(args), **facts)
    return _config("granian", parts + [interface], interface, app=_positional(args), **facts)


def _http_server(args):
    """``python -m http.server --directory DIR --protocol P PORT``: the stdlib's file
    server, ``SimpleHTTPRequestHandler`` on a ``ThreadingHTTPServer`` (its ``test()``);
    with HTTP/1.0 it closes the connection after each response."""
    protocol = option(args, "--protocol", command="http.server")
    directory = option(args, "--directory", command="http.server")
    parts = ["1 process", "thread per connection", protocol]
    if protocol == "HTTP/1.0":
        parts.append("closes after each response")
    return _config("stdlib http.server", parts, "static", processes=1,
                   threads="per connection", protocol=protocol, directory=directory,
                   handler="SimpleHTTPRequestHandler")


# The bench's own launchers: their threading is fixed in their source.
_LAUNCHERS = {
    "bench.servers.reactor_native": _reactor_launcher("native", "native handler"),
    "bench.servers.reactor_static": _reactor_launcher("static", "route_static in C"),
    "bench.servers.reactor_inprocess": _reactor_inprocess,
    "bench.servers.stdlib_server": lambda args: _config(
        "stdlib ThreadingHTTPServer", ["1 process", "thread per connection", "native handler"],
        "native", processes=1, threads="per connection"),
    "bench.servers.wsgiref_server": lambda args: _config(
        "stdlib wsgiref", ["1 process", "thread per connection", "HTTP/1.0", "WSGI"], "WSGI",
        app=option(args, "--app", command="wsgiref_server"), processes=1,
        threads="per connection"),
    "bench.servers.bjoern_server": lambda args: _config(
        "bjoern", ["1 process", "1 thread", "libev", "WSGI"], "WSGI",
        app=option(args, "--app", command="bjoern_server"), processes=1, threads=1,
        loop="libev"),
}

_MODULES = {"reactor": _reactor_cli, "gunicorn": _gunicorn, "waitress": _waitress,
            "uvicorn": _uvicorn, "granian": _granian, "http.server": _http_server}
_MODULES.update(_LAUNCHERS)


def _nginx(argv):
    conf = option(argv[1:], "-c", command="nginx")
    try:
        with open(conf) as f:
            text = f.read()
    except OSError as exc:
        raise LabelError("nginx: cannot read its config: %s" % exc) from None
    text = re.sub(r"#.*", "", text)
    workers = re.search(r"^\s*worker_processes\s+(\d+)\s*;", text, re.M)
    if not workers:
        raise LabelError("nginx: worker_processes is not in %s" % conf)
    workers = int(workers.group(1))
    single = re.search(r"^\s*master_process\s+off\s*;", text, re.M) is not None
    answer = re.search(r"^\s*return\s+(\d+)", text, re.M)
    parts = [plural(workers, "worker")]
    if single:
        parts[0] += ", no master"
    facts = {}
    if answer:
        parts.append("return %s" % answer.group(1))
    else:
        parts.append("static files")
        for directive, default in (("sendfile", "off"), ("open_file_cache", "off")):
            value = re.search(r"^\s*%s\s+([^;]*?)\s*;" % directive, text, re.M)
            facts[directive] = value.group(1) if value else default    # nginx's default
            parts.append("%s %s" % (directive, facts[directive]))
    return _config("nginx", parts, "nginx", workers=workers, master_process=not single,
                   **facts)


def describe(argv):
    """The configuration of the server ``argv`` starts: a dict with a ``label``."""
    args = strip_pin(argv)
    if not args or not args[0]:
        raise LabelError("empty command")
    if os.path.basename(args[0]).startswith("nginx"):
        return _nginx(args)
    if len(args) < 3 or args[1] != "-m" or args[2] not in _MODULES:
        raise LabelError("not a command the bench knows: %s" % " ".join(args[:3]))
    return _MODULES[args[2]](args[3:])


def label(argv):
    """Just the label string."""
    return describe(argv)["label"]

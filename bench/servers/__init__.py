"""The servers the benchmark knows: how to start each one, and whether it can.

Every server is one process (plus the children it forks itself), with its
natural threading model, listening on 127.0.0.1:<port>, answering GET / (and
POST /) with the 13-byte ``Hello, World!`` as ``text/plain``.  Limits that
would make a scenario meaningless are raised for all (connection caps of
waitress/gunicorn/nginx; keep-alive timeouts to 60 s so idle-memory
connections stay open); see bench/README.md.

The WSGI servers (``spec.wsgi_argv`` set) run any WSGI app too:
``spec.with_app("bench.apps.flask_app:app")`` is the same server running the
Flask app of the flask-* scenarios.  Likewise the ASGI servers
(``spec.asgi_argv`` set: reactor-asgi, uvicorn, granian-asgi) run any ASGI
app: ``spec.with_app("bench.apps.fastapi_app:app")`` is the same command with
the FastAPI app of the fastapi-hello scenario in place of the Hello World
one.  Two of the WSGI servers serve only the flask-* scenarios
(``hello=False``): stdlib-wsgiref (the stdlib's own WSGI server; the
Hello World peer is the native ``stdlib`` handler) and uvicorn-wsgi (the
Hello World peer is the ASGI ``uvicorn``).  Every concurrency knob (workers,
threads, loop, interface) is spelled out in the argv, even where it equals
the server's default: ``bench.labels`` reads the configuration label of each
result row from that argv.

``SERVERS`` maps a name to a ``ServerSpec``; ``threads_variants()`` gives
reactor-static with --threads 0,1,2,4 for the threads scenario;
``workers_variants()`` gives the servers of the workers scenario: reactor,
gunicorn gthread, uvicorn (WSGI) and granian (WSGI) at --workers 1 and 2,
and reactor-inprocess (``WSGIServer`` in one process, no master), each
running the ~100 µs app ``bench.apps.work_app:app``; ``files_variants()``
gives the file servers of the files-* scenarios: reactor ``--static``,
nginx with ``sendfile on``, the stdlib's ``python -m http.server`` and
granian's ``--static-path-mount``, each serving the directory of
``bench.files.shared()`` (``url_prefix`` is where it mounts it);
``tls_variants()`` gives the servers of the tls-* scenarios: reactor
(``route_static`` in C, and ``python -m reactor`` on the WSGI Hello World),
nginx, uvicorn and granian, each answering Hello World over TLS with the
certificate of ``bench.tls.shared()``.
"""
import dataclasses
import functools
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass

from bench.servers import nginx as _nginx
from bench.servers.common import WSGI_APP

ASGI_APP = "bench.servers.asgi_app:app"
CONNECTION_LIMIT = 16384        # for servers that cap connections by default


@dataclass
class ServerSpec:
    """How to run one server: ``argv(port, workdir)`` and what it needs."""

    name: str
    argv: object                          # callable (port, workdir) -> list[str]
    modules: tuple = ()                   # Python modules that must be importable
    binary: str = None                    # executable that must be on PATH
    packages: tuple = ()                  # distributions whose versions we record
    base: str = None                      # family name for --servers (default: name)
    description: str = ""
    install_hint: str = ""
    check_import: bool = False            # import the modules in a child (may be unbuilt)
    wsgi_argv: object = None              # (port, workdir, app) -> argv: runs any WSGI app
    asgi_argv: object = None              # (port, workdir, app) -> argv: runs any ASGI app
    app: str = None                       # the WSGI or ASGI app "module:attr" argv runs
    hello: bool = True                    # takes part in the Hello World scenarios
    aliases: tuple = ()                   # more --servers names that select it
    workers: int = None                   # workers scenario: the --workers it runs
    baseline: str = None                  # workers scenario: the reactor row it is compared with
    url_prefix: str = ""                  # files scenarios: the URL path the directory is under
    check: object = None                  # () -> None, or why the server cannot run here

    def with_app(self, app):
        """This WSGI or ASGI server running ``app`` ("module:attr", an app of its
        interface) instead of Hello World."""
        app_argv = self.wsgi_argv or self.asgi_argv
        if app_argv is None:
            raise ValueError("%s runs no app but its own Hello World" % self.name)
        return dataclasses.replace(
            self, argv=lambda port, workdir: app_argv(port, workdir, app), app=app)

    @property
    def family(self):
        return self.base or self.name

    def selected_by(self, wanted):
        """True when ``--servers`` names it, its family or one of its aliases."""
        return bool({self.name, self.family, *self.aliases} & set(wanted))

    def unavailable_reason(self):
        """None if the server can run here, else why not (and how to fix it)."""
        for mod in self.modules:
            try:
                found = importlib.util.find_spec(mod) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return "module %s not importable%s" % (
                    mod, " (%s)" % self.install_hint if self.install_hint else "")
        if self.check_import:
            error = import_error(self.modules)
            if error:
                return "%s (%s)" % (error, self.install_hint) if self.install_hint else error
        if self.binary and find_binary(self.binary) is None:
            return "%s not installed%s" % (
                self.binary, " (%s)" % self.install_hint if self.install_hint else "")
        if self.check is not None:
            return self.check()
        return None


@functools.lru_cache(maxsize=None)
def import_error(modules):
    """None if a fresh interpreter imports ``modules``, else its last error line."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    code = "; ".join("import " + m for m in modules)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, timeout=60)
    if out.returncode == 0:
        return None
    lines = out.stderr.strip().splitlines()
    return lines[-1] if lines else "import failed"


@functools.lru_cache(maxsize=None)
def help_text(*module_argv):
    """What ``python -m MODULE ... --help`` prints ("" when it fails)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    try:
        out = subprocess.run([sys.executable, "-m"] + list(module_argv) + ["--help"],
                             capture_output=True, text=True, env=env, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout if out.returncode == 0 else ""


def has_option(text, flag):
    """True when a --help text lists ``flag`` itself (not just a longer flag)."""
    return re.search(r"(?:^|[\s\[,])%s(?=[\s=\],]|$)" % re.escape(flag), text, re.M) is not None


def find_binary(name):
    """``shutil.which`` that also looks in the sbin directories (nginx)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/usr/local/sbin:/sbin"
    return shutil.which(name, path=path)


def _py(*args):
    return [sys.executable] + list(args)


def _reactor(module, threads):
    return lambda port, workdir: _py("-m", module, "--port", str(port),
                                     "--threads", str(threads))


# WSGI servers: argv(port, workdir, app) -> list[str], for any WSGI app "module:attr"

def _reactor_wsgi(port, workdir, app):
    return _py("-m", "reactor", app, "--port", str(port), "--threads", "1",
               "--handler-threads", "0", "--keep-alive-timeout", "60",
               "--log-level", "warning")


def _reactor_wsgi_pool(port, workdir, app):
    """reactor-wsgi with the default handler pool (``--handler-threads`` spelled
    out as its default, so the label says it)."""
    from reactor.wsgi import DEFAULT_HANDLER_THREADS
    return _py("-m", "reactor", app, "--port", str(port), "--threads", "1",
               "--handler-threads", str(DEFAULT_HANDLER_THREADS), "--keep-alive-timeout", "60",
               "--log-level", "warning")


def _reactor_workers(workers):
    """``python -m reactor APP --workers N``: a master and N workers, each running
    the reactor-wsgi server (one sub-reactor, the app on it)."""
    def argv(port, workdir, app):
        return _py("-m", "reactor", app, "--port", str(port), "--workers", str(workers),
                   "--threads", "1", "--handler-threads", "0", "--keep-alive-timeout", "60",
                   "--log-level", "warning")
    return argv


def _reactor_inprocess(port, workdir, app):
    return _py("-m", "bench.servers.reactor_inprocess", "--port", str(port), "--threads", "1",
               "--app", app)


def _gunicorn(worker, workers=1):
    def argv(port, workdir, app):
        cmd = _py("-m", "gunicorn", "--workers", str(workers), "--worker-class", worker,
                  "--bind", "127.0.0.1:%d" % port, "--keep-alive", "60",
                  "--backlog", "1024", "--log-level", "warning",
                  "--worker-tmp-dir", workdir)
        if worker == "gthread":
            cmd += ["--threads", "4", "--worker-connections", str(CONNECTION_LIMIT)]
        else:
            cmd += ["--threads", "1"]       # more would turn sync into gthread
        return cmd + [app]
    return argv


def _waitress(port, workdir, app):
    return _py("-m", "waitress", "--host=127.0.0.1", "--port=%d" % port, "--threads=4",
               "--connection-limit=%d" % CONNECTION_LIMIT, "--backlog=1024",
               "--channel-timeout=60", app)


def _uvicorn(interface, workers=1):
    def argv(port, workdir, app):
        return _py("-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
                   "--workers", str(workers), "--interface", interface,
                   "--loop", "uvloop", "--http", "httptools", "--no-access-log",
                   "--log-level", "warning", "--timeout-keep-alive", "60", "--backlog", "1024",
                   "--lifespan", "off")
    return argv


GRANIAN_BACKLOG = 1024


def _granian(interface, workers=1):
    def argv(port, workdir, app):
        cmd = _py("-m", "granian", "--interface", interface, "--host", "127.0.0.1",
                  "--port", str(port), "--workers", str(workers), "--runtime-threads", "1")
        if interface == "wsgi":
            # granian's own default with --backlog 1024 (backlog / workers / 2), made explicit
            cmd += ["--blocking-threads", str(max(1, GRANIAN_BACKLOG // workers // 2))]
        else:
            cmd += ["--loop", "uvloop"]
        return cmd + ["--http", "1", "--no-ws", "--log-level", "warning",
                      "--backlog", str(GRANIAN_BACKLOG), app]
    return argv


def _stdlib_wsgiref(port, workdir, app):
    return _py("-m", "bench.servers.wsgiref_server", "--port", str(port), "--app", app)


def _bjoern(port, workdir, app):
    return _py("-m", "bench.servers.bjoern_server", "--port", str(port), "--app", app)


# servers that run only their own Hello World: argv(port, workdir) -> list[str]

def _stdlib(port, workdir):
    return _py("-m", "bench.servers.stdlib_server", "--port", str(port))


def _nginx_argv(port, workdir):
    return _nginx.command(find_binary("nginx"), workdir, port)


# ASGI servers: argv(port, workdir, app) -> list[str], for any ASGI app "module:attr"

def _reactor_asgi(port, workdir, app, *extra):
    """``python -m reactor APP --interface asgi3``: asyncio on one thread per worker
    (ASGI's default without ``--threads``; the label says "single reactor")."""
    return _py("-m", "reactor", app, "--port", str(port), "--interface", "asgi3",
               "--keep-alive-timeout", "60", "--log-level", "warning", "--lifespan", "off",
               *extra)


def _reactor_asgi_t1(port, workdir, app):
    """The same with ``--threads 1``: the connections on an I/O thread of their own."""
    return _reactor_asgi(port, workdir, app, "--threads", "1")


def _uvicorn_asgi(port, workdir):
    return _uvicorn("asgi3")(port, workdir, ASGI_APP)


def _granian_asgi(port, workdir):
    return _granian("asgi")(port, workdir, ASGI_APP)


def _wsgi(name, wsgi_argv, **kw):
    """A WSGI server: runs the Hello World app, and ``with_app()`` any other."""
    return ServerSpec(name, lambda port, workdir: wsgi_argv(port, workdir, WSGI_APP),
                      wsgi_argv=wsgi_argv, app=WSGI_APP, **kw)


def _asgi(name, asgi_argv, **kw):
    """An ASGI server: runs the Hello World app, and ``with_app()`` any other."""
    return ServerSpec(name, lambda port, workdir: asgi_argv(port, workdir, ASGI_APP),
                      asgi_argv=asgi_argv, app=ASGI_APP, **kw)


_PIP = "pip install '.[bench]'"
_REACTOR_HINT = "build with: python setup.py build_ext --inplace"

_SPECS = [
    ServerSpec("reactor-native", _reactor("bench.servers.reactor_native", 1),
               modules=("reactor.http_server",), packages=("reactor-http",), check_import=True,
               description="HttpServer, Python handler -> HttpResponse, --threads 1",
               install_hint=_REACTOR_HINT),
    ServerSpec("reactor-static", _reactor("bench.servers.reactor_static", 1),
               modules=("reactor.http_server",), packages=("reactor-http",), check_import=True,
               description="HttpServer.route_static('/'), answered in C, --threads 1",
               install_hint=_REACTOR_HINT),
    _wsgi("reactor-wsgi", _reactor_wsgi, modules=("reactor.wsgi",),
          packages=("reactor-http",), check_import=True,
          description="python -m reactor APP --threads 1 --handler-threads 0",
          install_hint="reactor/wsgi.py is needed; " + _REACTOR_HINT),
    _wsgi("reactor-wsgi-pool", _reactor_wsgi_pool, modules=("reactor.wsgi",),
          packages=("reactor-http",), check_import=True,
          description="python -m reactor APP --threads 1 with the default handler pool",
          install_hint="reactor/wsgi.py is needed; " + _REACTOR_HINT),
    _asgi("reactor-asgi", _reactor_asgi, modules=("reactor.asgi",),
          packages=("reactor-http",), check_import=True,
          description="python -m reactor APP --interface asgi3: asyncio on one thread, "
                      "its selector the reactor loop",
          install_hint="reactor/asgi.py is needed; " + _REACTOR_HINT),
    _asgi("reactor-asgi-t1", _reactor_asgi_t1, modules=("reactor.asgi",),
          packages=("reactor-http",), check_import=True,
          description="python -m reactor APP --interface asgi3 --threads 1: the connections "
                      "on an I/O thread, asyncio on the main thread",
          install_hint="reactor/asgi.py is needed; " + _REACTOR_HINT),
    ServerSpec("stdlib", _stdlib, description="http.server.ThreadingHTTPServer, HTTP/1.1"),
    _wsgi("stdlib-wsgiref", _stdlib_wsgiref, base="stdlib", hello=False,
          description="wsgiref.simple_server + ThreadingMixIn (HTTP/1.0, closes after "
                      "each response)"),
    _wsgi("gunicorn-sync", _gunicorn("sync"), modules=("gunicorn",),
          packages=("gunicorn",), install_hint=_PIP,
          description="gunicorn -w 1 -k sync (closes after each response)"),
    _wsgi("gunicorn-gthread", _gunicorn("gthread"), modules=("gunicorn",),
          packages=("gunicorn",), install_hint=_PIP,
          description="gunicorn -w 1 -k gthread --threads 4"),
    _wsgi("waitress", _waitress, modules=("waitress",), packages=("waitress",),
          install_hint=_PIP, description="waitress --threads=4 (its default)"),
    _asgi("uvicorn", _uvicorn("asgi3"), modules=("uvicorn", "uvloop", "httptools"),
          packages=("uvicorn", "uvloop", "httptools"), install_hint=_PIP,
          description="uvicorn --loop uvloop --http httptools, ASGI"),
    _wsgi("uvicorn-wsgi", _uvicorn("wsgi"), modules=("uvicorn", "uvloop", "httptools"),
          packages=("uvicorn", "uvloop", "httptools", "a2wsgi"), install_hint=_PIP,
          base="uvicorn", hello=False,
          description="uvicorn --interface wsgi (its WSGI-to-ASGI middleware on a "
                      "thread pool), uvloop, httptools"),
    _wsgi("granian-wsgi", _granian("wsgi"), modules=("granian",), packages=("granian",),
          install_hint=_PIP, description="granian --interface wsgi --workers 1"),
    _asgi("granian-asgi", _granian("asgi"), modules=("granian", "uvloop"),
          packages=("granian", "uvloop"), install_hint=_PIP,
          description="granian --interface asgi --workers 1 --loop uvloop"),
    _wsgi("bjoern", _bjoern, modules=("bjoern",), packages=("bjoern",),
          install_hint="apt-get install libev-dev && pip install bjoern",
          description="bjoern.run (C, libev, single thread)"),
    ServerSpec("nginx", _nginx_argv, binary="nginx",
               install_hint="apt-get install nginx",
               description='nginx return 200 "Hello, World!", one process'),
]

SERVERS = {spec.name: spec for spec in _SPECS}
DEFAULT_ORDER = [spec.name for spec in _SPECS]
THREADS_VARIANTS = (0, 1, 2, 4)


def threads_variants():
    """reactor-static with --threads 0, 1, 2, 4, as separate servers."""
    base = SERVERS["reactor-static"]
    return [ServerSpec("reactor-static-t%d" % n, _reactor("bench.servers.reactor_static", n),
                       modules=base.modules, packages=base.packages, base=base.name,
                       install_hint=base.install_hint, check_import=True,
                       description="route_static, --threads %d" % n)
            for n in THREADS_VARIANTS]


WORKERS_APP = "bench.apps.work_app:app"
WORKER_COUNTS = (1, 2)
# (name prefix, the server it varies, its argv for N workers)
_WORKERS_PEERS = (("reactor", "reactor-wsgi", _reactor_workers),
                  ("gunicorn-gthread", "gunicorn-gthread", lambda n: _gunicorn("gthread", n)),
                  ("uvicorn-wsgi", "uvicorn-wsgi", lambda n: _uvicorn("wsgi", n)),
                  ("granian-wsgi", "granian-wsgi", lambda n: _granian("wsgi", n)))


def _variant(base, name, wsgi_argv, app, workers, baseline, description):
    """``base`` renamed, running ``app`` with ``wsgi_argv``: selected by its own name,
    by ``base``'s name and by ``base``'s family (uvicorn for uvicorn-wsgi)."""
    spec = dataclasses.replace(base, name=name, base=base.name, wsgi_argv=wsgi_argv,
                               aliases=tuple({base.family} - {base.name}), hello=False,
                               workers=workers, baseline=baseline, description=description)
    return spec.with_app(app)


def workers_variants(app=WORKERS_APP):
    """The workers scenario's servers, grouped by worker count: at --workers 1
    reactor-w1, reactor-inprocess and each peer, then at 2 reactor-w2 and each peer.
    Every one runs ``app``; ``baseline`` is reactor at the same --workers."""
    specs = []
    for n in WORKER_COUNTS:
        baseline = "reactor-w%d" % n
        for prefix, base_name, argv_for in _WORKERS_PEERS:
            base = SERVERS[base_name]
            specs.append(_variant(base, "%s-w%d" % (prefix, n), argv_for(n), app, n, baseline,
                                  "%s, --workers %d" % (base.description, n)))
        if n == 1:
            specs.insert(1, _variant(
                SERVERS["reactor-wsgi"], "reactor-inprocess", _reactor_inprocess, app, 1,
                baseline, "reactor.wsgi.WSGIServer(app, threads=1).serve_forever() in one "
                "process, no master"))
    return specs


# ---- the files-* scenarios: every server serves the directory of bench.files.shared() --

GRANIAN_STATIC_ROUTE = "/static"


def _files_dir():
    from bench import files
    return files.shared().directory


def _reactor_files(port, workdir):
    return _py("-m", "reactor", "--static", "/=" + _files_dir(), "--port", str(port),
               "--threads", "1", "--keep-alive-timeout", "60", "--log-level", "warning")


def _nginx_files(port, workdir):
    return _nginx.command(find_binary("nginx"), workdir, port, root=_files_dir())


def _stdlib_files(port, workdir):
    return _py("-m", "http.server", "--bind", "127.0.0.1", "--directory", _files_dir(),
               "--protocol", "HTTP/1.0", str(port))


def _granian_files(port, workdir):
    argv = _granian("asgi")(port, workdir, ASGI_APP)
    return argv[:-1] + ["--static-path-route", GRANIAN_STATIC_ROUTE,
                        "--static-path-mount", _files_dir(), argv[-1]]


def _reactor_has_static():
    if not has_option(help_text("reactor"), "--static"):
        return "python -m reactor has no --static option yet (static file serving, issue 11)"
    return None


def _granian_has_static():
    if not has_option(help_text("granian"), "--static-path-mount"):
        return "this granian has no --static-path-mount"
    return None


def files_variants():
    """The servers of the files-* scenarios, each serving the same directory
    (``bench.files.shared()``) over keep-alive where it can: selected by their
    own name or by the server they vary (nginx, stdlib, granian-asgi)."""
    reactor = SERVERS["reactor-wsgi"]
    return [
        ServerSpec("reactor-files", _reactor_files, modules=("reactor",),
                   packages=reactor.packages, check_import=True, hello=False,
                   install_hint=_REACTOR_HINT, check=_reactor_has_static,
                   description="python -m reactor --static /=DIR --threads 1"),
        dataclasses.replace(SERVERS["nginx"], name="nginx-files", argv=_nginx_files,
                            base="nginx", hello=False,
                            description="nginx root DIR, sendfile on, open_file_cache off, "
                                        "one process"),
        dataclasses.replace(SERVERS["stdlib"], name="stdlib-files", argv=_stdlib_files,
                            base="stdlib", hello=False,
                            description="python -m http.server --directory DIR "
                                        "(HTTP/1.0, closes after each response)"),
        dataclasses.replace(SERVERS["granian-asgi"], name="granian-files", argv=_granian_files,
                            base="granian-asgi", hello=False, url_prefix=GRANIAN_STATIC_ROUTE,
                            asgi_argv=None,
                            check=_granian_has_static,
                            description="granian --static-path-mount DIR at %s (the ASGI "
                                        "Hello World app elsewhere)" % GRANIAN_STATIC_ROUTE),
    ]


# ---- the tls-* scenarios: every server serves the certificate of bench.tls.shared() -----

def _cert():
    from bench import tls
    return tls.shared()


def _reactor_tls(port, workdir):
    """``python -m reactor`` on the Hello World WSGI app (as reactor-wsgi), over TLS."""
    cert = _cert()
    return _reactor_wsgi(port, workdir, WSGI_APP) + ["--certfile", cert.certfile,
                                                      "--keyfile", cert.keyfile]


def _reactor_static_tls(port, workdir):
    """reactor-static (``route_static`` in C) with ``HttpServer(certfile=, keyfile=)``."""
    cert = _cert()
    return _reactor("bench.servers.reactor_static", 1)(port, workdir) + [
        "--certfile", cert.certfile, "--keyfile", cert.keyfile]


def _nginx_tls(port, workdir):
    cert = _cert()
    return _nginx.command(find_binary("nginx"), workdir, port,
                          tls=(cert.certfile, cert.keyfile))


def _uvicorn_tls(port, workdir):
    cert = _cert()
    return _uvicorn_asgi(port, workdir) + ["--ssl-certfile", cert.certfile,
                                           "--ssl-keyfile", cert.keyfile]


def _granian_tls(port, workdir):
    cert = _cert()
    argv = _granian_asgi(port, workdir)
    return argv[:-1] + ["--ssl-certificate", cert.certfile, "--ssl-keyfile", cert.keyfile,
                        argv[-1]]


def _tls_check(then=None):
    def check():
        from bench import tls
        return tls.unavailable_reason() or (then() if then else None)
    return check


def _reactor_has_tls():
    if not has_option(help_text("reactor"), "--certfile"):
        return "python -m reactor has no --certfile option yet (TLS)"
    return None


@functools.lru_cache(maxsize=None)
def _http_server_params():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    code = ("import inspect, reactor.http_server as h; "
            "print(' '.join(inspect.signature(h.HttpServer).parameters))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(out.stdout.split()) if out.returncode == 0 else ()


def _reactor_static_has_tls():
    if not {"certfile", "keyfile"} <= set(_http_server_params()):
        return "reactor.http_server.HttpServer takes no certfile/keyfile yet (TLS)"
    return None


def tls_variants():
    """The servers of the tls-* scenarios, each answering Hello World over TLS with
    the run's certificate (``bench.tls.shared()``): selected by their own name or
    by the server they vary (reactor-wsgi, reactor-static, nginx, uvicorn,
    granian-asgi)."""
    return [
        dataclasses.replace(SERVERS["reactor-static"], name="reactor-static-tls",
                            argv=_reactor_static_tls, base="reactor-static", hello=False,
                            check=_tls_check(_reactor_static_has_tls),
                            description="reactor-static (route_static in C) with "
                                        "HttpServer(certfile=, keyfile=), --threads 1"),
        dataclasses.replace(SERVERS["reactor-wsgi"], name="reactor-tls", argv=_reactor_tls,
                            base="reactor-wsgi", hello=False, wsgi_argv=None,
                            check=_tls_check(_reactor_has_tls),
                            description="python -m reactor APP --certfile C --keyfile K "
                                        "--threads 1 --handler-threads 0 (Hello World WSGI)"),
        dataclasses.replace(SERVERS["nginx"], name="nginx-tls", argv=_nginx_tls, base="nginx",
                            hello=False, check=_tls_check(),
                            description='nginx return 200 "Hello, World!", ssl on the '
                                        'listen, one process'),
        dataclasses.replace(SERVERS["uvicorn"], name="uvicorn-tls", argv=_uvicorn_tls,
                            base="uvicorn", hello=False, asgi_argv=None, check=_tls_check(),
                            description="uvicorn --ssl-certfile --ssl-keyfile, uvloop, "
                                        "httptools, ASGI"),
        dataclasses.replace(SERVERS["granian-asgi"], name="granian-tls", argv=_granian_tls,
                            base="granian-asgi", hello=False, asgi_argv=None,
                            check=_tls_check(),
                            description="granian --ssl-certificate --ssl-keyfile, ASGI, "
                                        "uvloop, --workers 1"),
    ]

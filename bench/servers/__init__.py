"""The servers the benchmark knows: how to start each one, and whether it can.

Every server is one process (plus the children it forks itself), with its
natural threading model, listening on 127.0.0.1:<port>, answering GET / (and
POST /) with the 13-byte ``Hello, World!`` as ``text/plain``.  Limits that
would make a scenario meaningless are raised for all (connection caps of
waitress/gunicorn/nginx; keep-alive timeouts to 60 s so idle-memory
connections stay open); see bench/README.md.

``SERVERS`` maps a name to a ``ServerSpec``; ``threads_variants()`` gives
reactor-static with --threads 0,1,2,4 for the threads scenario.
"""
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

from bench.servers import nginx as _nginx

WSGI_APP = "bench.servers.wsgi_app:app"
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

    @property
    def family(self):
        return self.base or self.name

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


def find_binary(name):
    """``shutil.which`` that also looks in the sbin directories (nginx)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/usr/local/sbin:/sbin"
    return shutil.which(name, path=path)


def _py(*args):
    return [sys.executable] + list(args)


def _reactor(module, threads):
    return lambda port, workdir: _py("-m", module, "--port", str(port),
                                     "--threads", str(threads))


def _reactor_wsgi(port, workdir):
    return _py("-m", "reactor", WSGI_APP, "--port", str(port), "--threads", "1",
               "--keep-alive-timeout", "60", "--log-level", "warning")


def _gunicorn(worker):
    def argv(port, workdir):
        cmd = _py("-m", "gunicorn", "--workers", "1", "--worker-class", worker,
                  "--bind", "127.0.0.1:%d" % port, "--keep-alive", "60",
                  "--backlog", "1024", "--log-level", "warning",
                  "--worker-tmp-dir", workdir)
        if worker == "gthread":
            cmd += ["--threads", "4", "--worker-connections", str(CONNECTION_LIMIT)]
        return cmd + [WSGI_APP]
    return argv


def _waitress(port, workdir):
    return _py("-m", "waitress", "--host=127.0.0.1", "--port=%d" % port,
               "--connection-limit=%d" % CONNECTION_LIMIT, "--backlog=1024",
               "--channel-timeout=60", WSGI_APP)


def _uvicorn(port, workdir):
    return _py("-m", "uvicorn", ASGI_APP, "--host", "127.0.0.1", "--port", str(port),
               "--loop", "uvloop", "--http", "httptools", "--no-access-log",
               "--log-level", "warning", "--timeout-keep-alive", "60", "--backlog", "1024",
               "--lifespan", "off")


def _granian(interface):
    app = WSGI_APP if interface == "wsgi" else ASGI_APP

    def argv(port, workdir):
        return _py("-m", "granian", "--interface", interface, "--host", "127.0.0.1",
                   "--port", str(port), "--workers", "1", "--http", "1", "--no-ws",
                   "--log-level", "warning", "--backlog", "1024", app)
    return argv


def _stdlib(port, workdir):
    return _py("-m", "bench.servers.stdlib_server", "--port", str(port))


def _bjoern(port, workdir):
    return _py("-m", "bench.servers.bjoern_server", "--port", str(port))


def _nginx_argv(port, workdir):
    return _nginx.command(find_binary("nginx"), workdir, port)


_PIP = "pip install '.[bench]'"

_SPECS = [
    ServerSpec("reactor-native", _reactor("bench.servers.reactor_native", 1),
               modules=("reactor.http_server",), packages=("reactor-http",), check_import=True,
               description="HttpServer, Python handler -> HttpResponse, --threads 1",
               install_hint="build with: python setup.py build_ext --inplace"),
    ServerSpec("reactor-static", _reactor("bench.servers.reactor_static", 1),
               modules=("reactor.http_server",), packages=("reactor-http",), check_import=True,
               description="HttpServer.route_static('/'), answered in C, --threads 1",
               install_hint="build with: python setup.py build_ext --inplace"),
    ServerSpec("reactor-wsgi", _reactor_wsgi, modules=("reactor.wsgi",),
               packages=("reactor-http",), check_import=True,
               description="python -m reactor bench.servers.wsgi_app:app --threads 1",
               install_hint="reactor/wsgi.py is needed"),
    ServerSpec("stdlib", _stdlib, description="http.server.ThreadingHTTPServer, HTTP/1.1"),
    ServerSpec("gunicorn-sync", _gunicorn("sync"), modules=("gunicorn",),
               packages=("gunicorn",), install_hint=_PIP,
               description="gunicorn -w 1 -k sync (closes after each response)"),
    ServerSpec("gunicorn-gthread", _gunicorn("gthread"), modules=("gunicorn",),
               packages=("gunicorn",), install_hint=_PIP,
               description="gunicorn -w 1 -k gthread --threads 4"),
    ServerSpec("waitress", _waitress, modules=("waitress",), packages=("waitress",),
               install_hint=_PIP, description="waitress, 4 threads (default)"),
    ServerSpec("uvicorn", _uvicorn, modules=("uvicorn", "uvloop", "httptools"),
               packages=("uvicorn", "uvloop", "httptools"), install_hint=_PIP,
               description="uvicorn --loop uvloop --http httptools, ASGI"),
    ServerSpec("granian-wsgi", _granian("wsgi"), modules=("granian",), packages=("granian",),
               install_hint=_PIP, description="granian --interface wsgi --workers 1"),
    ServerSpec("granian-asgi", _granian("asgi"), modules=("granian",), packages=("granian",),
               install_hint=_PIP, description="granian --interface asgi --workers 1"),
    ServerSpec("bjoern", _bjoern, modules=("bjoern",), packages=("bjoern",),
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

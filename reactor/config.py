"""Config: every setting of a reactor deployment, in one dataclass.

The CLI (``python -m reactor``), a ``--config`` file (TOML or Python) and
``REACTOR_*`` environment variables fill it, in that order of precedence
(CLI flags win, then the environment, then the file, then the defaults);
``reactor.run(app, **options)`` fills it from keywords.  The supervisor,
the worker and the servers read it; nothing here knows about argparse
beyond the flag names and help texts kept beside each field, which the CLI
turns into its options.

Field names are the long flag names with ``-`` replaced by ``_``:
``--max-requests`` is ``max_requests``, ``REACTOR_MAX_REQUESTS`` and
``max_requests = 100`` (or ``max-requests``) in a TOML file.
"""
import dataclasses
import os
import runpy
from dataclasses import dataclass, field
from typing import List, Optional

# the HttpServer limits a Config carries: the same names are its fields
from reactor.http_server import LIMIT_NAMES as HTTP_LIMITS
from reactor.wsgi import DEFAULT_HANDLER_THREADS

ENV_PREFIX = "REACTOR_"


def _opt(*flags, kind, help, metavar=None, choices=None, cli=True):
    return {"flags": flags, "kind": kind, "help": help, "metavar": metavar,
            "choices": choices, "cli": cli}


def _cpus():
    return os.cpu_count() or 1


@dataclass
class Config:
    """Settings; see ``python -m reactor --help`` for each one."""

    app: object = field(default=None, metadata=_opt(
        kind="app", cli=False,
        help="WSGI application: 'module:attr', 'module:factory()', a callable, or None "
             "for the demo"))
    # ---- where to listen
    bind: List[str] = field(default_factory=list, metadata=_opt(
        "-b", "--bind", kind="list", metavar="ADDR",
        help="listen on ADDR, repeatable: HOST:PORT, [V6]:PORT, unix:PATH or fd://N "
             "(default: --host:--port); systemd socket activation (LISTEN_FDS) replaces it"))
    host: str = field(default="127.0.0.1", metadata=_opt(
        "--host", kind="str", help="address to bind when no --bind is given (default 127.0.0.1)"))
    port: int = field(default=8080, metadata=_opt(
        "--port", kind="int",
        help="port to bind when no --bind is given (default 8080; 0 = any)"))
    umask: Optional[int] = field(default=None, metadata=_opt(
        "--umask", kind="umask", metavar="MODE",
        help="umask for unix socket files, octal (e.g. 007; default: the process's)"))
    reuse_port: bool = field(default=False, metadata=_opt(
        "--reuse-port", kind="bool",
        help="give each worker its own SO_REUSEPORT socket on TCP addresses instead of "
             "sharing the master's"))
    backlog: int = field(default=1024, metadata=_opt(
        "--backlog", kind="int", metavar="N", help="listen backlog (default 1024)"))
    # ---- processes and threads
    workers: int = field(default=1, metadata=_opt(
        "-w", "--workers", kind="int", metavar="N",
        help="worker processes, each a full multi-reactor server (default 1); "
             "SIGTTIN/SIGTTOU add/remove one"))
    threads: Optional[int] = field(default=None, metadata=_opt(
        "--threads", kind="optint", metavar="N",
        help="sub-reactor threads per worker (default: the CPU count divided among the "
             "workers, at least 1; 0 = single reactor). ASGI: N gives the connections N "
             "I/O threads, which answer --static files and static routes while an app "
             "holds the GIL; 0 runs acceptor, connections and asyncio on one thread "
             "(default: 1 with --static, else 0)"))
    dispatcher: Optional[str] = field(default=None, metadata=_opt(
        "--dispatcher", kind="optstr", choices=["epoll", "poll"],
        help="event backend (default epoll; env REACTOR_DISPATCHER overrides)"))
    handler_threads: int = field(default=DEFAULT_HANDLER_THREADS, metadata=_opt(
        "--handler-threads", kind="int", metavar="M",
        help="run WSGI app calls on M handler threads per worker, so an app that blocks "
             "(a database call) does not hold up other connections (default %d); 0 runs "
             "the app on the sub-reactors: the fastest mode, for apps that never block"
             % DEFAULT_HANDLER_THREADS))
    # ---- supervision
    timeout: float = field(default=30.0, metadata=_opt(
        "-t", "--timeout", kind="float", metavar="S",
        help="replace a worker whose event loops stop heart-beating for S seconds (a "
             "handler stuck holding the GIL, a deadlock); its stacks are dumped first "
             "(default 30; 0 = never). With --handler-threads 0 handlers run on the "
             "loops, so one request running longer than S counts as a hang; on handler "
             "threads (the default) it does not"))
    graceful_timeout: float = field(default=10.0, metadata=_opt(
        "--graceful-timeout", kind="float", metavar="S",
        help="on SIGTERM/SIGINT, reload or retirement, wait up to S seconds for in-flight "
             "requests (default 10)"))
    max_requests: int = field(default=0, metadata=_opt(
        "--max-requests", kind="int", metavar="N",
        help="replace a worker after it served N requests, without dropping any "
             "(default 0 = never)"))
    max_requests_jitter: int = field(default=0, metadata=_opt(
        "--max-requests-jitter", kind="int", metavar="J",
        help="add a random 0..J to --max-requests per worker, so they do not all "
             "restart at once (default 0)"))
    pid: Optional[str] = field(default=None, metadata=_opt(
        "--pid", kind="optstr", metavar="FILE",
        help="write the master's pid to FILE (removed on exit)"))
    reload: bool = field(default=False, metadata=_opt(
        "--reload", kind="bool",
        help="development: restart the workers when a .py file under the app's directory "
             "(or --reload-dir) changes"))
    reload_dir: List[str] = field(default_factory=list, metadata=_opt(
        "--reload-dir", kind="list", metavar="DIR",
        help="watch DIR for --reload (repeatable; default: --app-dir or the current "
             "directory)"))
    # ---- HTTP limits and timeouts
    keep_alive_timeout: float = field(default=5.0, metadata=_opt(
        "--keep-alive-timeout", kind="float", metavar="S",
        help="close idle keep-alive connections after S seconds (default 5)"))
    header_timeout: float = field(default=10.0, metadata=_opt(
        "--header-timeout", kind="float", metavar="S",
        help="close clients that have not sent a full head after S seconds (default 10)"))
    body_timeout: float = field(default=30.0, metadata=_opt(
        "--body-timeout", kind="float", metavar="S",
        help="close clients that stall sending a body for S seconds (default 30)"))
    min_body_rate: float = field(default=500.0, metadata=_opt(
        "--min-body-rate", kind="float", metavar="BYTES_PER_S",
        help="a request body gets --body-timeout plus 1 s per this many bytes received, "
             "in all; slower uploads are cut with 408 (default 500; 0 = off)"))
    max_request_line: int = field(default=8192, metadata=_opt(
        "--max-request-line", kind="int", metavar="BYTES",
        help="longest request line, else 414 (default 8192)"))
    max_header_size: int = field(default=65536, metadata=_opt(
        "--max-header-size", kind="int", metavar="BYTES",
        help="largest request head, else 431 (default 65536)"))
    max_headers: int = field(default=100, metadata=_opt(
        "--max-headers", kind="int", metavar="N", help="most header fields, else 431 "
                                                       "(default 100)"))
    max_body_size: int = field(default=1 << 30, metadata=_opt(
        "--max-body-size", kind="int", metavar="BYTES",
        help="largest request body, else 413 (default 1 GiB); bodies over 1 MiB are "
             "spooled to a temporary file, so an upload costs little memory"))
    spool_threshold: int = field(default=1 << 20, metadata=_opt(
        "--spool-threshold", kind="int", metavar="BYTES",
        help="request bodies over this size are written to a temporary file ($TMPDIR) "
             "as they arrive instead of being kept in memory (default 1 MiB; 0 = never)"))
    spool_dir: Optional[str] = field(default=None, metadata=_opt(
        "--spool-dir", kind="optstr", metavar="DIR",
        help="where spooled request bodies go (default $TMPDIR or /tmp; if that is a "
             "tmpfs, spooled bodies take RAM: give a directory on disk)"))
    max_connections: Optional[int] = field(default=None, metadata=_opt(
        "--max-connections", kind="optint", metavar="N",
        help="most open connections per worker; extra ones are closed at once "
             "(default unlimited)"))
    # ---- static files
    static: List[str] = field(default_factory=list, metadata=_opt(
        "--static", kind="list", metavar="PREFIX=DIR",
        help="serve the files under DIR at URL PREFIX from C, without the GIL (repeatable; "
             "the longest prefix wins, the app gets every other path; without an app "
             "only files are served): GET/HEAD, ranges, ETag/Last-Modified, sendfile, "
             "index.html, FILE.br/FILE.gz for clients that accept them; e.g. --static /=. "
             "or --static /assets=./public"))
    list_dirs: bool = field(default=False, metadata=_opt(
        "--list-dirs", kind="bool",
        help="--static: list a directory that has no index.html (default: 403)"))
    follow_symlinks: bool = field(default=False, metadata=_opt(
        "--follow-symlinks", kind="bool",
        help="--static: follow symlinks that lead out of DIR (default: 404)"))
    show_dotfiles: bool = field(default=False, metadata=_opt(
        "--show-dotfiles", kind="bool",
        help="--static: serve files and directories whose name starts with '.' (default: "
             "404, so .git or .env never leak; e.g. for /.well-known/)"))
    static_cache_control: Optional[str] = field(default=None, metadata=_opt(
        "--static-cache-control", kind="optstr", metavar="VALUE",
        help="--static: send 'Cache-Control: VALUE' with files (default: none), e.g. "
             "'public, max-age=3600'"))
    # ---- TLS
    certfile: Optional[str] = field(default=None, metadata=_opt(
        "--certfile", kind="optstr", metavar="FILE",
        help="serve HTTPS: the PEM certificate chain, leaf first (handshakes and records "
             "run in C on the sub-reactors); reloaded from the same path on SIGHUP"))
    keyfile: Optional[str] = field(default=None, metadata=_opt(
        "--keyfile", kind="optstr", metavar="FILE",
        help="the PEM private key of --certfile (default: in --certfile)"))
    keyfile_password: Optional[str] = field(default=None, metadata=_opt(
        "--keyfile-password", kind="optstr", metavar="PASSWORD",
        help="password of an encrypted --keyfile (env REACTOR_KEYFILE_PASSWORD keeps it "
             "out of the process list)"))
    ca_certs: Optional[str] = field(default=None, metadata=_opt(
        "--ca-certs", kind="optstr", metavar="FILE",
        help="PEM CA certificates that sign client certificates (with --cert-reqs)"))
    cert_reqs: str = field(default="none", metadata=_opt(
        "--cert-reqs", kind="str", choices=["none", "optional", "required"],
        help="ask clients for a certificate signed by --ca-certs: none (default), "
             "optional (an invalid one is refused) or required"))
    ciphers: Optional[str] = field(default=None, metadata=_opt(
        "--ciphers", kind="optstr", metavar="LIST",
        help="OpenSSL cipher list for TLS 1.2 (default: OpenSSL's; TLS 1.2 is the "
             "minimum, TLS 1.3 keeps its own suites)"))
    tls_handshake_timeout: float = field(default=10.0, metadata=_opt(
        "--tls-handshake-timeout", kind="float", metavar="S",
        help="close a client that has not completed its TLS handshake in S seconds "
             "(default 10)"))
    tls_max_handshakes: int = field(default=1024, metadata=_opt(
        "--tls-max-handshakes", kind="int", metavar="N",
        help="TLS handshakes in flight per worker beyond which new connections are "
             "closed at once (default 1024)"))
    tls_ticket_key: Optional[bytes] = field(default=None, metadata=_opt(
        kind="bytes", cli=False,
        help="session-ticket key shared by the workers (80 bytes; default: made by the "
             "master at start, so a session resumes on any worker)"))
    # ---- logging
    access_log: Optional[str] = field(default=None, metadata=_opt(
        "--access-log", kind="access_log", metavar="FILE",
        help="log every request, one line each, to FILE ('-', or no FILE: stdout); lines "
             "go to the reactor.access logger at INFO, whatever --log-level says"))
    access_log_format: Optional[str] = field(default=None, metadata=_opt(
        "--access-log-format", kind="optstr", metavar="FORMAT",
        help="access line format with gunicorn's atoms: h l u t r m U q H s B b f a T M D "
             "L p {header}i {header}o {var}e (default: gunicorn's)"))
    access_log_buffer: int = field(default=1024, metadata=_opt(
        "--access-log-buffer", kind="int", metavar="RECORDS",
        help="access records each sub-reactor queues for static routes (answered without "
             "the GIL) before it drops and counts them (default 1024)"))
    log_config: Optional[str] = field(default=None, metadata=_opt(
        "--log-config", kind="optstr", metavar="FILE",
        help="configure logging with logging.config.dictConfig from a .json file (or "
             ".toml on Python 3.11+); disable_existing_loggers defaults to false"))
    log_level: str = field(default="info", metadata=_opt(
        "--log-level", kind="str", choices=["debug", "info", "warning", "error", "critical"],
        help="level of reactor's own loggers (default info); not of the access log"))
    # ---- the application
    app_dir: Optional[str] = field(default=None, metadata=_opt(
        "--app-dir", kind="optstr", metavar="DIR",
        help="directory to import APP from (default: the current directory)"))
    root_path: str = field(default="", metadata=_opt(
        "--root-path", kind="str", metavar="PATH",
        help="the prefix the app is mounted under (starts with '/'): WSGI's SCRIPT_NAME, "
             "ASGI's root_path (prefixed to path, as uvicorn does)"))
    interface: str = field(default="auto", metadata=_opt(
        "--interface", kind="str", choices=["auto", "wsgi", "asgi3", "asgi2"],
        help="how to call APP (default auto: a coroutine function, or an object whose "
             "__call__ is one, is ASGI 3; a class with an async __call__ is ASGI 2; "
             "anything else is WSGI)"))
    lifespan: str = field(default="auto", metadata=_opt(
        "--lifespan", kind="str", choices=["auto", "on", "off"],
        help="ASGI lifespan events (default auto: used if the app supports them; on: an "
             "app that fails them stops the start; off: never sent)"))
    backpressure: int = field(default=1024, metadata=_opt(
        "--backpressure", kind="int", metavar="N",
        help="ASGI: at most N app tasks in flight per worker; requests over it wait their "
             "turn and their connections stop being read (default 1024; 0 = no limit)"))
    handler_warn_time: float = field(default=10.0, metadata=_opt(
        "--handler-warn-time", kind="float", metavar="S",
        help="log a handler that has been running longer than S seconds (default 10)"))
    forwarded_allow_ips: str = field(default="127.0.0.1", metadata=_opt(
        "--forwarded-allow-ips", kind="str", metavar="IPS",
        help="comma-separated proxy IPs trusted for X-Forwarded-For/Proto ('*' = any; "
             "default 127.0.0.1); peers on a unix socket are always trusted"))
    config: Optional[str] = field(default=None, metadata=_opt(
        "-c", "--config", kind="optstr", metavar="FILE",
        help="read settings from FILE: .toml (top-level keys) or .py (module-level "
             "names), named like the long flags (max_requests = 100)"))

    # ---- filling it ---------------------------------------------------------------

    @classmethod
    def names(cls):
        return [f.name for f in dataclasses.fields(cls)]

    def update(self, values, source):
        """Set fields from a mapping (a file's, keywords or flags); ``source``
        names where they came from in errors (``None``: command-line flags,
        named as flags).  Values are converted and checked."""
        fields = {f.name: f for f in dataclasses.fields(self)}
        for key, value in values.items():
            name = key.replace("-", "_")
            f = fields.get(name)
            if f is None or (name == "config" and source is not None
                             and source != "keywords"):
                raise ValueError("%s: unknown setting %r" % (source or "flags", key))
            where = "--" + name.replace("_", "-") if source is None else \
                "%s: %s" % (source, key)
            setattr(self, name, _convert(f, value, where))
        return self

    def update_from_env(self, environ=None):
        """Set fields from ``REACTOR_<NAME>`` variables (unknown ones are
        ignored: REACTOR_DEBUG is a build switch, for instance)."""
        env = os.environ if environ is None else environ
        for f in dataclasses.fields(self):
            if f.name in ("app", "config"):
                continue
            raw = env.get(ENV_PREFIX + f.name.upper())
            if f.name == "port" and raw is not None and "://" in raw:
                # a Kubernetes Service named "reactor" sets REACTOR_PORT=tcp://IP:PORT
                # in every pod: an address of that service, not our setting
                continue
            if raw is not None:
                setattr(self, f.name, _convert(f, raw, ENV_PREFIX + f.name.upper(),
                                               from_text=True))
        return self

    def update_from_file(self, path):
        """Set fields from a ``.toml`` or ``.py`` config file."""
        ext = os.path.splitext(path)[1].lower()
        if ext == ".toml":
            try:
                import tomllib
            except ImportError:
                raise ValueError("--config %s: TOML needs Python 3.11 or later; use a .py "
                                 "file" % path) from None
            try:
                with open(path, "rb") as f:
                    values = tomllib.load(f)
            except OSError as exc:
                raise ValueError("--config %s: %s" % (path, exc.strerror or exc)) from None
            except tomllib.TOMLDecodeError as exc:
                raise ValueError("--config %s is not valid TOML: %s" % (path, exc)) from None
        elif ext == ".py":
            if not os.path.isfile(path):
                raise ValueError("--config %s: no such file" % path)
            try:
                ns = runpy.run_path(path)
            except Exception as exc:
                raise ValueError("--config %s failed: %s: %s"
                                 % (path, type(exc).__name__, exc)) from None
            values = {k: v for k, v in ns.items()
                      if not k.startswith("_") and not callable(v)
                      and not isinstance(v, type(os))}
        else:
            raise ValueError("--config %s: the file must be .toml or .py" % path)
        return self.update(values, "--config %s" % path)

    # ---- checking it -----------------------------------------------------------------

    def validate(self):
        """ValueError naming the option for anything unusable; returns self."""
        def need(cond, msg):
            if not cond:
                raise ValueError(msg)
        need(self.workers >= 1, "--workers must be >= 1, got %d" % self.workers)
        need(self.threads is None or self.threads >= 0, "--threads must be >= 0")
        need(self.handler_threads >= 0, "--handler-threads must be >= 0")
        need(self.backpressure >= 0, "--backpressure must be >= 0")
        need(0 <= self.port <= 65535, "--port must be in 0..65535, got %d" % self.port)
        need(self.backlog > 0, "--backlog must be > 0")
        need(self.timeout >= 0, "--timeout must be >= 0 seconds")
        need(self.graceful_timeout >= 0, "--graceful-timeout must be >= 0 seconds")
        need(self.max_requests >= 0, "--max-requests must be >= 0")
        need(self.max_requests_jitter >= 0, "--max-requests-jitter must be >= 0")
        need(self.umask is None or 0 <= self.umask <= 0o777,
             "--umask must be an octal mode in 000..777")
        need(self.access_log_buffer > 0, "--access-log-buffer must be > 0")
        need(self.dispatcher in (None, "epoll", "poll"),
             "--dispatcher must be epoll or poll, got %r" % (self.dispatcher,))
        need(not self.root_path or self.root_path.startswith("/"),
             "--root-path must start with '/' (e.g. /app), got %r" % self.root_path)
        if self.access_log_format is not None:
            need(self.access_log is not None or self.log_config is not None,
                 "--access-log-format needs --access-log (or a --log-config)")
            from reactor.access_log import parse_format
            try:
                parse_format(self.access_log_format)
            except ValueError as exc:
                raise ValueError("--access-log-format: %s" % exc) from None
        need(self.max_connections is None or self.max_connections > 0,
             "--max-connections must be a positive number, got %r" % (self.max_connections,))
        for name in ("timeout", "graceful_timeout", "handler_warn_time"):
            value = getattr(self, name)
            need(value == value, "--%s must be a number of seconds, got nan"
                 % name.replace("_", "-"))
        for spec in self.static:
            prefix, sep, directory = spec.partition("=")
            need(sep and prefix.startswith("/") and directory,
                 "--static takes URL_PREFIX=DIR (e.g. /assets=./public), got %r" % (spec,))
            need(os.path.isdir(directory), "--static %s: %r is not a directory"
                 % (spec, directory))
        if self.static_cache_control is not None:
            from reactor._http_response import validate_header
            try:
                validate_header("Cache-Control", self.static_cache_control)
            except ValueError as exc:
                raise ValueError("--static-cache-control: %s" % exc) from None
        need(self.certfile is not None or (self.keyfile is None and self.ca_certs is None
                                            and self.cert_reqs == "none"),
             "--keyfile, --ca-certs and --cert-reqs need --certfile (TLS is off without it)")
        if self.certfile is not None:
            # the files are read and checked here, before anything listens
            try:
                self.tls_context()
            except (ValueError, RuntimeError, TypeError) as exc:
                raise ValueError("TLS: %s" % exc) from None
        # the HTTP limits are checked by the class that enforces them
        from reactor._http_config import HttpConfig
        HttpConfig(None, **{k: getattr(self, k) for k in HTTP_LIMITS})
        from reactor.listeners import parse_bind
        for spec in self.bind:
            parse_bind(spec)
        return self

    def sub_reactors(self):
        """Sub-reactor threads per worker: ``threads``, or by default the
        CPUs shared among the first ``workers`` (at least one each)."""
        if self.threads is not None:
            return self.threads
        return max(1, _cpus() // max(1, self.workers))

    def binds(self):
        """The addresses to listen on: ``bind``, else ``host:port``."""
        if self.bind:
            return list(self.bind)
        from reactor.listeners import format_tcp
        return [format_tcp(self.host, self.port)]

    def http_options(self):
        """Keywords for ``HttpServer`` (without the handler and the sockets)."""
        return dict({k: getattr(self, k) for k in HTTP_LIMITS},
                    threads=self.sub_reactors(), dispatcher=self.dispatcher,
                    max_connections=self.max_connections, spool_dir=self.spool_dir,
                    graceful_timeout=self.graceful_timeout, backlog=self.backlog,
                    access_log_format=self.access_log_format,
                    access_ring_size=self.access_log_buffer, **self.tls_options())

    def tls_options(self):
        """Keywords for ``HttpServer``'s TLS (empty without --certfile)."""
        if self.certfile is None:
            return {}
        return dict(certfile=self.certfile, keyfile=self.keyfile,
                    keyfile_password=self.keyfile_password, ca_certs=self.ca_certs,
                    cert_reqs=self.cert_reqs, ciphers=self.ciphers,
                    tls_handshake_timeout=self.tls_handshake_timeout,
                    tls_max_handshakes=self.tls_max_handshakes,
                    tls_ticket_key=self.tls_ticket_key)

    def tls_context(self):
        """A TlsContext from the TLS options (reads the files; ValueError)."""
        from reactor.http_server import tls_context
        return tls_context(**self.tls_options())

    def mounts(self):
        """``[(prefix, directory)]`` of the --static options."""
        return [tuple(spec.partition("=")[::2]) for spec in self.static]

    def files_options(self):
        """Keywords for ``HttpServer.route_files`` from the --static options."""
        return dict(list_dirs=self.list_dirs, follow_symlinks=self.follow_symlinks,
                    show_dotfiles=self.show_dotfiles, cache_control=self.static_cache_control)

    def asgi_options(self):
        """Keywords ``ASGIServer`` takes on top of ``http_options()`` (whose
        ``threads`` the worker replaces with ``threads``: None unless
        ``--threads`` was given, and ASGIServer decides)."""
        return dict(interface=self.interface if self.interface != "wsgi" else "auto",
                    lifespan=self.lifespan, root_path=self.root_path,
                    forwarded_allow_ips=self.forwarded_allow_ips,
                    backpressure=self.backpressure)

    def wsgi_options(self):
        """Keywords ``WSGIServer`` takes on top of ``http_options()``."""
        return dict(handler_threads=self.handler_threads, root_path=self.root_path,
                    multiprocess=self.workers > 1,
                    forwarded_allow_ips=self.forwarded_allow_ips,
                    handler_warn_time=self.handler_warn_time)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _convert(f, value, where, from_text=False):
    kind = f.metadata.get("kind")
    choices = f.metadata.get("choices")
    try:
        if kind == "app":
            return value
        if kind == "list":
            if isinstance(value, str):
                return [v for v in value.replace(",", " ").split()] if from_text else [value]
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return list(value)
            raise ValueError("expected a list of strings")
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise ValueError("expected true or false")
        if value is None and kind in ("optint", "optstr", "umask", "access_log"):
            return None
        if kind in ("int", "optint"):
            if isinstance(value, bool) or isinstance(value, float):
                raise ValueError("expected an integer")
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError("expected a number")
            return float(value)
        if kind == "umask":
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if isinstance(value, str):
                v = value.strip()
                try:
                    return int(v, 8) if v.isdigit() else int(v, 0)
                except ValueError:
                    pass
            raise ValueError("expected an octal mode such as 007 or 0o022")
        if kind == "bytes":
            if value is None or isinstance(value, bytes):
                return value
            if isinstance(value, str):      # from the environment or a file: hex
                return bytes.fromhex(value)
            raise ValueError("expected bytes (or hex text)")
        if kind in ("str", "optstr", "access_log"):
            if not isinstance(value, str):
                raise ValueError("expected a string")
            if choices and value not in choices:
                raise ValueError("expected one of %s" % ", ".join(choices))
            return value
    except ValueError as exc:
        raise ValueError("%s: %s, got %r" % (where, exc, value)) from None
    raise AssertionError("unknown kind %r" % kind)


def make_config(options=None, *, environ=None, config_file=None, use_env=True,
                source="keywords"):
    """Defaults, then ``config_file``, then the environment, then ``options``
    (``source`` names them in errors; None: command-line flags)."""
    cfg = Config()
    path = config_file or (options or {}).get("config")
    if path:
        cfg.update_from_file(path)
        cfg.config = path
    if use_env:
        cfg.update_from_env(environ)
    if options:
        cfg.update({k: v for k, v in options.items() if k != "config"}, source)
    return cfg.validate()

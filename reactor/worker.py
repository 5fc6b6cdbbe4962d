"""A worker process: one full multi-reactor server on the master's sockets.

The supervisor forks a worker and calls ``run_worker`` in it, which never
returns: the process ends with ``os._exit``.  The worker

* resets the master's signal handling: SIGTERM/SIGINT drain (the server's
  graceful stop), SIGQUIT exits at once, SIGUSR1 reopens the log files,
  SIGHUP/SIGTTIN/SIGTTOU are ignored (they are the master's), SIGUSR2 dumps
  every thread's stack
  (faulthandler; the master sends it to a hung worker before killing it);
* asks the kernel to SIGTERM it when the master dies (no orphans), and
  also checks its parent from a timer;
* imports the app itself (so a reload serves changed code).  An app that
  fails to import prints its own traceback, without reactor's frames, and
  exits with ``BOOT_ERROR``;
* reports on a pipe to the master: ``S`` once it serves, ``R`` once it has
  served its ``--max-requests`` (the master then starts a successor and
  stops this one when the successor is ready), ``D`` when it begins to
  drain (the master may not have asked: a successor starts at once);
* writes a heartbeat from every event loop into shared memory; a loop that
  stops (a handler stuck holding the GIL, a deadlock) stops its beat.
"""
import ctypes
import faulthandler
import importlib
import logging
import os
import signal
import struct
import sys
import time
import traceback

BOOT_ERROR = 3          # exit status: the app could not be imported
LOOP_SLOTS = 64         # heartbeat slots per worker (loops beyond share the last)

log = logging.getLogger("reactor.supervisor")

_PR_SET_PDEATHSIG = 1
_HIDDEN_DIRS = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep
                    for m in (sys.modules[__name__.rpartition(".")[0]], importlib))


class Heartbeat:
    """Slot ``index`` of a shared array of monotonic times, one per loop."""

    def __init__(self, mem, index):
        self.mem = mem
        self.base = index * LOOP_SLOTS * 8

    def clear(self):
        self.mem[self.base:self.base + LOOP_SLOTS * 8] = bytes(LOOP_SLOTS * 8)

    def offset(self, loop_index):
        """Where in ``mem`` the slot of loop ``loop_index`` is."""
        return self.base + 8 * min(loop_index, LOOP_SLOTS - 1)

    def beat(self, loop_index):
        struct.pack_into("d", self.mem, self.offset(loop_index), time.monotonic())

    def oldest(self):
        """The oldest beat of any loop, or None before the first."""
        beats = [t for t in struct.unpack_from("%dd" % LOOP_SLOTS, self.mem, self.base) if t]
        return min(beats) if beats else None


def app_traceback(exc):
    """The traceback of an app's import error, without the frames of reactor
    and importlib (the user's code is what failed)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_HIDDEN_DIRS)
              and not f.filename.startswith("<frozen importlib")]
    out = []
    if frames:
        out.append("Traceback (most recent call last):\n")
        out.extend(traceback.format_list(frames))
    out.extend(traceback.format_exception_only(type(exc), exc))
    return "".join(out)


def app_kind(app, interface):
    """``"wsgi"`` or ``"asgi"`` for a loaded app and ``--interface``."""
    if interface == "auto":
        from reactor.asgi import detect_interface
        interface = detect_interface(app)
    return "wsgi" if interface == "wsgi" else "asgi"


def load_application(config):
    """The handler-or-app to serve: ``("wsgi", app)``, ``("asgi", app)``,
    ``("demo", None)`` or ``("files", None)``.  SystemExit(BOOT_ERROR) after
    printing the app's error."""
    app = config.app
    if app is None:
        return ("files" if config.static else "demo"), None
    if callable(app):
        return app_kind(app, config.interface), app
    from reactor.wsgi import load_app
    try:
        app = load_app(app, config.app_dir)
    except BaseException as exc:     # the app's import may raise anything, even SystemExit
        if isinstance(exc, KeyboardInterrupt):
            raise
        sys.stderr.write("reactor: cannot load %s:\n%s" % (app, app_traceback(exc)))
        sys.stderr.flush()
        raise SystemExit(BOOT_ERROR) from None
    return app_kind(app, config.interface), app


def _die_with_parent():
    try:
        libc = ctypes.CDLL(None, use_errno=True)    # the process's own symbols: libc's
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass        # not Linux: the parent check in the timer still applies


def reopen_log_files():
    """Reopen every logging.FileHandler's file (after logrotate moved it)."""
    for ref in list(logging._handlerList):
        h = ref()
        if not isinstance(h, logging.FileHandler):
            continue
        h.acquire()
        try:
            if h.stream is not None:
                h.stream.close()
            h.stream = h._open()
        except OSError as exc:
            log.error("cannot reopen the log file %s: %s", h.baseFilename, exc)
        finally:
            h.release()


def _reset_signals():
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGHUP, signal.SIGTTIN, signal.SIGTTOU):
        signal.signal(sig, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, lambda *_: reopen_log_files())
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, lambda *_: os._exit(0))
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    faulthandler.register(signal.SIGUSR2, file=sys.stderr, all_threads=True)


def access_log_wanted(config):
    """--access-log, or a --log-config that gives ``reactor.access`` a
    handler at INFO."""
    access = logging.getLogger("reactor.access")
    return config.access_log is not None or (
        config.log_config is not None and access.isEnabledFor(logging.INFO)
        and access.hasHandlers())


def build_server(config, kind, app, sockets):
    """The server a worker runs: the demo on HttpServer, a WSGIServer or an
    ASGIServer."""
    options = dict(config.http_options(), sockets=sockets,
                   access_log=access_log_wanted(config))
    if kind in ("demo", "files"):
        from reactor.http_server import HttpServer
        if kind == "files":
            server = http = HttpServer(None, **options)     # only files: the rest is 404
        else:
            from reactor.demo import make_demo
            ref = []
            server = http = HttpServer(make_demo(ref), **options)
            ref.append(server)
    elif kind == "asgi":
        from reactor.asgi import ASGIServer
        # one thread (the acceptor, connections and asyncio), or with --threads N the
        # acceptor and the connections get threads of their own; by default 1 if
        # --static mounts files (ASGIServer decides), else 0
        options["threads"] = config.threads
        server = ASGIServer(app, **config.asgi_options(), **options)
        http = server.http
    else:
        from reactor.wsgi import WSGIServer
        server = WSGIServer(app, **config.wsgi_options(), **options)
        http = server.http
    for prefix, directory in config.mounts():
        http.route_files(prefix, directory, **config.files_options())
    return server, http


class _Beats:
    """Timers on every loop of a running server: heartbeat, the parent check
    and the --max-requests count."""

    def __init__(self, http, heartbeat, interval, master_pid, max_requests, status_fd,
                 extra_loops=()):
        self.http = http
        self.heartbeat = heartbeat
        self.master_pid = master_pid
        self.max_requests = max_requests
        self.status_fd = status_fd
        self.retiring = False
        base = http.tcp.loop
        # an ASGI worker with I/O threads: its asyncio thread's loop beats too (second,
        # so that it has a slot of its own however many I/O threads there are)
        loops = [base] + [lp for lp in extra_loops if lp is not base]
        loops += [lp for lp in http.tcp.thread_pool.loops if lp not in loops]
        for i, loop in enumerate(loops):
            heartbeat.beat(i)
            # stamped by the loop itself, without the GIL: an app holding the GIL
            # stops the beats of the loops that need it (the asyncio thread's),
            # not those of I/O threads that answer from C
            loop.run_in_loop(lambda lp=loop, i=i: lp.set_heartbeat(
                heartbeat.mem, heartbeat.offset(i), interval))
        # (called on the asyncio thread of an ASGI worker with I/O threads, whose
        # acceptor loop has a thread of its own: its timers are set there)
        base.run_in_loop(lambda: self._start_base_timers(base, interval))

    def _start_base_timers(self, base, interval):
        # a Python timer, so it needs the GIL: a handler that never lets the GIL
        # go (on a handler thread too) stops the base loop's beats, a hang
        base.run_every(interval, self._check_parent)
        if self.max_requests:
            base.run_every(0.05, self._check_requests)

    def _check_parent(self):
        if os.getppid() != self.master_pid:
            log.warning("worker %d: the master is gone; stopping", os.getpid())
            os.kill(os.getpid(), signal.SIGTERM)

    def _check_requests(self):
        if self.retiring:
            return
        served = sum(s.requests for s in list(self.http.loop_states.values()))
        if served >= self.max_requests:
            self.retiring = True
            log.info("worker %d served %d requests (--max-requests): retiring",
                     os.getpid(), served)
            tell(self.status_fd, b"R")


def _tell_on_drain(status_fd):
    """Wrap the server's SIGTERM/SIGINT handlers: the master hears ``D`` when
    this worker begins to drain, also when someone else sent the signal, and
    starts a successor at once."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        drain = signal.getsignal(sig)
        if not callable(drain):
            continue

        def handler(signum, frame, drain=drain):
            tell(status_fd, b"D")
            drain(signum, frame)
        signal.signal(sig, handler)


def tell(fd, msg):
    try:
        os.write(fd, msg)
    except OSError:
        pass        # the master is gone; the parent check stops us


def run_worker(config, listeners, status_fd, heartbeat, master_pid, max_requests,
               close_fds=(), siblings=False, sigmask=None):
    """The body of a forked worker.  Never returns.  ``siblings``: other
    workers accept on the same sockets; ``sigmask``: the signal mask to
    restore once the worker's own handlers are in place."""
    code = 1
    try:
        _reset_signals()
        if sigmask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, sigmask)
        _die_with_parent()
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        if os.getppid() != master_pid:
            os._exit(0)
        kind, app = load_application(config)
        sockets = [lst.worker_socket(config.backlog) for lst in listeners]
        for lst in listeners:
            if lst.per_worker:
                lst.sock.close()    # the master's bound address; this worker has its own
        server, http = build_server(config, kind, app, sockets)
        interval = min(1.0, config.timeout / 4.0) if config.timeout else 1.0

        def ready():
            if siblings:
                # several workers share each socket: take one connection per
                # wakeup, so an idle worker gets its share of a burst (set on the
                # acceptors' loop, which is not this thread's with ASGI I/O threads)
                def one_per_wakeup():
                    for acceptor in http.tcp.acceptors:
                        acceptor.accept_batch = 1
                http.tcp.loop.run_in_loop(one_per_wakeup)
            extra = [server.loop.reactor_loop] if kind == "asgi" else []
            _Beats(http, heartbeat, interval, master_pid, max_requests, status_fd, extra)
            _tell_on_drain(status_fd)
            tell(status_fd, b"S")

        server.serve_forever(on_ready=ready)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except RuntimeError as exc:
        from reactor.asgi import LifespanError
        if not isinstance(exc, LifespanError):
            log.exception("worker %d failed", os.getpid())
        else:
            log.error("worker %d: %s", os.getpid(), exc)     # its traceback is logged
        code = 1
    except BaseException:
        log.exception("worker %d failed", os.getpid())
        code = 1
    finally:
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)

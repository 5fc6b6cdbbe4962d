"""HttpServer: HTTP/1.1 on the multi-reactor TcpServer.

``HttpServer`` *contains* a TcpServer (it does not subclass it) and gives it
a connection factory that builds ``HttpConnection`` objects sharing one
``HttpConfig`` (handler, limits, timeouts, static routes) and one
``LoopState`` per loop (live connections, counters, the timeout sweeper).

    server = HttpServer(handler, port=0, threads=2)
    server.route_static("/ping", b"pong")
    server.route_files("/static", "./public")   # a directory, from C too
    server.start()          # background threads; server.port is the real port
    ...
    server.stop()           # graceful: in-flight requests finish

A handler is ``handler(request) -> HttpResponse | bytes | str`` and runs
in the connection's sub-reactor thread with the GIL held (Python handlers
run one at a time per process); a handler that raises or returns None gets
a 500 and an error on the ``reactor.http`` logger.  Static routes are
answered in C.

With ``access_log=True`` every request is logged on ``reactor.access``
(INFO; format: ``reactor.access_log``).  The server adds no handler and
sets no level on any logger: that is the application's (or the CLI's) job.
"""
import logging
import os
import resource
import signal
import threading

from reactor._http import AccessFlusher, HttpConnection, LoopState
from reactor._http_config import HttpConfig
from reactor._http_request import HttpRequest, Headers
from reactor._tls import TlsContext
from reactor.http_response import HttpResponse
from reactor.signal_wakeup import SignalWakeup
from reactor.tcp_server import TcpServer

log = logging.getLogger("reactor.http")

# how often the access-log thread renders the records of static routes (at
# most: an idle server costs nothing, a half-full ring wakes it at once)
ACCESS_FLUSH_INTERVAL = 0.1

# a graceful stop lets a connection accepted just before it this long to
# send its first request (its client connected to be served)
FRESH_GRACE = 1.0

LIMIT_NAMES = ("max_request_line", "max_header_size", "max_headers", "max_body_size",
                "keep_alive_timeout", "header_timeout", "body_timeout", "min_body_rate",
                "spool_threshold")


def tls_context(certfile, keyfile=None, keyfile_password=None, ca_certs=None, cert_reqs="none",
                ciphers=None, tls_handshake_timeout=10.0, tls_max_handshakes=1024,
                tls_ticket_key=None):
    """The TlsContext of HttpServer's TLS keywords (reads the files; ValueError)."""
    return TlsContext(certfile, keyfile, keyfile_password, ca_certs, cert_reqs, ciphers,
                      tls_ticket_key, tls_max_handshakes, tls_handshake_timeout)


class HttpServer:
    """An HTTP/1.1 server: ``HttpServer(handler, host, port, threads, dispatcher, **limits)``.

    Limits: ``max_request_line`` (8 KiB), ``max_header_size`` (64 KiB),
    ``max_headers`` (100), ``max_body_size`` (16 MiB: a handler reads ``body`` as
    one bytes object; WSGIServer's is 1 GiB), ``keep_alive_timeout``
    (5 s), ``header_timeout`` (10 s), ``body_timeout`` (30 s between body
    reads), ``min_body_rate`` (500 bytes/s: a body gets ``body_timeout`` plus
    one second per 500 bytes received in all; 0 = no minimum),
    ``max_connections`` (None = unlimited).  Thread safe: ``start``, ``stop``.

    Request bodies over ``spool_threshold`` bytes (1 MiB; 0 = never) are
    written to an unlinked temporary file in ``spool_dir`` (None: tempfile's
    default, ``$TMPDIR``) as they arrive, so an upload costs bounded memory:
    the handler gets ``request.body_file`` (``request.body`` reads it whole).

    TLS: ``certfile`` (PEM chain) and ``keyfile`` (default: in certfile,
    decrypted with ``keyfile_password``) serve HTTPS; ``ca_certs`` with
    ``cert_reqs`` ("none", "optional", "required") asks for client
    certificates; ``ciphers`` (TLS 1.2's OpenSSL cipher list);
    ``tls_handshake_timeout`` (10 s); ``tls_max_handshakes`` (1024 in flight,
    then new connections are closed); ``tls_ticket_key`` (80 bytes shared by
    worker processes so sessions resume on any of them).  Handshakes and
    records run in C on the sub-reactors, without the GIL (see reactor._tls).

    ``sockets``: serve these already-bound listening sockets (TCP or unix,
    one acceptor each) instead of binding ``host``/``port``; the server
    closes its copies when it stops.

    Access log: ``access_log`` (False), ``access_log_format`` (gunicorn's
    atoms, None = gunicorn's default), ``access_ring_size`` (1024 records
    per loop for the static routes answered without the GIL; a full ring
    drops records and logs how many).
    """

    def __init__(self, handler=None, host="127.0.0.1", port=8080, threads=None,
                 dispatcher=None, *, max_connections=None, access_log=False,
                 access_log_format=None, access_ring_size=1024,
                 server_header="reactor", reuse_port=False, backlog=1024,
                 graceful_timeout=10.0, name="reactor-http", sockets=None, spool_dir=None,
                 certfile=None, keyfile=None, keyfile_password=None, ca_certs=None,
                 cert_reqs="none", ciphers=None, tls_handshake_timeout=10.0,
                 tls_max_handshakes=1024, tls_ticket_key=None, **limits):
        unknown = set(limits) - set(LIMIT_NAMES)
        if unknown:
            raise TypeError("unknown HttpServer option(s): %s" % ", ".join(sorted(unknown)))
        if handler is not None and not callable(handler):
            raise TypeError("handler must be callable")
        if threads is None:
            threads = os.cpu_count() or 1
        if max_connections is not None and (not isinstance(max_connections, int)
                                            or max_connections <= 0):
            raise ValueError("max_connections must be a positive int or None")
        self.config = HttpConfig(handler or self.handle, access_log=bool(access_log),
                                 access_log_format=access_log_format,
                                 access_ring_size=access_ring_size,
                                 server_header=server_header.encode("latin-1")
                                 if server_header else b"", spool_dir=spool_dir, **limits)
        self.max_connections = max_connections
        self.tls = None
        if certfile is not None:
            self.tls = tls_context(certfile, keyfile, keyfile_password, ca_certs, cert_reqs,
                                   ciphers, tls_handshake_timeout, tls_max_handshakes,
                                   tls_ticket_key)
        elif keyfile is not None or ca_certs is not None:
            raise ValueError("keyfile and ca_certs need a certfile (TLS is off without one)")
        self.config.tls = self.tls
        if not isinstance(graceful_timeout, (int, float)) or not graceful_timeout >= 0:
            raise ValueError("graceful_timeout must be a number of seconds >= 0, got %r"
                             % (graceful_timeout,))
        self.graceful_timeout = graceful_timeout
        self.loop_states = {}
        self._states_lock = threading.Lock()
        self.tcp = TcpServer(None, host, port, threads=threads, dispatcher=dispatcher,
                             name=name, reuse_port=reuse_port, backlog=backlog,
                             sockets=sockets)
        self.tcp.create_connection = self._create_connection
        self.tcp.pool_init = self._init_loop
        self._accept_connection = self.tcp._new_connection
        self.tcp._new_connection = self._new_connection
        self._stopping = False
        self._stopped = False
        self._flusher = None

    # ---- the default handler -------------------------------------------------------

    def handle(self, request):
        """Override in a subclass, or pass ``handler`` to the constructor."""
        return HttpResponse(b"Not Found\n", 404, content_type="text/plain")

    # ---- routes and stats ------------------------------------------------------------

    def route_static(self, path, body, content_type="text/plain", status=200, headers=None):
        """Serve ``body`` for GET/HEAD ``path`` from C, without taking the GIL."""
        self.config.add_static_route(path, body, content_type, status, headers)

    def route_files(self, prefix, directory, *, index="index.html", list_dirs=False,
                    follow_symlinks=False, show_dotfiles=False, cache_control=None,
                    precompressed=True):
        """Serve the files under ``directory`` at URL ``prefix`` from C,
        without taking the GIL (nginx's ``location PREFIX { root ...; }``).

        Repeatable; the longest matching prefix wins and the handler gets
        every other path.  GET and HEAD only (others: 405); conditional
        requests (ETag, Last-Modified) and single byte ranges; a directory
        serves its ``index`` file (``""``: none), else 403, or a listing with
        ``list_dirs``; ``/dir`` redirects to ``/dir/``.  Dotfiles are hidden
        unless ``show_dotfiles``; symlinks leading out of ``directory`` are
        refused unless ``follow_symlinks``.  ``cache_control`` is sent as
        ``Cache-Control``.  With ``precompressed``, ``FILE.br`` / ``FILE.gz``
        is sent instead of FILE to a client that accepts that encoding.
        Call before the server starts."""
        self.config.add_files(prefix, directory, index=index, list_dirs=list_dirs,
                              follow_symlinks=follow_symlinks, show_dotfiles=show_dotfiles,
                              cache_control=cache_control, precompressed=precompressed)

    def stats(self):
        """Per-loop connection and request counts (a list of dicts).  Thread safe."""
        with self._states_lock:
            states = list(self.loop_states.values())
        return [s.stats() for s in states]

    @property
    def port(self):
        """The real listening port (after ``start()``, or at once for a bound server)."""
        return self.tcp.port

    @property
    def host(self):
        return self.tcp.host

    @property
    def threads(self):
        return self.tcp.threads

    # ---- connections ----------------------------------------------------------------

    def _sweep_interval(self):
        c = self.config
        t = min(c.keep_alive_timeout, c.header_timeout, c.body_timeout) / 4.0
        return max(0.02, min(1.0, t))

    def _init_loop(self, loop):
        state = LoopState(loop)
        with self._states_lock:
            self.loop_states[loop] = state
        loop.context = state
        self.config.add_reader(loop)    # it reads the static route table
        flusher = self._flusher
        if self.config.access_log and flusher is not None:
            state.enable_access_log(self.config.access_logger, self.config.access_ring_size,
                                    flusher)
            flusher.add(state)
        if loop.is_in_loop_thread():
            state.start_sweeper(self._sweep_interval())
        else:
            loop.queue_in_loop(lambda: state.start_sweeper(self._sweep_interval()))

    def _create_connection(self, loop, fd, peer):
        return HttpConnection(loop, fd, peer, self.config, loop.context)

    def _new_connection(self, fd, peer):
        if self.max_connections is not None and len(self.tcp.connections) >= self.max_connections:
            os.close(fd)        # over the limit: shed at once, like nginx's worker_connections
            return
        tls = self.tls
        if tls is not None and tls.handshakes_in_flight >= tls.max_handshakes:
            # a handshake flood (or a crowd of stalled ones): shed new arrivals
            # until some finish or time out, rather than spend the CPU on them
            os.close(fd)
            return
        self._accept_connection(fd, peer)

    # ---- lifecycle ----------------------------------------------------------------------

    def _prepare_run(self):
        # a new run (the first, or a restart after stop()): fresh per-loop state
        if not self.config.files_frozen:
            # each loop keeps at most this many static files open: a quarter of
            # the fd limit shared by the loops, so the cache never starves accept()
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            loops = max(1, self.tcp.threads)
            self.config.files_cache_entries = (
                256 if soft == resource.RLIM_INFINITY else max(8, min(256, soft // (4 * loops))))
        self.config.freeze_files()      # the loops read the mounts without a lock
        if self._stopped:
            self._stopped = False
            self._stopping = False
            self.config.stopping = False
            with self._states_lock:
                self.loop_states = {}
        if self.config.access_log:
            # the static-route records of every loop are rendered by one thread
            if self._flusher is None:
                self._flusher = AccessFlusher(ACCESS_FLUSH_INTERVAL)
            self._flusher.clear()
            self._flusher.start()

    def start(self):
        """Run the server in background threads; returns once it listens.
        After ``stop()`` it starts again on the same address.  Thread safe."""
        self._prepare_run()
        try:
            self.tcp.start_background()
        except BaseException:
            self._stop_flusher()
            raise
        return self

    def serve_forever(self, install_signal_handlers=True, on_ready=None):
        """Run in this thread until SIGINT/SIGTERM (graceful) or ``stop()``.

        ``on_ready()`` is called once the server listens and the signal
        handlers are installed (e.g. to print "serving on ...")."""
        self._prepare_run()
        self.tcp.start()
        loop = self.tcp.loop
        if install_signal_handlers and threading.current_thread() is threading.main_thread():
            def on_signal(signum, frame):
                # a Python signal handler runs between any two bytecodes of the
                # main thread, also inside a callback of the loop (the acceptor's):
                # queue the shutdown for the loop's next safe point instead
                log.info("received %s: stopping gracefully", signal.Signals(signum).name)
                try:
                    loop.queue_in_loop(self._begin_shutdown)
                    loop.wakeup()       # ... and get there at once
                except RuntimeError:
                    pass    # the loop has closed: the stop is past the point it would start
            signal.signal(signal.SIGINT, on_signal)
            signal.signal(signal.SIGTERM, on_signal)
            wakeup = SignalWakeup(loop).install()   # a signal always wakes the loop
        else:
            wakeup = None
        if on_ready is not None:
            on_ready()
        try:
            loop.run()
        finally:
            self._stopped = True
            if wakeup is not None:
                wakeup.close()
            self.tcp.stop()
            self._stop_flusher()

    def _stop_flusher(self):
        # the loops are done: render their last static-route records, end the thread
        if self._flusher is not None:
            self._flusher.stop()

    def _begin_shutdown(self):
        # base loop thread: stop accepting, close idle connections, finish the rest
        if self._stopping:
            return
        self._stopping = True
        self.config.stopping = True
        for acceptor in self.tcp.acceptors:
            acceptor.close()
        with self._states_lock:
            states = list(self.loop_states.values())
        loop = self.tcp.loop
        start = loop.time()
        deadline = start + self.graceful_timeout

        def sweep(fresh_too):
            for st in states:
                st.loop.run_in_loop(lambda st=st: st.close_idle(fresh_too))

        # idle keep-alive connections close now; one accepted just before the
        # stop gets FRESH_GRACE to send its first request (a connection whose
        # request has arrived is answered with Connection: close and closes
        # itself, so two sweeps are enough)
        sweep(False)
        fresh_swept = []

        def check():
            if not fresh_swept and loop.time() >= start + FRESH_GRACE:
                fresh_swept.append(True)
                sweep(True)
            busy = sum(len(s.connections) for s in states)
            if busy == 0 or loop.time() >= deadline:
                if busy:
                    log.warning("graceful stop: closing %d busy connection(s) after %.1fs",
                                busy, self.graceful_timeout)
                for s in states:
                    s.loop.run_in_loop(s.close_all)
                self._drained()
            else:
                loop.run_after(0.02, check)

        check()

    def _drained(self):
        # the graceful stop is over (base loop thread): end the base loop's run
        self.tcp.loop.stop()

    def stop(self, timeout=None):
        """Graceful stop: no new connections, in-flight requests finish (with
        Connection: close), idle connections close at once; every thread is
        joined.  Thread safe; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        loop = self.tcp.loop
        if timeout is not None:
            self.graceful_timeout = timeout
        if loop is not None and loop.running and not loop.is_in_loop_thread():
            base_thread = self.tcp._base_thread
            try:
                loop.queue_in_loop(self._begin_shutdown)
                loop.wakeup()       # ... and get there at once
            except RuntimeError:
                pass
            # the base loop stops itself when draining is over; wait for it
            if base_thread is not None and base_thread.thread is not None:
                base_thread.thread.join(self.graceful_timeout + 5.0)
        # connections are closed by now: a thread that still does not stop
        # is stuck in a handler; it is logged and left behind
        self.tcp.stop(max(1.0, self.graceful_timeout))
        self._stop_flusher()
        with self._states_lock:
            states = list(self.loop_states.values())
        for state in states:
            if not state.loop.running:
                state.close_files()     # the cached fds of static files

    def __enter__(self):
        """``with HttpServer(...) as server:`` starts it in the background
        (unless already started) and stops it on exit."""
        if not self.tcp._started:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

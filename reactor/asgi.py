"""ASGI 3 (and 2) on reactor: ``ASGIServer``, lifespan and the event loop.

The event loop is the standard library's ``asyncio.SelectorEventLoop`` with
a ``ReactorSelector`` (``reactor._selector``): each ``select()`` is one
iteration of a reactor ``EventLoop``, which releases the GIL while it waits,
answers static routes and files in C, parses HTTP requests and starts their
app tasks (``reactor._asgi``).  asyncpg, httpx, aiohttp and every other
asyncio library therefore run on the stock loop.  By default one server is
one thread: the acceptor, the connections and asyncio share it (the least
CPU per request); more cores come from ``--workers`` (processes).

With ``threads=N`` (``--threads N``) the acceptor and the connections run on
their own threads (an acceptor loop and N sub-reactors, as under WSGI) and
asyncio keeps the serving thread: static routes and files are then answered
in C while an app holds the GIL, and new connections are accepted; each
request costs two thread hops (a few µs of CPU).  By default
(``threads=None``) a server with static routes or file mounts gets one such
thread, one without them none.

    server = ASGIServer(app, port=8000)
    server.serve_forever()                  # until SIGINT/SIGTERM

    async def main():                       # or inside a program of your own
        await ASGIServer(app, port=8000).serve()
    asyncio.run(main(), loop_factory=reactor.new_event_loop)     # 3.12+
    reactor.new_event_loop().run_until_complete(main())          # any version

Lifespan (``lifespan="auto"|"on"|"off"``): the app gets ``lifespan.startup``
before the server listens and ``lifespan.shutdown`` after the graceful
drain.  Under ``auto`` an app that raises before it answers startup is taken
not to support lifespan (logged, and serving goes on); under ``on`` that
stops the start.  ``lifespan.startup.failed`` always stops it.  Each request
gets a shallow copy of the lifespan ``state``.
"""
import asyncio
import inspect
import logging
import signal
import threading

from reactor._asgi import ASGI_VERSION, ASGICore, ASGIProtocolError, ClientDisconnected
from reactor._event_loop import EventLoop
from reactor._selector import (ReactorSelector, call_soon as _fast_call_soon,
                               call_soon_threadsafe as _fast_call_soon_threadsafe,
                               get_debug as _fast_get_debug, write_to_self)
from reactor.http_server import HttpServer
from reactor.wsgi import _check_root_path

log = logging.getLogger("reactor.asgi")

__all__ = ["ASGIServer", "ReactorEventLoop", "new_event_loop", "detect_interface",
           "ASGI2App", "LifespanError", "ASGIProtocolError", "ClientDisconnected"]

INTERFACES = ("auto", "asgi3", "asgi2", "wsgi")
LIFESPANS = ("auto", "on", "off")


class ReactorEventLoop(asyncio.SelectorEventLoop):
    """``asyncio.SelectorEventLoop`` whose selector is a ``ReactorSelector``
    over ``reactor_loop`` (a new ``EventLoop`` by default).  Four methods are
    replaced: ``call_soon``, by a compiled copy of the stock one's behaviour
    (debug mode and a closed loop use the stock one), ``get_debug`` and
    ``call_soon_threadsafe``, compiled too, and ``_write_to_self``
    (``call_soon_threadsafe``'s wakeup), by one that keeps the GIL while it
    sends its byte; everything else is the standard library's loop."""

    def __init__(self, reactor_loop=None):
        self.reactor_loop = reactor_loop if reactor_loop is not None else EventLoop(name="asyncio")
        super().__init__(ReactorSelector(self.reactor_loop))

    # the stock call_soon's behaviour, compiled (reactor._selector.call_soon)
    call_soon = _fast_call_soon
    # the stock get_debug, compiled (every Future and Task calls it)
    get_debug = _fast_get_debug
    # the stock call_soon_threadsafe, compiled (no bytecode after its wakeup byte)
    call_soon_threadsafe = _fast_call_soon_threadsafe
    # the wakeup byte sent without releasing the GIL (reactor._selector.write_to_self)
    _write_to_self = write_to_self

    def close(self):
        super().close()
        if not self.reactor_loop.closed and not self.reactor_loop.running:
            self.reactor_loop.close()


def new_event_loop():
    """A new ``ReactorEventLoop``: ``asyncio.run(main(), loop_factory=reactor.new_event_loop)``."""
    return ReactorEventLoop()


# ---- interfaces ------------------------------------------------------------------------

def _is_coroutine_callable(obj):
    if inspect.isclass(obj):
        return False
    if inspect.iscoroutinefunction(obj):
        return True
    call = getattr(obj, "__call__", None)
    return inspect.iscoroutinefunction(call)


def detect_interface(app):
    """``"asgi3"``, ``"asgi2"`` or ``"wsgi"``, by uvicorn's rule: a
    coroutine function (or an object whose ``__call__`` is one) is ASGI 3;
    a class whose instances are such objects (a "double callable") is ASGI 2;
    anything else is WSGI."""
    if _is_coroutine_callable(app):
        return "asgi3"
    if inspect.isclass(app) and inspect.iscoroutinefunction(getattr(app, "__call__", None)):
        return "asgi2"
    return "wsgi"


class ASGI2App:
    """An ASGI 2 app (``app(scope)`` returns ``instance(receive, send)``) as ASGI 3."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        instance = self.app(scope)
        await instance(receive, send)


# ---- lifespan --------------------------------------------------------------------------

class LifespanError(RuntimeError):
    """The app's lifespan startup (or shutdown) failed."""


class _Lifespan:
    def __init__(self, app, mode, state):
        self.app = app
        self.mode = mode
        self.state = state
        self.queue = asyncio.Queue()
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.failure = None             # the message of a *.failed event
        self.unsupported = False
        self.task = None

    async def _receive(self):
        return await self.queue.get()

    async def _send(self, message):
        t = message.get("type")
        if t == "lifespan.startup.complete":
            self.started.set()
        elif t == "lifespan.startup.failed":
            self.failure = message.get("message", "") or "lifespan.startup.failed"
            self.started.set()
        elif t == "lifespan.shutdown.complete":
            self.stopped.set()
        elif t == "lifespan.shutdown.failed":
            self.failure = message.get("message", "") or "lifespan.shutdown.failed"
            self.stopped.set()
        else:
            raise ASGIProtocolError("unexpected ASGI lifespan message %r" % (t,))

    async def _main(self):
        scope = {"type": "lifespan", "asgi": ASGI_VERSION, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException as exc:
            if not self.started.is_set():
                self.unsupported = True
                if self.mode == "auto":
                    log.info("ASGI 'lifespan' not supported by the app (%s: %s); going on",
                             type(exc).__name__, exc)
                else:
                    log.error("the app's lifespan startup raised", exc_info=exc)
                    self.failure = "%s: %s" % (type(exc).__name__, exc)
            elif not self.stopped.is_set():
                log.error("the app's lifespan raised", exc_info=exc)
                self.failure = "%s: %s" % (type(exc).__name__, exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            self.started.set()
            self.stopped.set()

    async def startup(self):
        """Raise LifespanError if the app refused to start."""
        if self.mode == "off":
            return
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.queue.put({"type": "lifespan.startup"})
        await self.started.wait()
        if self.failure is not None:
            raise LifespanError("application startup failed: %s" % self.failure)

    async def shutdown(self, timeout=None):
        if self.task is None or self.unsupported or self.task.done():
            return
        await self.queue.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self.stopped.wait(), timeout)
        except asyncio.TimeoutError:
            log.warning("the app's lifespan shutdown did not finish within %.1fs", timeout)
            self.task.cancel()
            return
        if self.failure is not None:
            log.error("application shutdown failed: %s", self.failure)


# ---- the server ------------------------------------------------------------------------

class ASGIServer:
    """Serve an ASGI app: ``ASGIServer(app, host, port, interface="auto",
    lifespan="auto", root_path="", forwarded_allow_ips="127.0.0.1",
    backpressure=1024, **http_options)``.

    ``http_options`` are HttpServer's (limits, timeouts, TLS, access log,
    ``sockets``, ``graceful_timeout``).  ``threads=0``: one thread runs the
    acceptor, the connections and asyncio; ``threads=N``: the acceptor and
    the connections get threads of their own (an acceptor loop and N
    sub-reactors), so static routes are answered while an app holds the GIL;
    ``threads=None`` (the default): 1 if the server has static routes or
    file mounts when it starts, else 0.  ``backpressure`` > 0 caps the app
    tasks in flight: requests over it wait their turn, and their connections
    are not read meanwhile.  ``root_path`` is the scope's ``root_path`` and
    prefixes ``path`` and ``raw_path`` (as uvicorn does).

    ``serve_forever()`` runs in this thread until SIGINT/SIGTERM;
    ``start()``/``stop()`` run it in a background thread; ``await serve()``
    runs it on the current loop, which must be a ``ReactorEventLoop``.
    """

    def __init__(self, app, host="127.0.0.1", port=8080, *, interface="auto", lifespan="auto",
                 root_path="", forwarded_allow_ips="127.0.0.1", backpressure=1024, threads=None,
                 **options):
        if not callable(app):
            raise TypeError("the ASGI application must be callable, got %r" % (app,))
        if interface not in INTERFACES:
            raise ValueError("interface must be one of %s, got %r" % (", ".join(INTERFACES),
                                                                      interface))
        if interface == "auto":
            interface = detect_interface(app)
        if interface == "wsgi":
            raise ValueError("%r is not an ASGI application (no coroutine __call__): serve "
                             "it with WSGIServer, or pass interface='asgi3'" % (app,))
        if interface == "asgi2":
            app = ASGI2App(app)
        if lifespan not in LIFESPANS:
            raise ValueError("lifespan must be one of %s, got %r" % (", ".join(LIFESPANS),
                                                                     lifespan))
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool)
                                    or threads < 0):
            raise ValueError("threads must be None or an int >= 0, got %r" % (threads,))
        if not isinstance(backpressure, int) or isinstance(backpressure, bool) or \
                backpressure < 0:
            raise ValueError("backpressure must be an int >= 0, got %r" % (backpressure,))
        _check_root_path(root_path)
        self.app = app
        self.interface = interface
        self.lifespan = lifespan
        self.root_path = root_path
        self.forwarded_allow_ips = forwarded_allow_ips
        self.backpressure = backpressure
        self.threads = threads
        # threads=0: the loop is the selector's own EventLoop (epoll); a
        # ``dispatcher`` option is accepted (the CLI passes one) but only the
        # I/O threads of threads=N use it.  threads=None is settled by serve().
        self.http = HttpServer(None, host, port, threads or 0, **options)
        self.state = {}
        self.core = None
        self._loop = None           # the asyncio loop serving
        self._drained_future = None
        self._thread = None
        self._ready = threading.Event()
        self._error = None
        self._stopping = False

    @property
    def port(self):
        return self.http.port

    def io_threads(self):
        """The I/O threads the server runs with: ``threads``, or when that is
        None, 1 if it has static routes or file mounts, else 0."""
        if self.threads is not None:
            return self.threads
        config = self.http.config
        return 1 if config.static_paths() or config.mounts else 0

    @property
    def loop(self):
        """The asyncio loop serving (None when not running)."""
        return self._loop

    # ---- running ---------------------------------------------------------------------

    async def serve(self, install_signal_handlers=False, on_ready=None):
        """Serve on the running loop (a ``ReactorEventLoop``) until ``stop()``
        or, with ``install_signal_handlers``, SIGINT/SIGTERM."""
        loop = asyncio.get_running_loop()
        rloop = getattr(loop, "reactor_loop", None)
        if rloop is None:
            raise RuntimeError(
                "ASGIServer.serve() needs reactor's event loop: asyncio.run(main(), "
                "loop_factory=reactor.new_event_loop) or reactor.new_event_loop()"
                ".run_until_complete(main())")
        self._loop = loop
        self._stopping = False
        http = self.http
        lifespan = _Lifespan(self.app, self.lifespan, self.state)
        try:
            await lifespan.startup()
        except BaseException:
            self.http.tcp.stop()        # the listening socket goes with the failed start
            self._loop = None
            raise
        host, port = http.tcp.address[:2] if isinstance(http.tcp.address, tuple) else (
            http.tcp.address, None)
        http.tcp.threads = self.io_threads()
        threaded = http.tcp.threads > 0
        self.core = ASGICore(self.app, loop, (host, port), self.root_path,
                             "https" if http.tls is not None else "http",
                             self.forwarded_allow_ips, self.state, self.backpressure,
                             threaded)
        http.config.handler = self.core
        self._drained_future = loop.create_future()
        lstate = selector = None
        if threaded:
            # the acceptor loop and the sub-reactors run on threads of their own;
            # the graceful drain ends on the acceptor's thread
            http._drained = self._on_drained_threadsafe
            try:
                http.start()
            except BaseException:
                self._loop = None
                await lifespan.shutdown(http.graceful_timeout)
                raise
        else:
            http.tcp.loop = rloop          # accept and serve on the selector's loop
            http.tcp._own_loop = False
            http._drained = self._on_drained
            http._prepare_run()
            http.tcp.start()
            # the responses made while a poll's events are dispatched (apps that
            # answer at once) go out together after the batch's reads, and pipelined
            # responses made a loop iteration apart (an app that awaited) in one send
            # (a ReactorEventLoop's selector; the loop's LoopState, made by tcp.start())
            lstate = rloop.context
            selector = loop._selector
            lstate.hold_output = True
            selector.before_poll = lstate.flush_held
            # what the dispatch answered goes out before asyncio's callbacks run
            selector.after_poll = lstate.flush_answered
        installed = []
        try:
            if install_signal_handlers and threading.current_thread() is threading.main_thread():
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    installed.append(sig)
            if on_ready is not None:
                on_ready()
            self._ready.set()
            await self._drained_future
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self._cancel_tasks()
            await lifespan.shutdown(http.graceful_timeout)
            if lstate is not None:
                selector.before_poll = selector.after_poll = None
                lstate.hold_output = False
                lstate.flush_held(True)
            http._stopped = True
            http.tcp.stop()
            http._stop_flusher()
            for state in list(http.loop_states.values()):
                if not state.loop.running:      # (a thread that would not stop keeps its own)
                    state.close_files()
            self._loop = None

    def _on_signal(self, sig):
        log.info("received %s: stopping gracefully", signal.Signals(sig).name)
        self._begin_stop()

    def _begin_stop(self):
        # the loop's thread: drain (HttpServer's graceful stop), then serve() ends
        if self._stopping:
            return
        self._stopping = True
        if self.http.tcp.threads:
            try:
                self.http.tcp.loop.queue_in_loop(self.http._begin_shutdown)
            except RuntimeError:
                self._on_drained()      # the acceptor's loop is gone: nothing to drain
        else:
            self.http._begin_shutdown()

    def _on_drained(self):
        fut = self._drained_future
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _on_drained_threadsafe(self):
        # threads=N: the acceptor's thread ends the drain
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._on_drained)
            except RuntimeError:
                pass        # the asyncio loop is closed: serve() is over

    async def _cancel_tasks(self):
        core = self.core
        if core is None:
            return
        core.closing = True         # threaded: what the I/O threads post now gets a 503
        core.waiting.clear()
        tasks = [t for t in core.tasks if not t.done()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)

    def serve_forever(self, on_ready=None):
        """Run in this thread until SIGINT/SIGTERM (graceful) or ``stop()``."""
        loop = new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.serve(install_signal_handlers=True, on_ready=on_ready))
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                asyncio.set_event_loop(None)
                loop.close()

    def start(self):
        """Serve in a background thread; returns once the server listens
        (raises what stopped the start, e.g. LifespanError)."""
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        self._ready.clear()
        self._error = None

        def main():
            loop = new_event_loop()
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.serve())
            except BaseException as exc:
                self._error = exc
            finally:
                self._ready.set()
                loop.close()

        self._thread = threading.Thread(target=main, name="reactor-asgi", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self

    def stop(self, timeout=None):
        """Graceful stop from another thread: no new connections, in-flight
        requests finish, lifespan shutdown runs; waits for it."""
        thread, loop = self._thread, self._loop
        if timeout is not None:
            self.http.graceful_timeout = timeout
        if loop is not None and thread is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._begin_stop)
            except RuntimeError:
                pass
        if thread is not None:
            thread.join(self.http.graceful_timeout + 10.0)
            self._thread = None

    def __enter__(self):
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def serve(app, **options):
    """Serve ``app`` in this thread until SIGINT/SIGTERM."""
    ASGIServer(app, **options).serve_forever()

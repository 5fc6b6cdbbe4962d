"""TcpServer: an Acceptor on the base loop plus a ThreadPool of sub-reactors.

Each accepted fd becomes a TcpConnection on the next sub-reactor (round
robin) and gets the seed's four callbacks, set by subclassing (override
``on_connection``, ``on_message``, ``on_write_complete``, ``on_close``) or by
passing callables of the same names.  The connection table lives in the
base loop's thread; connections report their end to it with
``run_in_loop``.
"""
import logging
import socket
import threading

from reactor._event_loop import EventLoop
from reactor._sync import Cond, Mutex
from reactor._tcp_connection import TcpConnection
from reactor.acceptor import Acceptor, sock_address
from reactor.event_loop_thread import EventLoopThread
from reactor.thread_pool import ThreadPool

log = logging.getLogger("reactor.tcp")


class TcpServer:
    """A multi-reactor TCP server.

    ``TcpServer(loop, host, port, threads=N, dispatcher=...)``: ``loop`` is the
    base (acceptor) loop; pass None to have the server create one.  Use
    ``start()`` then run the loop yourself, or ``serve_forever()``, or
    ``start_background()`` / ``stop()`` to run everything in threads.
    """

    connection_class = TcpConnection

    def __init__(self, loop=None, host="127.0.0.1", port=0, threads=0, dispatcher=None,
                 name="TcpServer", reuse_port=False, backlog=1024, nodelay=True,
                 on_connection=None, on_message=None, on_write_complete=None, on_close=None,
                 high_water_mark=None, on_high_water_mark=None, sock=None, sockets=None):
        if not isinstance(threads, int) or isinstance(threads, bool) or threads < 0:
            raise ValueError("threads must be an int >= 0, got %r" % (threads,))
        self._own_loop = loop is None
        self.loop = loop
        self.host = host
        self.name = name
        self.threads = threads
        self.dispatcher = dispatcher
        self.reuse_port = reuse_port
        self.backlog = backlog
        self.nodelay = nodelay
        if sockets is not None:
            # already-bound listening sockets (a supervisor's): one acceptor each
            socks = list(sockets)
            if sock is not None or not socks:
                raise ValueError("pass either sock or a non-empty sockets list")
        else:
            if sock is None:
                # bind now, so bind errors raise here and port 0 is known at once
                sock = Acceptor._bind(host, port, reuse_port)
            socks = [sock]
        self._given_sockets = sockets is not None
        self._socks = socks
        self.address = sock_address(socks[0])
        self._port = self.address[1]
        if on_connection is not None:
            self.on_connection = on_connection
        if on_message is not None:
            self.on_message = on_message
        if on_write_complete is not None:
            self.on_write_complete = on_write_complete
        if on_close is not None:
            self.on_close = on_close
        self.high_water_mark = high_water_mark
        self.on_high_water_mark = on_high_water_mark
        self.connections = {}
        self.thread_pool = None
        self.acceptors = []
        self._requested_port = port
        self._base_thread = None
        self._started = False
        self._stopped = False
        if loop is not None:
            self._bind()

    # ---- the four callbacks (override or pass callables) --------------------

    def on_connection(self, conn):
        """A connection is established.  Runs in the connection's loop."""

    def on_message(self, conn, buffer):
        """Bytes arrived in ``buffer`` (a Buffer); consume what you use."""
        buffer.retrieve_all()

    def on_write_complete(self, conn):
        """The connection's output buffer drained."""

    def on_close(self, conn):
        """The connection is closed (its fd is still valid during the call)."""

    # ---- lifecycle ------------------------------------------------------------

    def _bind(self):
        self.acceptors = [Acceptor(self.loop, self.host, self._requested_port,
                                   reuse_port=self.reuse_port, backlog=self.backlog,
                                   nodelay=self.nodelay and s.family != socket.AF_UNIX,
                                   new_connection_callback=self._new_connection, sock=s)
                          for s in self._socks]
        self.address = sock_address(self._socks[0])
        self._port = self.address[1]

    @property
    def acceptor(self):
        """The first acceptor (the only one unless several sockets were given)."""
        return self.acceptors[0] if self.acceptors else None

    @property
    def sockets(self):
        """The listening sockets."""
        return list(self._socks)

    def _close_listeners(self):
        # acceptors close their socket and spare fd (also on a closed loop);
        # a socket that never got an acceptor is closed directly
        if self.acceptors:
            for a in self.acceptors:
                a.close()
        else:
            for s in self._socks:
                s.close()

    @property
    def port(self):
        """The real listening port (valid once bound)."""
        return self._port

    def pool_init(self, loop):
        """Runs once in each sub-reactor thread when its loop is built."""

    def _prepare_restart(self):
        """After ``stop()``: forget the old run so ``start()`` can begin a new
        one on the same address (the port the first run got, if it asked
        for port 0)."""
        if not self._stopped:
            return
        if self._base_thread is not None and self._base_thread.is_alive():
            raise RuntimeError("%s is still stopping" % self.name)
        self._stopped = False
        self._started = False
        self._base_thread = None
        self.thread_pool = None
        self.acceptors = []
        self._socks = []
        self.connections = {}
        if self._own_loop:
            self.loop = None

    def _ensure_socket(self):
        if not self._socks:
            if self._given_sockets:
                raise RuntimeError("%s was given its sockets and closed them when it "
                                   "stopped: it cannot start again" % self.name)
            self._socks = [Acceptor._bind(self.host, self._port, self.reuse_port)]

    def _abort_start(self):
        """A start failed: release everything it opened (threads, loop,
        listening socket), so nothing leaks and ``start()`` may be retried."""
        if self.thread_pool is not None:
            self.thread_pool.stop()
            self.thread_pool = None
        self._close_listeners()
        self.acceptors = []
        self._socks = []
        if self._own_loop and self.loop is not None:
            if not self.loop.closed and not self.loop.running:
                self.loop.close()
            self.loop = None
        self._started = False

    def start(self):
        """Bind, start the sub-reactors and listen.  Call from the base loop's
        thread (before it runs, or inside it).  After ``stop()`` it starts a
        new run on the same address."""
        self._prepare_restart()
        if self._started:
            raise RuntimeError("%s already started" % self.name)
        try:
            self._ensure_socket()
            if self.loop is None:
                self.loop = EventLoop(self.dispatcher, name=self.name + "-main")
            if not self.acceptors:
                self._bind()
            self._started = True
            self.thread_pool = ThreadPool(self.loop, self.threads, self.dispatcher, self.name,
                                          init_callback=self.pool_init)
            self.thread_pool.start()
            for a in self.acceptors:
                self.loop.run_in_loop(a.listen)
        except BaseException:
            if self._base_thread is None:       # start_background cleans up itself
                self._abort_start()
            raise
        return self

    def serve_forever(self):
        """Start and run the base loop in this thread until ``stop()``."""
        if not self._started:
            self.start()
        try:
            self.loop.run()
        finally:
            self._shutdown_after_run()

    def start_background(self):
        """Run the base loop in its own thread; returns once listening."""
        self._prepare_restart()
        if self._started:
            raise RuntimeError("%s already started" % self.name)
        if self.loop is not None:
            raise RuntimeError("start_background() needs a server created with loop=None")
        self._ensure_socket()

        def init(loop):
            self.loop = loop
            self._bind()
            self.start()

        self._base_thread = EventLoopThread(self.name + "-main", self.dispatcher, init)
        try:
            self._base_thread.start()
        except RuntimeError as exc:
            # the thread closed its loop; release the rest (socket, threads)
            self._base_thread = None
            self._abort_start()
            raise exc.__cause__ or exc
        return self

    def stop(self, timeout=10.0):
        """Stop accepting, close every connection, stop and join every thread.

        Thread safe; idempotent.  After it returns no thread of the server is
        left and every fd it opened is closed.
        """
        if self._stopped:
            return
        self._stopped = True
        loop = self.loop
        if not self.acceptors:
            for s in self._socks:
                s.close()           # bound but never started
        if loop is None:
            return
        if loop.closed:
            # the base loop already ended (e.g. a graceful stop ran in it):
            # release what is left and join every thread
            self._close_listeners()
            if self.thread_pool is not None:
                self.thread_pool.stop(timeout)
            if self._base_thread is not None:
                self._base_thread.stop(timeout)
            return
        if not loop.is_in_loop_thread() and (loop.running or self._base_thread is not None):
            # the base loop's thread owns the acceptor and the table, even
            # before its run() has started: queued functors run once it does
            self._call_in_loop_and_wait(self._stop_in_loop, timeout)
        else:
            self._stop_in_loop()
        if self.thread_pool is not None:
            self.thread_pool.stop(timeout)
        if self._base_thread is not None:
            self._base_thread.stop(timeout)
        elif loop.running:
            loop.stop()
        elif self._own_loop and not loop.closed:
            loop.close()

    def _shutdown_after_run(self):
        if not self._stopped:
            self.stop()
        if self._own_loop and not self.loop.closed and not self.loop.running:
            self._stop_in_loop()
            self.loop.close()

    def _call_in_loop_and_wait(self, fn, timeout):
        mutex, cond, done = Mutex(), Cond(), []

        def call():
            try:
                fn()
            finally:
                with mutex:
                    done.append(True)
                    cond.signal()

        try:
            self.loop.queue_in_loop(call)
        except RuntimeError:
            return
        with mutex:
            while not done:
                if not cond.wait(mutex, timeout):
                    log.warning("%s: loop did not answer within %.1fs", self.name, timeout)
                    return

    def _stop_in_loop(self):
        self._close_listeners()
        conns = list(self.connections.values())
        self.connections.clear()
        for conn in conns:
            conn.remove_callback = None
            conn.force_close()

    # ---- connections ------------------------------------------------------------

    def create_connection(self, loop, fd, peer):
        """Build the connection object for an accepted fd (override to customise)."""
        return self.connection_class(loop, fd, peer)

    def _new_connection(self, fd, peer):
        io_loop = self.thread_pool.get_loop()
        conn = self.create_connection(io_loop, fd, peer)
        conn.connection_callback = self.on_connection
        conn.message_callback = self.on_message
        conn.write_complete_callback = self.on_write_complete
        conn.close_callback = self.on_close
        if self.high_water_mark is not None:
            conn.high_water_mark = self.high_water_mark
        conn.high_water_mark_callback = self.on_high_water_mark
        conn.remove_callback = self._remove_connection
        self.connections[conn.id] = conn
        try:
            io_loop.run_in_loop(conn.connect_established)
        except BaseException as exc:
            # conn owns the fd (it claimed it when built): only conn closes it
            self.connections.pop(conn.id, None)
            conn.remove_callback = None
            conn.close_callback = None      # it never was established
            conn.force_close()
            if not isinstance(exc, RuntimeError) or not io_loop.closed:
                log.error("%s: setting up %r failed", self.name, conn, exc_info=exc)

    def _remove_connection(self, conn):
        # runs in the connection's loop; the table belongs to the base loop
        if self.loop.is_in_loop_thread():
            self.connections.pop(conn.id, None)
        else:
            try:
                self.loop.queue_in_loop(lambda: self.connections.pop(conn.id, None))
            except RuntimeError:
                pass   # base loop already closed: the table is gone with it

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

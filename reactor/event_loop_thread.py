"""EventLoopThread: a thread that owns and runs one EventLoop.

``start()`` solves the seed's first problem — the main thread must know the
sub-reactor is initialised before it hands work to it — with the project's
own Mutex and Cond: it holds the mutex, starts the thread and waits on the
condition in a predicate loop until the child has built its EventLoop and
signalled.  If the child was faster the predicate is already true and the
wait is skipped.  ``Cond.wait`` releases the mutex while asleep.
"""
import signal
import threading

from reactor._event_loop import EventLoop
from reactor._sync import Cond, Mutex


# signals a loop thread leaves to the main thread (see EventLoopThread._thread_main)
PROCESS_SIGNALS = {getattr(signal, name) for name in (
    "SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGTTIN", "SIGTTOU",
    "SIGCHLD", "SIGWINCH", "SIGALRM", "SIGPIPE") if hasattr(signal, name)}


class EventLoopThread:
    """One thread, one EventLoop built inside it.

    ``init_callback(loop)`` runs in the new thread after the loop is built and
    before ``start()`` returns (useful to set up per-loop state).  The loop is
    closed in its own thread when ``run()`` returns.  Thread safe.
    """

    def __init__(self, name="reactor-loop", dispatcher=None, init_callback=None):
        self.name = name
        self._dispatcher = dispatcher
        self._init_callback = init_callback
        self._mutex = Mutex()
        self._cond = Cond()
        self._loop = None
        self._error = None
        self._thread = None
        self._stopped = False

    @property
    def loop(self):
        """The thread's EventLoop (None before ``start()``)."""
        return self._loop

    @property
    def thread(self):
        return self._thread

    def start(self):
        """Start the thread; return its EventLoop once the child has built it."""
        if self._thread is not None:
            raise RuntimeError("EventLoopThread %r already started" % self.name)
        self._thread = threading.Thread(target=self._thread_main, name=self.name, daemon=True)
        with self._mutex:
            self._thread.start()
            while self._loop is None and self._error is None:
                self._cond.wait(self._mutex)
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("EventLoopThread %r failed to start" % self.name) from self._error
        return self._loop

    def _thread_main(self):
        # Process-directed signals (SIGINT, SIGTERM, ...) go to any thread that
        # does not block them.  Python runs handlers in the main thread only,
        # so a signal caught here would wait until the main thread wakes (never,
        # if it sleeps in epoll_wait): block them so the kernel picks another
        # thread (the main one) that can act on them.
        signal.pthread_sigmask(signal.SIG_BLOCK, PROCESS_SIGNALS)
        loop = None
        try:
            loop = EventLoop(self._dispatcher, name=self.name)
            if self._init_callback is not None:
                self._init_callback(loop)
        except BaseException as exc:  # reported to start(), which re-raises
            if loop is not None and not loop.closed:
                try:
                    loop.close()        # its epoll fd and eventfd must not leak
                except Exception:
                    pass
            with self._mutex:
                self._error = exc
                self._cond.signal()
            return
        with self._mutex:
            self._loop = loop
            self._cond.signal()
        try:
            loop.run()
        finally:
            loop.close()

    def stop(self, timeout=None):
        """Stop the loop and join the thread.  Thread safe; idempotent."""
        if self._thread is None:
            return
        if not self._stopped:
            self._stopped = True
            if self._loop is not None and not self._loop.closed:
                self._loop.stop()
        if self._thread is not threading.current_thread() and (timeout is None or timeout > 0):
            self._thread.join(timeout)

    def is_alive(self):
        return self._thread is not None and self._thread.is_alive()

"""ThreadPool: N sub-reactor EventLoopThreads and round-robin ``get_loop()``.

With ``n == 0`` there are no threads and ``get_loop()`` returns the base loop:
the seed's single-reactor mode, where accept and I/O share one loop.
"""
import logging
import threading
import time

from reactor.event_loop_thread import EventLoopThread

log = logging.getLogger("reactor.tcp")


class ThreadPool:
    """Sub-reactor threads for a base (acceptor) loop.

    ``start()`` and ``get_loop()`` are called from the base loop's thread;
    ``stop()`` joins every thread.  Loop thread only unless stated.
    """

    def __init__(self, base_loop, n=0, dispatcher=None, name="reactor", init_callback=None):
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise ValueError("thread count must be an int >= 0, got %r" % (n,))
        self.base_loop = base_loop
        self.n = n
        self.name = name
        self._dispatcher = dispatcher
        self._init_callback = init_callback
        self._threads = []
        self._loops = []
        self._next = 0
        self._started = False

    @property
    def loops(self):
        """Every loop connections are spread over (the base loop if n == 0)."""
        return list(self._loops) if self._loops else [self.base_loop]

    @property
    def started(self):
        return self._started

    def start(self):
        """Start the threads; returns once every sub-reactor's loop is built."""
        if self._started:
            raise RuntimeError("ThreadPool already started")
        self._started = True
        try:
            for i in range(self.n):
                t = EventLoopThread("%s-io-%d" % (self.name, i + 1), self._dispatcher,
                                    self._init_callback)
                self._threads.append(t)
                self._loops.append(t.start())
        except BaseException:
            self.stop()
            raise
        if self.n == 0 and self._init_callback is not None:
            self._init_callback(self.base_loop)

    def get_loop(self):
        """The next loop, round-robin; the base loop when there are no threads."""
        loops = self._loops
        if not loops:
            return self.base_loop
        loop = loops[self._next]
        self._next = (self._next + 1) % len(loops)
        return loop

    def stop(self, timeout=10.0):
        """Stop every sub-reactor and join its thread, waiting at most
        ``timeout`` seconds in all (None: forever).  A thread still busy then
        (a handler that never returns) is left running as a daemon and
        logged.  Thread safe."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for t in self._threads:
            t.stop(0)                       # ask every loop to stop first
        for t in self._threads:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            t.stop(left)
            if t.is_alive() and t.thread is not threading.current_thread():
                log.warning("%s: thread %s did not stop within %.1fs (a handler still "
                            "running?); leaving it behind", self.name, t.name, timeout)
        self._threads = []
        self._loops = []

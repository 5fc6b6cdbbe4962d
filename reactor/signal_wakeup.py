"""SignalWakeup: make a loop sleeping in epoll_wait/poll notice a signal.

CPython's C-level handler only sets a flag; the Python handler runs when the
main thread next executes Python code.  A signal that lands while the main
loop is about to sleep (or in a thread other than the main one) would
otherwise wait until some event wakes the loop, which for an idle server is
never.  ``signal.set_wakeup_fd`` makes the C handler also write a byte to a
socket that the loop watches, so the loop wakes, returns to Python and the
handler runs (asyncio does the same).
"""
import signal
import socket

from reactor._channel import Channel


class SignalWakeup:
    """A socketpair on ``loop`` whose write end is the process's signal
    wakeup fd while installed.  Main thread only (set_wakeup_fd's rule)."""

    def __init__(self, loop):
        self.loop = loop
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._channel = Channel(loop, self._r.fileno(), read_callback=self._drain)
        self._old = None

    def install(self):
        self._old = signal.set_wakeup_fd(self._w.fileno(), warn_on_full_buffer=False)
        self._channel.enable_reading()
        return self

    def _drain(self):
        # the bytes are signal numbers; Python runs the handlers itself
        try:
            while self._r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def close(self):
        """Restore the previous wakeup fd and release the sockets."""
        if self._r is None:
            return
        if self._old is not None:
            signal.set_wakeup_fd(self._old)
            self._old = None
        if self._channel.registered and not self.loop.closed:
            self._channel.disable_all()
            self._channel.remove()
        self._r.close()
        self._w.close()
        self._r = self._w = None

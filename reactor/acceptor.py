"""Acceptor: the listening socket and its channel on the main (base) loop.

On readable it accepts in a batch (accept4 with NONBLOCK|CLOEXEC, TCP_NODELAY)
and hands each ``(fd, peer)`` to ``new_connection_callback``.  It keeps one
spare fd so that on EMFILE/ENFILE it can accept-and-close the pending
connection instead of leaving the listen socket readable and spinning at
100% CPU; if even that fails it stops listening for a moment.
"""
import errno
import logging
import os
import socket
import time

from reactor._channel import Channel
from reactor._tcp_connection import accept_connection, offer_fd, withdraw_fd

log = logging.getLogger("reactor.acceptor")

ACCEPT_BATCH = 64
_RETRY_ERRNOS = {errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR}
_FD_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def sock_address(sock):
    """``(host, port)`` of a bound socket; ``(path, 0)`` for a unix one."""
    name = sock.getsockname()
    if sock.family == socket.AF_UNIX:
        return (name.decode("utf-8", "replace") if isinstance(name, bytes) else name, 0)
    return name[:2]


def _open_spare():
    try:
        return os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1


class Acceptor:
    """Listening socket + channel.  Loop thread only (after construction)."""

    def __init__(self, loop, host="127.0.0.1", port=0, reuse_port=False, backlog=1024,
                 nodelay=True, new_connection_callback=None, sock=None):
        if sock is None:
            sock = self._bind(host, port, reuse_port)
        sock.setblocking(False)
        self.loop = loop
        self.sock = sock
        self.backlog = backlog
        self.nodelay = nodelay
        self.new_connection_callback = new_connection_callback
        self.channel = Channel(loop, sock.fileno(), read_callback=self._handle_read)
        self._spare = _open_spare()
        # connections taken per readable event: a batch is cheaper, but when
        # several processes share the socket, 1 spreads them (nginx's default)
        self.accept_batch = ACCEPT_BATCH
        self._listening = False
        self._last_fd_warning = 0.0

    @staticmethod
    def _bind(host, port, reuse_port):
        """A TCP socket bound to ``host:port`` (not listening yet)."""
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError("port must be an int in 0..65535, got %r" % (port,))
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        if not infos:
            raise OSError("cannot resolve %r" % host)
        family, type_, proto, _, addr = infos[0]
        sock = socket.socket(family, type_, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(addr)
        except BaseException:
            sock.close()
            raise
        return sock

    @property
    def address(self):
        """The bound ``(host, port)``; the real port when port 0 was asked."""
        return sock_address(self.sock)

    @property
    def listening(self):
        return self._listening

    def listen(self):
        """Start listening and accepting.  Loop thread only."""
        self.sock.listen(self.backlog)
        self._listening = True
        self.channel.enable_reading()

    def _handle_read(self):
        if self.sock is None:
            return          # closed earlier in this batch of events
        lfd = self.sock.fileno()
        for _ in range(self.accept_batch):
            if self.sock is None:
                return      # a callback closed us: lfd may name another file now
            try:
                fd, peer = accept_connection(lfd, self.nodelay)
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _RETRY_ERRNOS:
                    continue
                if exc.errno in _FD_ERRNOS:
                    self._out_of_fds(lfd, exc)
                    return
                log.error("accept failed: %s", exc)
                return
            cb = self.new_connection_callback
            if cb is None:
                os.close(fd)
                continue
            # the fd is ours until a connection object claims it (see offer_fd)
            offer_fd(fd)
            try:
                cb(fd, peer)
            except Exception:
                if withdraw_fd(fd):
                    log.exception("new connection callback failed; closing fd %d", fd)
                    os.close(fd)
                else:
                    log.exception("new connection callback failed; its connection "
                                  "object closes fd %d", fd)
            else:
                withdraw_fd(fd)

    def _out_of_fds(self, lfd, exc):
        now = time.monotonic()
        if now - self._last_fd_warning > 5.0:
            self._last_fd_warning = now
            log.warning("accept: %s; shedding connections (raise the fd limit with ulimit -n)", exc)
        if self._spare >= 0:
            # free the spare, take the pending connection and close it at once
            os.close(self._spare)
            self._spare = -1
            try:
                fd, _ = accept_connection(lfd, False)
                os.close(fd)
            except OSError:
                pass
            self._spare = _open_spare()
        if self._spare < 0 and self._listening:
            # could not even do that: stop polling the listen socket for a while
            self.channel.disable_reading()
            self.loop.run_after(0.1, self._resume)

    def _resume(self):
        if self._spare < 0:
            self._spare = _open_spare()
        if self._listening:
            self.channel.enable_reading()

    def close(self):
        """Stop listening and close the socket.  Loop thread only; idempotent."""
        if self.sock is None:
            return
        self._listening = False
        if self.channel.registered and not self.loop.closed:
            self.channel.disable_all()
            self.channel.remove()
        self.sock.close()
        self.sock = None
        if self._spare >= 0:
            os.close(self._spare)
            self._spare = -1

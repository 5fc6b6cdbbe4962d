"""Open many idle keep-alive connections from the harness itself.

``open_idle(host, port, n)`` connects ``n`` non-blocking sockets (at most
``batch`` connecting at once, so small accept backlogs are not overrun),
sends one ``GET /`` on each, reads the whole response, and keeps the socket
open.  It returns an ``IdleConnections`` holding the sockets still open and
the count of those that failed.  ``still_open()`` tells how many the server
has not closed since (a server with a short keep-alive timeout, or
gunicorn's sync worker, closes them).
"""
import errno
import selectors
import socket
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


class _Conn:
    """One client connection's progress: connect -> send -> read the response."""

    __slots__ = ("sock", "data", "sent")

    def __init__(self, sock):
        self.sock = sock
        self.data = b""
        self.sent = False

    def response_complete(self):
        head_end = self.data.find(b"\r\n\r\n")
        if head_end < 0:
            return False
        length = 0
        for line in self.data[:head_end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return len(self.data) >= head_end + 4 + length


class IdleConnections:
    """The sockets that got a full response, plus failure count."""

    def __init__(self, socks, failed):
        self.socks = socks
        self.failed = failed

    def still_open(self):
        """How many sockets the server has not closed (non-blocking peek)."""
        alive = 0
        for s in self.socks:
            try:
                if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b"":
                    alive += 1      # unexpected data, but the connection is open
            except BlockingIOError:
                alive += 1
            except OSError:
                pass
        return alive

    def close(self):
        for s in self.socks:
            s.close()
        self.socks = []


def _start(sel, host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex((host, port))
    if err not in (0, errno.EINPROGRESS):
        s.close()
        return False
    sel.register(s, selectors.EVENT_WRITE, _Conn(s))
    return True


def _step(sel, key):
    """Advance one connection; return "done", "failed" or None (still going)."""
    conn = key.data
    try:
        if not conn.sent:
            if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return "failed"
            conn.sock.sendall(REQUEST)    # 32 bytes: fits any fresh send buffer
            conn.sent = True
            sel.modify(conn.sock, selectors.EVENT_READ, conn)
            return None
        chunk = conn.sock.recv(65536)
    except BlockingIOError:
        return None
    except OSError:
        return "failed"
    if not chunk:
        return "failed"
    conn.data += chunk
    return "done" if conn.response_complete() else None


def open_idle(host, port, n, batch=256, timeout=60.0):
    """Open ``n`` connections that each made one request; see the module doc."""
    sel = selectors.DefaultSelector()
    done, failed, started = [], 0, 0
    deadline = time.monotonic() + timeout
    try:
        while (started < n or sel.get_map()) and time.monotonic() < deadline:
            while started < n and len(sel.get_map()) < batch:
                started += 1
                if not _start(sel, host, port):
                    failed += 1
            for key, _ in sel.select(0.1):
                outcome = _step(sel, key)
                if outcome is None:
                    continue
                sel.unregister(key.fileobj)
                if outcome == "done":
                    done.append(key.fileobj)
                else:
                    failed += 1
                    key.fileobj.close()
        for key in list(sel.get_map().values()):      # timed out
            sel.unregister(key.fileobj)
            key.fileobj.close()
            failed += 1
        failed += n - started
    finally:
        sel.close()
    return IdleConnections(done, failed)

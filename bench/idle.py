"""Open many idle keep-alive connections from the harness itself.

``open_idle(host, port, n)`` connects ``n`` non-blocking sockets (at most
``batch`` connecting at once, so small accept backlogs are not overrun),
sends one ``GET /`` on each, reads the whole response, and keeps the socket
open.  It returns an ``IdleConnections`` holding the sockets still open, the
count of those that failed and whether time ran out.  ``still_open()`` tells
how many the server has not closed since (a server with a short keep-alive
timeout, or gunicorn's sync worker, closes them).  ``paths`` spreads the
requests over several paths in turn; with ``expect``, a response that is not
``200`` with that body counts as failed.
"""
import errno
import selectors
import socket
import time


def request_for(path):
    return b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path.encode()


REQUEST = request_for("/")


class _Conn:
    """One client connection's progress: connect -> send -> read the response."""

    __slots__ = ("sock", "data", "sent", "request")

    def __init__(self, sock, request=REQUEST):
        self.sock = sock
        self.data = b""
        self.sent = False
        self.request = request

    def response(self):
        """``(status_line, body)`` once the whole response is in, else None."""
        head_end = self.data.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        lines = self.data[:head_end].split(b"\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        if len(self.data) < head_end + 4 + length:
            return None
        return lines[0], self.data[head_end + 4:head_end + 4 + length]


class IdleConnections:
    """The sockets that got a full response, the failure count, and whether time ran out."""

    def __init__(self, socks, failed, timed_out=False):
        self.socks = socks
        self.failed = failed
        self.timed_out = timed_out

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


def connect_nb(host, port):
    """A non-blocking socket whose connect to ``(host, port)`` is under way, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    err = s.connect_ex((host, port))
    if err not in (0, errno.EINPROGRESS):
        s.close()
        return None
    return s


def _start(sel, host, port, request=REQUEST):
    s = connect_nb(host, port)
    if s is None:
        return False
    sel.register(s, selectors.EVENT_WRITE, _Conn(s, request))
    return True


def _step(sel, key, expect=None):
    """Advance one connection; return "done", "failed" or None (still going)."""
    conn = key.data
    try:
        if not conn.sent:
            if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                return "failed"
            conn.sock.sendall(conn.request)   # one short GET: fits any fresh send buffer
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
    response = conn.response()
    if response is None:
        return None
    if expect is not None:
        status_line, body = response
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or parts[1] != b"200" or body != expect:
            return "failed"
    return "done"


def open_idle(host, port, n, batch=256, timeout=60.0, paths=("/",), expect=None):
    """Open ``n`` connections that each made one request; see the module doc."""
    requests = [request_for(p) for p in paths]
    sel = selectors.DefaultSelector()
    done, failed, started = [], 0, 0
    deadline = time.monotonic() + timeout
    try:
        while (started < n or sel.get_map()) and time.monotonic() < deadline:
            while started < n and len(sel.get_map()) < batch:
                request = requests[started % len(requests)]
                started += 1
                if not _start(sel, host, port, request):
                    failed += 1
            for key, _ in sel.select(0.1):
                outcome = _step(sel, key, expect)
                if outcome is None:
                    continue
                sel.unregister(key.fileobj)
                if outcome == "done":
                    done.append(key.fileobj)
                else:
                    failed += 1
                    key.fileobj.close()
        timed_out = bool(sel.get_map()) or started < n
        for key in list(sel.get_map().values()):      # timed out
            sel.unregister(key.fileobj)
            key.fileobj.close()
            failed += 1
        failed += n - started
    finally:
        sel.close()
    return IdleConnections(done, failed, timed_out)

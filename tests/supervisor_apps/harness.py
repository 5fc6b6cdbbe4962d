"""Process-level helpers for the issue-9 tests: start ``python -m reactor`` in its own
session, read its stderr in the background, list the master's worker processes from
/proc, and a client load of fresh and keep-alive connections that records every request.

No mocks: real processes, real sockets on 127.0.0.1 (or unix sockets).
"""
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
REACTOR_DIR = os.path.join(ROOT, "reactor") + os.sep


def _env():
    """The test runner's environment minus anything that would configure the server
    behind a test's back (REACTOR_* other than the CI's dispatcher choice, systemd's
    LISTEN_* variables), plus the same PYTHONPATH trick as tests/test_cli.py."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("REACTOR_") and k != "REACTOR_DISPATCHER")
           and not k.startswith("LISTEN_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), ROOT) if p)
    return env


ENV = _env()

SERVING = re.compile(r"^reactor: serving .* on .*$", re.M)
HTTP_ADDR = re.compile(r"http://(\[[^\]]+\]|[^\s:/,()]+):(\d+)")


def copy_app(dest_dir, name="svapp.py"):
    """Copy tests/supervisor_apps/<name> into ``dest_dir``; return the new path."""
    dst = os.path.join(str(dest_dir), name)
    shutil.copyfile(os.path.join(HERE, name), dst)
    return dst


def set_version(path, version):
    """Rewrite VERSION in a copied svapp.py (a change of size, so no stale .pyc)."""
    with open(path) as f:
        src = f.read()
    new = re.sub(r'^VERSION = ".*"$', 'VERSION = "%s"' % version, src, count=1, flags=re.M)
    assert new != src
    with open(path, "w") as f:
        f.write(new)


# ---------------------------------------------------------------- processes

def proc_stat(pid):
    """(state, ppid, pgid) of ``pid`` from /proc, or None if there is no such process."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    return rest[0].decode(), int(rest[1]), int(rest[2])


def alive(pid):
    """True while ``pid`` exists and has not exited (a zombie has exited)."""
    st = proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def children(pid):
    """Sorted pids of the live (non-zombie) children of ``pid`` (parsed from /proc/*/stat)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = proc_stat(int(name))
        if st is not None and st[1] == pid and st[0] not in ("Z", "X"):
            out.append(int(name))
    return sorted(out)


def wait_until(predicate, timeout, interval=0.02):
    """Poll ``predicate()`` until it returns something true; return it (or the last
    false value at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def tcp_listeners(port):
    """How many LISTEN sockets exist on ``port`` (IPv4 and IPv6), from /proc/net."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "0A":
                n += 1
    return n


class Output:
    """Reads a pipe in a background thread; ``wait_for`` searches what arrived."""

    def __init__(self, pipe):
        self.pipe = pipe
        self._buf = bytearray()
        self._cond = threading.Condition()
        self.eof = False
        self._thread = threading.Thread(target=self._run, name="reactor-stderr", daemon=True)
        self._thread.start()

    def _run(self):
        fd = self.pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._cond:
                if not chunk:
                    self.eof = True
                    self._cond.notify_all()
                    return
                self._buf += chunk
                self._cond.notify_all()

    def __len__(self):
        with self._cond:
            return len(self._buf)

    def text(self, start=0):
        with self._cond:
            return bytes(self._buf[start:]).decode(errors="replace")

    def wait_for(self, pattern, timeout, start=0, flags=re.M):
        """The first match of ``pattern`` in the output from byte ``start`` on, waiting up
        to ``timeout`` seconds for it; None if it did not come (or the pipe closed)."""
        rx = re.compile(pattern, flags)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(bytes(self._buf[start:]).decode(errors="replace"))
                if m or self.eof:
                    return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(min(left, 0.1))

    def close(self, timeout=5.0):
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("the server's stderr is still open after its process group "
                                 "was killed: a process left the group (%r)" % self.text()[-2000:])
        self.pipe.close()


class Server:
    """A running ``python -m reactor`` master in its own session (pgid == pid)."""

    def __init__(self, proc, out):
        self.proc = proc
        self.pid = proc.pid
        self.out = out
        self.line = None
        self.addrs = []         # [(host, port)] of the http:// addresses in the start-up line
        self.port = None        # the first one's port
        self.seen_workers = set()

    def wait_ready(self, timeout=20):
        m = self.out.wait_for(SERVING.pattern, timeout)
        if m is None:
            rc = self.proc.poll()
            raise AssertionError("the server did not print its start-up line within %ss "
                                 "(exit code %r); stderr:\n%s" % (timeout, rc, self.out.text()))
        self.line = m.group(0)
        self.addrs = [(h.strip("[]"), int(p)) for h, p in HTTP_ADDR.findall(self.line)]
        if self.addrs:
            self.port = self.addrs[0][1]
        return self.line

    def stderr(self, start=0):
        return self.out.text(start)

    def workers(self):
        pids = children(self.pid)
        self.seen_workers.update(pids)
        return pids

    def wait_workers(self, n, timeout=10, exclude=()):
        """Wait until the master has exactly ``n`` live children, none in ``exclude``."""
        ex = set(exclude)

        def ok():
            pids = self.workers()
            return pids if len(pids) == n and not ex & set(pids) else None
        pids = wait_until(ok, timeout)
        assert pids, "the master (pid %d) did not reach %d workers (excluding %s) within %ss: " \
            "it has %s; stderr:\n%s" % (self.pid, n, sorted(ex), timeout, self.workers(),
                                        self.stderr()[-3000:])
        return pids

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout):
        return self.proc.wait(timeout)

    def kill_all(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self.out.close()


def popen_reactor(args, cwd, env=None, pass_fds=(), argv=None):
    cmd = list(argv) if argv is not None else [sys.executable, "-m", "reactor", *args]
    proc = subprocess.Popen(cmd, cwd=str(cwd), env=env if env is not None else ENV,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True,
                            pass_fds=tuple(pass_fds))
    return Server(proc, Output(proc.stderr))


@contextlib.contextmanager
def reactor_server(*args, cwd, env=None, ready=True, timeout=20, pass_fds=(), argv=None):
    """Run ``python -m reactor *args`` (or ``argv``) in a new session; wait for the
    start-up line unless ``ready`` is false.  The whole process group is SIGKILLed on
    the way out, whatever happened."""
    srv = popen_reactor(args, cwd, env, pass_fds, argv)
    try:
        if ready:
            srv.wait_ready(timeout)
        yield srv
    finally:
        srv.kill_all()


def run_reactor(*args, cwd, env=None, timeout=20):
    """Run the CLI to completion (for the cases that exit at once); (rc, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "reactor", *args], cwd=str(cwd),
                            env=env if env is not None else ENV, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError("reactor %s did not exit within %ss; stderr:\n%s"
                             % (" ".join(args), timeout, err.decode(errors="replace")))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)     # workers it may have left behind
        except ProcessLookupError:
            pass
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def frames(text):
    """The file names of every traceback frame line in ``text``."""
    return re.findall(r'^\s*File "([^"]+)", line \d+', text, re.M)


def foreign_frames(text, importlib=True):
    """Frame lines that belong to reactor itself (or, with ``importlib``, to importlib):
    the user's error must show only their own code."""
    return [f for f in frames(text)
            if f.startswith(REACTOR_DIR) or "/reactor/" in f
            or (importlib and ("/importlib/" in f or f.startswith("<frozen importlib")))]


# ---------------------------------------------------------------- HTTP

PID_RX = re.compile(rb"pid=(\d+) version=(\S+)")


class HttpError(Exception):
    def __init__(self, kind, got, detail=""):
        super().__init__("%s after %d response bytes %s" % (kind, got, detail))
        self.kind = kind        # refused | reset | eof | timeout | status | error
        self.got = got          # response bytes received before the failure


def request(sock, path="/", host="t"):
    """Send one GET on ``sock`` and read its Content-Length framed response.
    Returns (status, headers dict (lower-case names), body); raises HttpError."""
    got = 0
    try:
        sock.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path.encode(), host.encode()))
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpError("eof", got)
            got += len(chunk)
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode()] = v.strip().decode()
        n = int(headers.get("content-length", "0"))
        while len(body) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpError("eof", got, "(inside the body)")
            got += len(chunk)
            body += chunk
        return status, headers, body[:n]
    except socket.timeout:
        raise HttpError("timeout", got) from None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        raise HttpError("reset", got) from None
    except HttpError:
        raise
    except OSError as exc:
        raise HttpError("error", got, repr(exc)) from None


def read_after_send(sock):
    """Read the response to a request already sent on ``sock``: (status, body);
    raises HttpError."""
    got = 0
    buf = b""
    try:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpError("eof", got)
            got += len(chunk)
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v)
        while len(body) < n:
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpError("eof", got, "(inside the body)")
            got += len(chunk)
            body += chunk
        return int(head.split()[1]), body[:n]
    except socket.timeout:
        raise HttpError("timeout", got) from None
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        raise HttpError("reset", got) from None


def connect_tcp(port, host="127.0.0.1", timeout=10.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def connect_unix(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
    except BaseException:
        s.close()
        raise
    return s


def fetch(port, path="/", host="127.0.0.1", timeout=10.0, unix=None):
    """One request on a fresh connection: (status, headers, body)."""
    s = connect_unix(unix, timeout) if unix else connect_tcp(port, host, timeout)
    try:
        return request(s, path)
    finally:
        s.close()


def body_info(body):
    """(pid, version) from an svapp body, or (None, None)."""
    m = PID_RX.search(body)
    return (int(m.group(1)), m.group(2).decode()) if m else (None, None)


# ---------------------------------------------------------------- load

class Rec:
    """One request made by the load: when, on what kind of connection, what happened."""
    __slots__ = ("kind", "thread", "t_connect", "t_send", "t_end", "ok", "status", "pid",
                 "version", "err", "got", "prev_pid", "retry")

    def __init__(self, kind, thread):
        self.kind = kind            # "fresh" (a new connection) | "reused" (keep-alive)
        self.thread = thread
        self.t_connect = self.t_send = self.t_end = None
        self.ok = False
        self.status = self.pid = self.version = self.err = self.prev_pid = self.retry = None
        self.got = 0

    def describe(self, t0):
        def rel(t):
            return "-" if t is None else "%.3f" % (t - t0)
        s = "%s req (thread %d) connect=%s send=%s end=%s: " % (
            self.kind, self.thread, rel(self.t_connect), rel(self.t_send), rel(self.t_end))
        s += "ok pid=%s" % self.pid if self.ok else "FAILED %s" % self.err
        if self.prev_pid:
            s += " (connection last served by pid %s)" % self.prev_pid
        if self.retry is not None:
            s += " -> retried: " + self.retry.describe(t0)
        return s


class Load:
    """``threads`` client threads, each alternating a request on a fresh connection with
    one on its keep-alive connection (reopened when the server closes it).  A request
    on a reused keep-alive connection that gets EOF/reset before any response byte is
    retried once on a fresh connection (RFC 9112 9.3.1); every request is recorded."""

    def __init__(self, port, path="/", threads=2, pace=0.002, timeout=10.0, host="127.0.0.1"):
        self.port = port
        self.host = host
        self.path = path
        self.nthreads = threads
        self.pace = pace
        self.timeout = timeout
        self.records = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.t0 = None
        self.t_stop = None

    # -- one request
    def _fresh(self, idx, kind="fresh", keep=False):
        rec = Rec(kind, idx)
        try:
            sock = connect_tcp(self.port, self.host, self.timeout)
        except ConnectionRefusedError:
            rec.err = "refused"
            rec.t_end = time.monotonic()
            return rec, None
        except socket.timeout:
            rec.err = "connect timeout"
            rec.t_end = time.monotonic()
            return rec, None
        except OSError as exc:
            rec.err = "connect %r" % exc
            rec.t_end = time.monotonic()
            return rec, None
        rec.t_connect = time.monotonic()
        sock = self._exchange(rec, sock, keep)
        return rec, sock

    def _exchange(self, rec, sock, keep):
        """Send a request on ``sock``; fill ``rec``; return the socket if it may be reused."""
        rec.t_send = time.monotonic()
        try:
            status, headers, body = request(sock, self.path)
        except HttpError as exc:
            rec.t_end = time.monotonic()
            rec.err = exc.kind
            rec.got = exc.got
            sock.close()
            return None
        rec.t_end = time.monotonic()
        rec.status = status
        rec.pid, rec.version = body_info(body)
        rec.ok = status == 200 and rec.pid is not None
        if not rec.ok:
            rec.err = "status %d body %r" % (status, body[:100])
        if keep and rec.ok and "close" not in headers.get("connection", "").lower():
            return sock
        sock.close()
        return None

    def _run(self, idx):
        ka = None           # (socket, pid that served its last response)
        n = idx             # threads start on different halves of the alternation
        try:
            while not self._stop.is_set():
                if n % 2 == 0 or ka is None:
                    keep = n % 2 == 1
                    rec, sock = self._fresh(idx, keep=keep)
                    if sock is not None:
                        ka = (sock, rec.pid)
                else:
                    sock, prev = ka
                    ka = None
                    rec = Rec("reused", idx)
                    rec.prev_pid = prev
                    sock = self._exchange(rec, sock, True)
                    if sock is not None:
                        ka = (sock, rec.pid)
                    elif not rec.ok and rec.got == 0 and rec.err in ("eof", "reset"):
                        rec.retry, sock = self._fresh(idx, kind="retry", keep=True)
                        if sock is not None:
                            ka = (sock, rec.retry.pid)
                with self._lock:
                    self.records.append(rec)
                n += 1
                if self.pace:
                    self._stop.wait(self.pace)
        finally:
            if ka is not None:
                ka[0].close()

    # -- control
    def start(self):
        self.t0 = time.monotonic()
        for i in range(self.nthreads):
            t = threading.Thread(target=self._run, args=(i,), name="load-%d" % i, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        self.t_stop = time.monotonic()
        for t in self._threads:
            t.join(self.timeout + 5)
        assert not any(t.is_alive() for t in self._threads), "a load thread is stuck"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def snapshot(self):
        with self._lock:
            return list(self.records)

    def count_ok(self, since=None):
        return sum(1 for r in self.snapshot() if r.ok and (since is None or r.t_send >= since))

    def wait_requests(self, n, timeout=10):
        """Wait until ``n`` more requests have succeeded."""
        start = self.count_ok()
        assert wait_until(lambda: self.count_ok() >= start + n, timeout), \
            "the load did not get %d more answers in %ss:\n%s" % (n, timeout, self.report())

    # -- verdict
    def classify(self, allowed=None, counted_if=None):
        """Split the failures: ``retried`` (reused keep-alive, EOF/reset before any byte,
        and the one retry on a fresh connection succeeded), ``allowed`` (the test's
        ``allowed(rec)`` rule says so), ``ignored`` (``counted_if(rec)`` is false: e.g.
        requests sent after SIGTERM), and ``counted``: every other failure."""
        out = {"retried": [], "allowed": [], "ignored": [], "counted": []}
        for r in self.snapshot():
            if r.ok:
                continue
            if counted_if is not None and not counted_if(r):
                out["ignored"].append(r)
                continue
            fail = r
            if r.kind == "reused" and r.got == 0 and r.err in ("eof", "reset") \
                    and r.retry is not None:
                if r.retry.ok:
                    out["retried"].append(r)
                    continue
                fail = r.retry          # the retry is a fresh-connection request
            if allowed is not None and allowed(fail, r):
                out["allowed"].append(r)
            else:
                out["counted"].append(r)
        return out

    def report(self, verdict=None, events=None, limit=15):
        recs = self.snapshot()
        t0 = self.t0 or 0
        ok = sum(1 for r in recs if r.ok)
        fresh = sum(1 for r in recs if r.kind == "fresh")
        lines = ["load: %d requests (%d on fresh connections, %d on reused keep-alive "
                 "ones), %d ok, %d distinct worker pids" % (
                     len(recs), fresh, len(recs) - fresh, ok,
                     len({r.pid for r in recs if r.pid}))]
        if events:
            lines.append("events: " + ", ".join("%s at %.3f" % (k, v - t0)
                                                for k, v in events.items() if v))
        if verdict is not None:
            lines.append("failures: %d counted, %d allowed, %d retried once on a fresh "
                         "connection and then ok, %d not counted" % (
                             len(verdict["counted"]), len(verdict["allowed"]),
                             len(verdict["retried"]), len(verdict["ignored"])))
            for key in ("counted", "allowed", "retried"):
                for r in verdict[key][:limit]:
                    lines.append("  %s: %s" % (key, r.describe(t0)))
        else:
            for r in [r for r in recs if not r.ok][:limit]:
                lines.append("  " + r.describe(t0))
        return "\n".join(lines)

"""TcpServer, Acceptor and TcpConnection over real sockets on 127.0.0.1.

Server tests run under both dispatchers and with 0, 1 and 4 sub-reactor
threads (the ``dispatcher`` and ``threads`` fixtures).
"""
import contextlib
import os
import selectors
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import (DISPATCHERS, ROOT, THREADS, call_in_loop, recv_exact, recv_until_eof,
                      run_loop_until, wait_for)
from reactor import Acceptor, EventLoop, TcpConnection, TcpServer
from reactor._tcp_connection import accept_connection

MiB = 1 << 20


@pytest.fixture(params=THREADS)
def threads(request):
    return request.param


class EchoServer(TcpServer):
    def on_message(self, conn, buffer):
        conn.send_buffer(buffer)


@contextlib.contextmanager
def serving(dispatcher, threads, cls=EchoServer, **kw):
    server = cls(None, "127.0.0.1", 0, threads=threads, dispatcher=dispatcher, **kw)
    server.start_background()
    try:
        yield server
    finally:
        server.stop()


def connect(server, timeout=10):
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def server_threads(server):
    return [t for t in threading.enumerate() if t.name.startswith(server.name + "-")]


def linger_reset(sock):
    """Close with SO_LINGER 0: the peer sees a RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# ---- basics -----------------------------------------------------------------------------

def test_echo_and_real_port(dispatcher, threads):
    with serving(dispatcher, threads) as server:
        assert server.port > 0
        assert server.address == ("127.0.0.1", server.port)
        for i in range(3):
            with connect(server) as c:
                for size in (1, 100, 70000):
                    data = os.urandom(size)
                    c.sendall(data)
                    assert recv_exact(c, size) == data
        assert len(server_threads(server)) == 1 + threads


def test_four_callbacks_and_loop_threads(dispatcher, threads):
    events = []
    lock = threading.Lock()

    def record(*item):
        with lock:
            events.append(item)

    class Server(TcpServer):
        def on_connection(self, conn):
            record("conn", conn.connected, conn.loop.is_in_loop_thread(),
                   threading.current_thread().name, conn.peer_address[0])

        def on_message(self, conn, buffer):
            record("msg", buffer.retrieve_as_bytes())
            conn.send(b"reply")

        def on_write_complete(self, conn):
            record("wc")

        def on_close(self, conn):
            record("close", conn.disconnected, conn.fileno())

    with serving(dispatcher, threads, cls=Server) as server:
        with connect(server) as c:
            c.sendall(b"hello")
            assert recv_exact(c, 5) == b"reply"
            assert wait_for(lambda: ("wc",) in events)
        assert wait_for(lambda: any(e[0] == "close" for e in events))
        assert wait_for(lambda: not server.connections)
    kinds = [e[0] for e in events]
    assert kinds == ["conn", "msg", "wc", "close"]
    conn_ev = events[0]
    assert conn_ev[1] is True and conn_ev[2] is True and conn_ev[4] == "127.0.0.1"
    if threads:
        assert "-io-" in conn_ev[3]         # I/O on a sub-reactor
    else:
        assert conn_ev[3].endswith("-main")  # single-reactor mode
    assert events[3][1] is True             # disconnected when on_close runs ...
    assert events[3][2] >= 0                # ... while the fd is still valid


def test_callables_instead_of_subclass(dispatcher, threads):
    seen = []
    with serving(dispatcher, threads, cls=TcpServer,
                 on_connection=lambda conn: seen.append("c"),
                 on_message=lambda conn, buf: conn.send(buf.retrieve_as_bytes().upper()),
                 on_close=lambda conn: seen.append("x")) as server:
        with connect(server) as c:
            c.sendall(b"abc")
            assert recv_exact(c, 3) == b"ABC"
        assert wait_for(lambda: seen == ["c", "x"])


def test_connections_spread_round_robin(dispatcher):
    loops = []
    lock = threading.Lock()

    def on_conn(conn):
        with lock:
            loops.append(conn.loop)

    with serving(dispatcher, 4, cls=TcpServer, on_connection=on_conn) as server:
        socks = [connect(server) for _ in range(8)]
        try:
            assert wait_for(lambda: len(loops) == 8)
            assert len({id(lp) for lp in loops}) == 4
            assert server.loop not in loops
        finally:
            for s in socks:
                s.close()


# ---- 200 clients x 1 MiB ---------------------------------------------------------------------

def echo_clients(port, n_clients, nbytes, timeout=60.0):
    """Echo nbytes of random data on each of n_clients concurrent connections
    with one selectors loop; check every byte.  Each client sends a different
    window of one random pool, so crossed streams are caught too."""
    stride = 4099
    pool = os.urandom(nbytes + stride * n_clients)
    view = memoryview(pool)
    sel = selectors.DefaultSelector()
    chunk = 256 * 1024
    states = []
    try:
        for i in range(n_clients):
            s = socket.socket()
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", port))
            assert err in (0, 115), os.strerror(err)        # 115: EINPROGRESS
            st = {"sock": s, "off": i * stride, "sent": 0, "recvd": 0}
            states.append(st)
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, st)
        remaining = n_clients
        deadline = time.monotonic() + timeout
        while remaining:
            assert time.monotonic() < deadline, "echo did not finish in %.0fs" % timeout
            for key, ev in sel.select(timeout=1.0):
                st = key.data
                s = st["sock"]
                if ev & selectors.EVENT_WRITE and st["sent"] < nbytes:
                    a = st["off"] + st["sent"]
                    b = st["off"] + min(nbytes, st["sent"] + chunk)
                    try:
                        st["sent"] += s.send(view[a:b])
                    except BlockingIOError:
                        pass
                    if st["sent"] == nbytes:
                        sel.modify(s, selectors.EVENT_READ, st)
                if ev & selectors.EVENT_READ:
                    try:
                        data = s.recv(chunk)
                    except BlockingIOError:
                        continue
                    assert data, "server closed a connection after %d/%d bytes" % (
                        st["recvd"], nbytes)
                    a = st["off"] + st["recvd"]
                    if data != pool[a:a + len(data)]:
                        raise AssertionError("echo mismatch at byte %d" % st["recvd"])
                    st["recvd"] += len(data)
                    assert st["recvd"] <= nbytes
                    if st["recvd"] == nbytes:
                        sel.unregister(s)
                        s.close()
                        remaining -= 1
    finally:
        for st in states:
            st["sock"].close()
        sel.close()


# 200 clients x 1 MiB in every combination: 200 MiB each way per case, about
# 1 s per case on two cores, so all six combinations keep the full size.
@pytest.mark.parametrize("threads", THREADS)
def test_200_clients_echo_1mib_each(dispatcher, threads):
    with serving(dispatcher, threads) as server:
        echo_clients(server.port, 200, MiB)
        assert wait_for(lambda: not server.connections, 10)


# ---- sending, shutdown, close, backpressure -------------------------------------------------------

class HoldServer(TcpServer):
    """Keeps each connection so the test can drive it from its own thread."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.conns = []
        self.closed = []
        self.lock = threading.Lock()

    def on_connection(self, conn):
        with self.lock:
            self.conns.append(conn)

    def on_close(self, conn):
        with self.lock:
            self.closed.append(conn)


def test_send_from_other_thread(dispatcher, threads):
    with serving(dispatcher, threads, cls=HoldServer) as server:
        with connect(server) as c:
            assert wait_for(lambda: server.conns)
            conn = server.conns[0]
            assert not conn.loop.is_in_loop_thread()
            assert conn.send(b"bytes,") is True
            assert conn.send(bytearray(b"bytearray,"))
            assert conn.send(memoryview(b"view,"))
            assert conn.send("text")            # str is sent as UTF-8
            want = b"bytes,bytearray,view,text"
            assert recv_exact(c, len(want)) == want
            big = os.urandom(3 * MiB)
            assert conn.send(big)
            assert recv_exact(c, len(big)) == big
            conn.shutdown()                     # from this thread too
            assert recv_until_eof(c) == b""
            assert conn.send(b"late") is False  # closing: nothing is sent


def test_shutdown_waits_for_pending_output(dispatcher, threads):
    payload = os.urandom(8 * MiB)

    class Server(TcpServer):
        def on_message(self, conn, buffer):
            buffer.retrieve_all()
            conn.send(payload)          # far more than the socket takes at once
            conn.shutdown()

    with serving(dispatcher, threads, cls=Server) as server:
        with connect(server) as c:
            c.sendall(b"go")
            time.sleep(0.1)             # let the output pile up in the buffer
            assert recv_until_eof(c) == payload


def test_force_close_from_handler_and_other_thread(dispatcher, threads):
    class Server(HoldServer):
        def on_message(self, conn, buffer):
            if buffer.retrieve_as_bytes() == b"close":
                conn.force_close()

    with serving(dispatcher, threads, cls=Server) as server:
        with connect(server) as c:
            c.sendall(b"close")
            assert recv_until_eof(c) == b""
        with connect(server) as c:
            assert wait_for(lambda: len(server.conns) == 2)
            server.conns[1].close()             # from this thread
            server.conns[1].close()             # idempotent
            assert recv_until_eof(c) == b""
        assert wait_for(lambda: len(server.closed) == 2)
        assert wait_for(lambda: not server.connections)


def test_high_water_mark_callback(dispatcher, threads):
    marks = []

    class Server(HoldServer):
        def on_message(self, conn, buffer):
            buffer.retrieve_all()
            for _ in range(16):
                conn.send(b"x" * MiB)

    with serving(dispatcher, threads, cls=Server, high_water_mark=256 * 1024,
                 on_high_water_mark=lambda conn, size: marks.append(size)) as server:
        c = connect(server)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.sendall(b"go")                # and then do not read
        assert wait_for(lambda: marks)
        assert marks[0] >= 256 * 1024
        assert len(marks) == 1          # reported once, on crossing the mark
        linger_reset(c)
        assert wait_for(lambda: server.closed)


# ---- peers that misbehave ------------------------------------------------------------------------

def test_peer_reset_mid_write_does_not_kill_loop(dispatcher, threads):
    big = os.urandom(32 * MiB)

    class Server(HoldServer):
        def on_message(self, conn, buffer):
            if buffer.retrieve_as_bytes().startswith(b"big"):
                conn.send(big)
            # other messages are ignored

    with serving(dispatcher, threads, cls=Server) as server:
        for i in range(5):
            c = connect(server)
            c.sendall(b"big")
            got = recv_exact(c, 100000)         # the server is mid-write now
            assert got == big[:100000]
            linger_reset(c)
        # the loop survived: new clients are still served
        for i in range(3):
            c = connect(server)
            c.sendall(b"big")
            assert recv_exact(c, len(big)) == big
            c.close()
        assert wait_for(lambda: len(server.closed) == 8)
        assert wait_for(lambda: not server.connections)
        with connect(server) as c:
            c.sendall(b"big")
            assert recv_exact(c, 1000) == big[:1000]


def test_peer_reset_before_reply(dispatcher, threads):
    # the reply's first send() hits ECONNRESET/EPIPE inside the handler
    class Server(HoldServer):
        def on_message(self, conn, buffer):
            buffer.retrieve_all()
            time.sleep(0.05)            # the peer resets meanwhile
            for _ in range(4):
                conn.send(b"y" * 100000)

    with serving(dispatcher, threads, cls=Server) as server:
        for _ in range(3):
            c = connect(server)
            c.sendall(b"x")
            linger_reset(c)
        assert wait_for(lambda: len(server.closed) == 3)
        assert wait_for(lambda: not server.connections)
        with connect(server) as c:
            c.sendall(b"x")
            assert recv_exact(c, 400000) == b"y" * 400000


def test_many_short_connections_and_abrupt_closes(dispatcher, threads):
    with serving(dispatcher, threads) as server:
        for i in range(100):
            c = connect(server)
            if i % 3 == 0:
                c.sendall(b"ping")
                assert recv_exact(c, 4) == b"ping"
                c.close()
            elif i % 3 == 1:
                linger_reset(c)
            else:
                c.close()
        assert wait_for(lambda: not server.connections, 10)
        with connect(server) as c:
            c.sendall(b"still here")
            assert recv_exact(c, 10) == b"still here"


# ---- stop ---------------------------------------------------------------------------------------

def test_stop_leaves_no_thread_and_no_fd(dispatcher, threads):
    fds_before = len(os.listdir("/proc/self/fd"))
    threads_before = set(threading.enumerate())
    server = EchoServer(None, "127.0.0.1", 0, threads=threads, dispatcher=dispatcher)
    server.start_background()
    clients = [connect(server) for _ in range(10)]
    for c in clients:
        c.sendall(b"hi")
        assert recv_exact(c, 2) == b"hi"
    server.stop()
    server.stop()                               # idempotent
    assert server_threads(server) == []
    assert set(threading.enumerate()) <= threads_before
    for c in clients:                           # open connections were closed
        assert recv_until_eof(c) == b""
        c.close()
    assert wait_for(lambda: len(os.listdir("/proc/self/fd")) == fds_before, 2)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_stop_right_after_start(dispatcher, threads):
    for _ in range(10):
        server = EchoServer(None, "127.0.0.1", 0, threads=threads, dispatcher=dispatcher)
        server.start_background()
        server.stop()
        assert server_threads(server) == []


def test_stop_from_a_callback(dispatcher, threads):
    class Server(TcpServer):
        def on_message(self, conn, buffer):
            buffer.retrieve_all()
            self.stop()

    server = Server(None, "127.0.0.1", 0, threads=threads, dispatcher=dispatcher)
    server.start_background()
    try:
        with connect(server) as c:
            c.sendall(b"stop")
            assert recv_until_eof(c) == b""
        assert wait_for(lambda: not server_threads(server), 5)
    finally:
        server.stop()


def test_context_manager_and_never_started(dispatcher):
    with EchoServer(None, "127.0.0.1", 0, threads=1, dispatcher=dispatcher) as server:
        server.start_background()
        with connect(server) as c:
            c.sendall(b"x")
            assert recv_exact(c, 1) == b"x"
    assert server_threads(server) == []
    idle = EchoServer(None, "127.0.0.1", 0, dispatcher=dispatcher)
    idle.stop()                                 # bound, never started: socket closed


def test_server_on_caller_supplied_loop(dispatcher, threads):
    loop = EventLoop(dispatcher)
    server = EchoServer(loop, "127.0.0.1", 0, threads=threads, dispatcher=dispatcher)
    server.start()
    runner = threading.Thread(target=loop.run)
    runner.start()
    try:
        with connect(server) as c:
            c.sendall(b"own loop")
            assert recv_exact(c, 8) == b"own loop"
    finally:
        server.stop()
        runner.join(5)
        assert not runner.is_alive()
        loop.close()


# ---- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [-1, "2", True, 1.5, None])
def test_bad_thread_count(bad):
    with pytest.raises(ValueError):
        TcpServer(None, "127.0.0.1", 0, threads=bad)


@pytest.mark.parametrize("port", [-1, 65536, "80", None, 1.5])
def test_bad_port(port):
    with pytest.raises(ValueError):
        TcpServer(None, "127.0.0.1", port)


def test_port_in_use_and_bad_host(dispatcher):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            TcpServer(None, "127.0.0.1", taken.getsockname()[1], dispatcher=dispatcher)
    with pytest.raises(OSError):
        TcpServer(None, "no-such-host.invalid", 0, dispatcher=dispatcher)


def test_start_twice_and_background_with_loop(dispatcher):
    with serving(dispatcher, 0) as server:
        with pytest.raises(RuntimeError):
            server.start_background()
        with pytest.raises(RuntimeError):
            server.start()
    loop = EventLoop(dispatcher)
    try:
        server = TcpServer(loop, "127.0.0.1", 0)
        with pytest.raises(RuntimeError):
            server.start_background()
        server.stop()
    finally:
        loop.close()


def test_bad_dispatcher_name():
    server = TcpServer(None, "127.0.0.1", 0, threads=1, dispatcher="kqueue")
    with pytest.raises(ValueError):
        server.start_background()
    server.stop()


def test_handler_exceptions_do_not_kill_server(dispatcher, threads, caplog):
    class Server(TcpServer):
        def on_message(self, conn, buffer):
            data = buffer.retrieve_as_bytes()
            if data == b"boom":
                raise RuntimeError("handler failed")
            conn.send(data)

    with serving(dispatcher, threads, cls=Server) as server:
        with connect(server) as c:
            c.sendall(b"boom")
            time.sleep(0.05)
            c.sendall(b"fine")
            assert recv_exact(c, 4) == b"fine"
    assert "handler failed" in caplog.text


# ---- Acceptor and TcpConnection used directly --------------------------------------------------

def test_acceptor_without_callback_closes_connections(loop):
    acc = Acceptor(loop, "127.0.0.1", 0)
    try:
        acc.listen()
        assert acc.listening
        c = socket.create_connection(acc.address, timeout=5)
        got = []
        t = threading.Thread(target=lambda: got.append(recv_until_eof(c)))
        t.start()
        run_loop_until(loop, lambda: got)
        t.join(5)
        assert got == [b""]
        c.close()
    finally:
        acc.close()
        acc.close()                             # idempotent
    assert not acc.listening


def test_acceptor_callback_error_closes_fd(loop, caplog):
    def bad(fd, peer):
        raise ValueError("cannot take it")

    acc = Acceptor(loop, "127.0.0.1", 0, new_connection_callback=bad)
    try:
        acc.listen()
        c = socket.create_connection(acc.address, timeout=5)
        run_loop_until(loop, lambda: "cannot take it" in caplog.text)
        c.settimeout(5)
        assert recv_until_eof(c) == b""
        c.close()
    finally:
        acc.close()


def test_acceptor_reports_peer(loop):
    got = []
    acc = Acceptor(loop, "127.0.0.1", 0, new_connection_callback=lambda fd, peer: got.append((fd, peer)))
    try:
        acc.listen()
        c = socket.create_connection(acc.address, timeout=5)
        run_loop_until(loop, lambda: got)
        fd, peer = got[0]
        assert peer == c.getsockname()
        os.close(fd)
        c.close()
    finally:
        acc.close()


def test_accept_connection_bad_input():
    with pytest.raises(ValueError):
        accept_connection(-1)
    with socket.socket() as s:                  # not listening
        with pytest.raises(OSError):
            accept_connection(s.fileno())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        s.setblocking(False)
        with pytest.raises(BlockingIOError):
            accept_connection(s.fileno())
    with pytest.raises(TypeError):
        accept_connection("3")


def test_tcp_connection_bad_input(loop):
    a, b = socket.socketpair()
    try:
        with pytest.raises(TypeError):
            TcpConnection(None, a.fileno())
        with pytest.raises(TypeError):
            TcpConnection("loop", a.fileno())
        with pytest.raises(ValueError):
            TcpConnection(loop, -1)
        with pytest.raises(TypeError):
            TcpConnection(loop, "3")
    finally:
        a.close()
        b.close()


def test_tcp_connection_direct_use(loop):
    a, b = socket.socketpair()
    b.settimeout(5)
    a.setblocking(False)
    conn = TcpConnection(loop, a.detach())      # the connection owns the fd now
    try:
        assert conn.state == "connecting"
        assert conn.send(b"early") is False     # not established yet
        got = []
        conn.message_callback = lambda c, buf: got.append(buf.retrieve_as_bytes())
        conn.connect_established()
        assert conn.connected
        with pytest.raises(RuntimeError):
            conn.connect_established()
        with pytest.raises(TypeError):
            conn.send(12345)
        with pytest.raises(TypeError):
            conn.send(None)
        b.sendall(b"ping")
        run_loop_until(loop, lambda: got)
        assert got == [b"ping"]
        assert conn.send(b"pong")
        assert recv_exact(b, 4) == b"pong"
        conn.force_close()
        assert conn.disconnected and conn.fileno() == -1
        assert recv_until_eof(b) == b""
        assert "disconnected" in repr(conn)
    finally:
        conn.force_close()
        b.close()


def test_send_wrong_type_from_other_thread(dispatcher):
    # bytes(data) on the queued path once turned an int into that many zero bytes
    with serving(dispatcher, 1, cls=HoldServer) as server:
        with connect(server) as c:
            assert wait_for(lambda: server.conns)
            conn = server.conns[0]
            with pytest.raises(TypeError):
                conn.send(5)
            with pytest.raises(TypeError):
                conn.send([1, 2, 3])


# ---- EMFILE on accept (in a subprocess with a low fd limit) -----------------------------------

EMFILE_CHILD = textwrap.dedent("""
    import os, resource, sys
    from reactor import TcpServer

    dispatcher, threads, headroom = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

    class Echo(TcpServer):
        def on_message(self, conn, buffer):
            conn.send_buffer(buffer)

    server = Echo(None, "127.0.0.1", 0, threads=threads, dispatcher=dispatcher)
    server.start_background()
    limit = len(os.listdir("/proc/self/fd")) + headroom
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    print(server.port, limit, flush=True)
    sys.stdin.read()                # the test closes stdin to stop us
    server.stop()
""")


def child_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe(socks, timeout=5.0):
    """Send "ping" on every socket; return (echoed, shed) lists."""
    pending = {}
    echoed, shed = [], []
    for s in socks:
        try:
            s.sendall(b"ping")
            pending[s] = b""
        except OSError:
            shed.append(s)
    sel = selectors.DefaultSelector()
    for s in pending:
        sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(0.2):
            s = key.fileobj
            try:
                data = s.recv(16)
            except OSError:
                data = b""
            if not data:
                shed.append(s)
            else:
                pending[s] += data
                if pending[s] != b"ping":
                    continue
                echoed.append(s)
            sel.unregister(s)
            del pending[s]
    sel.close()
    assert not pending, "%d connections neither echoed nor closed" % len(pending)
    return echoed, shed


@pytest.mark.parametrize("threads", THREADS)
def test_emfile_on_accept_sheds_without_spinning(dispatcher, threads):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", EMFILE_CHILD, dispatcher, str(threads), "24"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=ROOT)
    socks = []
    try:
        line = proc.stdout.readline().split()
        assert line, proc.stderr.read().decode()
        port, limit = int(line[0]), int(line[1])

        def dial():
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(s)
            return s

        for _ in range(40):                     # more than the 24 fds of headroom
            dial()
        echoed, shed = probe(list(socks))
        assert shed, "accept never hit EMFILE"
        assert len(echoed) >= 10                # it kept what it had room for

        # clients keep knocking while the server is out of fds; it must shed
        # them instead of spinning on a readable listen socket
        knockers = [dial() for _ in range(5)]
        cpu0 = child_cpu_seconds(proc.pid)
        time.sleep(1.0)
        cpu = child_cpu_seconds(proc.pid) - cpu0
        assert cpu < 0.5, "server burned %.2fs of CPU in 1s while out of fds" % cpu
        _, shed2 = probe(knockers)
        assert len(shed2) == len(knockers)

        for s in socks:
            s.close()
        socks.clear()

        # ... and still serves once connections are closed
        def serves():
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.sendall(b"again")
                    return recv_exact(s, 5) == b"again"
            except OSError:
                return False

        assert wait_for(serves, 5, 0.05)
    finally:
        for s in socks:
            s.close()
        try:
            proc.stdin.close()
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = "timeout"
        err = proc.stderr.read().decode()
        proc.stdout.close()
        proc.stderr.close()
    assert rc == 0, err
    assert "Traceback" not in err, err


def test_stop_and_start_reading(dispatcher, threads):
    got = []

    class Server(HoldServer):
        def on_message(self, conn, buffer):
            got.append(buffer.retrieve_as_bytes())

    with serving(dispatcher, threads, cls=Server) as server:
        with connect(server) as c:
            assert wait_for(lambda: server.conns)
            conn = server.conns[0]
            conn.stop_reading()                 # thread safe: queued into its loop
            call_in_loop(conn.loop, lambda: None)
            c.sendall(b"held back")
            time.sleep(0.1)
            assert got == []
            conn.start_reading()
            assert wait_for(lambda: b"".join(got) == b"held back")


def test_peer_half_close_still_gets_pending_output(dispatcher, threads):
    # a read of 0 once closed the connection at once, dropping unsent output
    data = os.urandom(8 * MiB)
    with serving(dispatcher, threads) as server:
        with connect(server) as c:
            c.sendall(data)
            c.shutdown(socket.SHUT_WR)          # done sending, still reading
            echoed = recv_until_eof(c)
            assert len(echoed) == len(data)
            assert echoed == data


def test_connection_calls_after_server_stop(dispatcher, threads):
    server = HoldServer(None, "127.0.0.1", 0, threads=threads, dispatcher=dispatcher)
    server.start_background()
    c = connect(server)
    try:
        assert wait_for(lambda: server.conns)
        conn = server.conns[0]
        server.stop()
        for call in (lambda: conn.send(b"late"), conn.shutdown, conn.force_close,
                     conn.stop_reading, conn.start_reading):
            try:
                result = call()
            except RuntimeError:        # the connection's loop is closed
                continue
            assert result in (None, False)
        assert recv_until_eof(c) == b""
    finally:
        c.close()
        server.stop()


def test_shutdown_with_pending_output_and_peer_half_close(dispatcher, threads):
    # the server answers and shuts down; the client half-closes right after
    # its request: the whole answer must still arrive
    payload = os.urandom(8 * MiB)

    class Server(TcpServer):
        def on_message(self, conn, buffer):
            buffer.retrieve_all()
            conn.send(payload)
            conn.shutdown()

    with serving(dispatcher, threads, cls=Server) as server:
        with connect(server) as c:
            c.sendall(b"go")
            c.shutdown(socket.SHUT_WR)
            time.sleep(0.1)             # the EOF reaches the server mid-write
            got = recv_until_eof(c)
            assert len(got) == len(payload)
            assert got == payload

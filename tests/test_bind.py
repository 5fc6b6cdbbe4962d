"""Issue 9: where the master listens.  ``--bind`` (repeatable) with ``HOST:PORT``,
``[V6]:PORT``, ``unix:PATH``, ``fd://N``; systemd socket activation (LISTEN_FDS and
LISTEN_PID, tested by exec'ing a child with the variables and inherited fds);
``--umask``; ``--reuse-port``; and bind errors that name the address.

Real processes, real sockets; servers run in their own session and are killed as a group.
"""
import os
import signal
import socket
import stat
import sys
import textwrap
import time

import pytest

from supervisor_apps.harness import (alive, body_info, copy_app, fetch, proc_stat,
                                     reactor_server, run_reactor, tcp_listeners,
                                     wait_until)


def short_dir(tmp_path):
    """tmp_path, for a unix socket path (108 bytes at most)."""
    return str(tmp_path)


# ------------------------------------------------------------------ unix:

def test_unix_bind_next_to_tcp_stale_file_umask_and_cleanup(tmp_path):
    copy_app(tmp_path)
    path = os.path.join(short_dir(tmp_path), "r.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)        # a socket file nobody listens on (a crashed server's)
    stale.close()
    assert stat.S_ISSOCK(os.stat(path).st_mode)
    with reactor_server("svapp:app", "-b", "127.0.0.1:0", "-b", "unix:" + path,
                        "--umask", "0o077", "-w", "2", "--threads", "1",
                        "--graceful-timeout", "3", cwd=tmp_path) as srv:
        workers = srv.wait_workers(2)
        assert srv.port and "unix:" + path in srv.line, srv.line
        st = os.stat(path)
        assert stat.S_ISSOCK(st.st_mode)
        assert st.st_mode & 0o777 == 0o700, "--umask 0o077: mode %o" % (st.st_mode & 0o777)
        for _ in range(10):
            status, _, body = fetch(None, unix=path)
            assert status == 200 and body_info(body)[0] in workers
        status, _, body = fetch(srv.port)
        assert status == 200 and body_info(body)[0] in workers
        srv.signal(signal.SIGTERM)
        assert srv.wait(6) == 0, srv.stderr()
    assert not os.path.exists(path), "the unix socket file outlived the server"


def _process_umask():
    old = os.umask(0o022)
    os.umask(old)
    return old


def test_unix_socket_file_survives_reloads_and_retired_workers(tmp_path):
    # workers leaving gracefully (HUP, TTOU; --max-requests takes the same path) must
    # not remove the socket file the master owns
    copy_app(tmp_path)
    path = os.path.join(short_dir(tmp_path), "keep.sock")
    with reactor_server("svapp:app", "-b", "unix:" + path, "-w", "2", "--threads", "1",
                        "--graceful-timeout", "3", cwd=tmp_path) as srv:
        old = srv.wait_workers(2)
        assert fetch(None, unix=path)[0] == 200
        srv.signal(signal.SIGHUP)
        new = srv.wait_workers(2, timeout=8, exclude=old)
        assert wait_until(lambda: not any(alive(p) for p in old), 5)
        assert stat.S_ISSOCK(os.stat(path).st_mode), "HUP removed the socket file"
        for _ in range(5):
            assert body_info(fetch(None, unix=path)[2])[0] in new
        srv.signal(signal.SIGTTOU)
        srv.wait_workers(1, timeout=5)
        time.sleep(0.2)
        assert stat.S_ISSOCK(os.stat(path).st_mode), "TTOU removed the socket file"
        assert fetch(None, unix=path)[0] == 200


@pytest.mark.parametrize("umask,mode", [(None, None), ("007", 0o770), ("0", 0o777),
                                        ("0o027", 0o750)],
                         ids=["default", "007", "0", "0o027"])
def test_umask_applies_to_the_unix_socket_file(tmp_path, umask, mode):
    copy_app(tmp_path)
    path = os.path.join(short_dir(tmp_path), "u.sock")
    extra = ("--umask", umask) if umask is not None else ()
    with reactor_server("svapp:app", "-b", "unix:" + path, *extra, "--threads", "0",
                        cwd=tmp_path) as srv:
        assert fetch(None, unix=path)[0] == 200
        got = os.stat(path).st_mode & 0o777
        if mode is None:    # the spec's default 0o022, or the process's umask
            assert got in (0o755, 0o777 & ~_process_umask()), "default umask: mode %o" % got
        else:
            assert got == mode, "--umask %s: mode %o, expected %o" % (umask, got, mode)
        assert srv.proc.poll() is None


def test_unix_socket_in_use_is_an_error_and_left_alone(tmp_path):
    copy_app(tmp_path)
    path = os.path.join(short_dir(tmp_path), "busy.sock")
    owner = socket.socket(socket.AF_UNIX)
    try:
        owner.bind(path)
        owner.listen(8)
        rc, out, err = run_reactor("svapp:app", "-b", "unix:" + path, "--threads", "0",
                                   cwd=tmp_path, timeout=15)
        assert rc == 2, (rc, err)
        assert "unix:" + path in err, err
        assert "Traceback" not in err, err
        # the socket of whoever is listening there is intact
        assert stat.S_ISSOCK(os.stat(path).st_mode)
        c = socket.socket(socket.AF_UNIX)
        c.settimeout(2)
        try:
            c.connect(path)
            conn, _ = owner.accept()
            conn.close()
        finally:
            c.close()
    finally:
        owner.close()


# ------------------------------------------------------------------ fd:// and systemd

def listening_tcp():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    return s


def test_fd_bind_serves_an_inherited_socket(tmp_path):
    copy_app(tmp_path)
    sock = listening_tcp()
    try:
        port = sock.getsockname()[1]
        fd = sock.fileno()
        with reactor_server("svapp:app", "-b", "fd://%d" % fd, "-w", "2", "--threads", "1",
                            cwd=tmp_path, pass_fds=[fd]) as srv:
            workers = srv.wait_workers(2)
            if srv.port is not None:
                assert srv.port == port, srv.line
            for _ in range(5):
                status, _, body = fetch(port)
                assert status == 200 and body_info(body)[0] in workers
    finally:
        sock.close()


# exec()s reactor with the inherited sockets moved to fds 3.. and LISTEN_FDS/LISTEN_PID
# set, the way systemd does (exec keeps the pid, so LISTEN_PID can name the master)
ACTIVATE = textwrap.dedent(r'''
    import fcntl, os, sys
    fds = [int(x) for x in sys.argv[1].split(",")]
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
    for fd in fds:
        os.close(fd)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)          # inheritable
        os.close(fd)
    os.environ["LISTEN_FDS"] = str(len(fds))
    os.environ["LISTEN_PID"] = sys.argv[2] if sys.argv[2] != "self" else str(os.getpid())
    os.execv(sys.executable, [sys.executable, "-m", "reactor"] + sys.argv[3:])
''')


def activate_argv(tmp_path, fds, listen_pid, *args):
    script = tmp_path / "activate.py"
    script.write_text(ACTIVATE)
    return [sys.executable, str(script), ",".join(map(str, fds)), listen_pid, *args]


def test_listen_fds_socket_activation_replaces_bind(tmp_path):
    copy_app(tmp_path)
    tcp = listening_tcp()
    upath = os.path.join(short_dir(tmp_path), "sd.sock")
    unix = socket.socket(socket.AF_UNIX)
    ignored = os.path.join(short_dir(tmp_path), "ignored.sock")
    try:
        unix.bind(upath)
        unix.listen(128)
        port = tcp.getsockname()[1]
        fds = [tcp.fileno(), unix.fileno()]
        argv = activate_argv(tmp_path, fds, "self", "svapp:app", "-b", "unix:" + ignored,
                             "-w", "2", "--threads", "1")
        with reactor_server(cwd=tmp_path, argv=argv, pass_fds=fds) as srv:
            workers = srv.wait_workers(2)
            for _ in range(5):
                status, _, body = fetch(port)
                assert status == 200 and body_info(body)[0] in workers
                status, _, body = fetch(None, unix=upath)
                assert status == 200 and body_info(body)[0] in workers
            assert not os.path.exists(ignored), \
                "--bind was used although LISTEN_FDS named the sockets"
    finally:
        tcp.close()
        unix.close()


def test_listen_fds_for_another_pid_are_not_used(tmp_path):
    copy_app(tmp_path)
    tcp = listening_tcp()
    try:
        port = tcp.getsockname()[1]
        argv = activate_argv(tmp_path, [tcp.fileno()], "1", "svapp:app", "-b", "127.0.0.1:0",
                             "--threads", "0")
        with reactor_server(cwd=tmp_path, argv=argv, pass_fds=[tcp.fileno()]) as srv:
            assert srv.port and srv.port != port, srv.line
            assert fetch(srv.port)[0] == 200
    finally:
        tcp.close()


# ------------------------------------------------------------------ IPv6

def ipv6_loopback_usable():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


@pytest.mark.skipif(not ipv6_loopback_usable(), reason="::1 is not usable here")
def test_ipv6_bind(tmp_path):
    copy_app(tmp_path)
    with reactor_server("svapp:app", "-b", "[::1]:0", "--threads", "0", cwd=tmp_path) as srv:
        assert "[::1]" in srv.line and srv.port, srv.line
        status, _, body = fetch(srv.port, host="::1")
        assert status == 200 and body_info(body)[0] in srv.workers()


# ------------------------------------------------------------------ --reuse-port

@pytest.mark.parametrize("reuse", [True, False], ids=["reuse-port", "shared"])
def test_reuse_port_gives_each_worker_its_own_listener(tmp_path, reuse):
    copy_app(tmp_path)
    extra = ("--reuse-port",) if reuse else ()
    with reactor_server("svapp:app", "-b", "127.0.0.1:0", "-w", "2", "--threads", "1", *extra,
                        cwd=tmp_path) as srv:
        workers = srv.wait_workers(2)
        n = tcp_listeners(srv.port)
        seen = set()
        for _ in range(60):     # every connection is answered (no orphan listener)
            status, _, body = fetch(srv.port, timeout=3)
            assert status == 200
            seen.add(body_info(body)[0])
        assert seen <= set(workers)
        if reuse:
            assert n >= 2, "--reuse-port: %d listening socket(s) on the port" % n
            assert seen == set(workers), "SO_REUSEPORT spreads 60 connections over both " \
                "workers; only %s answered" % seen
        else:
            assert n == 1, "without --reuse-port the workers share one socket; %d found" % n


# ------------------------------------------------------------------ bind errors

def in_use_tcp():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    return s


@pytest.mark.parametrize("case", ["port-in-use", "second-of-two-in-use", "not-local",
                                  "unix-no-dir", "fd-not-open", "bad-syntax"])
def test_bind_error_names_the_address_and_exits_2(tmp_path, case):
    copy_app(tmp_path)
    busy = in_use_tcp() if "in-use" in case else None
    try:
        if case == "port-in-use":
            addr = "127.0.0.1:%d" % busy.getsockname()[1]
            binds = [addr]
        elif case == "second-of-two-in-use":
            addr = "127.0.0.1:%d" % busy.getsockname()[1]
            binds = ["127.0.0.1:0", addr]
        elif case == "not-local":
            with open("/proc/sys/net/ipv4/ip_nonlocal_bind") as f:
                if f.read().strip() != "0":
                    pytest.skip("ip_nonlocal_bind is on")
            addr = "192.0.2.1:8080"     # TEST-NET-1, on no interface
            binds = [addr]
        elif case == "unix-no-dir":
            addr = "unix:" + os.path.join(short_dir(tmp_path), "no", "such", "dir.sock")
            binds = [addr]
        elif case == "fd-not-open":
            addr = "fd://97"
            binds = [addr]
        else:
            addr = "localhost:notaport"
            binds = [addr]
        args = ["svapp:app", "--threads", "0"]
        for b in binds:
            args += ["-b", b]
        rc, out, err = run_reactor(*args, cwd=tmp_path, timeout=15)
        assert rc == 2, (rc, err)
        assert addr in err, "the error does not name %s:\n%s" % (addr, err)
        assert "Traceback" not in err, err
        assert "serving" not in err, err
        if case == "port-in-use":
            assert "reactor: cannot bind %s: [Errno 98]" % addr in err, err
        if case == "not-local":
            assert "reactor: cannot bind %s: [Errno 99]" % addr in err, err
    finally:
        if busy is not None:
            busy.close()


def test_bind_error_leaves_no_worker_behind(tmp_path):
    # a failed start must not leave a worker running (a process in the group)
    copy_app(tmp_path)
    busy = in_use_tcp()
    try:
        with reactor_server("svapp:app", "-b", "127.0.0.1:0", "-b",
                            "127.0.0.1:%d" % busy.getsockname()[1], "-w", "2",
                            cwd=tmp_path, ready=False) as srv:
            assert srv.wait(15) == 2
            pgid_members = [int(p) for p in os.listdir("/proc") if p.isdigit()
                            and (proc_stat(int(p)) or (0, 0, 0))[2] == srv.pid
                            and alive(int(p))]
            assert not pgid_members, pgid_members
    finally:
        busy.close()


# ------------------------------------------------------------------ the API under --bind

def test_http_server_serves_the_sockets_it_is_given(tmp_path):
    # HttpServer(sockets=[...]): already-bound listening sockets (what a worker gets
    # from its master), one TCP and one unix, in-process
    from reactor.http_server import HttpServer
    tcp = listening_tcp()
    path = os.path.join(short_dir(tmp_path), "api.sock")
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(path)
    unix.listen(64)
    port = tcp.getsockname()[1]
    server = HttpServer(lambda req: b"given " + req.path.encode(), sockets=[tcp, unix],
                        threads=1)
    try:
        server.start()
        for _ in range(3):
            status, _, body = fetch(port)
            assert (status, body) == (200, b"given /")
            status, _, body = fetch(None, unix=path)
            assert (status, body) == (200, b"given /")
    finally:
        server.stop()
        tcp.close()
        unix.close()

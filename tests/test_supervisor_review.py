"""Issue 9, the review's findings: each test failed before its fix.

- a worker that keeps failing to start while another one is healthy is
  restarted with growing delays, not in a fork storm;
- a graceful stop refuses new connections at once (the master closes its
  listening sockets) instead of accepting them and resetting them later;
- behind a proxy on a unix socket the X-Forwarded-* headers are trusted (the
  peer is local by construction, as under gunicorn);
- a worker that is sent SIGTERM directly gets a successor at once, and its
  clean exit is not logged as an error;
- a --pid file that cannot be written, and a REACTOR_PORT injected by a
  Kubernetes Service, give clear outcomes rather than a traceback.
"""
import os
import signal
import socket
import time

import pytest

from supervisor_apps.harness import (ENV, alive, connect_tcp, copy_app, fetch, reactor_server,
                                     run_reactor, wait_until)


@pytest.mark.slow     # several seconds: run by .ci/run, not by the README command
def test_crash_backoff_holds_while_another_worker_is_healthy(tmp_path):
    app = copy_app(tmp_path)
    with reactor_server("svapp:app", "-b", "127.0.0.1:0", "-w", "2", "--threads", "0",
                        cwd=tmp_path) as srv:
        w1, w2 = srv.wait_workers(2)
        time.sleep(5.5)                 # both have been up longer than STABLE_AFTER
        with open(app, "a") as f:       # the code on disk breaks (no HUP)
            f.write("\nraise RuntimeError('broken deploy')\n")
        mark = len(srv.stderr())
        os.kill(w1, signal.SIGKILL)
        time.sleep(3.0)
        attempts = srv.stderr(mark).count("failed to start")
        # 0.1, 0.2, 0.4, 0.8, 1.6 s ...: a handful in 3 s, not hundreds
        assert 1 <= attempts <= 8, (attempts, srv.stderr(mark)[-2000:])
        assert "keep dying" in srv.stderr(mark)
        assert fetch(srv.port)[0] == 200       # the healthy worker serves on


@pytest.mark.slow     # several seconds: run by .ci/run, not by the README command
def test_graceful_stop_refuses_new_connections_at_once(tmp_path):
    copy_app(tmp_path)
    with reactor_server("svapp:app", "-b", "127.0.0.1:0", "-w", "2", "--threads", "1",
                        "--graceful-timeout", "5", cwd=tmp_path) as srv:
        srv.wait_workers(2)
        port = srv.port
        slow = connect_tcp(port)
        slow.sendall(b"GET /slow?2 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        srv.signal(signal.SIGTERM)
        time.sleep(0.5)
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=2)
        except ConnectionRefusedError:
            refused = True
        else:
            refused = False
            s.close()
        assert refused, "a connection made during the drain was accepted (and would be " \
                        "reset when the master exits)"
        slow.settimeout(10)
        assert b"200 OK" in slow.recv(4096)     # the in-flight request still finishes
        slow.close()
        assert srv.wait(10) == 0


def test_forwarded_headers_are_trusted_from_a_unix_socket_peer(tmp_path):
    copy_app(tmp_path)
    path = str(tmp_path / "app.sock")
    with reactor_server("svapp:app", "-b", "unix:" + path, "-b", "127.0.0.1:0",
                        "--threads", "0", cwd=tmp_path) as srv:
        srv.wait_workers(1)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(path)
        s.sendall(b"GET /env HTTP/1.1\r\nHost: example.org\r\nX-Forwarded-For: 203.0.113.9"
                  b"\r\nX-Forwarded-Proto: https\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        body = data.split(b"\r\n\r\n", 1)[1].decode()
        assert "scheme=https" in body and "remote=203.0.113.9" in body, body
        assert "port=0" not in body, body
        # over TCP from 127.0.0.1 (the default --forwarded-allow-ips) it is trusted too,
        # and from elsewhere it would not be: that is test_wsgi's business


@pytest.mark.slow     # several seconds: run by .ci/run, not by the README command
def test_worker_sent_sigterm_directly_gets_a_successor_at_once(tmp_path):
    copy_app(tmp_path)
    with reactor_server("svapp:app", "-b", "127.0.0.1:0", "-w", "1", "--threads", "1",
                        "--graceful-timeout", "5", cwd=tmp_path) as srv:
        (old,) = srv.wait_workers(1)
        slow = connect_tcp(srv.port)
        slow.sendall(b"GET /slow?3 HTTP/1.1\r\nHost: t\r\n\r\n")
        time.sleep(0.3)
        mark = len(srv.stderr())
        os.kill(old, signal.SIGTERM)    # a gunicorn habit: TERM one worker
        time.sleep(0.3)                 # it has stopped accepting (a connection racing the
        t0 = time.monotonic()           # signal may still land on it, and wait its turn)
        status = fetch(srv.port, timeout=10)[0]
        took = time.monotonic() - t0
        assert status == 200
        assert took < 1.5, "a new request waited %.1fs for the draining worker" % took
        slow.settimeout(10)
        assert b"200 OK" in slow.recv(4096)
        slow.close()
        # the worker may be reaped between two looks at /proc: alive() reads it once
        assert wait_until(lambda: not alive(old), 10)
        time.sleep(0.5)
        assert "ERROR" not in srv.stderr(mark), srv.stderr(mark)


def test_pid_file_in_a_missing_directory_is_a_clear_error(tmp_path):
    copy_app(tmp_path)
    rc, out, err = run_reactor("svapp:app", "-b", "127.0.0.1:0", "--pid",
                               str(tmp_path / "no" / "such" / "dir" / "x.pid"), cwd=tmp_path)
    assert rc == 2, (rc, err)
    assert "--pid" in err and "Traceback" not in err, err


def test_kubernetes_service_variables_do_not_stop_the_server(tmp_path):
    # a Service named "reactor" gives every pod REACTOR_PORT=tcp://IP:PORT (and
    # REACTOR_SERVICE_HOST ...): that is not a setting
    copy_app(tmp_path)
    env = dict(ENV, REACTOR_PORT="tcp://10.0.0.7:80", REACTOR_PORT_80_TCP="tcp://10.0.0.7:80",
               REACTOR_SERVICE_HOST="10.0.0.7")
    with reactor_server("svapp:app", "-b", "127.0.0.1:0", "--threads", "0", cwd=tmp_path,
                        env=env) as srv:
        assert fetch(srv.port)[0] == 200


def test_sigusr1_reopens_log_files_and_keeps_serving(tmp_path):
    copy_app(tmp_path)
    log = tmp_path / "access.log"
    with reactor_server("svapp:app", "-b", "127.0.0.1:0", "-w", "2", "--threads", "0",
                        "--access-log", str(log), cwd=tmp_path) as srv:
        srv.wait_workers(2)
        assert fetch(srv.port, "/before")[0] == 200
        assert wait_until(lambda: "/before" in log.read_text(), 5)
        os.rename(log, tmp_path / "access.log.1")   # what logrotate does
        srv.signal(signal.SIGUSR1)
        time.sleep(0.5)
        assert fetch(srv.port, "/after")[0] == 200
        assert wait_until(lambda: log.exists() and "/after" in log.read_text(), 5), \
            srv.stderr()[-2000:]
        assert srv.proc.poll() is None


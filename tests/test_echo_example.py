"""examples/echo_server.py as a user runs it: a subprocess on a free port."""
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT, free_port, recv_exact

EXAMPLE = os.path.join(ROOT, "examples", "echo_server.py")


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "echo server exited early: %r" % (proc.communicate(),)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail("echo server did not listen on %d within %.0fs" % (port, timeout))


@pytest.mark.parametrize("threads", [2])
def test_echo_example(dispatcher, threads):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, EXAMPLE, "--host", "127.0.0.1", "--port", str(port),
         "--threads", str(threads), "--dispatcher", dispatcher],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        wait_listening(port, proc)
        socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(5)]
        for i, s in enumerate(socks):
            data = os.urandom(1000 + 70000 * i)
            s.sendall(data)
            assert recv_exact(s, len(data)) == data
        for s in socks:
            s.close()
        time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out == b""                   # nothing printed per connection
    assert err == b""


def test_echo_example_sigint(dispatcher):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, EXAMPLE, "--port", str(port), "--threads", "0",
         "--dispatcher", dispatcher],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        wait_listening(port, proc)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"single reactor")
            assert recv_exact(s, 14) == b"single reactor"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out == b"" and err == b""


def test_echo_example_bad_arguments():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, EXAMPLE, "--dispatcher", "kqueue"],
                          capture_output=True, env=env, cwd=ROOT, timeout=30)
    assert proc.returncode == 2                 # argparse rejects it
    assert b"invalid choice" in proc.stderr

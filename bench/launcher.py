"""Start one server process pinned to a CPU set, wait until it answers, stop it.

    with RunningServer(spec, server_cpus="1", cwd=repo_root) as srv:
        srv.port, srv.pid      # pid = root of the server's process tree

The server runs in its own session (so the whole group can be signalled),
its output goes to a log file in a temporary directory (shown when it fails
to start), and readiness means ``GET /`` answered ``200`` with the expected
13-byte body (a file server is asked for a file and its bytes instead).
``fetch(port, path)`` returns the status, headers and body of one ``GET``
(the harness checks the flask-* and files-* responses with it before timing).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from bench.servers.common import BODY

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


class ServerError(Exception):
    """The server did not start or did not answer correctly."""


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pin_prefix(cpus):
    """``["taskset", "-c", cpus]``, or [] when there is nothing to pin or no taskset."""
    if not cpus or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", cpus]


def probe(port, timeout=2.0, path="/"):
    """One ``GET path`` with ``Connection: close``; returns ``(status, body)``."""
    status, _, body = fetch(port, path, timeout)
    return status, body


def fetch(port, path="/", timeout=2.0):
    """One ``GET path`` with ``Connection: close``; returns ``(status, headers, body)``
    with ``headers`` a dict of lower-cased names (the last value of a repeated one)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                  % path.encode())
        data = bytearray()
        while True:
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0 and _body_complete(data, head_end):
                break
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = dechunk(body)
    return status, headers, body


def dechunk(data):
    """The payload of a chunked body (trailers dropped; a truncated one as far as it goes)."""
    out = []
    while data:
        size_line, sep, data = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0].strip(), 16)
        except ValueError:
            break
        if not sep or size == 0:
            break
        out.append(data[:size])
        data = data[size + 2:]
    return b"".join(out)


def _body_complete(data, head_end):
    for line in data[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(data) >= head_end + 4 + int(value.strip())
    return False


class RunningServer:
    """A started server (a context manager; ``stop()`` is idempotent)."""

    def __init__(self, spec, server_cpus="1", cwd=None, env=None, port=None, preexec_fn=None):
        self.spec = spec
        self.port = port or free_port()
        self.workdir = tempfile.mkdtemp(prefix="bench-%s-" % spec.name)
        self.log_path = os.path.join(self.workdir, "server.log")
        argv = pin_prefix(server_cpus) + spec.argv(self.port, self.workdir)
        self.argv = argv
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=preexec_fn)
        self.pid = self.proc.pid

    def log_tail(self, lines=15):
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def wait_ready(self, timeout=READY_TIMEOUT, paths=("/",), body=BODY):
        """Poll until ``GET`` of each path answers 200 with ``body`` (Hello World
        unless told); raise ServerError."""
        expected = body
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError("%s exited with code %d before answering:\n%s" % (
                    self.spec.name, self.proc.returncode, self.log_tail()))
            try:
                answers = [(path,) + probe(self.port, path=path) for path in paths]
            except OSError as exc:
                last = str(exc)
                time.sleep(0.05)
                continue
            for path, status, body in answers:
                if status != 200 or body != expected:
                    raise ServerError("%s answered %d %r%s, expected 200 %r" % (
                        self.spec.name, status, body[:60],
                        "" if path == "/" else " to GET " + path, expected[:60]))
            return self
        raise ServerError("%s not ready after %.0fs (%s):\n%s" % (
            self.spec.name, timeout, last, self.log_tail()))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM the process group, SIGKILL it after STOP_TIMEOUT; clean up."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait()
        self._signal(signal.SIGKILL)        # stray children of the group, if any
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _signal(self, signum):
        try:
            os.killpg(self.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

"""Soak test: millions of requests and thousands of connections, then check the server's RSS.

``python -m bench.soak`` (``--help`` for every flag; ``--quick`` is 10x smaller).

One reactor server runs in a subprocess (``python -m bench.soak --serve``): an
``HttpServer`` with ``--threads 1`` whose ``/py`` is answered by a Python
handler and whose ``/static`` is a ``route_static`` route answered in C, both
with the 13-byte ``Hello, World!``; ``/stats`` returns ``HttpServer.stats()``
as JSON.  The server is pinned with ``taskset`` to ``--server-cpus`` and the
load generator (wrk, or this process) to ``--client-cpus``; RLIMIT_NOFILE is
raised for both.  Every path is soaked through both routes:

  warm-up     keep-alive requests, ``Connection: close`` requests and
              --warmup-idle-rounds rounds of idle connections, as many as an
              idle round (10k idle connections leave ~12 MB of allocator
              high-water that 1k would not reach, and the RSS after closing
              them settles only after 2-3 rounds), so the reference RSS is
              taken at the allocator's high-water mark
  keep-alive  --keepalive-requests over 64 keep-alive connections (half to
              /static, half to /py); wrk runs again until the number of
              responses it *completed* reaches the target
  close       --close-requests with ``Connection: close``: a new TCP
              connection per request
  idle        --idle-rounds rounds of --idle-connections keep-alive
              connections that each make one request, are held open for
              --idle-hold seconds, then closed

After each phase the harness waits until the server has closed every client
socket, lets it settle, and reads its VmRSS from /proc/<pid>/status.  The
run FAILs (exit 1) when the RSS grew by more than --max-growth-mb from after
the warm-up to the end, when a phase did not complete its count (or timed
out), when there were errors, or when the server died.  ``--save`` writes
the results to bench/results/<UTC timestamp>-soak.json.

Without wrk, a small raw-socket client in this process does the load
(pipelined keep-alive requests, one connection per close request); it is
slower than wrk, so the phase timeouts are more likely to bite.
"""
import argparse
import datetime
import json
import os
import resource
import selectors
import socket
import sys
import time

if __package__ in (None, ""):       # run as a script: python bench/soak.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import idle, proctree                                         # noqa: E402
from bench import wrk as wrk_mod                                         # noqa: E402
from bench.launcher import RunningServer, ServerError, pin_prefix, probe  # noqa: E402
from bench.run import child_env, parse_cpus, raise_nofile                # noqa: E402
from bench.servers import ServerSpec                                     # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "bench", "results")

HOST = "127.0.0.1"
BODY = b"Hello, World!"
PATHS = ("/static", "/py")            # the C route, then the Python handler
QUICK_FACTOR = 10

# full-size defaults; --quick divides the counts by QUICK_FACTOR
DEFAULTS = {
    "keepalive_requests": 2_000_000,
    "close_requests": 200_000,
    "idle_connections": 10_000,
    "warmup_requests": 100_000,
    "warmup_close": 10_000,
    "warmup_idle": None,              # None: --idle-connections (see resolve())
}
START_ATTEMPTS = 4                    # an import may fail while the extension is rebuilt
CONNECT_BATCH = 256                   # idle/raw client: connections being set up at once


# ---- the server (runs in the child process) ------------------------------------------------

def serve(port, threads, keep_alive_timeout):
    """Run the soak server until SIGTERM/SIGINT."""
    from reactor import HttpResponse, HttpServer

    holder = {}

    def handler(request):
        if request.path in ("/py", "/"):
            return HttpResponse(BODY, content_type="text/plain")
        if request.path == "/stats":
            body = json.dumps(holder["server"].stats()).encode()
            return HttpResponse(body, content_type="application/json")
        return HttpResponse(b"not found\n", 404, content_type="text/plain")

    server = HttpServer(handler, host=HOST, port=port, threads=threads,
                        keep_alive_timeout=keep_alive_timeout)
    holder["server"] = server
    server.route_static("/static", BODY, content_type="text/plain")
    server.serve_forever()


# ---- HTTP on raw sockets (the fallback load client) ----------------------------------------

def request_bytes(path, close=False):
    return ("GET %s HTTP/1.1\r\nHost: soak\r\n%s\r\n"
            % (path, "Connection: close\r\n" if close else "")).encode()


def parse_responses(buf, pos):
    """Parse complete responses in ``buf[pos:]``.

    Returns ``(n_complete, n_not_ok, new_pos)``; a response is ok when its
    status is 200 and its body is BODY.
    """
    done = bad = 0
    while True:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = bytes(buf[pos:end]).lower()
        length = 0
        i = head.find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            length = int(head[i + 17:j if j >= 0 else len(head)].strip())
        if len(buf) < end + 4 + length:
            break
        if head[9:12] != b"200" or buf[end + 4:end + 4 + length] != BODY:
            bad += 1
        done += 1
        pos = end + 4 + length
    return done, bad, pos


def server_stats(port):
    """``{"accepted", "requests", "static_requests", "connections"}`` summed over loops."""
    try:
        status, body = probe(port, timeout=3.0, path="/stats")
        loops = json.loads(body) if status == 200 else None
    except (OSError, ValueError):
        return None
    if not loops:
        return None
    keys = ("accepted", "requests", "static_requests", "connections")
    return {k: sum(int(loop.get(k, 0)) for loop in loops) for k in keys}


class _Conn:
    __slots__ = ("sock", "buf", "pos", "sent", "outstanding")

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.sent = False
        self.outstanding = 0


def _connect_nb(sel, port):
    """Start a non-blocking connect; return the _Conn or None (counted as an error)."""
    s = idle.connect_nb(HOST, port)
    if s is None:
        return None
    conn = _Conn(s)
    sel.register(s, selectors.EVENT_WRITE, conn)
    return conn


def _feed(conn):
    """Read what is there into ``conn.buf`` and parse; ``(n, bad, eof)``; raises OSError."""
    chunk = conn.sock.recv(262144)
    if not chunk:
        return 0, 0, True
    conn.buf += chunk
    n, bad, conn.pos = parse_responses(conn.buf, conn.pos)
    if conn.pos > 65536:
        del conn.buf[:conn.pos]
        conn.pos = 0
    return n, bad, False


def raw_load(port, path, target, connections, close, deadline, pipeline=16):
    """The fallback load generator: ``target`` requests to ``path``.

    Keep-alive: ``connections`` sockets, each writing ``pipeline`` requests at
    once and waiting for all their answers before the next write.  Close: one
    request with ``Connection: close`` per connection, which must then see the
    server's EOF.  Requests are reserved before they are sent, so no more than
    ``target`` are sent unless a connection fails (its unanswered requests are
    sent again on a new one).  Returns ``{"requests", "errors", "timed_out"}``
    where requests counts complete ``200 Hello, World!`` responses.
    """
    sel = selectors.DefaultSelector()
    issued = done = errors = 0
    per_write = 1 if close else pipeline
    req = request_bytes(path, close=close)

    def drop(conn, failed):
        nonlocal issued, errors
        if failed:
            errors += 1
        issued -= max(conn.outstanding, 0)     # unanswered: to be sent again
        sel.unregister(conn.sock)
        conn.sock.close()

    try:
        while done < target and time.monotonic() < deadline:
            while issued < target and len(sel.get_map()) < connections:
                conn = _connect_nb(sel, port)
                if conn is None:
                    errors += 1
                    break
                conn.outstanding = min(per_write, target - issued)
                issued += conn.outstanding
            for key, _ in sel.select(0.2):
                conn = key.data
                try:
                    if not conn.sent:
                        if conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                            drop(conn, True)
                            continue
                        conn.sock.sendall(req * conn.outstanding)   # <= 16 short requests
                        conn.sent = True
                        sel.modify(conn.sock, selectors.EVENT_READ, conn)
                        continue
                    n, bad, eof = _feed(conn)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    drop(conn, True)
                    continue
                done += n - bad
                errors += bad
                conn.outstanding -= n
                if eof:
                    drop(conn, conn.outstanding > 0 or not close)
                elif conn.outstanding <= 0 and not close:
                    k = min(per_write, target - issued)
                    if k <= 0:
                        drop(conn, False)
                        continue
                    conn.outstanding = k
                    issued += k
                    conn.sock.sendall(req * k)
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()
    return {"requests": done, "errors": errors, "timed_out": done < target}


def open_idle(port, n, deadline):
    """Open ``n`` connections, alternating /static and /py, each answered once with BODY."""
    return idle.open_idle(HOST, port, n, batch=CONNECT_BATCH,
                          timeout=deadline - time.monotonic(), paths=PATHS, expect=BODY)


# ---- the server process ----------------------------------------------------------------

def _set_nofile(limit):
    def apply():
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        except (ValueError, OSError):
            pass
    return apply


def read_limit_nofile(pid):
    try:
        with open("/proc/%d/limits" % pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


def read_memory(pid):
    """``{"VmRSS", "RssAnon", "RssFile", "VmHWM"}`` in kB from /proc/<pid>/status."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                    out[name] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def start_server(args):
    """The soak server in its own session, pinned, with its fd limit raised; once it answers.

    Returns a ``RunningServer``; raises ServerError after START_ATTEMPTS failures.
    """
    spec = ServerSpec("soak", lambda port, workdir: [
        sys.executable, "-m", "bench.soak", "--serve", "--port", str(port),
        "--threads", str(args.threads)])
    for attempt in range(1, START_ATTEMPTS + 1):
        server = RunningServer(spec, args.server_cpus, cwd=ROOT, env=child_env(),
                               preexec_fn=_set_nofile(args.server_nofile))
        try:
            return server.wait_ready(paths=PATHS)
        except ServerError:
            tail = server.log_tail(5)
            server.stop()
            if attempt == START_ATTEMPTS:
                raise
            print("  server did not start (attempt %d), retrying in 5 s:\n%s"
                  % (attempt, tail), flush=True)
            time.sleep(5)


# ---- phases ------------------------------------------------------------------------------

class Soak:
    def __init__(self, args, use_wrk):
        self.args = args
        self.use_wrk = use_wrk
        self.server = None
        self.base_sockets = None
        self.rows = []            # one dict per phase
        self.problems = []        # strings: why the run fails
        self.client_pin = pin_prefix(args.client_cpus)
        self.wrk_threads = args.wrk_threads or max(1, len(parse_cpus(args.client_cpus) or {0}))

    # -- measurement --

    def settle(self, timeout=None, settle=None):
        """Wait until the server holds no client socket, then ``--settle`` more seconds."""
        timeout = self.args.settle_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        count = self.server_sockets()
        while count > self.base_sockets and time.monotonic() < deadline:
            time.sleep(0.05)
            count = self.server_sockets()
        time.sleep(self.args.settle if settle is None else settle)
        return count - self.base_sockets

    def record(self, name, kind, target=None, done=None, errors=0, seconds=0.0,
               timed_out=False, extra=None):
        leftover = self.settle()
        alive = self.server.alive()
        mem = read_memory(self.server.pid) if alive else {}
        stats = server_stats(self.server.port) if alive else None
        row = {"phase": name, "kind": kind, "target": target, "done": done,
               "errors": errors, "seconds": round(seconds, 2), "timed_out": timed_out,
               "memory_kb": mem, "rss_kb": mem.get("VmRSS"), "server_stats": stats,
               "leftover_sockets": leftover, "server_alive": alive}
        if extra:
            row.update(extra)
        if self.rows and self.rows[-1].get("server_stats") and stats:
            prev = self.rows[-1]["server_stats"]
            row["server_delta"] = {k: stats[k] - prev[k] for k in
                                   ("accepted", "requests", "static_requests")}
        self.rows.append(row)
        self.check_row(row)
        print_row(row, self.reference_kb())
        return row

    def check_row(self, row):
        name = row["phase"]
        if not row["server_alive"]:
            self.problems.append("%s: the server died (exit %s):\n%s" % (
                name, self.server.proc.returncode, self.server.log_tail()))
            return
        if row["target"] is not None and (row["done"] or 0) < row["target"]:
            self.problems.append("%s: %s of %s %s%s" % (
                name, fmt_int(row["done"]), fmt_int(row["target"]), row["unit"],
                " (phase timed out)" if row["timed_out"] else ""))
        if row["errors"]:
            self.problems.append("%s: %s errors" % (name, fmt_int(row["errors"])))
        if row["leftover_sockets"] > 0:
            self.problems.append("%s: the server still held %d client sockets %.0fs later"
                                 % (name, row["leftover_sockets"], self.args.settle_timeout))
        if row.get("held_after_hold") is not None and row["held_after_hold"] < (row["done"] or 0):
            self.problems.append("%s: only %s of %s idle connections still open after %.1fs"
                                 % (name, fmt_int(row["held_after_hold"]), fmt_int(row["done"]),
                                    self.args.idle_hold))
        server_held = row.get("server_connections_while_held")
        if server_held is not None and server_held < (row["done"] or 0):
            self.problems.append("%s: the server held %s sockets for %s idle connections"
                                 % (name, fmt_int(server_held), fmt_int(row["done"])))
        served = server_count(row)
        if served is not None and row["done"] and served < row["done"]:
            self.problems.append("%s: the server counted %s %s requests, the client %s"
                                 % (name, fmt_int(served), row["path"], fmt_int(row["done"])))

    def server_sockets(self):
        return proctree.socket_count([self.server.pid])

    def reference_kb(self):
        for row in self.rows:
            if row["phase"] == "after warm-up":
                return row["rss_kb"]
        return None

    # -- load --

    def requests(self, name, path, target, close, timeout, kind="keep-alive"):
        """Send ``target`` requests to ``path``; record a row."""
        started = time.monotonic()
        deadline = started + timeout
        conns = self.args.close_connections if close else self.args.connections
        if self.use_wrk:
            done, errors, timed_out, runs = self._wrk_until(path, target, conns, close, deadline)
        else:
            r = raw_load(self.server.port, path, target, conns, close, deadline)
            done, errors, timed_out, runs = r["requests"], r["errors"], r["timed_out"], 1
        return self.record(name, kind, target, done, errors, time.monotonic() - started,
                           timed_out, {"path": path, "unit": "responses", "client_runs": runs,
                                       "connection_close": close})

    def _wrk_until(self, path, target, conns, close, deadline):
        """Run wrk again and again until it has completed ``target`` responses."""
        url = "http://%s:%d%s" % (HOST, self.server.port, path)
        done = errors = runs = 0
        rate = None
        while done < target:
            left = deadline - time.monotonic()
            if left < 1.5 or not self.server.alive():
                return done, errors, True, runs
            remaining = target - done
            if rate:                        # aim a little short; a 1 s run tops it up
                seconds = round(remaining / rate * 0.9)
            else:                           # first run: short, to learn the rate
                seconds = 2 if remaining > 20000 else 1
            seconds = int(max(1, min(seconds, left - 1)))
            argv = ["wrk", "-t%d" % min(self.wrk_threads, conns), "-c%d" % conns,
                    "-d%ds" % seconds, "--timeout", "5s"]
            if close:
                argv += ["-H", "Connection: close"]
            argv.append(url)
            try:
                parsed, _ = wrk_mod.run(argv, pin=self.client_pin, timeout=seconds + 30)
            except wrk_mod.WrkError as exc:
                print("  wrk failed: %s" % exc, flush=True)
                errors += 1
                runs += 1
                continue
            runs += 1
            done += parsed["requests"]
            errors += wrk_mod.error_count(parsed)
            if parsed["requests"] > 0 and parsed["duration_s"] > 0:
                rate = parsed["requests"] / parsed["duration_s"]
        return done, errors, False, runs

    def idle_round(self, name, n, kind="idle"):
        started = time.monotonic()
        deadline = started + self.args.phase_timeout
        conns = open_idle(self.server.port, n, deadline)
        opened = time.monotonic() - started
        held = len(conns.socks)
        try:
            time.sleep(self.args.idle_hold)
            held_after = conns.still_open()
            server_conns = self.server_sockets() - self.base_sockets
        finally:
            conns.close()
        return self.record(name, kind, n, held, conns.failed, time.monotonic() - started,
                           conns.timed_out,
                           {"unit": "connections", "held_after_hold": held_after,
                            "server_connections_while_held": server_conns,
                            "open_seconds": round(opened, 2)})

    # -- the whole run --

    def run(self):
        a = self.args
        t = a.phase_timeout
        self.server = start_server(a)
        time.sleep(0.3)
        self.base_sockets = min(self.server_sockets() for _ in range(5))
        limit = read_limit_nofile(self.server.pid)
        print("server pid %d on %s:%d, RLIMIT_NOFILE %s, %s client sockets at rest"
              % (self.server.pid, HOST, self.server.port, limit, self.base_sockets))
        if limit is not None and limit < a.idle_connections + 256:
            self.problems.append("the server's RLIMIT_NOFILE is %d, too low for %d idle "
                                 "connections" % (limit, a.idle_connections))
        print_header()
        self.record("start", "start")
        # warm-up: every path once, then the reference RSS
        started = time.monotonic()
        half = a.warmup_requests // 2
        w = []
        for p in PATHS:
            if half:
                w.append(self._quiet_requests(p, half, False, t))
        for p in PATHS:
            if a.warmup_close // 2:
                w.append(self._quiet_requests(p, a.warmup_close // 2, True, t))
        idle_ok = idle_failed = 0
        for _ in range(a.warmup_idle_rounds if a.warmup_idle else 0):
            conns = open_idle(self.server.port, a.warmup_idle, time.monotonic() + t)
            idle_ok += len(conns.socks)
            idle_failed += conns.failed
            time.sleep(min(a.idle_hold, 1.0))
            conns.close()
            self.settle(settle=0.2)
        target = 2 * half + 2 * (a.warmup_close // 2)
        self.record("after warm-up", "warmup", target, sum(x[0] for x in w),
                    sum(x[1] for x in w) + idle_failed, time.monotonic() - started,
                    any(x[2] for x in w),
                    {"unit": "responses", "warmup_idle_held": idle_ok})
        phases = []
        for p in PATHS:
            if a.keepalive_requests // 2:
                phases.append(lambda p=p: self.requests(
                    "keep-alive %s" % p, p, a.keepalive_requests // 2, False, t))
        for p in PATHS:
            if a.close_requests // 2:
                phases.append(lambda p=p: self.requests(
                    "close %s" % p, p, a.close_requests // 2, True, t, kind="close"))
        for i in range(a.idle_rounds if a.idle_connections else 0):
            phases.append(lambda i=i: self.idle_round("idle round %d" % (i + 1),
                                                      a.idle_connections))
        for phase in phases:
            if not self.server.alive():     # reported once, by the row that saw it die
                return
            phase()

    def _quiet_requests(self, path, target, close, timeout):
        deadline = time.monotonic() + timeout
        conns = self.args.close_connections if close else self.args.connections
        if self.use_wrk:
            done, errors, timed_out, _ = self._wrk_until(path, target, conns, close, deadline)
        else:
            r = raw_load(self.server.port, path, target, conns, close, deadline)
            done, errors, timed_out = r["requests"], r["errors"], r["timed_out"]
        return done, errors, timed_out


# ---- output ------------------------------------------------------------------------------

def fmt_int(n):
    return "—" if n is None else "{:,}".format(n)


def mb(kb):
    return "—" if kb is None else "%.1f" % (kb / 1024.0)


COLUMNS = "%-20s %11s %11s %7s %7s %9s %8s %8s %10s"


def server_count(row):
    """Requests the server answered on the row's route during the phase (None if unknown).

    ``requests`` counts every request, ``static_requests`` those answered by a
    route_static route; the difference went to the Python handler.  The server's
    count may exceed the client's by the requests in flight when wrk stopped
    (answered, but not counted by wrk) and by one ``/stats`` request.
    """
    delta = row.get("server_delta")
    if not delta or row.get("path") not in PATHS:
        return None
    if row["path"] == "/static":
        return delta["static_requests"]
    return delta["requests"] - delta["static_requests"]


RULE = 100


def print_header():
    print()
    print(COLUMNS % ("phase", "target", "done", "errors", "secs", "per sec", "RSS MB",
                     "peak MB", "vs warm-up"))
    print("-" * RULE)


def print_row(row, ref_kb):
    rate = ""
    if row["done"] and row["seconds"] and row["kind"] in ("keep-alive", "close"):
        rate = fmt_int(int(row["done"] / row["seconds"]))
    growth = ""
    if ref_kb is not None and row["rss_kb"] is not None and row["phase"] != "after warm-up":
        growth = "%+.1f" % ((row["rss_kb"] - ref_kb) / 1024.0)
    status = ""
    if not row["server_alive"]:
        status = "  SERVER DIED"
    elif row["timed_out"]:
        status = "  TIMEOUT"
    elif row["target"] is not None and (row["done"] or 0) < row["target"]:
        status = "  SHORT"
    print(COLUMNS % (row["phase"], fmt_int(row["target"]), fmt_int(row["done"]),
                     fmt_int(row["errors"]) if row["target"] is not None else "",
                     "%.1f" % row["seconds"] if row["seconds"] else "", rate,
                     mb(row["rss_kb"]), mb(row["memory_kb"].get("VmHWM")), growth)
          + status, flush=True)


def summarize(soak, max_growth_mb, elapsed):
    rows = soak.rows
    ref = soak.reference_kb()
    end = rows[-1]["rss_kb"] if rows else None
    growth_kb = (end - ref) if (ref is not None and end is not None) else None
    print("-" * RULE)
    if growth_kb is not None:
        biggest = max(zip(rows[1:], rows[2:]), key=lambda p: (p[1]["rss_kb"] or 0)
                      - (p[0]["rss_kb"] or 0), default=None)
        print("RSS after warm-up %s MB, at the end %s MB: growth %+.1f MB (limit %.1f MB)"
              % (mb(ref), mb(end), growth_kb / 1024.0, max_growth_mb))
        if biggest and rows.index(biggest[1]) > 1:
            step = (biggest[1]["rss_kb"] or 0) - (biggest[0]["rss_kb"] or 0)
            if step >= 100:
                print("largest step: %+.1f MB during %r" % (step / 1024.0, biggest[1]["phase"]))
        if growth_kb > max_growth_mb * 1024:
            soak.problems.append("RSS grew by %.1f MB after the warm-up (limit %.1f MB)"
                                 % (growth_kb / 1024.0, max_growth_mb))
    elif rows:
        soak.problems.append("no RSS reading for the warm-up and the end")
    print("counts:")
    for row in rows:
        if row["target"] is None or row["kind"] == "warmup":
            continue
        mark = "ok  " if (row["done"] or 0) >= row["target"] and not row["errors"] else "FAIL"
        extra = ""
        if row["kind"] == "idle":
            extra = ", %s still open after %.1fs, server held %s" % (
                fmt_int(row.get("held_after_hold")), soak.args.idle_hold,
                fmt_int(row.get("server_connections_while_held")))
        served = server_count(row)
        if served is not None:
            extra += ", server counted %s" % fmt_int(served)
        print("  %s %-20s %s of %s %s, %s errors%s" % (
            mark, row["phase"], fmt_int(row["done"]), fmt_int(row["target"]), row["unit"],
            fmt_int(row["errors"]), extra))
    print("total time %.1f s" % elapsed)
    if soak.problems:
        print("FAIL")
        for p in soak.problems:
            print("  - " + p)
    else:
        print("PASS")


# ---- command line ------------------------------------------------------------------------

def build_parser():
    ap = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="Soak a reactor server (Python handler and route_static paths) with "
                    "keep-alive, Connection: close and idle-connection load; fail if its RSS "
                    "grows after the warm-up.  Full run: a few minutes on 2 cores.")
    ap.add_argument("--quick", action="store_true",
                    help="%dx smaller counts (CI smoke test)" % QUICK_FACTOR)
    ap.add_argument("--keepalive-requests", type=int, default=None,
                    help="keep-alive requests, half to /static, half to /py (2,000,000)")
    ap.add_argument("--close-requests", type=int, default=None,
                    help="Connection: close requests, half per path (200,000)")
    ap.add_argument("--idle-connections", type=int, default=None,
                    help="idle keep-alive connections per round (10,000)")
    ap.add_argument("--idle-rounds", type=int, default=3, help="idle rounds (3)")
    ap.add_argument("--idle-hold", type=float, default=1.0,
                    help="seconds the idle connections are held open (1)")
    ap.add_argument("--warmup-requests", type=int, default=None,
                    help="warm-up keep-alive requests (100,000)")
    ap.add_argument("--warmup-close", type=int, default=None,
                    help="warm-up Connection: close requests (10,000)")
    ap.add_argument("--warmup-idle", type=int, default=None,
                    help="warm-up idle connections per round (default: "
                         "--idle-connections, so their allocator high-water is reached)")
    ap.add_argument("--warmup-idle-rounds", type=int, default=3,
                    help="warm-up idle rounds (3: the RSS after closing 10k connections "
                         "settles only after a few rounds)")
    ap.add_argument("--max-growth-mb", type=float, default=5.0,
                    help="fail when RSS grows more than this from after the warm-up to the "
                         "end (5)")
    ap.add_argument("--phase-timeout", type=float, default=90.0,
                    help="seconds each phase may take (90)")
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds to wait after the server closed every client socket, "
                         "before reading RSS (1)")
    ap.add_argument("--settle-timeout", type=float, default=20.0,
                    help="seconds to wait for the server to close client sockets (20)")
    ap.add_argument("--connections", type=int, default=64,
                    help="keep-alive connections (64)")
    ap.add_argument("--close-connections", type=int, default=32,
                    help="concurrent Connection: close connections (32)")
    ap.add_argument("--threads", type=int, default=1, help="server sub-reactor threads (1)")
    ap.add_argument("--server-cpus", default=None,
                    help="taskset CPU list for the server (default: 1 with 2+ CPUs)")
    ap.add_argument("--client-cpus", default=None,
                    help="taskset CPU list for the client (default: 0 with 2+ CPUs)")
    ap.add_argument("--wrk-threads", type=int, default=None,
                    help="wrk -t (default: number of client CPUs)")
    ap.add_argument("--client", choices=("auto", "wrk", "raw"), default="auto",
                    help="load generator: wrk, the raw-socket client, or wrk when installed "
                         "(auto)")
    ap.add_argument("--server-nofile", type=int, default=None,
                    help="server RLIMIT_NOFILE (default: the hard limit, at least "
                         "idle connections + 1024)")
    ap.add_argument("--save", action="store_true",
                    help="write the results to <out>/<UTC timestamp>-soak.json")
    ap.add_argument("--out", default=DEFAULT_OUT, help="directory for --save (bench/results)")
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--keep-alive-timeout", type=float, default=60.0, help=argparse.SUPPRESS)
    return ap


def resolve(args):
    """Fill in the count defaults (scaled by --quick) and the pinning; return an error or None."""
    factor = QUICK_FACTOR if args.quick else 1
    for name, value in DEFAULTS.items():
        if getattr(args, name) is None and value is not None:
            setattr(args, name, value // factor)
    if args.warmup_idle is None:
        # the whole idle count: 10k connections leave ~10 MB of allocator high-water
        # behind that a smaller warm-up round would not reach
        args.warmup_idle = args.idle_connections
    usable = os.sched_getaffinity(0)
    if args.server_cpus is None:
        args.server_cpus = "1" if {0, 1} <= usable else ""
    if args.client_cpus is None:
        args.client_cpus = "0" if {0, 1} <= usable else ""
    for flag, text in (("--server-cpus", args.server_cpus), ("--client-cpus", args.client_cpus)):
        try:
            cpus = parse_cpus(text)
        except ValueError:
            return "%s: not a CPU list: %r" % (flag, text)
        if text and not cpus <= usable:
            return "%s %s: this machine has CPUs %s" % (flag, text, sorted(usable))
    counts = ("keepalive_requests", "close_requests", "idle_connections", "idle_rounds",
              "warmup_requests", "warmup_close", "warmup_idle", "warmup_idle_rounds")
    if any(getattr(args, c) < 0 for c in counts) or args.connections < 1 \
            or args.close_connections < 1 or args.phase_timeout <= 0:
        return "counts must be >= 0, connections >= 1, --phase-timeout > 0"
    return None


def save(path_dir, soak, args, elapsed, use_wrk):
    from bench import machine
    os.makedirs(path_dir, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(path_dir, "%s-soak.json" % stamp)
    ref = soak.reference_kb()
    end = soak.rows[-1]["rss_kb"] if soak.rows else None
    data = {
        "kind": "soak",
        "timestamp": stamp,
        "argv": sys.argv,
        "args": {k: v for k, v in vars(args).items() if k not in ("serve", "port")},
        "client": "wrk" if use_wrk else "raw",
        "server_argv": soak.server.argv if soak.server else None,
        "machine": machine.machine_info(args.server_cpus, args.client_cpus),
        "versions": machine.versions(ROOT),
        "phases": soak.rows,
        "rss_after_warmup_kb": ref,
        "rss_end_kb": end,
        "growth_kb": (end - ref) if ref is not None and end is not None else None,
        "max_growth_mb": args.max_growth_mb,
        "seconds": round(elapsed, 1),
        "passed": not soak.problems,
        "problems": soak.problems,
    }
    with open(path, "w") as f:
        json.dump(data, f, indent=1)
    print("saved %s" % os.path.relpath(path, ROOT))


def main(argv=None):
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.port, args.threads, args.keep_alive_timeout)
        return 0
    error = resolve(args)
    if error:
        ap.error(error)
    have_wrk = wrk_mod.find_wrk() is not None
    if args.client == "wrk" and not have_wrk:
        print(wrk_mod.INSTALL_HINT, file=sys.stderr)
        return 2
    use_wrk = have_wrk and args.client != "raw"
    needed = args.idle_connections + 1024
    nofile = raise_nofile(needed)
    if args.server_nofile is None:
        args.server_nofile = max(nofile, needed)
    if nofile < args.idle_connections + 64:
        print("RLIMIT_NOFILE is %d and cannot be raised: too low for %d idle connections"
              % (nofile, args.idle_connections), file=sys.stderr)
        return 2
    client_cpus = parse_cpus(args.client_cpus)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)        # the idle client (and the raw client)
    print("soak: %s keep-alive + %s Connection: close requests, %d x %s idle connections; "
          "warm-up %s + %s requests, %d x %s idle; client %s%s; server CPUs %s, client CPUs %s"
          % (fmt_int(args.keepalive_requests), fmt_int(args.close_requests), args.idle_rounds,
             fmt_int(args.idle_connections), fmt_int(args.warmup_requests),
             fmt_int(args.warmup_close), args.warmup_idle_rounds, fmt_int(args.warmup_idle),
             wrk_mod.version() if use_wrk else "raw sockets (wrk not used)",
             "" if have_wrk else " (wrk not installed)",
             args.server_cpus or "any", args.client_cpus or "any"), flush=True)
    soak = Soak(args, use_wrk)
    started = time.monotonic()
    try:
        soak.run()
    except ServerError as exc:
        soak.problems.append(str(exc))
    except KeyboardInterrupt:
        soak.problems.append("interrupted")
    finally:
        if soak.server:
            soak.server.stop()
    elapsed = time.monotonic() - started
    summarize(soak, args.max_growth_mb, elapsed)
    if args.save:
        save(args.out, soak, args, elapsed, use_wrk)
    return 1 if soak.problems else 0


if __name__ == "__main__":
    sys.exit(main())

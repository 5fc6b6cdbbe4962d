"""The benchmark driver: ``python -m bench`` or ``python bench/run.py``.

For every scenario, for every round, for every server (interleaved:
A B C A B C ...): start the server pinned to ``--server-cpus``, wait until
it answers, warm it up with a short wrk run, measure with wrk pinned to
``--client-cpus`` while sampling the CPU time of the server's whole process
tree just before and after, then stop it.  The idle-memory scenario opens
keep-alive connections from this process instead of running wrk.  The
flask-* scenarios run a Flask app (bench/apps/flask_app.py) on every WSGI
server and first check that the server answers exactly the bytes the app
produces without a server.  The fastapi-hello scenario does the same with a
FastAPI app (bench/apps/fastapi_app.py) on every ASGI server (reactor-asgi,
uvicorn, granian-asgi).  The workers scenario runs an app doing ~100 µs
of Python per request (bench/apps/work_app.py) on reactor, gunicorn gthread,
uvicorn and granian at --workers 1 and 2 (plus reactor in one process, no
master) and compares each with reactor at the same --workers.  The files-1k,
files-64k and files-10m scenarios (``--scenarios files`` selects the three)
fetch one file of that size from a directory made once per run
(bench/files.py), over keep-alive, from reactor ``--static``, nginx
(sendfile), the stdlib's ``http.server`` and granian's static mount, after
checking that each answers the file's exact bytes.  The tls-keepalive,
tls-resumed and tls-handshake scenarios (``--scenarios tls`` selects the three)
load reactor, nginx, uvicorn and granian over https with a self-signed
certificate made for the run (bench/tls.py): keep-alive requests, a resumed
handshake per request, a full handshake per request.  Every run records the
server's configuration label, read from its argv by bench/labels.py.

Results go to ``<out>/<UTC timestamp>.json`` (every raw run, versions,
machine, pinning), ``.md`` (one table per scenario, also printed) and one
``-<scenario>.png`` chart per scenario.  ``--compare A.json B.json`` prints
the changes between two result files and flags regressions.
"""
import argparse
import datetime
import importlib.util
import json
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass

if __package__ in (None, ""):       # run as a script: python bench/run.py
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import apps, files, idle, labels, machine, proctree, report, tls, wrk  # noqa: E402
from bench.launcher import RunningServer, ServerError, fetch, pin_prefix  # noqa: E402
from bench.servers import (DEFAULT_ORDER, SERVERS, WORKERS_APP, files_variants,  # noqa: E402
                           threads_variants, tls_variants, workers_variants)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(ROOT, "bench")
SCRIPTS = os.path.join(BENCH_DIR, "scripts")
DEFAULT_OUT = os.path.join(BENCH_DIR, "results")
FLASK_APP = "bench.apps.flask_app:app"
FASTAPI_APP = "bench.apps.fastapi_app:app"
FILES_10M_CONNECTIONS = 8         # 10 MiB answers: enough to keep the pipe full
_REFERENCES = {}


@dataclass
class Scenario:
    """One kind of load: wrk with some settings, or the idle-memory probe."""

    name: str
    description: str
    kind: str = "wrk"                 # "wrk" or "idle"
    connections: int = None           # None: --connections
    script: str = None                # wrk Lua script in bench/scripts
    exclude: tuple = ()               # (server, reason) pairs that cannot take part
    threads: bool = False             # the reactor-static --threads variants
    workers: bool = False             # the --workers 1/2 variants (bench.servers.workers_variants)
    path: str = "/"                   # the URL path wrk requests
    app: str = None                   # an app "module:attr": its interface's servers run it
    interface: str = "wsgi"           # the app's: "wsgi" (spec.wsgi_argv), "asgi" (spec.asgi_argv)
    needs: tuple = ()                 # modules the app needs (here and in the servers)
    file: str = None                  # files scenarios: the file of bench.files wrk fetches
    group: str = None                 # a --scenarios name that selects it with its siblings
    tls: str = None                   # tls-* scenarios: a bench.tls.MODES key

    def connections_for(self, args):
        return self.connections or args.connections

    def describe(self, args):
        return self.description.format(c=self.connections_for(args),
                                       n=args.idle_connections)

    def missing_module(self):
        """The first module the app needs that is not importable, or None."""
        for mod in self.needs:
            try:
                if importlib.util.find_spec(mod) is None:
                    return mod
            except (ImportError, ValueError):
                return mod
        return None

    def served_file(self):
        """The ``bench.files.File`` a files scenario fetches (made on first use), or None."""
        return files.shared()[self.file] if self.file else None

    def reference(self):
        """What every server must answer for ``GET path``: the app called without a
        server, in this process (``bench.apps.Reference``); None without an app."""
        if not self.app:
            return None
        key = (self.app, self.path)
        if key not in _REFERENCES:
            _REFERENCES[key] = apps.reference(self.app, self.path, self.interface)
        return _REFERENCES[key]


SCENARIOS = [
    Scenario("plaintext", "GET /, keep-alive, {c} connections"),
    Scenario("c1024", "GET /, keep-alive, {c} connections", connections=1024),
    Scenario("pipeline16", "16 pipelined GET / per write, {c} connections",
             script="pipeline16.lua"),
    Scenario("post4k", "POST / with a 4 KiB body read by the app, {c} connections",
             script="post4k.lua",
             exclude=(("reactor-static", "route_static answers GET/HEAD only"),)),
    Scenario("flask-json", "Flask app, GET /json: flask.jsonify of a 10-field order "
             "with a list of 5 items, WSGI servers, {c} connections",
             path="/json", app=FLASK_APP, needs=("flask",)),
    Scenario("flask-template", "Flask app, GET /template: a Jinja2 template rendering a "
             "10-row HTML table, WSGI servers, {c} connections",
             path="/template", app=FLASK_APP, needs=("flask",)),
    Scenario("fastapi-hello", "FastAPI app, GET /: an async route returning "
             "PlainTextResponse('Hello, World!') (13 bytes of text/plain; charset=utf-8), "
             "ASGI servers, {c} connections",
             path="/", app=FASTAPI_APP, interface="asgi", needs=("fastapi",)),
    Scenario("idle-memory", "server RSS per idle keep-alive connection, {n} connections",
             kind="idle"),
    Scenario("threads", "reactor route_static with --threads 0, 1, 2, 4, {c} connections",
             threads=True),
    Scenario("workers", "~100 µs of Python per request (bench.apps.work_app), GET /work: "
             "reactor, gunicorn gthread, uvicorn, granian at --workers 1 and 2, "
             "{c} connections", path="/work", app=WORKERS_APP, workers=True),
] + [
    Scenario("files-" + suffix, "GET /%s, a file of %s random bytes, "
             "keep-alive, {c} connections" % (name, "{:,}".format(size)),
             path="/" + name, file=name, group="files",
             connections=FILES_10M_CONNECTIONS if size >= 1 << 20 else None)
    for suffix, name, size in files.FILES
] + [
    Scenario("tls-keepalive", "GET / over https (TLS), keep-alive, {c} connections: "
             "one handshake per connection", tls="keepalive", group="tls"),
    Scenario("tls-resumed", "GET / over https with Connection: close, {c} connections: "
             "a new TLS connection per request, resumed from the server's session "
             "ticket (wrk as it is)", tls="resumed", group="tls"),
    Scenario("tls-handshake", "GET / over https with Connection: close, {c} connections: "
             "a new TLS connection and a full handshake per request (wrk with a shim "
             "that drops the session)", tls="full", group="tls"),
]
SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}
SCENARIO_GROUPS = {}
for _s in SCENARIOS:
    if _s.group:
        SCENARIO_GROUPS.setdefault(_s.group, []).append(_s.name)


# ---- command line ----------------------------------------------------------------------

def build_parser():
    ap = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark reactor side by side with stock Python servers (needs wrk).")
    ap.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS),
                    help="comma-separated scenarios (default: all): %s; %s"
                    % (", ".join(s.name for s in SCENARIOS),
                       "; ".join("%s selects %s" % (g, ", ".join(names))
                                 for g, names in SCENARIO_GROUPS.items())))
    ap.add_argument("--servers", default="",
                    help="comma-separated servers (default: every one installed): %s"
                    % ", ".join(DEFAULT_ORDER))
    ap.add_argument("--duration", type=int, default=10, help="seconds per measured run (10)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    ap.add_argument("--warmup", type=int, default=2,
                    help="seconds of wrk warm-up before each measured run (2; 0 = none)")
    ap.add_argument("--connections", type=int, default=64,
                    help="wrk connections for plaintext, pipeline16, post4k, flask-*, "
                    "fastapi-hello, threads, workers, files-1k, files-64k, tls-* (64)")
    ap.add_argument("--idle-connections", type=int, default=5000,
                    help="connections opened by the idle-memory scenario (5000)")
    ap.add_argument("--server-cpus", default="1", help="taskset CPU list for servers (1)")
    ap.add_argument("--client-cpus", default="0", help="taskset CPU list for wrk (0)")
    ap.add_argument("--wrk-threads", type=int, default=None,
                    help="wrk -t (default: number of client CPUs)")
    ap.add_argument("--tls-key", default=tls.DEFAULT_KEY, choices=sorted(tls.KEYS),
                    help="tls-* scenarios: the key of the self-signed certificate "
                    "(default %s)" % tls.DEFAULT_KEY)
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help="directory for results (default bench/results), or a .json path")
    ap.add_argument("--no-chart", action="store_true", help="skip the PNG charts")
    ap.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                    help="compare two result files instead of running")
    ap.add_argument("--threshold", type=float, default=report.DEFAULT_THRESHOLD,
                    help="regression threshold in percent for --compare (5)")
    ap.add_argument("--fail-on-regression", action="store_true",
                    help="with --compare: exit 1 when a regression is found")
    return ap


def split_list(text):
    return [x.strip() for x in text.split(",") if x.strip()]


def parse_cpus(text):
    """``"0-1,3"`` -> {0, 1, 3}."""
    cpus = set()
    for part in split_list(text):
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def scenario_names(text):
    """``--scenarios`` as scenario names, a group (``files``) replaced by its members,
    each name once, in the order given."""
    names = []
    for name in split_list(text):
        for member in SCENARIO_GROUPS.get(name, [name]):
            if member not in names:
                names.append(member)
    return names


def check_args(args):
    """Return an error message, or None."""
    unknown = [s for s in scenario_names(args.scenarios) if s not in SCENARIO_BY_NAME]
    if unknown:
        return "unknown scenario(s): %s" % ", ".join(unknown)
    known = set(DEFAULT_ORDER) | {v.name for v in threads_variants() + workers_variants()
                                  + files_variants() + tls_variants()}
    unknown = [s for s in split_list(args.servers) if s not in known]
    if unknown:
        return "unknown server(s): %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(known)))
    if args.duration < 1 or args.rounds < 1 or args.warmup < 0 or args.connections < 1:
        return "--duration, --rounds and --connections must be >= 1, --warmup >= 0"
    usable = os.sched_getaffinity(0)
    for flag, text in (("--server-cpus", args.server_cpus), ("--client-cpus", args.client_cpus)):
        try:
            cpus = parse_cpus(text)
        except ValueError:
            return "%s: not a CPU list: %r" % (flag, text)
        if not cpus or not cpus <= usable:
            return "%s %s: this machine has CPUs %s" % (flag, text, sorted(usable))
    return None


# ---- the plan ------------------------------------------------------------------------

def servers_for(scenario, wanted):
    """``(specs, skipped)`` for one scenario: who runs, who is skipped and why.

    Hello World scenarios take the servers with ``hello`` set; an app scenario
    takes every server of the app's interface (WSGI: ``spec.wsgi_argv``, ASGI:
    ``spec.asgi_argv``), running the app (``spec.with_app``); the workers
    scenario its own variants (``workers_variants``), the files scenarios the
    file servers (``files_variants``).  A server named in
    ``wanted`` that cannot take part is listed as skipped, with why, unless a
    variant of it takes its place (uvicorn-wsgi for uvicorn, reactor-w1 for
    reactor-wsgi)."""
    excluded = dict(scenario.exclude)
    if scenario.threads:
        specs = threads_variants()
    elif scenario.workers:
        specs = workers_variants(scenario.app)
        excluded.update((n, "not in the workers scenario (reactor, gunicorn-gthread, "
                         "uvicorn-wsgi, granian-wsgi at --workers 1 and 2)")
                        for n in DEFAULT_ORDER if not any(s.selected_by({n}) for s in specs))
    elif scenario.file:
        specs = files_variants()
        excluded.update((n, "not in the files scenarios (reactor-files, nginx-files, "
                         "stdlib-files, granian-files)")
                        for n in DEFAULT_ORDER if not any(s.selected_by({n}) for s in specs))
    elif scenario.tls:
        specs = tls_variants()
        excluded.update((n, "not in the tls scenarios (reactor-static-tls, reactor-tls, "
                         "nginx-tls, uvicorn-tls, granian-tls)")
                        for n in DEFAULT_ORDER if not any(s.selected_by({n}) for s in specs))
        why = tls.mode_unavailable(scenario.tls)
        if why:
            excluded.update((s.name, why) for s in specs)
    elif scenario.app:
        asgi = scenario.interface == "asgi"
        takes = [n for n in DEFAULT_ORDER
                 if (SERVERS[n].asgi_argv if asgi else SERVERS[n].wsgi_argv)]
        specs = [SERVERS[n].with_app(scenario.app) for n in takes]
        excluded.update((n, not_an_app_server(SERVERS[n], asgi))
                        for n in DEFAULT_ORDER if n not in takes)
    else:
        specs = [SERVERS[n] for n in DEFAULT_ORDER if SERVERS[n].hello]
        excluded.update((n, "takes part in the flask-* scenarios only")
                        for n in DEFAULT_ORDER if not SERVERS[n].hello)
    if wanted:
        specs = [s for s in specs if s.selected_by(wanted)]
    run, skipped = [], {}
    standing_in = {n for s in specs for n in (s.name, s.family) + s.aliases}  # uvicorn-wsgi
    for name in sorted(wanted & set(excluded) - standing_in):
        skipped[name] = excluded[name]
    missing = scenario.missing_module()
    for spec in specs:
        reason = excluded.get(spec.name) or spec.unavailable_reason()
        if not reason and missing:
            reason = "module %s not importable (pip install %s)" % (missing, missing)
        if reason:
            skipped[spec.name] = reason
        else:
            run.append(spec)
    return run, skipped


def not_an_app_server(spec, asgi):
    """Why ``spec`` sits out a scenario of a WSGI (``asgi`` false) or ASGI app."""
    if asgi:
        return "not an ASGI server: %s" % ("it runs WSGI apps (the flask-* scenarios)"
                                           if spec.wsgi_argv else
                                           "it serves only its own Hello World")
    return "not a WSGI server: %s" % ("it runs ASGI apps (the fastapi-hello scenario)"
                                      if spec.asgi_argv else
                                      "it serves only its own Hello World")


def make_plan(args):
    wanted = set(split_list(args.servers))
    return [(SCENARIO_BY_NAME[name],) + servers_for(SCENARIO_BY_NAME[name], wanted)
            for name in scenario_names(args.scenarios)]


def describe(argv):
    """``labels.describe(argv)``, plus the TLS key of a server over TLS (``bench.tls``)."""
    return tls.annotate(labels.describe(argv), argv)


def spec_config(spec, server_cpus=None):
    """``describe`` of the argv ``spec`` would run (port 0, a scratch workdir),
    or ``{"label": None, "label_error": why}``."""
    with tempfile.TemporaryDirectory(prefix="bench-label-") as workdir:
        try:
            return describe(pin_prefix(server_cpus) + spec.argv(0, workdir))
        except (labels.LabelError, TypeError, OSError) as exc:
            return {"label": None, "label_error": str(exc)}


def plan_configs(plan, server_cpus=None):
    """``{scenario: {server: config}}`` for every server that runs."""
    return {scenario.name: {spec.name: spec_config(spec, server_cpus) for spec in specs}
            for scenario, specs, _ in plan}


def estimate_seconds(plan, args):
    total = 0
    for scenario, specs, _ in plan:
        per_run = 6 if scenario.kind == "idle" else args.warmup + args.duration + 1.5
        total += per_run * len(specs) * args.rounds
    return total


# ---- one measurement -----------------------------------------------------------------

def child_env():
    env = os.environ.copy()
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def raise_nofile(needed):
    """Raise this process's RLIMIT_NOFILE (inherited by wrk and servers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    target = needed if hard == resource.RLIM_INFINITY else max(needed, hard)
    for limits in ((target, target), (hard, hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, limits)
            return limits[0]
        except (ValueError, OSError):
            continue
    return soft


class Context:
    """Everything a run needs besides the server and scenario."""

    def __init__(self, args, wrk_binary):
        self.args = args
        self.wrk_binary = wrk_binary
        self.server_cpus = args.server_cpus
        self.client_pin = pin_prefix(args.client_cpus)
        self.client_cpus = parse_cpus(args.client_cpus)
        self.wrk_threads = args.wrk_threads or len(self.client_cpus)
        self.env = child_env()


def wrk_argv(ctx, scenario, port, duration, prefix=""):
    """wrk's argv for ``scenario`` (``prefix``: where a file server mounts the files)."""
    script = os.path.join(SCRIPTS, scenario.script) if scenario.script else None
    argv = wrk.command("%s://127.0.0.1:%d%s%s" % ("https" if scenario.tls else "http", port,
                                                   prefix, scenario.path), duration,
                       scenario.connections_for(ctx.args), threads=ctx.wrk_threads,
                       script=script, wrk=ctx.wrk_binary)
    return tls.wrk_argv(argv, scenario.tls) if scenario.tls else argv


def label_record(record, argv):
    """Record the configuration read from the argv that was launched."""
    try:
        config = describe(argv)
    except labels.LabelError as exc:
        config = {"label": None, "label_error": str(exc)}
    record.update(server_argv=argv, label=config["label"], config=config)


def check_response(port, reference, name):
    """``GET reference.path`` must answer the reference's status, Content-Type and
    body, byte for byte; returns what was checked, raises ServerError otherwise."""
    status, headers, body = fetch(port, reference.path, timeout=10.0)
    content_type = headers.get("content-type", "")
    problems = []
    if status != reference.status_code:
        problems.append("status %d, expected %d" % (status, reference.status_code))
    if content_type != reference.content_type:
        problems.append("Content-Type %r, expected %r" % (content_type, reference.content_type))
    if body != reference.body:
        at = next((i for i, (a, b) in enumerate(zip(body, reference.body)) if a != b),
                  min(len(body), len(reference.body)))
        problems.append("body of %d bytes differs from the app's %d bytes at byte %d: %r"
                        % (len(body), len(reference.body), at, body[max(0, at - 20):at + 40]))
    if problems:
        raise ServerError("%s: GET %s answered %s" % (name, reference.path, "; ".join(problems)))
    return {"path": reference.path, "status": status, "content_type": content_type,
            "bytes": len(body), "sha256": reference.sha256, "identical": True}


def check_file(port, path, served, name):
    """``GET path`` must answer 200 and the bytes of ``served`` (a ``bench.files.File``),
    however framed; returns what was checked (with the framing), raises ServerError."""
    status, headers, body = fetch(port, path, timeout=30.0)
    data = served.read()
    problems = []
    if status != 200:
        problems.append("status %d, expected 200" % status)
    if body != data:
        at = next((i for i, (a, b) in enumerate(zip(body, data)) if a != b),
                  min(len(body), len(data)))
        problems.append("body of %d bytes differs from %s (%d bytes) at byte %d"
                        % (len(body), served.name, len(data), at))
    if problems:
        raise ServerError("%s: GET %s answered %s" % (name, path, "; ".join(problems)))
    if "chunked" in headers.get("transfer-encoding", "").lower():
        framing = "chunked"
    elif "content-length" in headers:
        framing = "Content-Length"
    else:
        framing = "close"
    return {"path": path, "status": status, "content_type": headers.get("content-type"),
            "bytes": len(body), "sha256": served.sha256, "identical": True,
            "framing": framing}


def wait_ready(srv, scenario, spec):
    """Hello World servers: ``GET /``; file servers: the probe file's exact bytes;
    TLS servers: ``GET /`` over https, verified against the run's certificate."""
    if scenario.tls:
        return tls.wait_ready(srv, tls.shared())
    if not scenario.file:
        return srv.wait_ready()
    probe = files.shared()[files.PROBE]
    return srv.wait_ready(paths=(spec.url_prefix + "/" + probe.name,), body=probe.read())


def measure_wrk(ctx, scenario, spec, record):
    """Start, (check,) warm up, measure (wrk + tree CPU), stop.  Fills ``record``."""
    with RunningServer(spec, ctx.server_cpus, cwd=ROOT, env=ctx.env) as srv:
        label_record(record, srv.argv)
        wait_ready(srv, scenario, spec)
        if scenario.app:
            record["check"] = check_response(srv.port, scenario.reference(), spec.name)
        if scenario.file:
            record["check"] = check_file(srv.port, spec.url_prefix + scenario.path,
                                         scenario.served_file(), spec.name)
        if scenario.tls:
            record["check"] = tls.check(srv.port, tls.shared(), spec.name, scenario.path)
        if ctx.args.warmup:
            wrk.run(wrk_argv(ctx, scenario, srv.port, ctx.args.warmup, spec.url_prefix),
                    ctx.client_pin, timeout=ctx.args.warmup + 60)
        argv = wrk_argv(ctx, scenario, srv.port, ctx.args.duration, spec.url_prefix)
        cpu_before = proctree.tree_cpu_seconds(srv.pid)
        parsed, raw = wrk.run(argv, ctx.client_pin, timeout=ctx.args.duration + 60)
        cpu_after = proctree.tree_cpu_seconds(srv.pid)
        processes = len(proctree.tree(srv.pid))
        if not srv.alive():
            raise ServerError("%s died during the run:\n%s" % (spec.name, srv.log_tail()))
    cpu = cpu_after - cpu_before
    record.update(parsed, ok=True, wrk_argv=argv, wrk_output=raw, cpu_s=cpu,
                  cpu_us_per_req=report.cpu_us_per_request(cpu, parsed["requests"]),
                  errors=wrk.error_count(parsed), processes=processes)
    if scenario.file:
        size = scenario.served_file().size
        record.update(file_bytes=size, body_bps=parsed["rps"] * size,
                      cpu_busy=cpu / parsed["duration_s"] if parsed["duration_s"] else None)
    if scenario.tls:
        record.update(tls_mode=scenario.tls,
                      cpu_busy=cpu / parsed["duration_s"] if parsed["duration_s"] else None)


class pinned:
    """Run this process on ``cpus`` inside the ``with`` block (for the idle client)."""

    def __init__(self, cpus):
        self.cpus = cpus

    def __enter__(self):
        self.saved = os.sched_getaffinity(0)
        os.sched_setaffinity(0, self.cpus)

    def __exit__(self, *exc):
        os.sched_setaffinity(0, self.saved)


def measure_idle(ctx, scenario, spec, record, settle=1.0):
    """Open idle keep-alive connections; RSS of the server tree before and after."""
    n = ctx.args.idle_connections
    with RunningServer(spec, ctx.server_cpus, cwd=ROOT, env=ctx.env) as srv:
        label_record(record, srv.argv)
        srv.wait_ready()
        time.sleep(settle / 2)
        pids = proctree.tree(srv.pid)
        rss_before, socks_before = proctree.rss_kb(pids), proctree.socket_count(pids)
        with pinned(ctx.client_cpus):
            conns = idle.open_idle("127.0.0.1", srv.port, n)
        try:
            time.sleep(settle)
            pids = proctree.tree(srv.pid)
            rss_after, socks_after = proctree.rss_kb(pids), proctree.socket_count(pids)
            held = conns.still_open()
            completed = len(conns.socks)
        finally:
            conns.close()
        if not srv.alive():
            raise ServerError("%s died during the run:\n%s" % (spec.name, srv.log_tail()))
    record.update(ok=held > 0, connections=n, completed=completed, failed_connections=conns.failed,
                  held=held, rss_before_kb=rss_before, rss_after_kb=rss_after,
                  server_sockets_before=socks_before, server_sockets_after=socks_after,
                  kb_per_conn=(rss_after - rss_before) / held if held else None)
    if not held:
        record["error"] = "server kept none of %d connections open (%d answered)" % (n, completed)


def measure(ctx, scenario, spec, round_no):
    """One run of one server in one scenario: a record dict, ok or not."""
    record = {"scenario": scenario.name, "server": spec.name, "round": round_no,
              "ok": False, "error": None, "started": now_iso()}
    try:
        if scenario.kind == "idle":
            measure_idle(ctx, scenario, spec, record)
        else:
            measure_wrk(ctx, scenario, spec, record)
    except (ServerError, wrk.WrkError, OSError) as exc:
        record.update(ok=False, error=str(exc))
    return record


def progress_line(record, index, total, rounds):
    where = "[%d/%d %s r%d/%d]" % (index, total, record["scenario"], record["round"], rounds)
    head = "%-30s %-19s" % (where, record["server"])
    if not record["ok"]:
        return "%s FAILED: %s" % (head, report.short_error(record["error"], 160))
    if record["scenario"] == report.IDLE:
        return "%s %8s KB/conn  held %d/%d  RSS %.1f -> %.1f MB" % (
            head, report.fmt_float(record["kb_per_conn"], 2), record["held"],
            record["connections"], record["rss_before_kb"] / 1024, record["rss_after_kb"] / 1024)
    lat = record["latency_us"]
    line = "%s %10s req/s  p50 %-9s p99 %-9s %6s µs CPU/req  errors %d" % (
        head, report.fmt_int(record["rps"]), report.fmt_latency(lat.get("p50")),
        report.fmt_latency(lat.get("p99")), report.fmt_float(record["cpu_us_per_req"]),
        record["errors"])
    if record.get("body_bps") is not None:
        line += "  %s MiB/s" % report.fmt_mib(record["body_bps"])
    return line


# ---- output --------------------------------------------------------------------------

def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def output_paths(out, stamp):
    """``(json_path, base)``: charts are ``base-<scenario>.png``, the table ``base.md``."""
    if out.endswith(".json"):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        return out, out[:-5]
    os.makedirs(out, exist_ok=True)
    base = os.path.join(out, stamp)
    return base + ".json", base


def write_outputs(result, json_path, base, charts=True):
    """Write the JSON, the markdown and the charts; return the markdown."""
    result["summary"] = report.summarize(result["runs"])
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
    text = markdown_report(result)
    with open(base + ".md", "w") as f:
        f.write(text)
    result["charts"] = {}
    for name, summary in result["summary"].items() if charts else ():
        title = "%s — %s" % (name, result["scenarios"][name]["description"])
        path = report.write_chart(name, summary, "%s-%s.png" % (base, name), title,
                                  result["scenarios"][name].get("labels"))
        if path:
            result["charts"][name] = os.path.relpath(path, os.path.dirname(json_path))
    with open(json_path, "w") as f:
        json.dump(result, f, indent=1, sort_keys=False)
    return text


def markdown_report(result):
    """``report.markdown_report``, the tls-* scenarios rendered by ``tls.markdown_table``
    (ratios to nginx and to uvicorn, server CPU)."""
    names = [n for n, info in result["scenarios"].items() if info.get("tls")]
    if not names:
        return report.markdown_report(result)
    rest = dict(result, scenarios={n: i for n, i in result["scenarios"].items()
                                   if n not in names})
    parts = [report.markdown_report(rest)]
    for name in names:
        info = result["scenarios"][name]
        if name in result["summary"] or info.get("skipped"):
            parts.append(tls.markdown_table(name, info, result["summary"].get(name, {}),
                                            result["runs"]))
    return "\n".join(parts)


def new_result(args, argv, plan, configs=None):
    configs = configs if configs is not None else plan_configs(plan, args.server_cpus)
    return {
        "schema": 1,
        "started": now_iso(),
        "command": ["python", "-m", "bench"] + list(argv),
        "settings": {"duration": args.duration, "rounds": args.rounds, "warmup": args.warmup,
                     "connections": args.connections, "idle_connections": args.idle_connections,
                     "server_cpus": args.server_cpus, "client_cpus": args.client_cpus,
                     "wrk_threads": args.wrk_threads or len(parse_cpus(args.client_cpus)),
                     "tls_key": args.tls_key,
                     "pinned": bool(pin_prefix("0"))},
        "machine": machine.machine_info(args.server_cpus, args.client_cpus),
        "versions": machine.versions(ROOT),
        "scenarios": {sc.name: {"description": sc.describe(args), "kind": sc.kind,
                                "connections": None if sc.kind == "idle"
                                else sc.connections_for(args),
                                "script": sc.script,
                                "servers": [s.name for s in specs],
                                "server_descriptions": {s.name: s.description
                                                        for s in specs},
                                "labels": {n: c["label"]
                                           for n, c in configs[sc.name].items()},
                                "configs": configs[sc.name],
                                "path": sc.path,
                                "app": sc.app,
                                "check": sc.reference().as_dict() if sc.app and specs
                                else None,
                                "file": sc.served_file().as_dict() if sc.file else None,
                                "url_prefixes": {s.name: s.url_prefix for s in specs
                                                 if s.url_prefix},
                                "baselines": {s.name: s.baseline for s in specs
                                              if s.baseline},
                                "tls": {"mode": sc.tls, "what": tls.MODES[sc.tls],
                                        "cert": tls.shared().as_dict()}
                                if sc.tls and specs else None,
                                "skipped": skipped}
                      for sc, specs, skipped in plan},
        "runs": [],
    }


# ---- main ----------------------------------------------------------------------------

def run_compare(args):
    with open(args.compare[0]) as f:
        a = json.load(f)
    with open(args.compare[1]) as f:
        b = json.load(f)
    for r in (a, b):
        r.setdefault("summary", report.summarize(r.get("runs", [])))
    text, regressions = report.compare(a, b, args.threshold)
    print("A = %s\nB = %s\n%s" % (args.compare[0], args.compare[1], text))
    return 1 if regressions and args.fail_on_regression else 0


def print_plan(plan, args, configs=None):
    for scenario, specs, skipped in plan:
        print("%-14s %s" % (scenario.name, ", ".join(s.name for s in specs) or "(no servers)"))
        for name, why in skipped.items():
            print("%-14s   skip %s: %s" % ("", name, why))
    shown = {}
    for by_server in (configs or {}).values():
        for name, config in by_server.items():
            shown.setdefault(name, config.get("label") or "(no label: %s)"
                             % config.get("label_error"))
    for name, text in shown.items():
        print("  %-19s %s" % (name, text))
    est = estimate_seconds(plan, args)
    print("about %d min %02d s; server on CPU %s, wrk on CPU %s%s" % (
        est // 60, est % 60, args.server_cpus, args.client_cpus,
        "" if pin_prefix("0") else " (taskset missing: NOT pinned)"), flush=True)


def run_plan(plan, ctx, result, json_path, base):
    total = sum(len(specs) for _, specs, _ in plan) * ctx.args.rounds
    index = 0
    for scenario, specs, _ in plan:
        for round_no in range(1, ctx.args.rounds + 1):
            for spec in specs:
                index += 1
                record = measure(ctx, scenario, spec, round_no)
                result["runs"].append(record)
                print(progress_line(record, index, total, ctx.args.rounds), flush=True)
        write_outputs(result, json_path, base, charts=False)     # partial results


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.compare:
        return run_compare(args)
    error = check_args(args)
    if error:
        print("bench: " + error, file=sys.stderr)
        return 2
    wrk_binary = wrk.find_wrk()
    if wrk_binary is None:
        print("bench: " + wrk.INSTALL_HINT, file=sys.stderr)
        return 3
    raise_nofile(max(4096, 1024 + 512, args.idle_connections + 512))
    tls.configure(args.tls_key)
    plan = make_plan(args)
    configs = plan_configs(plan, args.server_cpus)
    print_plan(plan, args, configs)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    json_path, base = output_paths(args.out, stamp)
    result = new_result(args, argv, plan, configs)
    ctx = Context(args, wrk_binary)
    try:
        run_plan(plan, ctx, result, json_path, base)
    except KeyboardInterrupt:
        print("interrupted: writing what was measured", file=sys.stderr)
        result["interrupted"] = True
    result["finished"] = now_iso()
    text = write_outputs(result, json_path, base, charts=not args.no_chart)
    print()
    print(text)
    print("results: %s (+ .md%s)" % (json_path, ", charts" if result["charts"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Aggregate raw runs, render markdown tables and PNG charts, compare result files.

A *run* is one measurement of one server in one round of one scenario (a
dict, see bench/run.py).  ``summarize(runs)`` groups them by scenario and
server and takes the median and min/max over rounds:

- throughput scenarios: req/s, server CPU µs per request, p50/p99 latency,
  and the total of error responses and socket errors;
- idle-memory: KB of server RSS per held connection.

Each server's row carries its configuration label (``bench.labels``: workers,
threads, loop, WSGI/ASGI/native), taken from its runs, else from the plan's
``labels`` in the result file.

The ``vs`` column compares req/s with one reactor row (the first of
``BASELINES`` that ran: reactor-asgi in the fastapi-hello scenario), except
where the scenario names a baseline per server (``baselines`` in the result
file: the workers scenario): then each row shows its req/s and its CPU per
request as ratios to reactor at the same number of workers.  The files-*
scenarios (a ``file`` in the result file) add the body bytes per second
(req/s × the file's size, in MiB/s) and how busy the server's CPU was, and
show both req/s and CPU per request as ratios to reactor-files.
"""
import statistics

IDLE = "idle-memory"
BASELINES = ("reactor-static", "reactor-static-t1", "reactor-native", "reactor-wsgi",
             "reactor-files", "reactor-asgi")
DEFAULT_THRESHOLD = 5.0     # percent


# ---- aggregation --------------------------------------------------------------------

def cpu_us_per_request(cpu_seconds, requests):
    """Server CPU microseconds per request (None when nothing completed)."""
    if not requests:
        return None
    return cpu_seconds / requests * 1e6


def spread(values):
    """``(median, min, max)`` of the non-None values, or ``(None, None, None)``."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None, None
    return statistics.median(vals), min(vals), max(vals)


def _latency(run, key):
    """A latency percentile, None when wrk printed 0 (it recorded no sample:
    with pipelining wrk times whole batches, and a server that closes after
    each response never completes one)."""
    value = run["latency_us"].get(key)
    return value if value else None


def _summarize_wrk(ok):
    rps = spread(r["rps"] for r in ok)
    cpu = spread(r["cpu_us_per_req"] for r in ok)
    summary = {
        "rps_median": rps[0], "rps_min": rps[1], "rps_max": rps[2],
        "cpu_us_median": cpu[0], "cpu_us_min": cpu[1], "cpu_us_max": cpu[2],
        "p50_us": spread(_latency(r, "p50") for r in ok)[0],
        "p99_us": spread(_latency(r, "p99") for r in ok)[0],
        "errors": sum(r.get("errors", 0) for r in ok),
        "processes": max((r.get("processes") or 0 for r in ok), default=0) or None,
    }
    if any("body_bps" in r for r in ok):            # the files-* scenarios
        body = spread(r.get("body_bps") for r in ok)
        summary.update(body_bps_median=body[0], body_bps_min=body[1], body_bps_max=body[2],
                       cpu_busy_median=spread(r.get("cpu_busy") for r in ok)[0],
                       framing=next((r["check"].get("framing") for r in ok
                                     if r.get("check")), None))
    return summary


def _summarize_idle(ok):
    kb = spread(r["kb_per_conn"] for r in ok)
    return {
        "kb_per_conn_median": kb[0], "kb_per_conn_min": kb[1], "kb_per_conn_max": kb[2],
        "held_median": spread(r["held"] for r in ok)[0],
        "connections": max((r["connections"] for r in ok), default=None),
        "rss_before_kb": spread(r["rss_before_kb"] for r in ok)[0],
    }


def summarize(runs):
    """``{scenario: {server: summary}}`` in first-seen order."""
    groups = {}
    for run in runs:
        groups.setdefault(run["scenario"], {}).setdefault(run["server"], []).append(run)
    out = {}
    for scenario, by_server in groups.items():
        out[scenario] = {}
        for server, server_runs in by_server.items():
            ok = [r for r in server_runs if r.get("ok")]
            summary = _summarize_idle(ok) if scenario == IDLE else _summarize_wrk(ok)
            summary["runs"] = len(ok)
            summary["failed"] = len(server_runs) - len(ok)
            summary["label"] = next((r["label"] for r in server_runs if r.get("label")), None)
            summary["last_error"] = next((r.get("error") for r in reversed(server_runs)
                                          if not r.get("ok")), None)
            out[scenario][server] = summary
    return out


def short_error(error, width=200):
    """One line from a multi-line error: its first line plus its last (the log's end)."""
    lines = [x.strip() for x in (error or "").splitlines() if x.strip()]
    if not lines:
        return ""
    text = lines[0] if len(lines) == 1 else "%s %s" % (lines[0], lines[-1])
    return text if len(text) <= width else text[:width - 1] + "…"


def baseline_of(scenario_summary):
    """The reactor server the ratio column compares against, or None."""
    for name in BASELINES:
        s = scenario_summary.get(name)
        if s and s["runs"]:
            return name
    return None


# ---- formatting ----------------------------------------------------------------------

def fmt_int(x):
    return "—" if x is None else "{:,.0f}".format(x)


def fmt_float(x, digits=1):
    return "—" if x is None else "{:.{}f}".format(x, digits)


def fmt_latency(us):
    if not us:
        return "—"
    if us < 1000:
        return "%.0f µs" % us
    if us < 1e6:
        return "%.2f ms" % (us / 1e3)
    return "%.2f s" % (us / 1e6)


def fmt_mib(bytes_per_second):
    """Bytes per second as MiB/s (2**20 bytes, as wrk counts a MB)."""
    if bytes_per_second is None:
        return "—"
    mib = bytes_per_second / (1 << 20)
    return "{:,.0f}".format(mib) if mib >= 100 else "{:.1f}".format(mib)


def fmt_percent(fraction):
    return "—" if fraction is None else "%.0f%%" % (fraction * 100)


def fmt_ratio(value, base):
    if value is None or not base:
        return "—"
    return "%.2f×" % (value / base)


def _table(header, rows, left=2):
    """A markdown table; the first ``left`` columns are left-aligned, the rest right."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i >= left else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def label_of(name, s, labels=None):
    """A server's configuration label for a table or chart ("—" when unknown)."""
    return (s or {}).get("label") or (labels or {}).get(name) or "—"


def _wrk_rows(summary, base, labels=None):
    base_rps = summary[base]["rps_median"] if base else None
    rows = []
    for name, s in summary.items():
        if not s["runs"]:
            rows.append([name, label_of(name, s, labels), "failed", "—", "—", "—", "—", "—",
                         "—"])
            continue
        rows.append([name, label_of(name, s, labels), fmt_int(s["rps_median"]),
                     "%s–%s" % (fmt_int(s["rps_min"]), fmt_int(s["rps_max"])),
                     fmt_float(s["cpu_us_median"]), fmt_ratio(s["rps_median"], base_rps),
                     fmt_latency(s["p50_us"]), fmt_latency(s["p99_us"]),
                     fmt_int(s["errors"])])
    return rows


def _idle_rows(summary, base, labels=None):
    base_kb = summary[base]["kb_per_conn_median"] if base else None
    rows = []
    for name, s in summary.items():
        if not s["runs"]:
            rows.append([name, label_of(name, s, labels), "failed", "—", "—", "—", "—"])
            continue
        rows.append([name, label_of(name, s, labels), fmt_float(s["kb_per_conn_median"], 2),
                     "%s–%s" % (fmt_float(s["kb_per_conn_min"], 2),
                                fmt_float(s["kb_per_conn_max"], 2)),
                     "%s / %s" % (fmt_int(s["held_median"]), fmt_int(s["connections"])),
                     fmt_float((s["rss_before_kb"] or 0) / 1024.0),
                     fmt_ratio(s["kb_per_conn_median"], base_kb)])
    return rows


def ratio_to(summary, name, baseline, key):
    """``summary[name][key] / summary[baseline][key]`` formatted, "—" when either is missing."""
    s, b = summary.get(name) or {}, summary.get(baseline) or {}
    if not s.get("runs") or not b.get("runs"):
        return "—"
    return fmt_ratio(s.get(key), b.get(key))


def _per_baseline_rows(summary, baselines, labels=None, configs=None):
    """Rows of a scenario with a reactor baseline per server (the workers scenario):
    the worker count (read from the launch command) first, the processes of the
    server's tree during the run, then the ratios of req/s and of µs CPU/request
    to that server's baseline."""
    rows = []
    for name, s in summary.items():
        workers = ((configs or {}).get(name) or {}).get("workers")
        base = baselines.get(name)
        head = [fmt_int(workers), name, label_of(name, s, labels)]
        if not s["runs"]:
            rows.append(head + ["failed"] + ["—"] * 7 + [base or "—"])
            continue
        rows.append(head + [fmt_int(s.get("processes")), fmt_int(s["rps_median"]),
                            "%s–%s" % (fmt_int(s["rps_min"]), fmt_int(s["rps_max"])),
                            fmt_float(s["cpu_us_median"]),
                            ratio_to(summary, name, base, "rps_median"),
                            ratio_to(summary, name, base, "cpu_us_median"),
                            fmt_latency(s["p99_us"]), fmt_int(s["errors"]), base or "—"])
    return rows


def _files_rows(summary, base, labels=None):
    """Rows of a files-* scenario: req/s and MiB/s of body, CPU per request and how
    busy the server's CPU was, then req/s and CPU/req as ratios to ``base``."""
    rows = []
    for name, s in summary.items():
        head = [name, label_of(name, s, labels)]
        if not s["runs"]:
            rows.append(head + ["failed"] + ["—"] * 10)
            continue
        rows.append(head + [fmt_int(s["rps_median"]),
                            "%s–%s" % (fmt_int(s["rps_min"]), fmt_int(s["rps_max"])),
                            fmt_mib(s.get("body_bps_median")), fmt_float(s["cpu_us_median"]),
                            fmt_percent(s.get("cpu_busy_median")),
                            ratio_to(summary, name, base, "rps_median"),
                            ratio_to(summary, name, base, "cpu_us_median"),
                            fmt_latency(s["p50_us"]), fmt_latency(s["p99_us"]),
                            fmt_int(s["errors"])])
    return rows


def markdown_table(scenario, summary, title=None, skipped=None, labels=None, check=None,
                   baselines=None, configs=None, file=None):
    """One scenario's markdown section (title, table, skipped/failed notes).

    ``labels`` ({server: label}) fills the configuration column where the runs
    carry none; ``check`` (the scenario's reference response) adds a line
    saying what every server's answer was compared with.  ``baselines``
    ({server: reactor server}) compares each row with its own reactor row
    instead of one, and ``configs`` ({server: config}) gives its worker count.
    ``file`` (name, bytes, sha256: a files-* scenario) gives the files table."""
    base = baseline_of(summary)
    lines = ["### " + (title or scenario), ""]
    if check:
        lines += ["Every server answered `GET %s` with the app's exact %s bytes (%s, "
                  "sha256 %s…) before it was timed." % (check["path"], fmt_int(check["bytes"]),
                                                         check["content_type"],
                                                         check["sha256"][:12]), ""]
    if file:
        lines += ["Every server answered the file's exact %s bytes (sha256 %s…) before it "
                  "was timed. MiB/s = req/s × %s bytes of body; server CPU = the server's "
                  "CPU time / wall time (100%% = one core busy)."
                  % (fmt_int(file["bytes"]), file["sha256"][:12], fmt_int(file["bytes"])), ""]
        vs = base or "reactor-files"
        lines += _table(["server", "configuration", "req/s (median)", "min–max", "MiB/s",
                         "µs CPU/req", "server CPU", "req/s vs %s" % vs, "CPU/req vs %s" % vs,
                         "p50", "p99", "errors"], _files_rows(summary, base, labels))
        unframed = ["%s (%s)" % (n, s["framing"]) for n, s in summary.items()
                   if s.get("framing") not in (None, "Content-Length")]
        if unframed:
            lines += ["", "Sent without a Content-Length: %s." % ", ".join(unframed)]
    elif scenario == IDLE:
        lines += _table(["server", "configuration", "KB/conn (median)", "min–max",
                         "held / opened", "RSS before (MB)", "vs %s" % (base or "reactor")],
                        _idle_rows(summary, base, labels))
    elif baselines:
        lines += _table(["workers", "server", "configuration", "processes", "req/s (median)",
                         "min–max", "µs CPU/req", "req/s vs reactor", "CPU/req vs reactor",
                         "p99", "errors", "reactor row"],
                        _per_baseline_rows(summary, baselines, labels, configs), left=3)
        lines += ["", "Ratios are to reactor at the same number of workers (the "
                  "`reactor row`): req/s above 1.00× is a peer serving more than reactor, "
                  "CPU/req below 1.00× a peer spending less per request. reactor-inprocess "
                  "(no master) against reactor-w1 is the master's cost at --workers 1."]
    else:
        lines += _table(["server", "configuration", "req/s (median)", "min–max", "µs CPU/req",
                         "vs %s" % (base or "reactor"), "p50", "p99", "errors"],
                        _wrk_rows(summary, base, labels))
    notes = ["- %s: %d failed run(s): %s" % (name, s["failed"], short_error(s["last_error"]))
             for name, s in summary.items() if s["failed"]]
    notes += ["- %s skipped: %s" % (name, why) for name, why in (skipped or {}).items()]
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"


def markdown_report(result):
    """The whole markdown document for one result dict."""
    s = result["settings"]
    m = result["machine"]
    head = ["# reactor benchmark — %s" % result["started"], "",
            "`%s`" % " ".join(result["command"]), "",
            "%s, %s CPUs, kernel %s; server on CPU %s, wrk on CPU %s; "
            "%d round(s) × %ss (warm-up %ss), servers interleaved; medians over rounds."
            % (m["cpu_model"], m["nproc"], m["kernel"], s["server_cpus"], s["client_cpus"],
               s["rounds"], s["duration"], s["warmup"]), ""]
    parts = ["\n".join(head)]
    summary = result["summary"]
    for name, info in result["scenarios"].items():
        if name in summary or info.get("skipped"):
            parts.append(markdown_table(name, summary.get(name, {}),
                                        "%s — %s" % (name, info["description"]),
                                        info.get("skipped"), info.get("labels"),
                                        info.get("check"), info.get("baselines"),
                                        info.get("configs"), info.get("file")))
    return "\n".join(parts)


# ---- charts --------------------------------------------------------------------------

def chart_label(name, s, labels=None):
    """A bar's tick label: the server's name, its configuration label below it."""
    label = label_of(name, s, labels)
    return name if label == "—" else "%s\n%s" % (name, label)


def write_chart(scenario, summary, path, title=None, labels=None):
    """A PNG bar chart for one scenario; returns the path, or None without matplotlib.
    Each bar is named by server and configuration label (``labels`` fills in
    for servers whose summary has none)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    names = [n for n, s in summary.items() if s["runs"]]
    if not names:
        return None
    if scenario == IDLE:
        panels = [("KB of server RSS per idle connection", "kb_per_conn")]
    else:
        panels = [("requests/s (median, min–max)", "rps"),
                  ("server CPU µs per request (median, min–max)", "cpu_us")]
    ticks = [chart_label(n, summary[n], labels) for n in names]
    size = (max(8, 6 * len(panels)) + 3, 0.7 * len(names) + 1.6)
    fig, axes = plt.subplots(1, len(panels), figsize=size, squeeze=False)
    for i, (ax, (label, key)) in enumerate(zip(axes[0], panels)):
        _bar_panel(ax, names, summary, key, label, ticks if i == 0 else None)
    fig.suptitle(title or scenario, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _bar_panel(ax, names, summary, key, label, ticks=None):
    med = [summary[n][key + "_median"] or 0 for n in names]
    lo = [m - (summary[n][key + "_min"] or m) for n, m in zip(names, med)]
    hi = [(summary[n][key + "_max"] or m) - m for n, m in zip(names, med)]
    colors = ["tab:red" if n.startswith("reactor") else
              "tab:gray" if n.startswith("nginx") else "tab:blue" for n in names]
    ypos = range(len(names))
    bars = ax.barh(ypos, med, xerr=[lo, hi], color=colors, capsize=3)
    ax.bar_label(bars, labels=[_num(m) for m in med], padding=4, fontsize=8)
    ax.margins(x=0.18)
    ax.set_yticks(list(ypos))
    ax.set_yticklabels(ticks if ticks is not None else [""] * len(names), fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.grid(axis="x", alpha=0.3)


# ---- compare ---------------------------------------------------------------------------

# (summary key, label, +1 if higher is better / -1 if lower is better, flag regressions)
WRK_METRICS = [("rps_median", "req/s", +1, True), ("cpu_us_median", "µs CPU/req", -1, True),
               ("p99_us", "p99 µs", -1, False)]
IDLE_METRICS = [("kb_per_conn_median", "KB/conn", -1, True)]


def pct_change(old, new):
    if old in (None, 0) or new is None:
        return None
    return (new - old) / old * 100.0


def is_regression(old, new, direction, threshold=DEFAULT_THRESHOLD):
    """True when ``new`` is worse than ``old`` by more than ``threshold`` percent."""
    change = pct_change(old, new)
    return change is not None and change * direction < -threshold


def compare(a, b, threshold=DEFAULT_THRESHOLD):
    """Compare two result dicts; returns ``(text, regressions)``.

    ``regressions`` is a list of ``(scenario, server, metric, old, new, pct)``.
    """
    sa, sb = a["summary"], b["summary"]
    lines, regressions = [], []
    for scenario in [s for s in sb if s in sa]:
        lines.append("%s:" % scenario)
        metrics = IDLE_METRICS if scenario == IDLE else WRK_METRICS
        for server in [n for n in sb[scenario] if n in sa[scenario]]:
            cells = []
            for key, label, direction, flag in metrics:
                old, new = sa[scenario][server].get(key), sb[scenario][server].get(key)
                change = pct_change(old, new)
                bad = flag and is_regression(old, new, direction, threshold)
                if bad:
                    regressions.append((scenario, server, label, old, new, change))
                cells.append("%s %s -> %s (%s)%s" % (
                    label, _num(old), _num(new),
                    "n/a" if change is None else "%+.1f%%" % change,
                    " REGRESSION" if bad else ""))
            lines.append("  %-20s %s" % (server, "; ".join(cells)))
            old_label = sa[scenario][server].get("label")
            new_label = sb[scenario][server].get("label")
            if old_label and new_label and old_label != new_label:
                lines.append("  %-20s configuration changed: %s -> %s"
                             % ("", old_label, new_label))
        for server in sorted(set(sa[scenario]) ^ set(sb[scenario])):
            lines.append("  %-20s only in %s" % (server, "A" if server in sa[scenario] else "B"))
    lines.append("%d regression(s) over %.0f%%" % (len(regressions), threshold))
    for scenario, server, label, old, new, change in regressions:
        lines.append("  REGRESSION %s / %s: %s %s -> %s (%+.1f%%)"
                     % (scenario, server, label, _num(old), _num(new), change))
    return "\n".join(lines), regressions


def _num(x):
    if x is None:
        return "—"
    return "{:,.0f}".format(x) if abs(x) >= 100 else "{:.2f}".format(x)

"""Run ``wrk`` and parse what it prints.

``parse(text)`` turns wrk 4.x output (with ``--latency``) into a dict:

    requests, duration_s, bytes_read, rps, transfer_bps,
    latency_us: {avg, stdev, max, p50, p75, p90, p99},
    socket_errors: {connect, read, write, timeout}, non2xx

Units follow wrk's own formatting: times in us/ms/s/m/h, counts with an
SI suffix k/M/G (powers of 1000), byte sizes with KB/MB/GB (powers of 1024).
"""
import re
import shutil
import subprocess

INSTALL_HINT = ("wrk is not installed. Install it with:\n"
                "    sudo apt-get install wrk        (Debian/Ubuntu)\n"
                "    brew install wrk                (macOS)")

_TIME_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_METRIC_UNITS = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
_BINARY_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}

_NUM = r"(-?nan|[-+]?\d+(?:\.\d+)?)"


class WrkError(Exception):
    """wrk failed to run or printed something we cannot parse."""


def _number(text):
    return float("nan") if text.lstrip("-").lower() == "nan" else float(text)


def parse_time_us(text):
    """``"474.52us"`` -> 474.52, ``"3.08ms"`` -> 3080.0, ``"1.10s"`` -> 1.1e6."""
    m = re.fullmatch(_NUM + r"(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError("not a wrk time: %r" % text)
    return _number(m.group(1)) * _TIME_UNITS[m.group(2)]


def parse_metric(text):
    """``"134.22k"`` -> 134220.0, ``"1.5M"`` -> 1.5e6, ``"42"`` -> 42.0."""
    m = re.fullmatch(_NUM + r"([kMGT]?)", text.strip())
    if not m:
        raise ValueError("not a wrk count: %r" % text)
    return _number(m.group(1)) * _METRIC_UNITS[m.group(2)]


def parse_bytes(text):
    """``"16.73MB"`` -> bytes (powers of 1024, as wrk prints them)."""
    m = re.fullmatch(_NUM + r"(B|KB|MB|GB|TB)", text.strip())
    if not m:
        raise ValueError("not a wrk byte size: %r" % text)
    return _number(m.group(1)) * _BINARY_UNITS[m.group(2)]


def _search(pattern, text):
    return re.search(pattern, text, re.MULTILINE)


def _parse_latency(text):
    lat = {}
    m = _search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s*$", text)
    if m:
        lat["avg"], lat["stdev"], lat["max"] = (parse_time_us(x) for x in m.groups())
    for pct, value in re.findall(r"^\s*(50|75|90|99)%\s+(\S+)\s*$", text, re.MULTILINE):
        lat["p" + pct] = parse_time_us(value)
    return lat


def _parse_socket_errors(text):
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    m = _search(r"Socket errors:\s*(.*)$", text)
    if m:
        for name, count in re.findall(r"(\w+) (\d+)", m.group(1)):
            errors[name] = int(count)
    return errors


def parse(text):
    """Parse one wrk run's stdout; raise WrkError if it has no summary."""
    m = _search(r"^\s*(\d+) requests in (\S+), (\S+) read\s*$", text)
    rps = _search(r"^Requests/sec:\s+" + _NUM + r"\s*$", text)
    if not m or not rps:
        raise WrkError("no wrk summary in output:\n" + text.strip()[-2000:])
    transfer = _search(r"^Transfer/sec:\s+(\S+)\s*$", text)
    non2xx = _search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    return {
        "requests": int(m.group(1)),
        "duration_s": parse_time_us(m.group(2)) / 1e6,
        "bytes_read": parse_bytes(m.group(3)),
        "rps": _number(rps.group(1)),
        "transfer_bps": parse_bytes(transfer.group(1)) if transfer else None,
        "latency_us": _parse_latency(text),
        "socket_errors": _parse_socket_errors(text),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def error_count(result):
    """Non-2xx/3xx responses plus socket errors of one parsed run."""
    return result["non2xx"] + sum(result["socket_errors"].values())


def find_wrk():
    """Path of the wrk binary, or None."""
    return shutil.which("wrk")


def version(wrk="wrk"):
    """wrk's version line, e.g. ``"wrk debian/4.1.0-3+b2 [epoll]"``."""
    try:
        out = subprocess.run([wrk, "-v"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0].strip() if first else None


def _duration_arg(seconds):
    # wrk's -d takes a whole number with an s/m/h unit
    return "%ds" % max(1, round(seconds))


def command(url, duration, connections, threads=1, script=None, timeout="5s", wrk="wrk"):
    """The wrk argv for one run (``--latency`` always on)."""
    threads = max(1, min(threads, connections))
    argv = [wrk, "-t%d" % threads, "-c%d" % connections, "-d" + _duration_arg(duration),
            "--latency", "--timeout", timeout]
    if script:
        argv += ["-s", script]
    return argv + [url]


def run(argv, pin=None, timeout=None):
    """Run wrk (prefixed with ``pin``, e.g. ``["taskset", "-c", "0"]``).

    Returns ``(parsed, raw_stdout)``; raises WrkError on failure.
    """
    full = list(pin or []) + list(argv)
    try:
        proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise WrkError("wrk did not finish in %ss" % timeout) from None
    if proc.returncode != 0:
        raise WrkError("wrk exited %d: %s" % (proc.returncode,
                                              (proc.stderr or proc.stdout).strip()[-500:]))
    return parse(proc.stdout), proc.stdout

"""Echo throughput: reactor's TcpServer vs a plain Python selectors server.

    python -m bench.echo.run [--connections 100] [--size 64] [--duration 5] [--rounds 3]

Each server runs pinned to one CPU (``--server-cpus``, default 1) and the C
load generator ``echo_client`` (compiled here with gcc) to another (default
0).  Every connection keeps one message in flight.  Servers are interleaved
(A B A B ...) and the medians of messages/s, MB/s and server CPU µs per
message are printed.
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build_client():
    out = os.path.join(tempfile.gettempdir(), "reactor_echo_client")
    src = os.path.join(HERE, "echo_client.c")
    if not os.path.exists(out) or os.path.getmtime(out) < os.path.getmtime(src):
        subprocess.run(["gcc", "-O2", "-Wall", "-o", out, src], check=True)
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen on %d" % port)


SERVERS = {
    "reactor": lambda port: [sys.executable, os.path.join(ROOT, "examples", "echo_server.py"),
                             "--port", str(port), "--threads", "0"],
    "selectors": lambda port: [sys.executable, os.path.join(HERE, "selectors_echo.py"), str(port)],
}


def run_one(name, client, args):
    port = free_port()
    cmd = ["taskset", "-c", args.server_cpus] + SERVERS[name](port)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        c0 = cpu_seconds(proc.pid)
        out = subprocess.run(["taskset", "-c", args.client_cpus, client, "127.0.0.1", str(port),
                              str(args.connections), str(args.size), str(args.duration)],
                             capture_output=True, text=True, timeout=args.duration + 30)
        c1 = cpu_seconds(proc.pid)
        if out.returncode != 0:
            raise RuntimeError(out.stderr.strip())
        msgs, nbytes, secs = out.stdout.split()
        msgs, nbytes, secs = int(msgs), int(nbytes), float(secs)
        return {"msgs_per_s": msgs / secs, "mb_per_s": nbytes / secs / 1e6,
                "cpu_us_per_msg": (c1 - c0) / max(msgs, 1) * 1e6}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--server-cpus", default="1")
    ap.add_argument("--client-cpus", default="0")
    ap.add_argument("--servers", default="reactor,selectors")
    args = ap.parse_args(argv)
    if not shutil.which("gcc") or not shutil.which("taskset"):
        print("needs gcc and taskset (apt-get install gcc util-linux)", file=sys.stderr)
        return 2
    client = build_client()
    names = args.servers.split(",")
    results = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names:
            res = run_one(n, client, args)
            results[n].append(res)
            print("round %d %-10s %10.0f msg/s %8.2f MB/s %6.2f us CPU/msg"
                  % (r + 1, n, res["msgs_per_s"], res["mb_per_s"], res["cpu_us_per_msg"]),
                  flush=True)
    print("\n| server | msg/s (median) | MB/s | µs CPU/msg | ratio |")
    print("|---|---:|---:|---:|---:|")
    base = statistics.median(x["msgs_per_s"] for x in results[names[-1]])
    for n in names:
        m = statistics.median(x["msgs_per_s"] for x in results[n])
        mb = statistics.median(x["mb_per_s"] for x in results[n])
        cpu = statistics.median(x["cpu_us_per_msg"] for x in results[n])
        print("| %s | %.0f | %.2f | %.2f | %.2fx |" % (n, m, mb, cpu, m / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())

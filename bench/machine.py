"""What a result file records about the machine and the software measured."""
import importlib.metadata
import os
import platform
import subprocess
import sys

from bench import wrk
from bench.servers import find_binary

PACKAGES = ("reactor-http", "gunicorn", "waitress", "uvicorn", "uvloop", "httptools",
            "granian", "bjoern", "matplotlib", "flask", "jinja2", "werkzeug", "a2wsgi",
            "fastapi", "starlette", "pydantic")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _governor():
    try:
        with open("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor") as f:
            return f.read().strip()
    except OSError:
        return None


def machine_info(server_cpus, client_cpus):
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": sorted(os.sched_getaffinity(0)),
        "cpu_model": cpu_model(),
        "kernel": platform.release(),
        "system": platform.platform(),
        "governor": _governor(),
        "pinning": {"server_cpus": server_cpus, "client_cpus": client_cpus},
    }


def _package_version(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _reactor_version(repo_root):
    info = {"installed": _package_version("reactor-http")}
    try:
        import reactor
        info["module"] = getattr(reactor, "__version__", None)
        info["path"] = os.path.dirname(reactor.__file__)
    except ImportError:
        pass
    try:
        out = subprocess.run(["git", "-C", repo_root, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0:
            info["commit"] = out.stdout.strip()
        dirty = subprocess.run(["git", "-C", repo_root, "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
        if dirty.returncode == 0:
            info["dirty"] = bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _nginx_version():
    binary = find_binary("nginx")
    if not binary:
        return None
    out = subprocess.run([binary, "-v"], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip().replace("nginx version: ", "") or None


def versions(repo_root, wrk_binary="wrk"):
    out = {"python": sys.version.split()[0],
           "python_implementation": platform.python_implementation(),
           "reactor": _reactor_version(repo_root),
           "wrk": wrk.version(wrk_binary),
           "nginx": _nginx_version()}
    for name in PACKAGES[1:]:
        out[name] = _package_version(name)
    return out

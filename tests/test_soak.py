"""Smoke test of the soak scenario: ``python -m bench.soak --quick`` in a subprocess.

It starts a reactor server, sends 200k keep-alive and 20k ``Connection:
close`` requests (half to a route_static route, half to a Python handler)
and opens 3 x 1,000 idle connections, then checks the server's RSS.  Here we
only check that it passes and that every count it printed was reached with
no errors.  Needs wrk (the soak's raw-socket fallback is exercised by hand
with ``--client raw``).
"""
import os
import re
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# what --quick asks for (bench/soak.py DEFAULTS divided by 10)
EXPECTED = {
    "keep-alive /static": (100_000, "responses"),
    "keep-alive /py": (100_000, "responses"),
    "close /static": (10_000, "responses"),
    "close /py": (10_000, "responses"),
    "idle round 1": (1_000, "connections"),
    "idle round 2": (1_000, "connections"),
    "idle round 3": (1_000, "connections"),
}

COUNT_LINE = re.compile(r"^\s+(ok|FAIL)\s+(.+?)\s+([\d,]+) of ([\d,]+) (responses|connections), "
                        r"([\d,]+) errors(.*)$")


def _int(text):
    return int(text.replace(",", ""))


@pytest.mark.slow
def test_soak_quick():
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk): the soak's load generator")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", "bench.soak", "--quick", "--client", "wrk"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"^PASS$", proc.stdout, re.MULTILINE), out
    seen = {}
    for line in proc.stdout.splitlines():
        m = COUNT_LINE.match(line)
        if m:
            seen[m.group(2)] = m
    assert set(seen) == set(EXPECTED), out
    for phase, (target, unit) in EXPECTED.items():
        m = seen[phase]
        assert m.group(1) == "ok", out
        assert _int(m.group(4)) == target and m.group(5) == unit, out
        assert _int(m.group(3)) >= target, out
        assert _int(m.group(6)) == 0, out
        if unit == "connections":       # every idle connection held, by both ends
            held = re.search(r"([\d,]+) still open after .*server held ([\d,]+)", m.group(7))
            assert held and _int(held.group(1)) == target, out
            assert _int(held.group(2)) >= target, out
        else:                           # the server answered at least what wrk counted
            served = re.search(r"server counted ([\d,]+)", m.group(7))
            assert served and _int(served.group(1)) >= _int(m.group(3)), out

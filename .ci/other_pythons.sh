#!/usr/bin/env bash
# The asyncio selector and ASGI on the other CPythons the project supports
# (3.10, 3.12, 3.13; 3.11 runs everything in .ci/run): CPython's own asyncio
# conformance mixins and test_selectors against ReactorSelector, the event
# loop's poll(), and the ASGI black-box tests (app tasks start eagerly by
# 3.12's eager_start, and before 3.12 by reactor._selector.new_task_first_step,
# test_eager_start.py; on 3.12+ asgion checks every ASGI message).  Each
# Python needs its ``test`` package (pyenv and python.org builds ship it;
# Debian's need libpython3.X-testsuite).  A Python that is not installed is
# skipped with a note, unless REACTOR_REQUIRE_PYTHONS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# on 3.12+ asgion checks every ASGI message of test_asgi.py's servers and of the four
# frameworks served black-box (test_asgi_frameworks.py, a slow test; .ci/run runs them
# on 3.11 with --threads 1 too)
asgion_on() { [ "$1" != 3.10 ]; }

# The venvs and their builds, all at once: three builds on two cores take little
# longer than one after another, and pip's own work overlaps.  Each builds from a
# clean copy of its own (no in-place build objects; the builds must not share one).
vs=(); pids=()
for v in 3.10 3.12 3.13; do
    # pyenv's builds (its shims answer only for the selected version), else PATH's
    py=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$v.*/bin/python$v 2>/dev/null | tail -1 || true)
    [ -n "$py" ] || py=$(command -v "python$v" || true)
    if [ -z "$py" ] || ! "$py" -c 'import sys' 2>/dev/null; then
        echo "other_pythons: python$v is not installed: skipped"
        [ "${REACTOR_REQUIRE_PYTHONS:-0}" = 1 ] && exit 1
        continue
    fi
    mkdir "$TMP/src$v"
    git archive HEAD | tar -x -C "$TMP/src$v"
    extra=()
    if asgion_on "$v"; then
        extra=("asgion>=0.6" fastapi starlette litestar django python-multipart)
    fi
    ("$py" -m venv "$TMP/venv$v" &&
     "$TMP/venv$v/bin/pip" install -q "$TMP/src$v" pytest pytest-xdist httpx "${extra[@]}") \
        > "$TMP/install$v.log" 2>&1 &
    vs+=("$v"); pids+=($!)
done
for i in "${!vs[@]}"; do
    if ! wait "${pids[$i]}"; then
        cat "$TMP/install${vs[$i]}.log"
        echo "other_pythons: the install on python${vs[$i]} failed"
        exit 1
    fi
done

for v in "${vs[@]}"; do
    echo "=== python$v"
    asgion=0
    asgion_on "$v" && asgion=1
    # the tests import the installed reactor, not the unbuilt tree
    run() {
        (cd "$TMP/src$v/tests" && REACTOR_REQUIRE_CPYTHON_TESTS=1 REACTOR_REQUIRE_ASGION=$asgion \
            "$TMP/venv$v/bin/python" -m pytest \
            -q -p no:cacheprovider --rootdir "$TMP/src$v" -c "$TMP/src$v/pyproject.toml" "$@")
    }
    run test_asyncio_conformance.py test_event_loop.py test_asgi.py test_eager_start.py
    if [ $asgion = 1 ]; then
        run -m slow test_asgi_frameworks.py
    fi
done

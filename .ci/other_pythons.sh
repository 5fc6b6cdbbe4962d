#!/usr/bin/env bash
# The asyncio selector and ASGI on the other CPythons the project supports
# (3.10, 3.12, 3.13; 3.11 runs everything in .ci/run): CPython's own asyncio
# conformance mixins and test_selectors against ReactorSelector, the event
# loop's poll(), and the ASGI black-box tests (on 3.12+ app tasks start
# eagerly, a different path).  Each Python needs its ``test`` package (pyenv
# and python.org builds ship it; Debian's need libpython3.X-testsuite).  A
# Python that is not installed is skipped with a note, unless
# REACTOR_REQUIRE_PYTHONS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
git archive HEAD | tar -x -C "$TMP"         # a clean copy: no in-place build objects
for v in 3.10 3.12 3.13; do
    # pyenv's builds (its shims answer only for the selected version), else PATH's
    py=$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$v.*/bin/python$v 2>/dev/null | tail -1 || true)
    [ -n "$py" ] || py=$(command -v "python$v" || true)
    if [ -z "$py" ] || ! "$py" -c 'import sys' 2>/dev/null; then
        echo "other_pythons: python$v is not installed: skipped"
        [ "${REACTOR_REQUIRE_PYTHONS:-0}" = 1 ] && exit 1
        continue
    fi
    echo "=== python$v"
    "$py" -m venv "$TMP/venv$v"
    "$TMP/venv$v/bin/pip" install -q "$TMP" pytest pytest-xdist httpx
    # the tests import the installed reactor, not the unbuilt tree
    (cd "$TMP/tests" && REACTOR_REQUIRE_CPYTHON_TESTS=1 "$TMP/venv$v/bin/python" -m pytest \
        -q -p no:cacheprovider --rootdir "$TMP" -c "$TMP/pyproject.toml" \
        test_asyncio_conformance.py test_event_loop.py test_asgi.py)
done

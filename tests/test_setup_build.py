"""setup.py itself: what the build compiles, and where it puts the objects.

The build runs with a stand-in compiler (``CC``/``LDSHARED`` point at a script
that records each output and writes an empty file), so the test takes the time
of setup.py, not of gcc.  Generated ``reactor/*.c`` files are copied along
when the tree has them, and made newer than their dependencies, so Cython
only runs when the tree was not built in place.
"""
import collections
import os
import shutil
import stat
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FAKE_CC = """#!/bin/sh
# records "<source> -> <output>" for every call, then writes the output empty
out=""; src=""; prev=""
for a in "$@"; do
    [ "$prev" = "-o" ] && out="$a"
    case "$a" in *.c) src="$a";; esac
    prev="$a"
done
echo "$src -> $out" >> "$FAKE_CC_LOG"
[ -n "$out" ] && : > "$out"
exit 0
"""


def _copy_tree(dst):
    shutil.copy(os.path.join(ROOT, "setup.py"), dst)
    shutil.copytree(os.path.join(ROOT, "csrc"), os.path.join(dst, "csrc"))
    # .pyx/.pxd/includes and, when built in place, the generated .c (not the .so)
    shutil.copytree(os.path.join(ROOT, "reactor"), os.path.join(dst, "reactor"),
                    ignore=shutil.ignore_patterns("*.so", "__pycache__", "*.html"))
    # newer than every .pxd they depend on (Cython's own included), so cythonize skips them
    for name in os.listdir(os.path.join(dst, "reactor")):
        if name.endswith(".c"):
            os.utime(os.path.join(dst, "reactor", name))


def test_parallel_build_gives_each_extension_its_own_objects(tmp_path):
    # Several extensions list the same csrc/*.c.  With build_ext's parallel jobs
    # two compilers wrote one build/temp*/csrc/static_files.o at once, and a
    # module linked the half-written object: the CI's debug build failed to
    # import with "undefined symbol: rh_fcache_free".
    src = tmp_path / "src"
    src.mkdir()
    _copy_tree(str(src))
    cc = tmp_path / "fake-cc"
    cc.write_text(FAKE_CC)
    cc.chmod(cc.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "cc.log"
    env = dict(os.environ, CC=str(cc), LDSHARED="%s -shared" % cc, FAKE_CC_LOG=str(log),
               REACTOR_BUILD_JOBS="2", REACTOR_NO_TLS="0")
    r = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-temp", str(tmp_path / "temp"),
         "--build-lib", str(tmp_path / "lib"), "--force"],
        cwd=src, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]

    compiles = [line.split(" -> ") for line in log.read_text().splitlines()
                if line.split(" -> ")[0].endswith(".c") and line.endswith(".o")]
    writers = collections.defaultdict(list)
    for source, obj in compiles:
        writers[os.path.normpath(obj)].append(source)
    shared = {o: s for o, s in writers.items() if len(s) > 1}
    assert not shared, "objects compiled more than once into one path: %r" % shared

    # the shared C sources are compiled once per extension that lists them
    per_source = collections.Counter(os.path.basename(s) for s, _ in compiles)
    assert per_source["static_files.c"] >= 2, per_source
    assert per_source["http_parser.c"] >= 2, per_source
    # and every extension was linked
    linked = [line for line in log.read_text().splitlines() if line.endswith(".so")]
    pyx = [f for f in os.listdir(os.path.join(ROOT, "reactor")) if f.endswith(".pyx")]
    assert len(linked) == len(pyx), (linked, pyx)

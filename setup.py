"""Build the compiled core of reactor.

Every ``reactor/*.pyx`` becomes an extension module; modules that use the C
HTTP parser also compile ``csrc/http_parser.c``.  Set ``REACTOR_DEBUG=1`` to
build the debug flavour: thread-ownership asserts on, no -O2, with -g.

A release build (neither ``REACTOR_DEBUG`` nor ``REACTOR_SANITIZE``) is compiled
without debug information and linked with ``--strip-all``: the shared objects
keep only the dynamic symbols Python needs.  ``REACTOR_STRIP=0`` keeps the
symbol table and ``-g`` (Python's own CFLAGS) in a release build, e.g. for perf.
"""
import copy
import glob
import os

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("REACTOR_DEBUG", "") not in ("", "0")
SANITIZE = os.environ.get("REACTOR_SANITIZE", "")  # e.g. "address,undefined"
# release builds ship stripped shared objects; debug and sanitizer builds never do
STRIP = not DEBUG and not SANITIZE and os.environ.get("REACTOR_STRIP", "1") not in ("", "0")

compile_args = ["-Wall", "-Wno-unused-function", "-Wno-unreachable-code"]
link_args = []
if DEBUG:
    compile_args += ["-O0", "-g"]
elif SANITIZE:
    # ASan's advice for usable speed; the instrumented -O2 build took 4 min in CI
    compile_args += ["-O1"]
else:
    compile_args += ["-O2"]
if SANITIZE:
    compile_args += [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-g"]
    link_args += [f"-fsanitize={SANITIZE}"]
if STRIP:
    # -g0 overrides the -g in Python's CFLAGS (no debug info to compile, then drop);
    # --strip-all drops .symtab and any .debug_* section from the linked .so
    compile_args += ["-g0"]
    link_args += ["-Wl,--strip-all"]

# C sources a module needs besides its own generated .c
C_DEPS = {
    "reactor._http": ["csrc/http_parser.c", "csrc/static_files.c"],
    "reactor._tcp_connection": ["csrc/tls.c"],
    "reactor._tls": ["csrc/tls.c"],
    "reactor._http_config": ["csrc/static_files.c"],
    "reactor._http_request": ["csrc/http_parser.c"],
    "reactor._wsgi": ["csrc/http_parser.c"],
    "reactor._asgi": ["csrc/http_parser.c"],
}

macros = [("REACTOR_DEBUG", "1" if DEBUG else "0")]


def _have_openssl():
    """TLS needs the OpenSSL headers and libraries (Debian: libssl-dev).  A
    build without them still succeeds, with TLS disabled; REACTOR_NO_TLS=1
    builds that way on purpose."""
    if os.environ.get("REACTOR_NO_TLS", "") not in ("", "0"):
        return False
    import shutil
    import subprocess
    import tempfile
    cc = os.environ.get("CC", "cc").split()[0]
    if shutil.which(cc) is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "t.c")
        with open(src, "w") as f:
            f.write("#include <openssl/ssl.h>\n"
                    "int main(void) { return SSL_CTX_new(TLS_server_method()) == 0; }\n")
        r = subprocess.run([cc, src, "-o", os.path.join(d, "t"), "-lssl", "-lcrypto"],
                           capture_output=True)
    return r.returncode == 0


HAVE_OPENSSL = _have_openssl()
if not HAVE_OPENSSL:
    print("setup.py: OpenSSL headers not found (Debian: apt-get install libssl-dev); "
          "building reactor without TLS")
# modules whose C calls OpenSSL
TLS_MODULES = {"reactor._tcp_connection", "reactor._tls"}

extensions = []
for pyx in sorted(glob.glob("reactor/*.pyx")):
    name = pyx[:-4].replace(os.sep, ".")
    extensions.append(
        Extension(
            name,
            [pyx] + C_DEPS.get(name, []),
            include_dirs=["csrc", "reactor/includes"],
            define_macros=macros + ([("REACTOR_HAVE_OPENSSL", "1")]
                                    if HAVE_OPENSSL and name in TLS_MODULES else []),
            libraries=["ssl", "crypto"] if HAVE_OPENSSL and name in TLS_MODULES else [],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
        )
    )

if not extensions:
    # e.g. an sdist without the .pyx: a wheel without its compiled core must not build
    raise SystemExit("setup.py: no reactor/*.pyx found in %s" % os.getcwd())

JOBS = int(os.environ.get("REACTOR_BUILD_JOBS", "2"))


class BuildExtOwnObjects(build_ext):
    """Each extension compiles into a temp directory of its own.  Several
    extensions list the same ``csrc/*.c``; in one directory, two parallel jobs
    wrote the same ``csrc/*.o`` at once and a module could link the other's
    half-written object (an "undefined symbol" at import)."""

    def build_extension(self, ext):
        # a shallow copy per extension: the parallel jobs share this command
        own = copy.copy(self)
        own.build_temp = os.path.join(self.build_temp, ext.name)
        build_ext.build_extension(own, ext)


setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "embedsignature": True,
        },
        include_path=["reactor", "reactor/includes"],
        nthreads=JOBS,
    ),
    # the C compiler runs on as many extensions at once (setuptools' build_ext -j)
    options={"build_ext": {"parallel": JOBS}},
    cmdclass={"build_ext": BuildExtOwnObjects},
)

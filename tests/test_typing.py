"""Typing (issue 8): the stubs match the runtime, and typed code checks.

* ``mypy --strict`` passes on ``examples/`` and on the README's embedding
  example (the python block under "## Embedding", written to a file);
* ``python -m mypy.stubtest reactor`` passes: every name and signature in
  the ``.pyi`` stubs exists at runtime, with ``tests/data/stubtest_allowlist*.txt``
  for Cython machinery the stubs leave out;
* for compiled classes whose ``__init__`` stubtest cannot read (a C slot),
  the stub's parameters are checked against the signature Cython embeds in
  the class docstring (``embedsignature``) or, for ``__cinit__`` classes, by
  calling the class with the stub's keywords;
* every attribute of ``HttpRequest`` has a docstring at runtime.

The mypy tests skip when mypy is not installed.  mypy finds the stubs in the
checkout (``MYPYPATH``): an editable install is an import hook mypy cannot
follow.
"""
import ast
import importlib
import importlib.util
import inspect
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT

REACTOR = os.path.join(ROOT, "reactor")
EXAMPLES = os.path.join(ROOT, "examples")
DATA = os.path.join(ROOT, "tests", "data")

needs_mypy = pytest.mark.skipif(
    importlib.util.find_spec("mypy") is None,
    reason="mypy is not installed (pip install mypy) so the typing checks cannot run")


def run_mypy(args, tmp_path):
    # a private cache per call: tests run in parallel, and none in the checkout
    env = dict(os.environ, MYPYPATH=ROOT, MYPY_CACHE_DIR=str(tmp_path / "mypy-cache"))
    cmd = [sys.executable, "-m"] + args
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def mypy_strict(paths, tmp_path):
    return run_mypy(["mypy", "--strict"] + list(paths), tmp_path)


def readme_block(heading, lang="python"):
    """The first ```lang fenced block after the line ``heading`` in README.md."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    start = text.index("\n" + heading + "\n")
    end = text.find("\n## ", start + 1)
    m = re.compile(r"^```%s\n(.*?)^```" % re.escape(lang), re.M | re.S).search(
        text, start, end if end >= 0 else len(text))
    assert m, "no ```%s block under %r in README.md" % (lang, heading)
    return m.group(1)


# ---------------------------------------------------------------------------
# mypy --strict on user code

@needs_mypy
def test_examples_pass_mypy_strict(tmp_path):
    examples = sorted(os.path.join("examples", f) for f in os.listdir(EXAMPLES)
                      if f.endswith(".py"))
    assert examples
    rc, out = mypy_strict(examples, tmp_path)
    assert rc == 0, "mypy --strict examples/ failed:\n" + out


@needs_mypy
def test_readme_embedding_example_passes_mypy_strict(tmp_path):
    code = readme_block("## Embedding")
    assert "HttpServer" in code
    path = tmp_path / "readme_embedding.py"
    path.write_text(code, encoding="utf-8")
    rc, out = mypy_strict([str(path)], tmp_path)
    assert rc == 0, ("mypy --strict on README.md's embedding example failed:\n%s\n--- code:\n%s"
                     % (out, code))


@needs_mypy
def test_stubs_reject_wrong_calls(tmp_path):
    """The stubs are in force: mypy sees reactor's types, not Any."""
    path = tmp_path / "wrong.py"
    path.write_text(
        "from reactor import HttpRequest, HttpResponse, HttpServer\n"
        "def handler(request: HttpRequest) -> HttpResponse:\n"
        "    request.method = 'GET'\n"                       # read-only attribute
        "    return HttpResponse(b'x', '404')\n"             # status must be an int
        "HttpServer(handler, port=0, max_headers='100')\n",  # limits are typed
        encoding="utf-8")
    rc, out = mypy_strict([str(path)], tmp_path)
    assert rc == 1, out
    errors = {int(m.group(1)): m.group(2) for m in
              re.finditer(r"^.*wrong\.py:(\d+): error: (.*)$", out, re.M)}
    assert set(errors) == {3, 4, 5}, out
    assert "read-only" in errors[3] and '"HttpResponse"' in errors[4], out
    assert '"max_headers"' in errors[5], out


# ---------------------------------------------------------------------------
# the stubs against the runtime

@needs_mypy
def test_stubtest(tmp_path):
    # stubtest ignores MYPY_CACHE_DIR: a config file keeps its cache out of the checkout
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\ncache_dir = %s\n" % (tmp_path / "stubtest-cache"))
    args = ["mypy.stubtest", "reactor", "--mypy-config-file", str(config),
            "--allowlist", os.path.join(DATA, "stubtest_allowlist.txt")]
    if sys.version_info < (3, 12):
        args += ["--allowlist", os.path.join(DATA, "stubtest_allowlist_py311.txt")]
    rc, out = run_mypy(args, tmp_path)
    assert rc == 0, "stubtest found differences between the stubs and the runtime:\n" + out


def stub_modules():
    return sorted(f[:-4] for f in os.listdir(REACTOR) if f.endswith(".pyi"))


def test_every_module_has_a_stub():
    """A module without a stub is typed from its source (untyped) or not at
    all (compiled); every module of the package needs one."""
    mods = {f.split(".")[0] for f in os.listdir(REACTOR)
            if f.endswith((".py", ".pyx")) and not f.startswith(".")}
    missing = sorted(mods - set(stub_modules()))
    assert not missing, "modules without a .pyi stub: %s" % missing
    assert os.path.exists(os.path.join(REACTOR, "py.typed"))


def _stub_params(module, cls):
    """Parameters of the stub's ``__init__`` (or ``__new__``) of ``cls``:
    ``(method name, [(name, default source or None, keyword-only)])``."""
    with open(os.path.join(REACTOR, module + ".pyi"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name in ("__init__", "__new__"):
                    a = item.args
                    pos = a.posonlyargs + a.args
                    defaults = [None] * (len(pos) - len(a.defaults)) + list(a.defaults)
                    params = [(p.arg, d, False) for p, d in zip(pos, defaults)][1:]
                    params += [(p.arg, d, True) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
                    return item.name, [(n, ast.unparse(d) if d is not None else None, k)
                                       for n, d, k in params]
            return None, []
    raise AssertionError("class %s not in %s.pyi" % (cls, module))


def _embedded_params(cls):
    """Parameters from the ``Name(...)`` line Cython embeds for ``__init__``:
    C types dropped (``int fd`` -> ``fd``), defaults as source."""
    first = (cls.__doc__ or "").split("\n", 1)[0]
    if not first.startswith(cls.__name__ + "("):
        return None
    inner = first[len(cls.__name__):]
    inner = re.sub(r"\s+not None\b", "", inner)
    inner = re.sub(r"\b(?:[A-Za-z_][\w.]* )+(?=[A-Za-z_]\w*\s*(?:=|,|\)))", "", inner)
    a = ast.parse("def f%s: pass" % inner).body[0].args
    defaults = [None] * (len(a.args) - len(a.defaults)) + list(a.defaults)
    return [(p.arg, ast.unparse(d) if d is not None else None) for p, d in zip(a.args, defaults)]


def _same_default(stub, runtime):
    if stub is None or runtime is None:
        return stub == runtime
    if stub == "...":
        return True
    try:
        return ast.literal_eval(stub) == ast.literal_eval(runtime)
    except ValueError:
        return stub == runtime


COMPILED = sorted(f[:-4] for f in os.listdir(REACTOR) if f.endswith(".pyx"))


@pytest.mark.parametrize("module", COMPILED)
def test_compiled_constructors_match_stubs(module):
    """stubtest sees ``(*args, **kwargs)`` for a cdef class's ``__init__`` and
    nothing for ``__cinit__``: check those constructors here."""
    mod = importlib.import_module("reactor." + module)
    for name, cls in sorted(vars(mod).items()):
        if name.startswith("_") or not inspect.isclass(cls) or cls.__module__ != mod.__name__:
            continue
        init = vars(cls).get("__init__")
        if issubclass(cls, BaseException) or (
                init is not None and not isinstance(init, type(object.__init__))):
            continue        # a Python-level __init__: stubtest reads its signature
        method, stub = _stub_params(module, name)
        embedded = _embedded_params(cls)
        if embedded is not None:
            assert method == "__init__", "%s.%s: the stub should declare __init__" % (module, name)
            got = [(n, d) for n, d, _ in stub]
            assert [n for n, _ in got] == [n for n, _ in embedded], (
                "%s.%s.__init__: stub parameters %s, runtime %s" % (module, name, got, embedded))
            for (n, d), (_, rd) in zip(got, embedded):
                assert _same_default(d, rd), (
                    "%s.%s.__init__(%s): stub default %s, runtime %s" % (module, name, n, d, rd))
        elif stub:
            # __cinit__ only: the stub's keywords (with its defaults) must be accepted
            assert method == "__new__", "%s.%s: a __cinit__ class's stub declares __new__" % (
                module, name)
            kwargs = {n: ast.literal_eval(d) for n, d, _ in stub if d is not None}
            cls(**kwargs)


def test_embedded_signatures_are_readable():
    """The check above relies on Cython's embedded ``Name(...)`` lines."""
    from reactor import Channel, EventLoop, HttpResponse, TcpConnection
    from reactor._http import HttpConnection
    for cls in (Channel, EventLoop, HttpResponse, TcpConnection, HttpConnection):
        params = _embedded_params(cls)
        assert params, "no embedded signature in %s.__doc__ (embedsignature off?)" % cls.__name__
    assert _embedded_params(TcpConnection) == [("loop", None), ("fd", None),
                                               ("peer_address", "None")]


# ---------------------------------------------------------------------------
# HttpRequest's attribute docstrings

def test_http_request_attributes_have_docstrings():
    from reactor import HttpRequest
    names = [n for n, v in vars(HttpRequest).items()
             if not n.startswith("_") and inspect.isdatadescriptor(v)]
    for expected in ("method", "target", "path", "query", "version", "host", "headers", "body",
                     "keep_alive", "expect_continue", "remote_addr", "context", "start_time",
                     "connection", "http10", "is_head", "raw_head", "http_version"):
        assert expected in names
    for name in names:
        doc = getattr(HttpRequest, name).__doc__ or ""
        # Cython starts the docstring of a public attribute with "name: type"
        text = re.sub(r"\A%s: [\w ]+\n+" % name, "", doc).strip()
        assert len(text) > 10, "HttpRequest.%s has no docstring (%r)" % (name, doc)
    import pydoc
    assert "request method" in pydoc.render_doc(HttpRequest.method)


# ---------------------------------------------------------------------------
# the typed example runs

def test_hello_http_example_serves(tmp_path):
    import urllib.request
    spec = importlib.util.spec_from_file_location("hello_http",
                                                  os.path.join(EXAMPLES, "hello_http.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    with mod.build_server(port=0, threads=1) as server:
        base = "http://127.0.0.1:%d" % server.port

        def get(path, data=None, headers=None):
            req = urllib.request.Request(base + path, data=data, headers=headers or {})
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()

        assert get("/hello", headers={"X-Name": "typing"}) == (200, b"Hello, typing!\n")
        assert get("/ping") == (200, b"pong")
        assert get("/count") == (200, b"1\n2\n3\n4\n5\n")
        assert get("/echo", data=b"abc") == (200, b"abc")
        status, body = get("/info?x=1")
        assert status == 200 and b'"query": "x=1"' in body

"""Issue 9: one ``Config`` filled from defaults < ``--config FILE`` (TOML or Python) <
``REACTOR_*`` environment variables < CLI flags; ``--version``; ``reactor.run`` for
embedding; the CLI is imported by nothing.

Effects are observed from outside: how many workers the master forks (its children in
/proc), which sockets it serves, how many listeners a port has.
"""
import dataclasses
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from supervisor_apps.harness import (ENV, ROOT, alive, body_info, copy_app, fetch,
                                     reactor_server, run_reactor, tcp_listeners, wait_until)


def env_with(**kw):
    env = dict(ENV)
    env.update(kw)
    return env


# ------------------------------------------------------------------ --version, API shape

def test_version_flag():
    import reactor
    from importlib import metadata
    rc, out, err = run_reactor("--version", cwd=ROOT, timeout=15)
    assert rc == 0, err
    assert out.strip() == "reactor %s" % reactor.__version__, out
    assert reactor.__version__ == metadata.version("reactor-http")


def test_config_dataclass_defaults_and_validation():
    import reactor
    from reactor.config import Config
    assert reactor.Config is Config and dataclasses.is_dataclass(Config)
    names = {f.name for f in dataclasses.fields(Config)}
    for name in ("workers", "bind", "host", "port", "threads", "timeout", "graceful_timeout",
                 "max_requests", "max_requests_jitter", "pid", "reload", "reload_dir",
                 "umask", "reuse_port"):
        assert name in names, "Config has no field %r: %s" % (name, sorted(names))
    c = Config()
    assert (c.workers, c.timeout, c.graceful_timeout, c.max_requests, c.reload,
            c.reuse_port) == (1, 30, 10, 0, False, False)
    Config(workers=2, bind=["127.0.0.1:0", "unix:/tmp/x.sock", "[::1]:0", "fd://3"]).validate()
    for field, bad in [("workers", -1), ("max_requests", -5), ("timeout", -1),
                       ("graceful_timeout", -1), ("max_requests_jitter", -1)]:
        with pytest.raises(ValueError) as info:
            Config(**{field: bad}).validate()
        msg = str(info.value)
        assert field in msg or field.replace("_", "-") in msg, \
            "Config(%s=%r).validate(): %r does not name the option" % (field, bad, msg)


def test_nothing_imports_the_cli():
    code = ("import sys, reactor, reactor.config, reactor.wsgi, reactor.http_server, "
            "reactor.tcp_server, reactor.supervisor, reactor.worker, reactor.listeners; "
            "print('reactor.__main__' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], cwd="/", env=ENV, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False", "a library module imports the CLI"


# ------------------------------------------------------------------ config files

def test_toml_config_file(tmp_path):
    copy_app(tmp_path)
    conf = tmp_path / "reactor.toml"
    conf.write_text(textwrap.dedent('''
        workers = 3
        bind = ["127.0.0.1:0"]
        threads = 1
        graceful-timeout = 4        # dashes, as on the command line
        max_requests = 1000         # or underscores
        max-requests-jitter = 10
    '''))
    with reactor_server("svapp:app", "--config", str(conf), cwd=tmp_path) as srv:
        workers = srv.wait_workers(3)
        assert body_info(fetch(srv.port)[2])[0] in workers
        srv.signal(signal.SIGTERM)
        assert srv.wait(8) == 0


def test_python_config_file(tmp_path):
    copy_app(tmp_path)
    conf = tmp_path / "reactor_conf.py"
    conf.write_text(textwrap.dedent('''
        import os                   # modules and _private names are not options
        _cores = os.cpu_count() or 1
        workers = 2 if _cores else 1
        bind = ["127.0.0.1:0"]
        threads = 1
        timeout = 20
    '''))
    with reactor_server("svapp:app", "--config", str(conf), cwd=tmp_path) as srv:
        workers = srv.wait_workers(2)
        assert body_info(fetch(srv.port)[2])[0] in workers


def test_every_long_flag_is_a_config_field():
    # "Field names = long flag names with - -> _" (spec; reactor/config.py says so too):
    # every --flag of the CLI is a Config field, so a config file key or a REACTOR_*
    # variable spelled like the flag works
    import re
    from reactor.config import Config
    rc, out, err = run_reactor("--help", cwd=ROOT, timeout=15)
    assert rc == 0, err
    flags = set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]+)", out))
    flags -= {"help", "version", "config"}
    fields = {f.name for f in dataclasses.fields(Config)}
    missing = sorted(f for f in flags if f.replace("-", "_") not in fields)
    assert not missing, "flags with no Config field of their name: %r" % missing


def test_config_file_keys_spelled_like_flags(tmp_path):
    copy_app(tmp_path)
    conf = tmp_path / "flags.toml"
    conf.write_text(textwrap.dedent('''
        bind = ["127.0.0.1:0"]
        reload-dir = ["%s"]
        keep-alive-timeout = 3
        max-requests = 0
    ''' % tmp_path))
    with reactor_server("svapp:app", "--config", str(conf), "--threads", "0",
                        cwd=tmp_path) as srv:
        assert fetch(srv.port)[0] == 200


@pytest.mark.parametrize("kind", ["toml", "py"])
def test_unknown_config_key_is_an_error_naming_it(tmp_path, kind):
    copy_app(tmp_path)
    conf = tmp_path / ("bad.toml" if kind == "toml" else "bad_conf.py")
    conf.write_text('bind = ["127.0.0.1:0"]\nwrokers = 2\n')
    rc, out, err = run_reactor("svapp:app", "--config", str(conf), cwd=tmp_path, timeout=15)
    assert rc == 2, (rc, err)
    assert "wrokers" in err, err
    assert "Traceback" not in err, err


@pytest.mark.parametrize("case", ["env-not-a-number", "toml-wrong-type", "env-bad-boolean",
                                  "missing-file", "toml-syntax"])
def test_bad_config_values_exit_2_naming_the_problem(tmp_path, case):
    copy_app(tmp_path)
    env = None
    args = ["svapp:app", "-b", "127.0.0.1:0", "--threads", "0"]
    if case == "env-not-a-number":
        env, needle = env_with(REACTOR_WORKERS="abc"), "workers"
    elif case == "toml-wrong-type":
        conf = tmp_path / "c.toml"
        conf.write_text('workers = "many"\n')
        args += ["--config", str(conf)]
        needle = "workers"
    elif case == "env-bad-boolean":
        env, needle = env_with(REACTOR_REUSE_PORT="maybe"), "reuse"
    elif case == "missing-file":
        args += ["--config", str(tmp_path / "nope.toml")]
        needle = "nope.toml"
    else:
        conf = tmp_path / "broken.toml"
        conf.write_text("workers = = 2\n")
        args += ["--config", str(conf)]
        needle = "broken.toml"
    rc, out, err = run_reactor(*args, cwd=tmp_path, env=env, timeout=15)
    assert rc == 2, (rc, err)
    assert needle in err.lower(), err
    assert "Traceback" not in err, err


# ------------------------------------------------------------------ environment

@pytest.mark.parametrize("sep", [",", " ", ", "], ids=["comma", "space", "comma-space"])
def test_reactor_env_vars(tmp_path, sep):
    copy_app(tmp_path)
    path = os.path.join(str(tmp_path), "env.sock")
    env = env_with(REACTOR_WORKERS="2", REACTOR_BIND="127.0.0.1:0" + sep + "unix:" + path,
                   REACTOR_THREADS="1", REACTOR_NO_SUCH_OPTION="1")     # unknown: ignored
    with reactor_server("svapp:app", cwd=tmp_path, env=env) as srv:
        workers = srv.wait_workers(2)
        assert srv.port, srv.line
        assert body_info(fetch(srv.port)[2])[0] in workers
        assert body_info(fetch(None, unix=path)[2])[0] in workers


@pytest.mark.parametrize("value,listeners", [("yes", 2), ("true", 2), ("0", 1)])
def test_boolean_env_var(tmp_path, value, listeners):
    copy_app(tmp_path)
    env = env_with(REACTOR_REUSE_PORT=value)
    with reactor_server("svapp:app", "-b", "127.0.0.1:0", "-w", "2", "--threads", "1",
                        cwd=tmp_path, env=env) as srv:
        srv.wait_workers(2)
        n = tcp_listeners(srv.port)
        assert (n >= 2) if listeners == 2 else (n == 1), \
            "REACTOR_REUSE_PORT=%s: %d listeners" % (value, n)
        for _ in range(10):
            assert fetch(srv.port, timeout=3)[0] == 200


def test_precedence_defaults_file_env_cli(tmp_path):
    copy_app(tmp_path)
    socks = {k: os.path.join(str(tmp_path), "%s.sock" % k) for k in ("file", "env", "cli")}
    conf = tmp_path / "p.toml"
    conf.write_text('workers = 3\nbind = ["unix:%s"]\nthreads = 1\n' % socks["file"])
    env = env_with(REACTOR_WORKERS="2", REACTOR_BIND="unix:" + socks["env"])

    def run(layer, *args, env=None):
        for p in socks.values():
            if os.path.exists(p):
                os.unlink(p)
        with reactor_server("svapp:app", "--config", str(conf), *args, cwd=tmp_path,
                            env=env) as srv:
            assert wait_until(lambda: os.path.exists(socks[layer]), 10), \
                "%s: not serving on %s: %s" % (layer, socks[layer], srv.line)
            assert fetch(None, unix=socks[layer])[0] == 200
            pids = wait_until(lambda: srv.workers() if len(srv.workers()) ==
                              {"file": 3, "env": 2, "cli": 1}[layer] else None, 5)
            others = [k for k, p in socks.items() if k != layer and os.path.exists(p)]
            return pids, others, srv.workers()

    pids, others, now = run("file")                         # defaults < file
    assert pids and not others, (now, others)
    pids, others, now = run("env", env=env)                 # file < env
    assert pids and not others, (now, others)
    pids, others, now = run("cli", "-w", "1", "-b", "unix:" + socks["cli"], env=env)
    assert pids and not others, (now, others)               # env < CLI


# ------------------------------------------------------------------ reactor.run

EMBED = textwrap.dedent(r'''
    import os, sys
    import reactor

    def app(environ, start_response):
        body = b"embedded pid=%d version=embedded" % os.getpid()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    kind, path = sys.argv[1], sys.argv[2]
    target = {"callable": app, "string": "svapp:app", "demo": None}[kind]
    sys.exit(reactor.run(target, workers=2, bind=["unix:" + path], threads=1,
                         graceful_timeout=3))
''')


@pytest.mark.parametrize("kind", ["callable", "string", "demo"])
def test_reactor_run_embedding(tmp_path, kind):
    copy_app(tmp_path)
    script = tmp_path / "embed.py"
    script.write_text(EMBED)
    path = os.path.join(str(tmp_path), "e.sock")
    with reactor_server(cwd=tmp_path, argv=[sys.executable, str(script), kind, path],
                        ready=False) as srv:
        def up():
            if srv.proc.poll() is not None:
                raise AssertionError("reactor.run exited %r:\n%s" % (srv.proc.returncode,
                                                                    srv.stderr()))
            try:
                return fetch(None, unix=path, timeout=3)
            except OSError:
                return None
        answer = wait_until(up, 15, 0.05)
        assert answer, "reactor.run never served on %s:\n%s" % (path, srv.stderr())
        status, headers, body = answer
        assert status == 200
        if kind == "callable":
            assert body.startswith(b"embedded pid=")
        elif kind == "string":
            assert body.startswith(b"pid=")
        else:
            assert b"<html" in body.lower()
        workers = srv.wait_workers(2)
        if kind != "demo":
            assert body_info(body)[0] in workers
        srv.signal(signal.SIGTERM)
        assert srv.wait(8) == 0, srv.stderr()
        assert not any(alive(p) for p in workers)
        assert not os.path.exists(path)


def test_run_outside_the_main_thread_is_a_clear_error():
    # the master handles signals and forks: only the main thread may run it
    import threading
    import reactor
    errors = []

    def call():
        try:
            reactor.run(None, bind=["127.0.0.1:0"], workers=1, threads=0)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=call)
    t.start()
    t.join(10)
    assert not t.is_alive()
    assert errors and "main thread" in str(errors[0]), errors


def test_default_threads_share_the_cpus_among_workers(tmp_path):
    # without --threads, each of N workers gets cores / N sub-reactors (at least 1): -w 2
    # on 2 cores is 2 x 1, not 2 x 2 loops fighting for 2 cores
    import json
    import re
    from supervisor_apps.harness import reactor_server as serve_cli
    from reactor.config import Config
    expected = max(1, (os.cpu_count() or 1) // 2)
    with serve_cli("-b", "127.0.0.1:0", "-w", "2", cwd=tmp_path) as srv:
        assert re.search(r"2 workers x %d sub-reactor" % expected, srv.line), srv.line
        status, _, body = fetch(srv.port, "/stats")
        assert status == 200
        assert json.loads(body)["threads"] == expected
    assert Config(workers=2).sub_reactors() == expected
    assert Config(workers=1).sub_reactors() == (os.cpu_count() or 1)
    assert Config(workers=2, threads=3).sub_reactors() == 3

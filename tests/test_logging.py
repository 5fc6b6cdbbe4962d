"""Who configures logging: only the CLI, and only reactor's own loggers.

- Importing reactor and running HttpServer / WSGIServer (access log on,
  errors included) adds no handler and changes no level or propagate flag
  on any logger, the root included (checked in a fresh interpreter).
- The CLI gives ``reactor`` a stderr handler (no propagation) and leaves the
  root alone, so an app that configures its own logging the way Django's
  DEFAULT_LOGGING does (a logger with its own handler that propagates) sees
  each message once, not twice.
- ``--access-log`` with ``--log-level warning`` still logs access lines.
- ``--log-config`` (dictConfig from JSON, or TOML on 3.11+) and its errors.

Every CLI test runs ``python -m reactor`` on port 0 with stdout and stderr
going to files, and stops it with SIGTERM.
"""
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from http_helpers import ROOT, Client, get, wait_for

ENV = dict(os.environ, PYTHONUNBUFFERED="1",
           PYTHONPATH=os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), ROOT) if p))


class Cli:
    """``python -m reactor *args`` with stdout/stderr in files under ``tmp``."""

    def __init__(self, tmp, *args, cwd=None):
        self.out_path = tmp / "stdout.txt"
        self.err_path = tmp / "stderr.txt"
        self.out = open(self.out_path, "wb")
        self.err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "reactor", "--port", "0", *args],
                                     cwd=str(cwd or ROOT), env=ENV, stdin=subprocess.DEVNULL,
                                     stdout=self.out, stderr=self.err)
        m = wait_for(lambda: re.search(r"serving .* on http://[^:]+:(\d+)", self.stderr())
                     or self.proc.poll() is not None, 20.0)
        m = re.search(r"serving .* on http://[^:]+:(\d+)", self.stderr())
        if not m:
            self.close()
            raise AssertionError("the CLI did not start: %s" % self.stderr())
        self.port = int(m.group(1))

    def stdout(self):
        return self.out_path.read_bytes().decode("utf-8", "replace")

    def stderr(self):
        return self.err_path.read_bytes().decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; the exit status."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(15)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.out.close()
        self.err.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def request(port, path="/network", extra=b""):
    with Client(port) as c:
        c.send(get(path, extra=extra))
        return c.read_response()


def run_cli(*args, timeout=20):
    return subprocess.run([sys.executable, "-m", "reactor", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------------------------------
# the library configures nothing

EMBED = textwrap.dedent(r'''
    import json, logging, socket, sys

    NAMES = ["", "reactor", "reactor.access", "reactor.http", "reactor.wsgi", "reactor.tcp",
             "reactor.loop", "reactor.acceptor"]

    def snapshot():
        out = {}
        for name in NAMES:
            lg = logging.getLogger(name) if name else logging.root
            out[name or "root"] = [len(lg.handlers), lg.level, lg.propagate, lg.disabled]
        return out

    before = snapshot()
    import reactor, reactor.wsgi, reactor.access_log, reactor.http_server, reactor.__main__
    from reactor import HttpServer, HttpResponse
    from reactor.wsgi import WSGIServer

    def ask(port, data):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(data)
        buf = b""
        while True:
            c = s.recv(65536)
            if not c:
                break
            buf += c
        s.close()
        return buf.split(b" ", 2)[1]

    def handler(req):
        return None if req.path == "/none" else b"dyn"

    codes = []
    srv = HttpServer(handler, port=0, threads=2, access_log=True)
    srv.route_static("/st", b"static")
    with srv:
        for data in (b"GET /dyn HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     b"GET /st HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     b"GET /none HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                     b"BAD\r\n\r\n"):
            codes.append(ask(srv.port, data).decode())

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/boom":
            raise RuntimeError("boom")
        start_response("200 OK", [])
        return [b"wsgi"]

    with WSGIServer(app, port=0, threads=1, access_log=True, handler_threads=1) as w:
        w.start()
        for path in (b"/ok", b"/boom"):
            codes.append(ask(w.port, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n").decode())
    print(json.dumps({"before": before, "after": snapshot(), "codes": codes}))
''')


def test_library_adds_no_handler_and_touches_no_logger():
    out = subprocess.run([sys.executable, "-c", EMBED], cwd=ROOT, env=ENV, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["codes"] == ["200", "200", "500", "400", "200", "500"]
    assert res["after"] == res["before"], res
    assert res["after"]["root"] == [0, logging.WARNING, True, False]
    # errors still reach the user: with no handler anywhere Python's
    # last-resort handler prints WARNING and above to stderr
    assert "handler returned None for GET /none" in out.stderr
    assert "boom" in out.stderr
    # ... and INFO access lines go nowhere until the app gives them a handler
    assert "GET /dyn" not in out.stderr


# ---------------------------------------------------------------------------
# the CLI: reactor's loggers only

DJANGOISH = textwrap.dedent('''
    """Configures logging at import like Django's DEFAULT_LOGGING: a logger
    with its own console handler that still propagates to the root."""
    import logging
    import logging.config

    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"console": {"class": "logging.StreamHandler", "level": "INFO"}},
        "loggers": {"djangoish": {"handlers": ["console"], "level": "INFO"}},
    })
    log = logging.getLogger("djangoish.request")


    def app(environ, start_response):
        log.warning("app-message %s", environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
''')


def test_cli_app_messages_appear_once(tmp_path):
    (tmp_path / "djangoish_app.py").write_text(DJANGOISH)
    with Cli(tmp_path, "djangoish_app:app", "--app-dir", str(tmp_path), "--threads", "1") as cli:
        assert request(cli.port, "/x").body == b"ok"
        assert cli.stop() == 0
        err = cli.stderr()
    assert err.count("app-message /x") == 1, err
    # reactor's own lines: once, in reactor's format
    assert len(re.findall(r"INFO reactor\.http: received SIGTERM", err)) == 1, err


def test_access_log_with_log_level_warning(tmp_path):
    log_file = tmp_path / "access.log"
    with Cli(tmp_path, "--threads", "1", "--access-log", str(log_file),
             "--log-level", "warning") as cli:
        assert request(cli.port, "/network").status == 200
        assert request(cli.port, "/nope").status == 404
        assert cli.stop() == 0
        err = cli.stderr()
    lines = log_file.read_text().splitlines()
    assert len(lines) == 2, lines
    assert '"GET /network HTTP/1.1" 200 26' in lines[0] and '"GET /nope HTTP/1.1" 404' in lines[1]
    # --log-level warning did silence reactor's own INFO lines
    assert "received SIGTERM" not in err, err


def test_access_log_stdout_with_log_level_error(tmp_path):
    with Cli(tmp_path, "--threads", "0", "--access-log", "-", "--log-level", "error") as cli:
        request(cli.port, "/network")
        assert cli.stop() == 0
        out, err = cli.stdout(), cli.stderr()
    assert re.search(r'^127\.0\.0\.1 - - \[[^\]]+\] "GET /network HTTP/1\.1" 200 26 "-" "-"$',
                     out, re.M), out
    assert "GET /network" not in err


# ---------------------------------------------------------------------------
# --log-config

def log_config(tmp_path):
    return {
        "version": 1,
        "formatters": {"acc": {"format": "ACCESS %(message)s"},
                       "plain": {"format": "%(levelname)s %(name)s %(message)s"}},
        "handlers": {
            "accfile": {"class": "logging.FileHandler", "filename": str(tmp_path / "acc.log"),
                        "formatter": "acc"},
            "errfile": {"class": "logging.FileHandler", "filename": str(tmp_path / "err.log"),
                        "formatter": "plain"},
        },
        "loggers": {
            "reactor.access": {"handlers": ["accfile"], "propagate": False},
            "reactor": {"handlers": ["errfile"], "level": "INFO", "propagate": False},
        },
    }


TOML_CONFIG = '''
version = 1

[formatters.acc]
format = "ACCESS %(message)s"

[formatters.plain]
format = "%(levelname)s %(name)s %(message)s"

[handlers.accfile]
class = "logging.FileHandler"
filename = "{acc}"
formatter = "acc"

[handlers.errfile]
class = "logging.FileHandler"
filename = "{err}"
formatter = "plain"

[loggers."reactor.access"]
handlers = ["accfile"]
propagate = false

[loggers.reactor]
handlers = ["errfile"]
level = "INFO"
propagate = false
'''


def _check_log_config_run(tmp_path, cfg_path):
    with Cli(tmp_path, "--threads", "1", "--log-config", str(cfg_path)) as cli:
        request(cli.port, "/network", extra=b"User-Agent: cfg-test\r\n")
        assert cli.stop() == 0
        err, out = cli.stderr(), cli.stdout()
    acc = (tmp_path / "acc.log").read_text()
    assert re.fullmatch(r'ACCESS 127\.0\.0\.1 - - \[[^\]]+\] "GET /network HTTP/1\.1" 200 26 '
                        r'"-" "cfg-test"\n', acc), acc
    assert "INFO reactor.http received SIGTERM: stopping gracefully" in \
        (tmp_path / "err.log").read_text()
    # nothing of it on the console
    assert "GET /network" not in err + out and "received SIGTERM" not in err, err


def test_log_config_json(tmp_path):
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(log_config(tmp_path)))
    _check_log_config_run(tmp_path, path)


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TOML needs tomllib (Python 3.11+)")
def test_log_config_toml(tmp_path):
    path = tmp_path / "logging.toml"
    path.write_text(TOML_CONFIG.format(acc=tmp_path / "acc.log", err=tmp_path / "err.log"))
    _check_log_config_run(tmp_path, path)


def test_log_config_toml_without_tomllib(tmp_path):
    # Python 3.10 has no tomllib: emulated by making its import fail
    path = tmp_path / "logging.toml"
    path.write_text("version = 1\n")
    code = ("import sys; sys.modules['tomllib'] = None; from reactor.__main__ import main; "
            "sys.exit(main(['--port', '0', '--log-config', %r]))" % str(path))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 2
    assert "TOML needs Python 3.11 or later" in out.stderr and "use a .json file" in out.stderr
    assert "Traceback" not in out.stderr


def test_log_config_to_the_root_logs_access_and_reactor_lines(tmp_path):
    # a config that only sets up the root: reactor's lines and the access
    # lines propagate to it (reactor adds no handler of its own then)
    path = tmp_path / "root.json"
    path.write_text(json.dumps({
        "version": 1,
        "formatters": {"f": {"format": "ROOT %(name)s %(message)s"}},
        "handlers": {"h": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout",
                           "formatter": "f"}},
        "root": {"handlers": ["h"], "level": "INFO"},
    }))
    with Cli(tmp_path, "--threads", "1", "--log-config", str(path)) as cli:
        request(cli.port, "/network")
        assert cli.stop() == 0
        out = cli.stdout()
    assert re.search(r'^ROOT reactor\.access 127\.0\.0\.1 .*"GET /network HTTP/1\.1" 200', out,
                     re.M), out
    assert "ROOT reactor.http received SIGTERM" in out, out


def test_explicit_access_log_wins_over_log_config(tmp_path):
    path = tmp_path / "logging.json"
    path.write_text(json.dumps(log_config(tmp_path)))
    with Cli(tmp_path, "--threads", "1", "--log-config", str(path), "--access-log", "-",
             "--access-log-format", "%(m)s %(U)s %(s)s") as cli:
        request(cli.port, "/network")
        assert cli.stop() == 0
        out = cli.stdout()
    assert out.splitlines() == ["GET /network 200"]


@pytest.mark.parametrize("name,content,message", [
    ("missing.json", None, "No such file"),
    ("bad.json", "{not json", "is not valid JSON"),
    ("list.json", "[1, 2]", "must hold a dictConfig object"),
    ("noversion.json", "{}", "version"),
    ("badclass.json", json.dumps({"version": 1, "handlers": {"h": {"class": "no.such.Handler"}},
                                  "root": {"handlers": ["h"]}}), "Unable to configure handler"),
    ("bad.toml", "version = = 1", "is not valid TOML"),
    ("conf.yaml", "version: 1", "must be .json or .toml"),
])
def test_bad_log_config_is_a_clear_error(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    r = run_cli("--threads", "0", "--port", "0", "--log-config", str(path))
    assert r.returncode == 2
    assert r.stderr.startswith("reactor: ") and message in r.stderr, r.stderr
    assert str(path) in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert "serving" not in r.stderr

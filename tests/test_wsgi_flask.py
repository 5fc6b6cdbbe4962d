"""A real Flask application on reactor, driven by ``requests``: JSON, form
POST, a 50 MB multipart upload (and 413 above --max-body-size), a streamed
response, ``send_file`` (sendfile path) checked byte-exact, an error
handler, 404.  Skipped when flask is not installed."""
import hashlib
import os
import sys

import pytest

flask = pytest.importorskip("flask")
import requests  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from wsgi_apps import flask_app  # noqa: E402
from wsgi_apps.helpers import Client, wsgi_server  # noqa: E402

T = 20.0
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def download_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("flask") / "download.bin"
    data = os.urandom(5 * MiB + 321)
    path.write_bytes(data)
    return str(path), data


@pytest.fixture
def server(download_file):
    app = flask_app.create_app(download_file[0])
    with wsgi_server(app, threads=2, max_body_size=64 * MiB) as srv:
        yield srv


def u(srv, path):
    return "http://127.0.0.1:%d%s" % (srv.port, path)


def test_json_route(server):
    r = requests.get(u(server, "/json?a=1&b=x%20y"), timeout=T)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"hello": "world", "n": 3, "args": {"a": "1", "b": "x y"},
                        "path": "/json", "script_root": ""}


def test_json_route_under_root_path(download_file):
    app = flask_app.create_app(download_file[0])
    with wsgi_server(app, root_path="/api") as srv:
        r = requests.get(u(srv, "/api/json"), timeout=T)
        assert r.status_code == 200
        assert r.json()["path"] == "/json" and r.json()["script_root"] == "/api"


def test_form_post(server):
    r = requests.post(u(server, "/form"), data={"name": "Zoë", "tags": ["a", "b"]}, timeout=T)
    assert r.status_code == 200
    assert r.json() == {"fields": {"name": ["Zoë"], "tags": ["a", "b"]}}


def test_upload_50mb(server):
    blob = os.urandom(50 * 1000 * 1000)
    with requests.Session() as s:
        r = s.post(u(server, "/upload"), files={"file": ("big.bin", blob)},
                   data={"note": "fifty"}, timeout=60)
        assert r.status_code == 200, r.text[:200]
        assert r.json() == {"name": "big.bin", "size": len(blob), "note": "fifty",
                            "sha256": hashlib.sha256(blob).hexdigest()}
        # the connection is still good afterwards
        assert s.get(u(server, "/json"), timeout=T).status_code == 200


def test_upload_over_max_body_size_is_413(download_file):
    app = flask_app.create_app(download_file[0])
    with wsgi_server(app, max_body_size=1 * MiB) as srv:
        r = requests.post(u(srv, "/upload"), files={"file": ("f.bin", os.urandom(2 * MiB))},
                          timeout=T)
        assert r.status_code == 413
        # just under the limit still works
        small = os.urandom(MiB - 4096)
        r = requests.post(u(srv, "/upload"), files={"file": ("s.bin", small)}, timeout=T)
        assert r.status_code == 200 and r.json()["size"] == len(small)


def test_streaming_response(server):
    with requests.get(u(server, "/stream?n=500"), stream=True, timeout=T) as r:
        assert r.status_code == 200
        assert r.headers.get("Transfer-Encoding") == "chunked"
        assert "Content-Length" not in r.headers
        lines = [line.decode() for line in r.iter_lines()]
    assert lines == ["line %d of /stream" % i for i in range(500)]


def test_send_file_byte_exact(server, download_file, monkeypatch):
    _, data = download_file
    import reactor.wsgi
    used = []
    real = reactor.wsgi.FileWrapper.sendfile_info

    def spy(self):
        info = real(self)
        used.append(info)
        return info
    monkeypatch.setattr(reactor.wsgi.FileWrapper, "sendfile_info", spy)
    with requests.Session() as s:
        for _ in range(2):
            r = s.get(u(server, "/download"), timeout=T)
            assert r.status_code == 200
            assert int(r.headers["Content-Length"]) == len(data)
            assert "blob.bin" in r.headers["Content-Disposition"]
            assert hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
        # send_file's body is wsgi.file_wrapper over a real file: the sendfile path
        assert len(used) == 2 and all(info is not None and info[2] == len(data)
                                      for info in used), used
        # conditional / range requests go through werkzeug's own wrappers
        etag = r.headers.get("ETag")
        if etag:
            r = s.get(u(server, "/download"), headers={"If-None-Match": etag}, timeout=T)
            assert r.status_code == 304 and r.content == b""
        r = s.get(u(server, "/download"), headers={"Range": "bytes=1000-1999"}, timeout=T)
        assert r.status_code == 206 and r.content == data[1000:2000]
        r = s.head(u(server, "/download"), timeout=T)
        assert r.status_code == 200 and int(r.headers["Content-Length"]) == len(data)


def test_send_file_raw_keep_alive(server, download_file):
    _, data = download_file
    with Client(server.port, timeout=T) as c:
        c.request("GET", "/download")
        c.request("GET", "/json")
        assert c.read_response().body == data
        assert c.read_response().status == 200


def test_error_handler_and_404(server):
    r = requests.get(u(server, "/teapot"), timeout=T)
    assert r.status_code == 418 and r.json() == {"error": "short and stout"}
    r = requests.get(u(server, "/abort"), timeout=T)
    assert r.status_code == 403
    r = requests.get(u(server, "/no/such/page"), timeout=T)
    assert r.status_code == 404 and b"Not Found" in r.content
    r = requests.post(u(server, "/json"), timeout=T)
    assert r.status_code == 405

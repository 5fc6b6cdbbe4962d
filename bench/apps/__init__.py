"""Applications the benchmark serves beyond Hello World (see flask_app.py).

``reference(app_ref, path)`` calls a WSGI app in this process, without any
server, and returns what every server must answer for ``GET path``: the
harness compares each server's response with it before timing.
"""
import hashlib
import io
import sys
import wsgiref.util
from dataclasses import dataclass

from bench.servers.common import load_app


@dataclass(frozen=True)
class Reference:
    """What ``GET path`` must answer: status line, Content-Type and body bytes."""

    path: str
    status: str
    content_type: str
    body: bytes

    @property
    def status_code(self):
        return int(self.status.split(None, 1)[0])

    @property
    def sha256(self):
        return hashlib.sha256(self.body).hexdigest()

    def as_dict(self):
        return {"path": self.path, "status": self.status_code,
                "content_type": self.content_type, "bytes": len(self.body),
                "sha256": self.sha256}


def reference(app_ref, path):
    """Call the WSGI app ``app_ref`` for ``GET path`` (no server) and return a Reference."""
    app = load_app(app_ref)
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "bench",
               "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(b""),
               "wsgi.errors": sys.stderr}
    wsgiref.util.setup_testing_defaults(environ)
    answer, chunks = {}, []

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = status, headers
        return chunks.append

    result = app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    content_type = next((v for k, v in answer["headers"] if k.lower() == "content-type"), "")
    return Reference(path, answer["status"], content_type, b"".join(chunks))

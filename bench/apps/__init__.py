"""Applications the benchmark serves beyond Hello World (see flask_app.py,
fastapi_app.py and work_app.py).

``reference(app_ref, path)`` calls a WSGI app in this process, without any
server, and returns what every server must answer for ``GET path``: the
harness compares each server's response with it before timing.
``reference(app_ref, path, interface="asgi")`` does the same for an ASGI app,
on a fresh event loop.
"""
import asyncio
import hashlib
import http
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


def reference(app_ref, path, interface="wsgi"):
    """Call the WSGI (or, with ``interface="asgi"``, ASGI) app ``app_ref`` for
    ``GET path`` (no server) and return a Reference."""
    if interface == "asgi":
        return asgi_reference(app_ref, path)
    if interface != "wsgi":
        raise ValueError("interface must be wsgi or asgi, not %r" % (interface,))
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


def asgi_reference(app_ref, path):
    """Call the ASGI 3 app ``app_ref`` for ``GET path`` on a fresh event loop (no
    server, no lifespan) and return a Reference.  ``receive()`` gives the empty
    request body, then waits until the response is complete and says
    ``http.disconnect``."""
    app = load_app(app_ref)
    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
             "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
             "raw_path": path.encode("ascii"), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"bench")], "client": ("127.0.0.1", 50000),
             "server": ("127.0.0.1", 80), "state": {}}
    answer, chunks = {}, []

    async def call():
        done = asyncio.Event()
        requested = False

        async def receive():
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = message.get("headers", [])
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        await app(scope, receive, send)

    asyncio.run(call())
    status = answer["status"]
    content_type = next((v.decode("latin-1") for k, v in answer["headers"]
                         if k.lower() == b"content-type"), "")
    return Reference(path, "%d %s" % (status, http.HTTPStatus(status).phrase), content_type,
                     b"".join(chunks))

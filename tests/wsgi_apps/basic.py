"""Plain PEP 3333 test applications (no framework)."""
import hashlib
import io
import json
import sys
import time


def hello(environ, start_response):
    body = b"Hello, World!"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def echo(environ, start_response):
    """Echo the body, read with an explicit size (the validator needs read(n))."""
    n = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(n) if n else b""
    extra = environ["wsgi.input"].read(10)          # past the end: must be b""
    body = json.dumps({
        "method": environ["REQUEST_METHOD"],
        "length": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "extra": extra.decode("latin-1"),
        "content_type": environ.get("CONTENT_TYPE"),
        "te": environ.get("HTTP_TRANSFER_ENCODING"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def stream(environ, start_response):
    """A generator body without Content-Length: chunked on 1.1."""
    n = int(environ.get("QUERY_STRING") or "5")
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        for i in range(n):
            yield b"chunk %d\n" % i
    return gen()


def write_app(environ, start_response):
    """The legacy write() callable, then an iterable."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    write(b"twice ")
    return [b"then returned"]


def exc_info_app(environ, start_response):
    """start_response, then an error before any body: start_response again
    with exc_info, and the error response goes out."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise RuntimeError("something broke")
    except RuntimeError:
        start_response("500 Internal Server Error",
                       [("Content-Type", "text/plain"), ("X-Error", "yes")], sys.exc_info())
    return [b"error page"]


def file_wrapper_app(environ, start_response):
    """wsgi.file_wrapper over an in-memory object (iteration path)."""
    data = b"0123456789" * 1000
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(data)))])
    return environ["wsgi.file_wrapper"](io.BytesIO(data), 4096)


def environ_app(environ, start_response):
    """The environ as JSON (str values only, plus a few wsgi.* facts)."""
    out = {k: v for k, v in environ.items() if isinstance(v, str)}
    out["wsgi.version"] = list(environ["wsgi.version"])
    for k in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
              "wsgi.input_terminated"):
        out[k] = environ.get(k)
    out["has_file_wrapper"] = callable(environ.get("wsgi.file_wrapper"))
    out["has_errors"] = hasattr(environ.get("wsgi.errors"), "write")
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def sleepy(environ, start_response):
    """Sleeps ``QUERY_STRING`` seconds (default 0.5) on /slow; fast elsewhere."""
    if environ["PATH_INFO"].startswith("/slow"):
        q = environ.get("QUERY_STRING") or ""
        delay = float(q.split("=", 1)[1]) if q.startswith("t=") else 0.5
        time.sleep(delay)
    body = b"done " + environ["PATH_INFO"].encode("latin-1")
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

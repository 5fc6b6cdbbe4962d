"""The WSGI app every WSGI server runs: ``bench.servers.wsgi_app:app``.

GET answers ``Hello, World!``; POST reads the whole body first, then gives
the same answer.
"""
from bench.servers.common import BODY, CONTENT_TYPE

HEADERS = [("Content-Type", CONTENT_TYPE), ("Content-Length", str(len(BODY)))]


def app(environ, start_response):
    length = environ.get("CONTENT_LENGTH")
    if length:
        environ["wsgi.input"].read(int(length))
    start_response("200 OK", HEADERS)
    return [BODY]

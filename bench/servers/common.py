"""What every benchmark server answers, and the launchers' shared flags."""
import argparse

BODY = b"Hello, World!"                 # 13 bytes, text/plain, for GET and POST
CONTENT_TYPE = "text/plain"
KEEP_ALIVE_TIMEOUT = 60.0               # idle-memory must hold connections open
WSGI_APP = "bench.servers.wsgi_app:app"


def parse_args(description, threads=None, app=False, tls=False):
    """``--host``, ``--port``, ``--threads`` (when ``threads`` is given),
    ``--app module:attr`` (when ``app``; default the Hello World WSGI app) and
    ``--certfile``/``--keyfile`` (when ``tls``; default: plaintext)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    if threads is not None:
        ap.add_argument("--threads", type=int, default=threads)
    if app:
        ap.add_argument("--app", default=WSGI_APP, help="WSGI app as module:attr")
    if tls:
        ap.add_argument("--certfile", default=None, help="serve TLS with this PEM certificate")
        ap.add_argument("--keyfile", default=None, help="its PEM key")
    return ap.parse_args()


def load_app(ref):
    """``"module:attr"`` -> the WSGI callable."""
    import importlib
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr or "app")

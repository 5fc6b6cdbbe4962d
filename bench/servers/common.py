"""What every benchmark server answers, and the launchers' shared flags."""
import argparse

BODY = b"Hello, World!"                 # 13 bytes, text/plain, for GET and POST
CONTENT_TYPE = "text/plain"
KEEP_ALIVE_TIMEOUT = 60.0               # idle-memory must hold connections open


def parse_args(description, threads=None):
    """``--host``, ``--port`` and (when ``threads`` is given) ``--threads``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    if threads is not None:
        ap.add_argument("--threads", type=int, default=threads)
    return ap.parse_args()

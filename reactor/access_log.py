"""Access logging, the gunicorn way.

One line per request on the ``reactor.access`` logger, at INFO, rendered
from a format of gunicorn's atoms (``--access-log-format``)::

    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'   (the default)

==========  ==========================================================
atom        value
==========  ==========================================================
h           remote address (for WSGI: ``REMOTE_ADDR``, so a trusted
            proxy's X-Forwarded-For counts)
l           ``-``
u           user name of HTTP Basic auth, else ``-``
t           when the response ended, ``[10/Oct/2000:13:55:36 -0700]``
            (local time, as gunicorn)
r           request line, ``GET /a?b=1 HTTP/1.1``
m           method
U           path, without the query (as sent: not percent-decoded)
q           query string (without ``?``)
H           protocol, ``HTTP/1.1``
s           status (an int)
B           body bytes sent (an int; 0 if none)
b           body bytes sent, ``-`` if none (CLF)
f           Referer header
a           User-Agent header
T           request time, whole seconds
M           request time, milliseconds
D           request time, microseconds
L           request time, decimal seconds (``0.000412``)
p           process id, ``<1234>`` (as gunicorn)
{name}i     request header ``name``
{name}o     response header ``name`` (as the handler/app set it, plus
            Content-Type)
{name}e     WSGI environ variable ``name`` (any case); for requests
            without an environ, the process environment variable
==========  ==========================================================

Unknown atoms and missing values render as ``-``; double quotes in values
are escaped as ``\\"`` and control characters as ``\\xNN``.  The record's
``args`` is the dict of atoms (as in gunicorn), so a handler or filter can
read single fields.

reactor never adds handlers or sets levels on any logger: give
``reactor.access`` a handler (the CLI does, for ``--access-log``).

Static routes are answered in C without the GIL; their records go into a
fixed-size ring per loop and are rendered here later (see ``_http.pyx``).
Their request headers are captured only for the names the format needs, at
most 6, and long values are cut (marked ``...``).
"""
import base64
import binascii
import logging
import os
import re
import time

__all__ = ["AccessLog", "DEFAULT_FORMAT", "LOGGER_NAME"]

LOGGER_NAME = "reactor.access"
DEFAULT_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'

_NUMERIC = frozenset("sBTDM")           # atoms whose value is an int
_SPEC = re.compile(r"%\(([^)]*)\)[#0 +\-]*\d*(?:\.\d*)?([diouxXeEfFgGcrsa])")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PLACEHOLDER = "%(h)s"


def _header_atom(key, kind):
    """The lowercase name of a ``{name}i`` / ``{name}o`` / ``{name}e`` atom, else None."""
    if len(key) > 3 and key[0] == "{" and key[-2:] == "}" + kind:
        return key[1:-2].lower()
    return None


def parse_format(fmt):
    """The atoms of ``fmt`` in order; ValueError for a format Python's
    ``%`` operator would reject or that converts a text atom as a number."""
    if not isinstance(fmt, str):
        raise TypeError("the access log format must be a str, not %s" % type(fmt).__name__)
    keys = []
    pos = 0
    while True:
        i = fmt.find("%", pos)
        if i < 0:
            break
        if fmt.startswith("%%", i):
            pos = i + 2
            continue
        m = _SPEC.match(fmt, i)
        if m is None:
            raise ValueError("invalid access log format %r at position %d: write atoms as "
                             "%s (e.g. %s) and a literal %% as %%%%" % (fmt, i, "%(name)s", _PLACEHOLDER))
        key, conv = m.group(1), m.group(2)
        if conv not in "sra" and key not in _NUMERIC:
            raise ValueError("access log atom %r is text: use %%(%s)s, not %s"
                             % (key, key, m.group(0)))
        keys.append(key)
        pos = m.end()
    try:
        fmt % _Probe()
    except (TypeError, ValueError, KeyError) as exc:
        raise ValueError("invalid access log format %r: %s" % (fmt, exc)) from None
    return keys


class _Probe(dict):
    def __missing__(self, key):
        return 0


def _esc(v):
    if '"' in v:
        v = v.replace('"', '\\"')
    if not v.isprintable():
        v = "".join(c if c.isprintable() else
                    ("\\x%02x" % ord(c) if ord(c) < 256 else "\\u%04x" % ord(c)) for c in v)
    return v


def _basic_user(auth):
    if not auth or not auth[:6].lower() == "basic ":
        return None
    try:
        raw = base64.b64decode(auth[6:].strip().encode("latin-1"), validate=True)
        return raw.split(b":", 1)[0].decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None


class AccessLog:
    """Renders access lines for one format (``fmt=None``: the default) and
    hands them to ``logger`` (default ``reactor.access``).  Thread safe."""

    def __init__(self, fmt=None, logger=None):
        self.format = DEFAULT_FORMAT if fmt is None else fmt
        keys = parse_format(self.format)
        self.keys = tuple(dict.fromkeys(keys))
        self.logger = logger if logger is not None else logging.getLogger(LOGGER_NAME)
        caps = []
        for k in self.keys:
            if k == "a":
                caps.append("user-agent")
            elif k == "f":
                caps.append("referer")
            elif k == "u":
                caps.append("authorization")
            elif _header_atom(k, "i"):
                caps.append(_header_atom(k, "i"))
        self.capture_headers = tuple(dict.fromkeys(caps))   # request headers the format reads
        self.captured = self.capture_headers    # those a static-route record carries
        self.static_headers = {}                # path -> [(name, value)] of static routes
        self.needs_response_headers = any(_header_atom(k, "o") for k in self.keys)
        self._literal = None if self.keys else self.format % {}
        self._t = (None, "")

    def __repr__(self):
        return "<AccessLog %r>" % self.format

    # ---- entry points (called by the connection, in its loop thread) -----------------

    def enabled(self):
        return self.logger.isEnabledFor(logging.INFO)

    def log_request(self, req, int_status, sent, response, duration, peer):
        """A request with an ``HttpRequest`` (a handler/app answered it, or it
        was rejected while its body arrived).  ``response``: what the handler
        returned (HttpResponse, bytes, str) or None."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        reqh = None
        if self.capture_headers:
            want = self.capture_headers
            reqh = {}
            for k, v in req.headers.items():
                k = k.lower()
                if k in want:
                    reqh[k] = v
        resph = None
        env = getattr(response, "environ", None)
        if self.needs_response_headers:
            resph = {}
            ctype = getattr(response, "content_type", None)
            if ctype is None and isinstance(response, str):
                ctype = "text/plain; charset=utf-8"
            if ctype is not None:
                resph["content-type"] = ctype.decode("latin-1") if isinstance(ctype, bytes) \
                    else str(ctype)
            for k, v in getattr(response, "headers", None) or ():
                resph[k.decode("latin-1").lower()] = v.decode("latin-1")
        self._emit(peer, req.method, req.target, req.path, req.query, req.version, int_status,
                   sent, duration, time.time(), reqh, resph, env)

    def log_rejected(self, peer, method, target, version, status, sent, duration):
        """A request answered with an error before it was a whole request
        (400, 413, 414, 431, 501, 505, 408...): ``method``/``target``/``version``
        are None when its request line was not read."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        path = query = None
        if target is not None:
            path, _, query = target.partition("?")
        self._emit(peer, method, target, path, query, version, status, sent, duration,
                   time.time(), None, None, None)

    def log_static(self, peer, method, target, vminor, status, sent, duration, wall, hvals,
                   truncated):
        """A static-route record from a loop's ring; ``hvals``: the values of
        the ``captured`` request headers (None if absent)."""
        if not self.logger.isEnabledFor(logging.INFO):
            return
        if truncated & 1:
            target += "..."
        path, _, query = target.partition("?")
        reqh = None
        if hvals:
            reqh = {}
            for i, (name, v) in enumerate(zip(self.captured, hvals)):
                if v is not None:
                    reqh[name] = v + "..." if truncated & (2 << i) else v
        resph = None
        if self.needs_response_headers:
            resph = dict(self.static_headers.get(path) or ())
            resph["date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(wall))
        self._emit(peer, method, target, path, query, "HTTP/1.%d" % vminor, status, sent,
                   duration, wall, reqh, resph, None)

    def log_dropped(self, n, ring_size):
        self.logger.warning("%d access log record(s) of static routes dropped: this loop's "
                            "ring of %d records was full (raise access_ring_size, CLI "
                            "--access-log-buffer)", n, ring_size)

    # ---- rendering -----------------------------------------------------------------

    def _clf_time(self, wall):
        sec = int(wall)
        cached = self._t
        if cached[0] == sec:
            return cached[1]
        tm = time.localtime(sec)
        off = tm.tm_gmtoff or 0
        sign = "-" if off < 0 else "+"
        off = abs(off) // 60
        s = "[%02d/%s/%04d:%02d:%02d:%02d %s%02d%02d]" % (
            tm.tm_mday, _MONTHS[tm.tm_mon - 1], tm.tm_year, tm.tm_hour, tm.tm_min, tm.tm_sec,
            sign, off // 60, off % 60)
        self._t = (sec, s)
        return s

    def render(self, atoms):
        """The line for a dict of atoms (what the logging record renders)."""
        return self.format % atoms if self.keys else self._literal

    def _emit(self, peer, method, target, path, query, version, status, sent, duration, wall,
              reqh, resph, env):
        if self._literal is not None:
            self.logger.info("%s", self._literal)
            return
        us = int(duration * 1000000) if duration > 0 else 0
        atoms = {}
        for k in self.keys:
            if k == "h":
                v = env.get("REMOTE_ADDR") if env else None
                v = v or peer or "-"
            elif k == "l":
                v = "-"
            elif k == "t":
                v = self._clf_time(wall)
            elif k == "r":
                v = "%s %s %s" % (method, target, version) if method is not None else "-"
            elif k == "s":
                v = status
            elif k == "b":
                v = str(sent) if sent > 0 else "-"
            elif k == "B":
                v = sent if sent > 0 else 0
            elif k == "f":
                v = reqh.get("referer", "-") if reqh else "-"
            elif k == "a":
                v = reqh.get("user-agent", "-") if reqh else "-"
            elif k == "u":
                v = (_basic_user(reqh.get("authorization")) if reqh else None) or "-"
            elif k == "m":
                v = method or "-"
            elif k == "U":
                v = path or "-"
            elif k == "q":
                v = query if query is not None else "-"
            elif k == "H":
                v = version or "-"
            elif k == "T":
                v = us // 1000000
            elif k == "D":
                v = us
            elif k == "M":
                v = us // 1000
            elif k == "L":
                v = "%d.%06d" % divmod(us, 1000000)
            elif k == "p":
                v = "<%d>" % os.getpid()
            elif k[:1] == "{" and len(k) > 3 and k[-2] == "}":
                name = k[1:-2].lower()
                kind = k[-1]
                v = None
                if kind == "i":
                    v = reqh.get(name) if reqh else None
                elif kind == "o":
                    v = resph.get(name) if resph else None
                elif kind == "e":
                    if env is not None:
                        v = env.get(k[1:-2])
                        if v is None:
                            for ek, ev in env.items():
                                if ek.lower() == name:
                                    v = ev
                                    break
                    else:
                        v = os.environ.get(k[1:-2])
                        if v is None:
                            v = os.environ.get(k[1:-2].upper())
                v = "-" if v is None else (v if isinstance(v, str) else str(v))
            else:
                v = "-"
            if type(v) is str and v != "-":
                v = _esc(v)
            atoms[k] = v
        self.logger.info(self.format, atoms)

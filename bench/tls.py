"""The ``tls-*`` scenarios: a self-signed certificate made once per run, an HTTPS
client for the readiness probe and the byte check, and the wrk variants.

    tls.configure("ecdsa-p256")   # or "rsa-2048" (--tls-key); before the first shared()
    cert = tls.shared()           # Cert(kind, certfile, keyfile, sha256, ...), removed at exit
    tls.fetch(port, "/", cert)    # (status, headers, body, {"version", "cipher"})
    tls.wrk_argv(argv, "full")    # wrk doing a full handshake per request (see below)

The certificate is made with the ``openssl`` command line in a new temporary
directory (``KEYS``: ECDSA P-256 by default, RSA 2048 on request), valid for
``IP:127.0.0.1`` and ``DNS:localhost``, its key in PKCS#8 (granian reads no other
form).  Every TLS server of the run serves it, and the harness's own client
verifies it (``fetch`` trusts only this certificate), so a server that answers
with another one fails its check.

Three ways to load a server (``MODES``):

- ``keepalive``: wrk over https, keep-alive: one handshake per connection, then
  requests; the cost of the record layer (encrypt/decrypt) per request.
- ``resumed``: wrk over https with ``Connection: close``.  wrk keeps the
  ``SSL`` object of a connection and calls ``SSL_shutdown`` + ``SSL_clear``
  when the server closes, and ``SSL_clear`` after a clean shutdown keeps the
  session, so every reconnect offers the session ticket the server sent
  earlier: a resumed (TLS 1.3 PSK + ECDHE) handshake, no certificate, no
  signature.  Checked with nginx's ``$ssl_session_reused``: 3,577 of 3,581
  handshakes resumed in one second (the first per connection is full).
- ``full``: the same wrk with ``LD_PRELOAD`` of a 10-line shim (``SHIM_SOURCE``,
  compiled here with the system's C compiler) whose ``SSL_clear`` first drops
  the session (``SSL_set_session(s, NULL)``): every connection is a full
  handshake (certificate, CertificateVerify signed by the server's key,
  ECDHE).  Checked the same way: 1,748 of 1,748 not resumed.  Without a C
  compiler the full-handshake scenario is skipped with a note.

``openssl s_time -new`` does full handshakes too, but one at a time per
process: 8 of them on one core made ~1,000 handshakes/s against nginx, which
then sat mostly idle, too little load to measure CPU per handshake; wrk with
the shim made ~1,700/s with 4 connections, unpinned.

``annotate(config, argv)`` adds ``TLS <key>`` to the label ``bench.labels`` read
from a TLS server's command (the certificate is found in its argv, or in
nginx's config) and ``markdown_table`` renders a tls-* scenario: each row's
req/s and its efficiency (requests per CPU-second) as ratios to nginx and to
uvicorn, the goals of the issue (reactor >= 0.9x nginx's efficiency on
keep-alive, >= 3x uvicorn's).
"""
import atexit
import functools
import hashlib
import http.client
import os
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

from bench.labels import strip_pin
from bench.launcher import ServerError
from bench.report import fmt_int, fmt_latency
from bench.servers.common import BODY, CONTENT_TYPE

# --tls-key: the openssl req arguments of each key type (PKCS#8 either way)
KEYS = {
    "ecdsa-p256": ("ECDSA P-256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]),
    "rsa-2048": ("RSA 2048", ["-newkey", "rsa:2048"]),
}
DEFAULT_KEY = "ecdsa-p256"
HOST = "127.0.0.1"

# scenario mode -> what the table calls a request
MODES = {"keepalive": "req/s", "resumed": "resumed handshakes/s", "full": "handshakes/s"}
NGINX, UVICORN = "nginx-tls", "uvicorn-tls"        # the ratio columns

SHIM_SOURCE = r"""
/* LD_PRELOAD into wrk: SSL_clear forgets the session first, so wrk's reconnect
 * (SSL_shutdown + SSL_clear + SSL_connect on the same SSL) is a full handshake
 * instead of resuming the ticket of the previous connection. */
#define _GNU_SOURCE
#include <dlfcn.h>
typedef struct ssl_st SSL;
typedef struct ssl_session_st SSL_SESSION;
extern int SSL_set_session(SSL *s, SSL_SESSION *session);
int SSL_clear(SSL *s) {
    static int (*real)(SSL *);
    if (!real)
        real = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
    SSL_set_session(s, 0);
    return real(s);
}
"""


@dataclass(frozen=True)
class Cert:
    """The run's self-signed certificate and its key (PEM files)."""

    kind: str               # a KEYS name
    key: str                # "ECDSA P-256"
    certfile: str
    keyfile: str
    sha256: str             # of the DER certificate
    directory: str

    def as_dict(self):
        return {"kind": self.kind, "key": self.key, "sha256": self.sha256,
                "subject_alt_names": "IP:127.0.0.1, DNS:localhost",
                "openssl": openssl_version()}


def find_openssl():
    return shutil.which("openssl")


@functools.lru_cache(maxsize=None)
def openssl_version():
    binary = find_openssl()
    if not binary:
        return None
    out = subprocess.run([binary, "version"], capture_output=True, text=True)
    return out.stdout.strip() or None


def unavailable_reason():
    """None when a certificate can be made here, else why not."""
    if find_openssl() is None:
        return "the openssl command is not installed (apt-get install openssl)"
    return None


def make_cert(directory, kind=DEFAULT_KEY):
    """Write ``cert.pem`` and ``key.pem`` (``kind`` of KEYS) into ``directory``."""
    if kind not in KEYS:
        raise ValueError("unknown key type %r (known: %s)" % (kind, ", ".join(KEYS)))
    key, args = KEYS[kind]
    certfile = os.path.join(directory, "cert.pem")
    keyfile = os.path.join(directory, "key.pem")
    out = subprocess.run([find_openssl() or "openssl", "req", "-x509"] + args +
                         ["-nodes", "-keyout", keyfile, "-out", certfile, "-days", "2",
                          "-subj", "/CN=bench.localhost",
                          "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("openssl req failed: %s" % out.stderr.strip()[-500:])
    os.chmod(keyfile, 0o644)        # nginx may read it as another user
    with open(certfile) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return Cert(kind, key, certfile, keyfile, hashlib.sha256(der).hexdigest(), directory)


_KIND = [DEFAULT_KEY]
_SHARED = []


def configure(kind):
    """The key type ``shared()`` makes (``--tls-key``); call before the first shared()."""
    if kind not in KEYS:
        raise ValueError("unknown key type %r (known: %s)" % (kind, ", ".join(KEYS)))
    if _SHARED and _SHARED[0].kind != kind:
        raise RuntimeError("the run's certificate is already made (%s)" % _SHARED[0].kind)
    _KIND[0] = kind


def shared():
    """This run's Cert: made on first use in a temporary directory, which is
    removed when the process exits."""
    if not _SHARED:
        directory = tempfile.mkdtemp(prefix="bench-tls-")
        atexit.register(shutil.rmtree, directory, True)
        os.chmod(directory, 0o755)
        _SHARED.append(make_cert(directory, _KIND[0]))
    return _SHARED[0]


# ---- wrk: keep-alive, resumed and full handshakes -----------------------------------

@functools.lru_cache(maxsize=None)
def shim_path():
    """The compiled LD_PRELOAD shim (in the run's certificate directory); raises
    RuntimeError when there is no C compiler or it fails."""
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc/gcc) to build the wrk shim that forces "
                           "full handshakes")
    directory = shared().directory
    source = os.path.join(directory, "wrk_full_handshake.c")
    path = os.path.join(directory, "wrk_full_handshake.so")
    with open(source, "w") as f:
        f.write(SHIM_SOURCE)
    out = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", path, source, "-ldl"],
                         capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise RuntimeError("building the wrk shim failed: %s" % out.stderr.strip()[-500:])
    return path


def mode_unavailable(mode):
    """None when the scenario's ``mode`` can run here, else why not."""
    reason = unavailable_reason()
    if reason or mode != "full":
        return reason
    try:
        shim_path()
    except (RuntimeError, OSError) as exc:
        return str(exc)
    return None


def wrk_argv(argv, mode):
    """``argv`` (a wrk command, the URL last) for ``mode``: keep-alive as it is;
    ``Connection: close`` for resumed; that and the shim (``env LD_PRELOAD=``)
    for full handshakes."""
    if mode == "keepalive":
        return list(argv)
    argv = list(argv[:-1]) + ["-H", "Connection: close", argv[-1]]
    if mode == "full":
        argv = ["env", "LD_PRELOAD=" + shim_path()] + argv
    return argv


# ---- an HTTPS client for the probe and the check -------------------------------------

def client_context(cert):
    """Trusts only the run's certificate, checks the name (127.0.0.1)."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cert.certfile)
    ctx.check_hostname = True
    return ctx


def fetch(port, path, cert, timeout=5.0):
    """One ``GET path`` over https with ``Connection: close``: ``(status, headers,
    body, tls)``, headers lower-cased, ``tls`` the negotiated version and cipher."""
    conn = http.client.HTTPSConnection(HOST, port, timeout=timeout,
                                       context=client_context(cert))
    try:
        conn.request("GET", path, headers={"Connection": "close", "Host": "localhost"})
        info = {"version": conn.sock.version(), "cipher": conn.sock.cipher()[0]}
        resp = conn.getresponse()
        body = resp.read()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, headers, body, info
    finally:
        conn.close()


def resumes(port, cert, timeout=5.0):
    """Whether the server resumes a session: one request, then a second connection
    offering the session (ticket) the first one received; True when the server
    accepted it, as wrk's reconnects in the tls-resumed scenario offer it."""
    ctx = client_context(cert)
    request = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    session = None
    for attempt in range(2):
        with socket.create_connection((HOST, port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=HOST, session=session) as s:
                s.sendall(request)
                while True:             # to the end: TLS 1.3 tickets come after the handshake
                    try:
                        if not s.recv(65536):
                            break
                    except (ssl.SSLZeroReturnError, ssl.SSLEOFError, ConnectionError):
                        break
                if attempt:
                    return s.session_reused
                session = s.session
    return False


def wait_ready(srv, cert, timeout=30.0):
    """Poll ``GET /`` over https until it answers 200 Hello World; ServerError if
    the server exits, answers something else, or never does."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not srv.alive():
            raise ServerError("%s exited with code %s before answering:\n%s" % (
                srv.spec.name, srv.proc.returncode, srv.log_tail()))
        try:
            status, _, body, _ = fetch(srv.port, "/", cert, timeout=2.0)
        except ssl.SSLCertVerificationError as exc:
            raise ServerError("%s: its certificate is not the run's: %s"
                              % (srv.spec.name, exc)) from None
        except (OSError, http.client.HTTPException) as exc:
            last = str(exc) or type(exc).__name__
            time.sleep(0.05)
            continue
        if status != 200 or body != BODY:
            raise ServerError("%s answered %d %r over https, expected 200 %r"
                              % (srv.spec.name, status, body[:60], BODY))
        return srv
    raise ServerError("%s not ready over https after %.0fs (%s):\n%s" % (
        srv.spec.name, timeout, last, srv.log_tail()))


def check(port, cert, name, path="/"):
    """``GET path`` over https must answer 200, ``text/plain`` and Hello World;
    returns what was checked (with the TLS version and cipher), raises ServerError."""
    status, headers, body, info = fetch(port, path, cert, timeout=10.0)
    content_type = headers.get("content-type", "")
    problems = []
    if status != 200:
        problems.append("status %d, expected 200" % status)
    if content_type.split(";")[0].strip() != CONTENT_TYPE:
        problems.append("Content-Type %r, expected %r" % (content_type, CONTENT_TYPE))
    if body != BODY:
        problems.append("body %r, expected %r" % (body[:60], BODY))
    if problems:
        raise ServerError("%s: GET %s over https answered %s" % (name, path,
                                                                "; ".join(problems)))
    return {"path": path, "status": status, "content_type": content_type,
            "bytes": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            "identical": True, "tls_version": info["version"], "cipher": info["cipher"],
            "certificate_sha256": cert.sha256, "resumes_sessions": resumes(port, cert)}


# ---- labels ----------------------------------------------------------------------------

_CERT_FLAGS = ("--certfile", "--ssl-certfile", "--ssl-certificate")


def certfile_of(argv):
    """The certificate a server's command serves (its flag, or nginx's
    ``ssl_certificate``), or None for a plaintext server."""
    for i, arg in enumerate(argv):
        for flag in _CERT_FLAGS:
            if arg == flag and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(flag + "="):
                return arg[len(flag) + 1:]
    args = strip_pin(argv)
    if args and os.path.basename(args[0]).startswith("nginx"):
        conf = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "-c"), None)
        try:
            with open(conf) as f:
                text = re.sub(r"#.*", "", f.read())
        except (OSError, TypeError):
            return None
        m = re.search(r"^\s*ssl_certificate\s+([^;\s]+)\s*;", text, re.M)
        return m.group(1) if m else None
    return None


@functools.lru_cache(maxsize=None)
def key_of(certfile):
    """"ECDSA P-256", "RSA 2048", ... read from the certificate itself."""
    out = subprocess.run([find_openssl() or "openssl", "x509", "-in", certfile, "-noout",
                          "-text"], capture_output=True, text=True, timeout=30)
    text = out.stdout
    if "id-ecPublicKey" in text:
        curve = re.search(r"NIST CURVE:\s*(\S+)", text) or re.search(r"ASN1 OID:\s*(\S+)", text)
        name = curve.group(1) if curve else "?"
        return "ECDSA " + {"prime256v1": "P-256", "secp384r1": "P-384"}.get(name, name)
    bits = re.search(r"Public-Key:\s*\((\d+) bit", text)
    if "rsaEncryption" in text:
        return "RSA %s" % (bits.group(1) if bits else "?")
    return "unknown key"


def annotate(config, argv):
    """Add the TLS facts of a server's command to its ``bench.labels`` config
    (``tls``: the key type, and ``TLS <key>`` at the end of the label)."""
    certfile = certfile_of(list(argv))
    if not certfile or not config.get("label"):
        return config
    key = key_of(certfile) if os.path.exists(certfile) else "key unknown"
    config["tls"] = {"certfile": certfile, "key": key}
    if config["label"].endswith(")"):
        config["label"] = config["label"][:-1] + ", TLS %s)" % key
    return config


# ---- the table -------------------------------------------------------------------------

def _ratio(value, base):
    return "—" if not value or not base else "%.2f×" % (value / base)


def _median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def markdown_table(name, info, summary, runs):
    """A tls-* scenario's markdown section: req/s (or handshakes/s), µs of server CPU
    per request, how busy the server was, and req/s and efficiency (requests per
    CPU-second, i.e. the inverse of µs CPU/req) as ratios to nginx-tls and to
    uvicorn-tls."""
    mode = info.get("tls", {}).get("mode", "keepalive")
    unit = MODES.get(mode, "req/s")
    cert = info.get("tls", {}).get("cert") or {}
    lines = ["### %s — %s" % (name, info["description"]), ""]
    checked = [r.get("check") for r in runs if r.get("scenario") == name and r.get("check")]
    negotiated = sorted({"%s %s" % (c.get("tls_version"), c.get("cipher")) for c in checked})
    lines += ["Certificate: self-signed %s (sha256 %s…). Every server answered `GET /` "
              "over https with the 13-byte Hello World, verified against that certificate, "
              "before it was timed; negotiated: %s. Efficiency = requests per CPU-second "
              "(the inverse of µs CPU/req): above 1.00× a server spends less CPU per %s "
              "than the reference. Server CPU = CPU time / wall time (100%% = one core)."
              % (cert.get("key", "?"), (cert.get("sha256") or "?")[:12],
                 ", ".join(negotiated) or "—", "handshake" if mode != "keepalive" else
                 "request"), ""]
    header = ["server", "configuration", "%s (median)" % unit, "min–max", "µs CPU/req",
              "server CPU", "req/s vs nginx", "efficiency vs nginx", "req/s vs uvicorn",
              "efficiency vs uvicorn", "p50", "p99", "errors"]
    lines += ["| " + " | ".join(header) + " |",
              "|" + "|".join("---:" if i >= 2 else "---" for i in range(len(header))) + "|"]
    labels = info.get("labels") or {}

    def med(server, key):
        s = summary.get(server) or {}
        return s.get(key) if s.get("runs") else None

    for server, s in summary.items():
        label = s.get("label") or labels.get(server) or "—"
        if not s["runs"]:
            lines.append("| %s | %s | failed |%s" % (server, label, " — |" * 10))
            continue
        busy = _median(r.get("cpu_busy") for r in runs
                       if r.get("scenario") == name and r.get("server") == server and r.get("ok"))
        cpu = s["cpu_us_median"]
        row = [server, label, fmt_int(s["rps_median"]),
               "%s–%s" % (fmt_int(s["rps_min"]), fmt_int(s["rps_max"])),
               "—" if cpu is None else "%.1f" % cpu,
               "—" if busy is None else "%.0f%%" % (busy * 100),
               _ratio(s["rps_median"], med(NGINX, "rps_median")),
               _ratio(med(NGINX, "cpu_us_median"), cpu),
               _ratio(s["rps_median"], med(UVICORN, "rps_median")),
               _ratio(med(UVICORN, "cpu_us_median"), cpu),
               fmt_latency(s.get("p50_us")), fmt_latency(s.get("p99_us")), fmt_int(s["errors"])]
        lines.append("| " + " | ".join(row) + " |")
    no_resume = sorted({r["server"] for r in runs if r.get("scenario") == name
                        and r.get("check") and r["check"].get("resumes_sessions") is False})
    if mode == "resumed" and no_resume:
        lines += ["", "Did not resume the session a second connection offered (so its "
                  "handshakes here are full ones): %s." % ", ".join(no_resume)]
    notes = ["- %s: %d failed run(s): %s" % (n, s["failed"], (s["last_error"] or "")
                                               .strip().splitlines()[0][:200])
             for n, s in summary.items() if s["failed"] and s["last_error"]]
    notes += ["- %s skipped: %s" % (n, why) for n, why in (info.get("skipped") or {}).items()]
    if notes:
        lines += [""] + notes
    return "\n".join(lines) + "\n"


"""Helpers for tests/test_tls.py: test certificates made with the ``openssl``
command line, and TLS clients built on Python's ssl module.

``make_certs(directory)`` writes (once per pytest worker: the fixture caches it
per session):

- a CA (``ca``) and a second, unrelated CA (``other_ca``);
- the server certificate for 127.0.0.1 and localhost (subjectAltName), its
  key, both in one PEM (``server_pem``), and the key encrypted with
  ``KEY_PASSWORD`` (``server_key_enc``);
- a second server certificate from the same CA (``server2_*``), for reloads;
- client certificates: ``client`` (signed by the CA), ``bad_client`` (signed
  by the other CA), ``expired_client`` (signed by the CA, expired in 2020).

Every socket made here has a timeout, so a server bug shows up as a failed
assertion or a timeout, never as a hung test run.
"""
import os
import socket
import ssl
import subprocess
import time
import types
import warnings

from http_helpers import TIMEOUT, Client

KEY_PASSWORD = "s3cret-pw"
OPENSSL = "openssl"

_SERVER_EXT = """\
[srv]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[cli]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""

# `openssl ca` is the portable way (OpenSSL 1.1 .. 3.x) to set an end date in the past
_CA_CONF = """\
[ca]
default_ca = ca_default
[ca_default]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}/newcerts
serial = {dir}/serial
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
x509_extensions = cli
[policy_any]
organizationName = optional
commonName = supplied
[cli]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
"""


def _run(*args, cwd):
    proc = subprocess.run([OPENSSL, *args], cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError("openssl %s failed (%d):\n%s" % (
            " ".join(args), proc.returncode, proc.stderr.decode(errors="replace")))
    return proc.stdout.decode(errors="replace")


def _name(path, which, cwd):
    """The subject or issuer of a certificate as an RFC 2253 string."""
    out = _run("x509", "-in", path, "-noout", "-" + which, "-nameopt", "RFC2253", cwd=cwd)
    return out.strip().split("=", 1)[1].strip()


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def make_certs(directory):
    """Create every certificate under ``directory``; a namespace of their paths
    (and of the client certificates' DER, PEM, subject and issuer)."""
    d = str(directory)
    j = lambda name: os.path.join(d, name)     # noqa: E731
    with open(j("ext.cnf"), "w") as f:
        f.write(_SERVER_EXT)

    def ca(name, cn):
        _run("req", "-x509", "-new", "-nodes", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-keyout", j(name + ".key"), "-out",
             j(name + ".pem"), "-days", "3650", "-subj", "/O=Reactor Tests/CN=" + cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        return j(name + ".pem"), j(name + ".key")

    serial = [1000]

    def leaf(name, subj, ca_pair, ext, rsa):
        key = ["-newkey", "rsa:2048"] if rsa else ["-newkey", "ec", "-pkeyopt",
                                                   "ec_paramgen_curve:prime256v1"]
        _run("req", "-new", "-nodes", *key, "-keyout", j(name + ".key"), "-out",
             j(name + ".csr"), "-subj", subj, cwd=d)
        serial[0] += 1
        _run("x509", "-req", "-in", j(name + ".csr"), "-CA", ca_pair[0], "-CAkey", ca_pair[1],
             "-set_serial", str(serial[0]), "-days", "825", "-sha256", "-extfile", j("ext.cnf"),
             "-extensions", ext, "-out", j(name + ".pem"), cwd=d)
        return j(name + ".pem"), j(name + ".key")

    def combined(name, pair):
        with open(j(name), "wb") as f:
            f.write(_read(pair[0]) + _read(pair[1]))
        return j(name)

    c = types.SimpleNamespace(dir=d, password=KEY_PASSWORD)
    the_ca = ca("ca", "Reactor Test CA")
    other = ca("other_ca", "Some Other CA")
    c.ca, c.ca_key = the_ca
    c.other_ca = other[0]

    c.server_cert, c.server_key = leaf("server", "/O=Reactor Tests/CN=localhost", the_ca,
                                       "srv", rsa=True)
    c.server_pem = combined("server_combined.pem", (c.server_cert, c.server_key))
    c.server2_cert, c.server2_key = leaf("server2", "/O=Reactor Tests/CN=server-two", the_ca,
                                         "srv", rsa=True)
    c.server2_pem = combined("server2_combined.pem", (c.server2_cert, c.server2_key))
    c.server_key_enc = j("server_enc.key")
    _run("pkey", "-in", c.server_key, "-out", c.server_key_enc, "-aes256",
         "-passout", "pass:" + KEY_PASSWORD, cwd=d)

    c.client = leaf("client", "/O=Reactor Tests/CN=client-alice", the_ca, "cli", rsa=False)
    c.bad_client = leaf("bad_client", "/O=Reactor Tests/CN=client-mallory", other, "cli",
                        rsa=False)

    # expired: valid January 2020 only, signed by the good CA
    cadir = j("ca_db")
    os.makedirs(os.path.join(cadir, "newcerts"), exist_ok=True)
    open(os.path.join(cadir, "index.txt"), "w").close()
    with open(os.path.join(cadir, "serial"), "w") as f:
        f.write("5000\n")
    with open(j("ca.cnf"), "w") as f:
        f.write(_CA_CONF.format(dir=cadir))
    _run("req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-keyout", j("expired_client.key"), "-out", j("expired_client.csr"),
         "-subj", "/O=Reactor Tests/CN=client-expired", cwd=d)
    _run("ca", "-batch", "-config", j("ca.cnf"), "-cert", the_ca[0], "-keyfile", the_ca[1],
         "-in", j("expired_client.csr"), "-out", j("expired_client.pem"), "-notext",
         "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", cwd=d)
    c.expired_client = (j("expired_client.pem"), j("expired_client.key"))

    c.client_pem_text = _read(c.client[0]).decode("ascii")
    c.client_der = ssl.PEM_cert_to_DER_cert(c.client_pem_text)
    c.client_subject = _name(c.client[0], "subject", d)
    c.client_issuer = _name(c.client[0], "issuer", d)
    c.server_der = ssl.PEM_cert_to_DER_cert(_read(c.server_cert).decode("ascii"))
    c.server2_der = ssl.PEM_cert_to_DER_cert(_read(c.server2_cert).decode("ascii"))
    return c


# ---------------------------------------------------------------- clients

VERSIONS = {"1.1": ssl.TLSVersion.TLSv1_1, "1.2": ssl.TLSVersion.TLSv1_2,
            "1.3": ssl.TLSVersion.TLSv1_3}


def client_context(certs, version=None, alpn=None, cert=None, ciphers=None, verify=True):
    """A client SSLContext that trusts the test CA.  ``version``: "1.2" / "1.3"
    pins both the minimum and the maximum; ``cert``: a (certfile, keyfile)
    pair presented to the server; ``alpn``: the protocols offered."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(certs.ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if version is not None:
        if version == "1.1":
            # let this client speak TLS 1.1 at all (OpenSSL 3 refuses it at level 1+)
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)     # TLSv1_1
            ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return ctx


def tls_connect(port, ctx, session=None, timeout=TIMEOUT, server_hostname="127.0.0.1",
                suppress_ragged_eofs=False):
    """A TCP connection to 127.0.0.1:port wrapped in TLS (handshake done)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    raw.settimeout(timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=server_hostname, session=session,
                               suppress_ragged_eofs=suppress_ragged_eofs)
    except BaseException:
        raw.close()
        raise


class TlsClient(Client):
    """http_helpers.Client over a TLS socket (``self.sock`` is the SSLSocket).

    The read buffer is a bytearray: an SSLSocket returns at most one record
    (16 KiB) per recv, and appending those to a bytes buffer is quadratic
    (seconds for a 20 MiB body).  Bodies are returned as bytes."""

    def __init__(self, port, ctx, session=None, timeout=TIMEOUT, sock=None, **kw):
        if sock is None:
            sock = tls_connect(port, ctx, session, timeout, **kw)
        super().__init__(port, timeout, sock=sock)
        self.buf = bytearray()

    def read_response(self, method="GET", interim=False):
        resp = super().read_response(method, interim)
        resp.body = bytes(resp.body)
        resp.raw_head = bytes(resp.raw_head)
        return resp


def request(path="/", method="GET", headers=(), body=b"", host="127.0.0.1"):
    """Bytes of one HTTP/1.1 request (Content-Length added for a body)."""
    out = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path, host)
    for k, v in headers:
        out += "%s: %s\r\n" % (k, v)
    if body:
        out += "Content-Length: %d\r\n" % len(body)
    return out.encode("latin-1") + b"\r\n" + body


def tls_get(port, ctx, path="/", method="GET", headers=(), body=b"", session=None):
    """One request on a new TLS connection: (response, the SSLSocket's facts).

    Facts: version, cipher, alpn, session_reused, session, peer_der."""
    with TlsClient(port, ctx, session=session) as c:
        c.send(request(path, method, headers, body))
        resp = c.read_response(method)
        s = c.sock
        facts = types.SimpleNamespace(
            version=s.version(), cipher=s.cipher()[0], alpn=s.selected_alpn_protocol(),
            session_reused=s.session_reused, session=s.session,
            peer_der=s.getpeercert(binary_form=True))
        return resp, facts


def refused(port, ctx, path="/", timeout=TIMEOUT):
    """Try a handshake and one request.  None if the server refused (the
    handshake failed, or the connection failed or ended before any response:
    TLS 1.3 reports a rejected client certificate only on the first read);
    else a description of what the server answered."""
    try:
        c = TlsClient(port, ctx, timeout=timeout)
    except (ssl.SSLError, OSError):
        return None
    with c:
        try:
            c.send(request(path))
            resp = c.read_response()
        except (ssl.SSLError, OSError, EOFError):
            return None
        return "served: %r (version %s)" % (resp, c.sock.version())


def client_hello(ctx=None, server_hostname="127.0.0.1"):
    """The bytes of a real ClientHello (made with a memory BIO, sent nowhere)."""
    if ctx is None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def raw_connect(port, timeout=TIMEOUT):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.settimeout(timeout)
    return s


def closed_by_peer(sock, timeout):
    """True if the peer closes (EOF or reset) within ``timeout`` s; bytes
    (an alert) are read and dropped.  Works on a plain socket."""
    old = sock.gettimeout()
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            try:
                if not sock.recv(65536):
                    return True
            except ConnectionResetError:
                return True
            except socket.timeout:
                return False
    finally:
        sock.settimeout(old)

"""TLS end to end (black box): HttpServer, WSGIServer and ``python -m reactor``
with ``certfile=`` over real sockets on 127.0.0.1.

Clients: Python's ssl module (tls_helpers), raw sockets for the broken
ones, ``openssl s_client`` (renegotiation), curl and requests.  Certificates
are made once per pytest worker with the openssl command line
(tls_helpers.make_certs).  Every socket has a timeout.
"""
import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import time

import pytest

import reactor
from http_helpers import Client, live_connections, wait_for
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer
from supervisor_apps.harness import reactor_server, run_reactor, wait_until
from tls_helpers import (KEY_PASSWORD, TlsClient, client_context, client_hello,
                         closed_by_peer, make_certs, raw_connect, refused, request, tls_connect,
                         tls_get)
from wsgi_apps.helpers import free_port, wsgi_server

pytestmark = pytest.mark.skipif(
    not (hasattr(reactor, "tls_available") and reactor.tls_available()),
    reason="reactor built without TLS (reactor.tls_available() is missing or False)")

MiB = 1 << 20
BIG = os.urandom(20 * MiB)          # the 20 MiB bodies (handlers and tests share the process)
FILE_SIZE = 10 * MiB
SMALL = b"small file over tls\n"
STATIC = b"static route body\n"
BOTH = ["1.2", "1.3"]
TLS_NAME = {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}


# ---------------------------------------------------------------------------
# certificates, apps and servers

@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("tls-certs"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls-files")
    data = os.urandom(FILE_SIZE)
    (d / "big.bin").write_bytes(data)
    (d / "small.txt").write_bytes(SMALL)
    return d, data


def _jsonable(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"b64": base64.b64encode(bytes(v)).decode()}
    return v


def tls_facts(req):
    t = req.tls
    if t is None:
        return None
    out = {k: _jsonable(v) for k, v in dict(t).items()}
    out["__type__"] = type(t).__name__
    return out


def native_handler(req):
    p = req.path
    if p == "/tls":
        return HttpResponse(json.dumps({"tls": tls_facts(req)}).encode(),
                            content_type="application/json")
    if p == "/sha256":
        body = req.body
        return HttpResponse(json.dumps({"length": len(body),
                                        "sha256": hashlib.sha256(body).hexdigest()}).encode(),
                            content_type="application/json")
    if p == "/big":
        return HttpResponse(BIG, content_type="application/octet-stream")
    return HttpResponse(b"hello tls " + p.encode() + b"\n", content_type="text/plain")


ENV_KEYS = ["wsgi.url_scheme", "HTTPS", "SSL_PROTOCOL", "SSL_CIPHER", "SSL_CLIENT_CERT",
            "SSL_CLIENT_S_DN", "SSL_CLIENT_I_DN", "SSL_CLIENT_VERIFY"]


def wsgi_app(environ, start_response):
    p = environ["PATH_INFO"]
    ctype = "application/json"
    if p == "/env":
        body = json.dumps({k: environ.get(k) for k in ENV_KEYS}).encode()
    elif p == "/upload":
        data = environ["wsgi.input"].read()
        body = json.dumps({"length": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                           "te": environ.get("HTTP_TRANSFER_ENCODING")}).encode()
    elif p == "/echo":
        body, ctype = environ["wsgi.input"].read(), "application/octet-stream"
    elif p == "/big":
        body, ctype = BIG, "application/octet-stream"
    elif p == "/stream":
        n = int(environ.get("QUERY_STRING") or 50)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])

        def gen():
            for i in range(n):
                yield BIG[i * 40000:(i + 1) * 40000]
        return gen()
    else:
        body, ctype = b"wsgi over tls\n", "text/plain"
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


@contextlib.contextmanager
def tls_server(certs, handler=native_handler, files_dir=None, threads=1, **kw):
    """An HttpServer with the test certificate on 127.0.0.1:<any port>, with
    /static (a static route) and /files/ (route_files over ``files_dir``)."""
    kw.setdefault("certfile", certs.server_cert)
    kw.setdefault("keyfile", certs.server_key)
    server = HttpServer(handler, port=0, threads=threads, **kw)
    try:
        server.route_static("/static", STATIC)
        if files_dir is not None:
            server.route_files("/files", str(files_dir))
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def native(certs, files):
    with tls_server(certs, files_dir=files[0], threads=2) as srv:
        yield srv


def files_server(certs, files):
    """A fresh server for the tests that read big.bin (used in a ``with`` in the
    test: each sub-reactor's file cache keeps a large file open until the
    server stops, and the mount's directory fd lives as long as the server
    object, which a fixture would keep past the leak check)."""
    return tls_server(certs, files_dir=files[0], threads=2)


@pytest.fixture(scope="module")
def optional_srv(certs):
    with tls_server(certs, ca_certs=certs.ca, cert_reqs="optional") as srv:
        yield srv


@pytest.fixture(scope="module")
def required_srv(certs):
    with tls_server(certs, ca_certs=certs.ca, cert_reqs="required") as srv:
        yield srv


@pytest.fixture(scope="module")
def wsgi(certs):
    with wsgi_server(wsgi_app, certfile=certs.server_cert, keyfile=certs.server_key,
                     threads=2) as srv:
        yield srv


def info(port, ctx, session=None):
    """GET /tls on a new connection: (request.tls as the handler saw it, client facts)."""
    resp, facts = tls_get(port, ctx, "/tls", session=session)
    assert resp.status == 200, resp
    return json.loads(resp.body)["tls"], facts


def body_json(resp):
    assert resp.status == 200, resp
    return json.loads(resp.body)


# ---------------------------------------------------------------------------
# construction and configuration errors

def test_tls_available():
    assert reactor.tls_available() is True


def _raises_naming(path, **kw):
    with pytest.raises(ValueError) as ei:
        HttpServer(None, port=0, threads=1, **kw)
    assert path in str(ei.value), "the ValueError does not name %s: %r" % (path, str(ei.value))


def test_missing_certfile_is_a_value_error_naming_it(certs, tmp_path):
    missing = str(tmp_path / "no-such-cert.pem")
    _raises_naming(missing, certfile=missing, keyfile=certs.server_key)


def test_missing_keyfile_is_a_value_error_naming_it(certs, tmp_path):
    missing = str(tmp_path / "no-such-key.pem")
    _raises_naming(missing, certfile=certs.server_cert, keyfile=missing)


def test_certfile_that_is_not_a_certificate(certs, tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("this is not PEM\n")
    _raises_naming(str(junk), certfile=str(junk), keyfile=certs.server_key)


def test_key_not_matching_the_certificate(certs):
    with pytest.raises(ValueError) as ei:
        HttpServer(None, port=0, threads=1, certfile=certs.server_cert, keyfile=certs.server2_key)
    msg = str(ei.value)
    assert certs.server2_key in msg or certs.server_cert in msg, msg


def test_wrong_key_password_is_a_value_error_naming_the_key(certs):
    _raises_naming(certs.server_key_enc, certfile=certs.server_cert,
                   keyfile=certs.server_key_enc, keyfile_password="wrong-password")


def test_encrypted_key_without_password_fails_without_prompting(certs, tmp_path):
    # OpenSSL's default password callback reads the terminal: run it in a new
    # session (no controlling tty) so a prompt shows up as a hang, not a hung run
    script = tmp_path / "nopw.py"
    script.write_text(
        "import sys\nfrom reactor.http_server import HttpServer\n"
        "try:\n"
        "    HttpServer(None, port=0, threads=1, certfile=sys.argv[1], keyfile=sys.argv[2])\n"
        "except ValueError as e:\n"
        "    print('VALUEERROR', e); sys.exit(0)\n"
        "print('NO ERROR'); sys.exit(1)\n")
    proc = subprocess.run([sys.executable, str(script), certs.server_cert, certs.server_key_enc],
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                          start_new_session=True)
    out = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    assert proc.returncode == 0 and "VALUEERROR" in out, out
    assert certs.server_key_enc in out, out


@pytest.mark.skipif(shutil.which("script") is None, reason="needs script(1) for a terminal")
def test_encrypted_key_without_password_on_a_terminal_does_not_prompt(certs, tmp_path):
    """On a terminal OpenSSL's default password callback asks for the pass
    phrase and waits (a SIGHUP reload would hang the master): refused at
    once instead, saying what is missing."""
    script = tmp_path / "nopw.py"
    script.write_text(
        "import sys\nfrom reactor import TlsContext\n"
        "try:\n"
        "    TlsContext(sys.argv[1], sys.argv[2])\n"
        "except ValueError as e:\n"
        "    print('VALUEERROR', e)\n")
    cmd = "%s %s %s %s" % (sys.executable, script, certs.server_cert, certs.server_key_enc)
    try:
        proc = subprocess.run(["script", "-qec", cmd, "/dev/null"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail("TlsContext with an encrypted key and no password waited on the terminal")
    out = proc.stdout.decode(errors="replace")
    assert "VALUEERROR" in out and "password" in out and "pass phrase" not in out.lower(), out


def test_encrypted_key_with_its_password_serves(certs):
    with tls_server(certs, keyfile=certs.server_key_enc, keyfile_password=KEY_PASSWORD) as srv:
        resp, _ = tls_get(srv.port, client_context(certs), "/x")
        assert resp.status == 200 and resp.body == b"hello tls /x\n"


def test_keyfile_defaults_to_the_certfile(certs):
    with tls_server(certs, certfile=certs.server_pem, keyfile=None) as srv:
        resp, facts = tls_get(srv.port, client_context(certs), "/x")
        assert resp.status == 200 and facts.peer_der == certs.server_der


@pytest.mark.parametrize("reqs", ["optional", "required"])
def test_client_verification_needs_ca_certs(certs, reqs):
    with pytest.raises(ValueError):
        HttpServer(None, port=0, threads=1, certfile=certs.server_cert,
                   keyfile=certs.server_key, cert_reqs=reqs)


def test_unknown_cert_reqs_is_a_value_error(certs):
    with pytest.raises(ValueError):
        HttpServer(None, port=0, threads=1, certfile=certs.server_cert,
                   keyfile=certs.server_key, ca_certs=certs.ca, cert_reqs="sometimes")


def test_request_tls_is_none_on_plaintext():
    server = HttpServer(native_handler, port=0, threads=1)
    server.start()
    try:
        with Client(server.port) as c:
            c.send(request("/tls"))
            r = c.read_response()
        assert r.status == 200, r
        assert json.loads(r.body) == {"tls": None}
    finally:
        server.stop()


# ---------------------------------------------------------------------------
# protocol versions, ALPN, ciphers, renegotiation

@pytest.mark.parametrize("version", BOTH)
def test_version_is_served_and_request_tls_describes_it(native, certs, version):
    t, facts = info(native.port, client_context(certs, version))
    assert facts.version == TLS_NAME[version]
    assert t is not None and t["__type__"] == "dict", t
    assert t["version"] == TLS_NAME[version], t
    assert t["cipher"] == facts.cipher, t
    assert t["alpn"] is None, t                 # the client offered no ALPN
    assert t["session_reused"] is False, t
    for k in ("peer_cert", "peer_cert_pem", "peer_subject", "peer_issuer"):
        assert t[k] is None, (k, t)
    assert t["verify"] == "NONE", t


def test_tls11_client_fails_the_handshake(native, certs):
    with pytest.raises(ssl.SSLError) as ei:
        tls_connect(native.port, client_context(certs, "1.1")).close()
    # a failure of the server's choosing: it refused the version (not a client-side problem)
    assert "PROTOCOL_VERSION" in str(ei.value).upper() or "UNSUPPORTED_PROTOCOL" in \
        str(ei.value).upper(), repr(ei.value)
    resp, _ = tls_get(native.port, client_context(certs, "1.2"), "/after")
    assert resp.status == 200


@pytest.mark.parametrize("version", BOTH)
@pytest.mark.parametrize("offer", [["http/1.1"], ["h2", "http/1.1"]], ids=["http11", "h2-http11"])
def test_alpn_selects_http11(native, certs, version, offer):
    t, facts = info(native.port, client_context(certs, version, alpn=offer))
    assert facts.alpn == "http/1.1"
    assert t["alpn"] == "http/1.1", t


@pytest.mark.parametrize("version", BOTH)
def test_alpn_h2_only_fails_the_handshake(native, certs, version):
    ctx = client_context(certs, version, alpn=["h2"])
    try:
        s = tls_connect(native.port, ctx)
    except (ssl.SSLError, OSError):
        return
    with s:
        got = s.selected_alpn_protocol()
    pytest.fail("a client offering only h2 completed the handshake (ALPN selected %r)" % got)


@pytest.mark.slow
def test_no_renegotiation(native, certs):
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl command")
    p = subprocess.Popen([openssl, "s_client", "-connect", "127.0.0.1:%d" % native.port,
                          "-tls1_2", "-CAfile", certs.ca, "-msg"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = ""
    try:
        try:
            p.stdin.write(b"R\n")
            p.stdin.flush()
        except BrokenPipeError:
            pass
        time.sleep(1.0)
        out = p.communicate(timeout=10)[0].decode(errors="replace")     # closes stdin
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate(timeout=5)
    received = len(re.findall(r"^<<< TLS 1\.2, Handshake .*Finished", out, re.M))
    assert "Verify return code: 0 (ok)" in out and received >= 1, \
        "the first handshake did not complete:\n" + out
    assert "RENEGOTIATING" in out, "s_client did not try to renegotiate:\n" + out
    assert received == 1, "the server renegotiated (%d Finished received):\n%s" % (received, out)
    resp, _ = tls_get(native.port, client_context(certs), "/after")
    assert resp.status == 200


def test_ciphers_option_limits_tls12(certs):
    with tls_server(certs, ciphers="ECDHE-RSA-AES256-GCM-SHA384") as srv:
        _, facts = tls_get(srv.port, client_context(certs, "1.2"))
        assert facts.cipher == "ECDHE-RSA-AES256-GCM-SHA384"
        why = refused(srv.port, client_context(certs, "1.2",
                                               ciphers="ECDHE-RSA-AES128-GCM-SHA256"))
        assert why is None, "a TLS 1.2 client without the configured cipher was " + why


# ---------------------------------------------------------------------------
# session resumption

@pytest.mark.parametrize("version", BOTH)
def test_session_resumption(native, certs, version):
    ctx = client_context(certs, version)
    t1, f1 = info(native.port, ctx)
    assert f1.session_reused is False and t1["session_reused"] is False
    assert f1.session is not None
    t2, f2 = info(native.port, ctx, session=f1.session)
    assert f2.session_reused is True, "the client's session was not resumed (%s)" % version
    assert t2["session_reused"] is True, t2


# ---------------------------------------------------------------------------
# client certificates

@pytest.mark.parametrize("version", BOTH)
@pytest.mark.parametrize("which", ["none", "other_ca", "expired"])
def test_required_client_cert_refuses(required_srv, certs, version, which):
    cert = {"none": None, "other_ca": certs.bad_client, "expired": certs.expired_client}[which]
    why = refused(required_srv.port, client_context(certs, version, cert=cert), "/tls")
    assert why is None, "cert_reqs=required, client cert %s: %s" % (which, why)
    t, _ = info(required_srv.port, client_context(certs, version, cert=certs.client))
    assert t["verify"] == "SUCCESS"      # and the server still serves the good ones


def check_peer(t, certs):
    assert t["verify"] == "SUCCESS", t
    assert t["peer_subject"] == certs.client_subject, t
    assert t["peer_issuer"] == certs.client_issuer, t
    assert base64.b64decode(t["peer_cert"]["b64"]) == certs.client_der, t
    assert ssl.PEM_cert_to_DER_cert(t["peer_cert_pem"]) == certs.client_der, t


@pytest.mark.parametrize("version", BOTH)
def test_required_client_cert_valid_is_served(required_srv, certs, version):
    t, facts = info(required_srv.port, client_context(certs, version, cert=certs.client))
    assert t["version"] == TLS_NAME[version]
    check_peer(t, certs)


@pytest.mark.parametrize("version", BOTH)
def test_optional_client_cert(optional_srv, certs, version):
    t, _ = info(optional_srv.port, client_context(certs, version))
    assert t["verify"] == "NONE", t
    assert t["peer_cert"] is None and t["peer_subject"] is None, t
    t, _ = info(optional_srv.port, client_context(certs, version, cert=certs.client))
    check_peer(t, certs)
    for bad in (certs.bad_client, certs.expired_client):
        why = refused(optional_srv.port, client_context(certs, version, cert=bad), "/tls")
        assert why is None, "cert_reqs=optional, invalid cert %s: %s" % (bad[0], why)


# ---------------------------------------------------------------------------
# WSGI environ

@pytest.mark.parametrize("version", BOTH)
def test_wsgi_environ_without_client_cert(wsgi, certs, version):
    resp, facts = tls_get(wsgi.port, client_context(certs, version), "/env")
    env = body_json(resp)
    assert env["wsgi.url_scheme"] == "https", env
    assert env["HTTPS"] == "on", env
    assert env["SSL_PROTOCOL"] == TLS_NAME[version], env
    assert env["SSL_CIPHER"] == facts.cipher, env
    assert env["SSL_CLIENT_VERIFY"] == "NONE", env
    assert env["SSL_CLIENT_CERT"] is None and env["SSL_CLIENT_S_DN"] is None, env


def test_wsgi_environ_with_client_cert(certs):
    with wsgi_server(wsgi_app, certfile=certs.server_cert, keyfile=certs.server_key,
                     ca_certs=certs.ca, cert_reqs="optional") as srv:
        resp, _ = tls_get(srv.port, client_context(certs, cert=certs.client), "/env")
        env = body_json(resp)
        assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on", env
        assert env["SSL_CLIENT_VERIFY"] == "SUCCESS", env
        assert env["SSL_CLIENT_S_DN"] == certs.client_subject, env
        assert env["SSL_CLIENT_I_DN"] == certs.client_issuer, env
        assert ssl.PEM_cert_to_DER_cert(env["SSL_CLIENT_CERT"]) == certs.client_der, env
        resp, _ = tls_get(srv.port, client_context(certs), "/env")
        assert body_json(resp)["SSL_CLIENT_VERIFY"] == "NONE"


def test_wsgi_plaintext_environ_is_http():
    with wsgi_server(wsgi_app) as srv:
        with Client(srv.port) as c:
            c.send(request("/env"))
            env = body_json(c.read_response())
    assert env["wsgi.url_scheme"] == "http" and env["HTTPS"] is None, env


# ---------------------------------------------------------------------------
# broken and hostile clients

def test_plain_http_on_the_tls_port_gets_400_and_close(native, certs):
    with Client(native.port) as c:
        c.send(request("/static"))
        r = c.read_response()
        assert r.status == 400, r
        assert r.version == "HTTP/1.1", r
        text = r.body.decode("latin-1").lower()
        assert "https" in text and "http" in text.replace("https", ""), r.body
        assert c.closed_within(2.0), "the connection stayed open after the 400"
    resp, _ = tls_get(native.port, client_context(certs), "/after")
    assert resp.status == 200


@pytest.mark.parametrize("version", BOTH)
def test_truncated_record_after_the_handshake(native, certs, version):
    with TlsClient(native.port, client_context(certs, version)) as c:
        c.send(request("/first"))
        assert c.read_response().status == 200
        s = c.sock
        # half of an application-data record, bypassing the TLS layer, then EOF
        socket.socket.sendall(s, b"\x17\x03\x03\x01\x00" + os.urandom(120))
        socket.socket.shutdown(s, socket.SHUT_WR)
        t0 = time.monotonic()
        closed = False
        while time.monotonic() - t0 < 3.0:
            try:
                if not socket.socket.recv(s, 65536):
                    closed = True
                    break
            except ConnectionResetError:
                closed = True
                break
            except socket.timeout:
                break
        assert closed, "the server did not close a connection that ended inside a record"
    # and it still serves
    resp, _ = tls_get(native.port, client_context(certs, version), "/after")
    assert resp.status == 200


def test_truncated_record_then_close_is_cleaned_up(certs):
    with tls_server(certs) as srv:
        c = TlsClient(srv.port, client_context(certs))
        c.send(request("/first"))
        assert c.read_response().status == 200
        socket.socket.sendall(c.sock, b"\x17\x03\x03\x40\x00" + os.urandom(500))
        c.close()
        assert wait_for(lambda: live_connections(srv) == 0, 3.0), srv.stats()
        resp, _ = tls_get(srv.port, client_context(certs), "/after")
        assert resp.status == 200


@pytest.mark.slow
def test_partial_client_hello_is_closed_after_the_handshake_timeout(certs):
    hello = client_hello()
    with tls_server(certs, tls_handshake_timeout=1.0) as srv:
        with raw_connect(srv.port) as s:
            s.sendall(hello[:len(hello) // 2])
            t0 = time.monotonic()
            # meanwhile a real client is served
            resp, _ = tls_get(srv.port, client_context(certs), "/other")
            assert resp.status == 200
            assert closed_by_peer(s, 4.0), "not closed 4 s after a partial ClientHello " \
                "(tls_handshake_timeout=1)"
            took = time.monotonic() - t0
        assert 0.5 <= took <= 3.0, "closed after %.2f s, tls_handshake_timeout=1" % took
        resp, _ = tls_get(srv.port, client_context(certs), "/after")
        assert resp.status == 200


def test_500_stalled_handshakes_do_not_block_a_real_client(certs):
    hello = client_hello()
    with tls_server(certs, threads=2) as srv:
        stalled = []
        try:
            for i in range(500):
                s = raw_connect(srv.port)
                stalled.append(s)
                if i % 2:
                    s.sendall(hello[:40])
            assert wait_for(lambda: live_connections(srv) >= 500, 5.0), \
                "the server did not accept the 500 stalled connections: %r" % srv.stats()
            for version in BOTH:
                t0 = time.monotonic()
                resp, _ = tls_get(srv.port, client_context(certs, version), "/real")
                took = time.monotonic() - t0
                assert resp.status == 200
                assert took < 2.0, "a real TLS %s request took %.2f s behind 500 stalled " \
                    "handshakes" % (version, took)
        finally:
            for s in stalled:
                s.close()
        assert wait_for(lambda: live_connections(srv) == 0, 5.0), srv.stats()


@pytest.mark.slow
def test_tls_max_handshakes(certs):
    hello = client_hello()
    n = 4
    with tls_server(certs, threads=2, tls_max_handshakes=n, tls_handshake_timeout=2.0) as srv:
        def stall():
            out = []
            for _ in range(n):
                s = raw_connect(srv.port)
                s.sendall(hello[:40])
                out.append(s)
            assert wait_for(lambda: live_connections(srv) >= n, 2.0), srv.stats()
            time.sleep(0.1)
            return out

        def over_limit_refused():
            t0 = time.monotonic()
            why = refused(srv.port, client_context(certs), "/over", timeout=3.0)
            return why, time.monotonic() - t0

        stalled = stall()
        try:
            why, took = over_limit_refused()
            assert why is None, "with %d handshakes in flight (tls_max_handshakes=%d) a new " \
                "client was %s" % (n, n, why)
            assert took < 1.0, "the connection over the limit was closed after %.2f s, " \
                "not at once" % took
        finally:
            for s in stalled:
                s.close()
        # released by closing: new clients are served again
        def served():
            try:
                return tls_get(srv.port, client_context(certs), "/again")[0].status == 200
            except (ssl.SSLError, OSError, EOFError):
                return False
        assert wait_for(served, 2.0, 0.1), "not served after the stalled handshakes closed"
        # released by the handshake timeout
        stalled = stall()
        try:
            assert refused(srv.port, client_context(certs), "/over2") is None
            time.sleep(2.2)
            assert wait_for(served, 1.5, 0.1), \
                "not served after the stalled handshakes timed out (tls_handshake_timeout=2)"
        finally:
            for s in stalled:
                s.close()


# ---------------------------------------------------------------------------
# HTTP over TLS: static, keep-alive, pipelining, big bodies, chunked

def test_idle_connections_do_not_count_as_handshakes(certs):
    """A connection that has sent nothing has not begun a handshake: a crowd
    of them (held by tls_handshake_timeout) must not fill
    tls_max_handshakes and lock real clients out."""
    with tls_server(certs, tls_max_handshakes=4, tls_handshake_timeout=5.0) as srv:
        idle = [raw_connect(srv.port) for _ in range(8)]
        try:
            assert wait_for(lambda: live_connections(srv) >= 8, 2.0)
            resp = tls_get(srv.port, client_context(certs), "/real")[0]
            assert resp.status == 200
        finally:
            for s in idle:
                s.close()


@pytest.mark.slow
def test_backpressure_caps_the_input_over_tls(certs):
    """A client pipelining requests for large answers and reading slowly:
    reading pauses above the output high-water mark, so the requests pile
    up in the kernel, not in the server's input buffer (as in plaintext)."""
    big = b"r" * (256 << 10)
    with tls_server(certs, handler=lambda req: big) as srv:
        sock = tls_connect(srv.port, client_context(certs))
        sock.setblocking(False)
        reqs = request("/big") * 200
        pending = b""
        peak = 0
        try:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.0:
                try:
                    if not pending:
                        pending = reqs
                    sent = sock.send(pending)
                    pending = pending[sent:]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
                try:
                    sock.recv(16384)
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
                for st in list(srv.loop_states.values()):
                    for c in list(st.connections):
                        peak = max(peak, c.input_buffer.readable_bytes)
                time.sleep(0.005)
        finally:
            sock.close()
        # measured: 97 KB of requests read before the fix (and growing), 7 KB after
        assert peak < 48 << 10, "the server read %d bytes of requests it could not answer " \
            "yet: reading did not pause" % peak


def test_static_route(native, certs):
    resp, _ = tls_get(native.port, client_context(certs), "/static")
    assert resp.status == 200 and resp.body == STATIC


@pytest.mark.parametrize("version", BOTH)
def test_static_file_10mib(certs, files, version):
    with files_server(certs, files) as files_srv:
        resp, _ = tls_get(files_srv.port, client_context(certs, version), "/files/big.bin")
        assert resp.status == 200
        assert int(resp.header("Content-Length")) == FILE_SIZE
        assert hashlib.sha256(resp.body).hexdigest() == hashlib.sha256(files[1]).hexdigest(), \
            "10 MiB file over TLS %s: %d bytes, sha256 differs" % (version, len(resp.body))


def test_static_file_ranges_and_head(certs, files):
    with files_server(certs, files) as files_srv:
        data = files[1]
        cases = [("bytes=1000-1999", 1000, 1999), ("bytes=-500", FILE_SIZE - 500, FILE_SIZE - 1),
                 ("bytes=12345-", 12345, FILE_SIZE - 1), ("bytes=100-5000099", 100, 5000099)]
        with TlsClient(files_srv.port, client_context(certs)) as c:
            for rng, first, last in cases:
                c.send(request("/files/big.bin", headers=[("Range", rng)]))
                r = c.read_response()
                assert r.status == 206, (rng, r)
                assert r.header("Content-Range") == "bytes %d-%d/%d" % (first, last, FILE_SIZE), r
                assert r.body == data[first:last + 1], "range %s: wrong bytes" % rng
            # HEAD, with a request pipelined behind it to check the framing
            c.send(request("/files/big.bin", method="HEAD") + request("/files/small.txt"))
            h = c.read_response("HEAD")
            assert h.status == 200 and int(h.header("Content-Length")) == FILE_SIZE, h
            m = c.read_response()
            assert m.status == 200 and m.body == SMALL, "HEAD response misframed: next got %r" % m


def test_slow_reader_of_a_large_file(certs, files):
    with files_server(certs, files) as files_srv:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        raw.settimeout(10)
        raw.connect(("127.0.0.1", files_srv.port))
        s = client_context(certs).wrap_socket(raw, server_hostname="127.0.0.1",
                                              suppress_ragged_eofs=False)
        with s:
            s.sendall(request("/files/big.bin"))
            c = TlsClient(None, None, sock=s)
            buf = b""
            for _ in range(5):                      # trickle for ~1 s
                buf += s.recv(16384)
                t0 = time.monotonic()
                # another client is not held up by the stalled download
                resp, _ = tls_get(files_srv.port, client_context(certs), "/files/small.txt")
                assert resp.status == 200 and resp.body == SMALL
                assert time.monotonic() - t0 < 1.0
                time.sleep(0.2)
            c.buf = bytearray(buf)
            r = c.read_response()
            assert r.status == 200
            assert hashlib.sha256(r.body).digest() == hashlib.sha256(files[1]).digest(), \
                "slow reader got %d bytes, sha256 differs" % len(r.body)


def test_keep_alive_many_requests(native, certs):
    paths = ["/hello", "/static", "/files/small.txt"]
    expect = {"/hello": b"hello tls /hello\n", "/static": STATIC, "/files/small.txt": SMALL}
    with TlsClient(native.port, client_context(certs)) as c:
        for i in range(300):
            p = paths[i % 3]
            c.send(request(p))
            r = c.read_response()
            assert r.status == 200 and r.body == expect[p], (i, p, r)
            assert not r.close


def test_pipelining(native, certs):
    paths = ["/a", "/static", "/files/small.txt", "/b", "/tls", "/static", "/c"] * 3
    with TlsClient(native.port, client_context(certs)) as c:
        c.send(b"".join(request(p) for p in paths))
        for p in paths:
            r = c.read_response()
            assert r.status == 200, (p, r)
            if p == "/static":
                assert r.body == STATIC
            elif p == "/files/small.txt":
                assert r.body == SMALL
            elif p == "/tls":
                assert json.loads(r.body)["tls"]["version"] in ("TLSv1.2", "TLSv1.3")
            else:
                assert r.body == b"hello tls " + p.encode() + b"\n", (p, r)


def test_native_upload_and_20mib_response(native, certs):
    body = BIG[:3 * MiB]
    with TlsClient(native.port, client_context(certs)) as c:
        c.send(request("/sha256", method="POST", body=body))
        j = body_json(c.read_response())
        assert j == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        c.send(request("/big"))
        r = c.read_response()
        assert r.status == 200 and len(r.body) == len(BIG) and r.body == BIG


@pytest.mark.parametrize("version", BOTH)
def test_wsgi_20mib_upload_hashed(wsgi, certs, version):
    with TlsClient(wsgi.port, client_context(certs, version), timeout=20) as c:
        c.send(request("/upload", method="POST", body=BIG))
        j = body_json(c.read_response())
        assert j["length"] == len(BIG) and j["sha256"] == hashlib.sha256(BIG).hexdigest(), j


def test_wsgi_20mib_echo_and_20mib_response(wsgi, certs):
    with TlsClient(wsgi.port, client_context(certs), timeout=20) as c:
        c.send(request("/echo", method="POST", body=BIG))
        r = c.read_response()
        assert r.status == 200 and len(r.body) == len(BIG), r
        assert r.body == BIG, "the echoed 20 MiB differ"
        c.send(request("/big"))
        r = c.read_response()
        assert r.status == 200 and r.body == BIG


@pytest.mark.parametrize("size", [MiB + 4096, 3 * MiB])
def test_wsgi_keep_alive_after_a_large_response(wsgi, certs, size):
    # a WSGI list body over ~1 MiB, then the next request on the same connection
    with TlsClient(wsgi.port, client_context(certs), timeout=8) as c:
        for i in range(3):
            c.send(request("/echo", method="POST", body=BIG[:size]))
            r = c.read_response()
            assert r.status == 200 and r.body == BIG[:size]
            t0 = time.monotonic()
            c.send(request("/hello"))
            try:
                r = c.read_response()
            except (EOFError, OSError) as exc:
                pytest.fail("round %d: the request after a %d-byte WSGI response was not "
                            "answered; the server closed the connection %.1f s later (%r)"
                            % (i, size, time.monotonic() - t0, exc))
            assert r.status == 200 and r.body == b"wsgi over tls\n", r


def test_wsgi_chunked_request_body(wsgi, certs):
    sizes = [1, 100, 65536, 1, MiB, 3 * MiB + 7, 17]
    parts, off = [], 0
    for n in sizes:
        parts.append(BIG[off:off + n])
        off += n
    body = b"".join(b"%x\r\n" % len(p) + p + b"\r\n" for p in parts) + b"0\r\n\r\n"
    head = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    with TlsClient(wsgi.port, client_context(certs), timeout=20) as c:
        c.send(head + body)
        j = body_json(c.read_response())
        whole = b"".join(parts)
        assert j["length"] == len(whole) and j["sha256"] == hashlib.sha256(whole).hexdigest(), j


def test_wsgi_chunked_response(wsgi, certs):
    with TlsClient(wsgi.port, client_context(certs)) as c:
        c.send(request("/stream?60"))
        r = c.read_response()
        assert r.status == 200 and r.header("Transfer-Encoding") == "chunked", r
        assert r.body == BIG[:60 * 40000]
        c.send(request("/hello"))               # still in step after the chunked body
        assert c.read_response().body == b"wsgi over tls\n"


# ---------------------------------------------------------------------------
# close_notify

@pytest.mark.parametrize("version", BOTH)
def test_client_unwrap_gets_the_servers_close_notify(native, certs, version):
    with TlsClient(native.port, client_context(certs, version)) as c:
        c.send(request("/x"))
        assert c.read_response().status == 200
        try:
            plain = c.sock.unwrap()      # sends close_notify, waits for the server's
        except (ssl.SSLError, OSError) as exc:
            pytest.fail("unwrap() after a response: %r (no clean close_notify from the server)"
                        % exc)
        plain.close()


@pytest.mark.parametrize("version", BOTH)
def test_connection_close_ends_with_close_notify(native, certs, version):
    with TlsClient(native.port, client_context(certs, version)) as c:
        c.send(request("/x", headers=[("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200 and r.close, r
        try:
            rest = c.sock.recv(100)     # suppress_ragged_eofs=False: a bare FIN raises
        except ssl.SSLEOFError as exc:
            pytest.fail("server closed without close_notify: %r" % exc)
        assert rest == b""


def test_idle_timeout_ends_with_close_notify(certs):
    with tls_server(certs, keep_alive_timeout=0.5) as srv:
        with TlsClient(srv.port, client_context(certs)) as c:
            c.send(request("/x"))
            assert c.read_response().status == 200
            t0 = time.monotonic()
            try:
                rest = c.sock.recv(100)
            except ssl.SSLEOFError as exc:
                pytest.fail("idle timeout closed without close_notify: %r" % exc)
            except socket.timeout:
                pytest.fail("not closed %.1f s after keep_alive_timeout=0.5"
                            % (time.monotonic() - t0))
            assert rest == b""


# ---------------------------------------------------------------------------
# more edges: HTTP/1.0 close-delimited bodies, 100-continue, byte-sized
# records, concurrency, resets, garbage, resumption with a client cert,
# wsgi.file_wrapper (sendfile) and pipelined large responses

@pytest.mark.parametrize("version", BOTH)
def test_http10_close_delimited_body_ends_with_close_notify(wsgi, certs, version):
    with TlsClient(wsgi.port, client_context(certs, version)) as c:
        c.send(b"GET /stream?30 HTTP/1.0\r\nHost: x\r\n\r\n")
        try:
            r = c.read_response()       # no length: read to the end (a bare FIN raises)
        except ssl.SSLEOFError as exc:
            pytest.fail("close-delimited body not ended with close_notify: %r" % exc)
        assert r.status == 200 and r.header("Content-Length") is None, r
        assert r.body == BIG[:30 * 40000], "got %d bytes" % len(r.body)


def test_expect_100_continue(wsgi, certs):
    body = BIG[:2 * MiB]
    with TlsClient(wsgi.port, client_context(certs)) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
               b"Content-Length: %d\r\n\r\n" % len(body))
        interim = c.read_response(interim=True)
        assert interim.status == 100, interim
        c.send(body)
        j = body_json(c.read_response())
        assert j["length"] == len(body) and j["sha256"] == hashlib.sha256(body).hexdigest()


def test_request_split_into_one_byte_records(native, certs):
    data = request("/split", headers=[("X-Pad", "y" * 50)]) + request("/static")
    with TlsClient(native.port, client_context(certs)) as c:
        for i in range(len(data)):
            c.sock.sendall(data[i:i + 1])       # one TLS record per byte
        assert c.read_response().body == b"hello tls /split\n"
        assert c.read_response().body == STATIC


def test_concurrent_clients(native, certs):
    from concurrent.futures import ThreadPoolExecutor

    def client(k):
        ctx = client_context(certs, BOTH[k % 2])
        session, reused = None, 0
        for i in range(15):
            resp, facts = tls_get(native.port, ctx, "/c%d-%d" % (k, i), session=session)
            assert resp.body == b"hello tls /c%d-%d\n" % (k, i), resp
            reused += facts.session_reused
            session = facts.session
        with TlsClient(native.port, ctx) as c:
            for i in range(30):
                c.send(request("/static"))
                assert c.read_response().body == STATIC
        return reused

    with ThreadPoolExecutor(8) as pool:
        reused = list(pool.map(client, range(8)))
    assert all(r == 14 for r in reused), "resumed reconnects per client (of 14): %s" % reused


def test_client_reset_in_the_middle_of_a_large_file(certs, files):
    with files_server(certs, files) as srv:
        for _ in range(3):
            s = tls_connect(srv.port, client_context(certs))
            s.sendall(request("/files/big.bin"))
            s.recv(16384)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()                   # RST with most of the file unsent
        assert wait_for(lambda: live_connections(srv) == 0, 3.0), srv.stats()
        resp, _ = tls_get(srv.port, client_context(certs), "/files/small.txt")
        assert resp.body == SMALL


@pytest.mark.parametrize("garbage", [
    b"\x16\x03\x01\x00\x05\xff\xff\xff\xff\xff",            # a malformed ClientHello
    b"\x16\x03\x01\xff\xff" + b"\x01" * 100,                # an oversized record length
    bytes(range(256)) * 4,                                   # neither TLS nor HTTP
], ids=["bad-hello", "huge-record", "binary"])
def test_garbage_is_closed_promptly(native, certs, garbage):
    with raw_connect(native.port) as s:
        s.sendall(garbage)
        assert closed_by_peer(s, 3.0), "still open 3 s after %r..." % garbage[:10]
    resp, _ = tls_get(native.port, client_context(certs), "/after")
    assert resp.status == 200


@pytest.mark.parametrize("version", BOTH)
def test_resumed_session_keeps_the_client_certificate(required_srv, certs, version):
    ctx = client_context(certs, version, cert=certs.client)
    t1, f1 = info(required_srv.port, ctx)
    t2, f2 = info(required_srv.port, ctx, session=f1.session)
    assert f2.session_reused is True and t2["session_reused"] is True, t2
    check_peer(t2, certs)


def test_wsgi_file_wrapper_over_tls(certs, files):
    path = str(files[0] / "big.bin")

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(FILE_SIZE))])
        return environ["wsgi.file_wrapper"](open(path, "rb"))

    with wsgi_server(app, certfile=certs.server_cert, keyfile=certs.server_key) as srv:
        with TlsClient(srv.port, client_context(certs), timeout=20) as c:
            for _ in range(2):
                c.send(request("/file"))
                r = c.read_response()
                assert r.status == 200 and len(r.body) == FILE_SIZE, r
                assert hashlib.sha256(r.body).digest() == hashlib.sha256(files[1]).digest()


def test_pipelined_large_responses(certs, files):
    data = files[1]
    reqs = [("/files/big.bin", [("Range", "bytes=0-2097151")], data[:2 * MiB]),
            ("/files/small.txt", [], SMALL), ("/big", [], BIG),
            ("/files/big.bin", [], data), ("/static", [], STATIC),
            ("/files/big.bin", [("Range", "bytes=-70000")], data[-70000:])]
    with files_server(certs, files) as srv:
        with TlsClient(srv.port, client_context(certs), timeout=20) as c:
            c.send(b"".join(request(p, headers=h) for p, h, _ in reqs))
            for p, h, want in reqs:
                r = c.read_response()
                assert r.status in (200, 206), (p, h, r)
                assert r.body == want, "%s %s: %d bytes, wrong content" % (p, h, len(r.body))


# ---------------------------------------------------------------------------
# curl and requests

@pytest.mark.parametrize("args,version", [
    (["--tlsv1.2", "--tls-max", "1.2", "--http1.1"], "TLSv1.2"),
    (["--tlsv1.3", "--http1.1"], "TLSv1.3"),
    (["--tlsv1.3"], "TLSv1.3"),         # curl offers h2,http/1.1: the server picks 1.1
], ids=["tls12", "tls13", "tls13-alpn-h2"])
def test_curl(native, certs, args, version, tmp_path):
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    out = tmp_path / "body"
    p = subprocess.run([curl, "-sS", "-v", "--cacert", certs.ca, *args, "-o", str(out),
                        "-w", "%{http_version} %{response_code}",
                        "https://127.0.0.1:%d/tls" % native.port],
                       capture_output=True, timeout=30)
    err = p.stderr.decode(errors="replace")
    assert p.returncode == 0, err
    assert p.stdout.decode() == "1.1 200", (p.stdout, err)
    assert "SSL connection using %s" % version in err, err
    t = json.loads(out.read_bytes())["tls"]
    assert t["version"] == version and t["alpn"] == "http/1.1", t


def test_requests_with_verify(native, certs):
    requests = pytest.importorskip("requests")
    base = "https://127.0.0.1:%d" % native.port
    with requests.Session() as s:
        for _ in range(3):
            r = s.get(base + "/static", verify=certs.ca, timeout=10)
            assert r.status_code == 200 and r.content == STATIC
        r = s.get(base + "/files/small.txt", verify=certs.ca, timeout=10)
        assert r.content == SMALL
    r = requests.get("https://localhost:%d/tls" % native.port, verify=certs.ca, timeout=10)
    assert r.status_code == 200 and r.json()["tls"]["version"].startswith("TLSv1.")


def test_requests_with_a_client_cert(required_srv, certs):
    requests = pytest.importorskip("requests")
    r = requests.get("https://127.0.0.1:%d/tls" % required_srv.port, verify=certs.ca,
                     cert=certs.client, timeout=10)
    assert r.status_code == 200
    check_peer(r.json()["tls"], certs)


# ---------------------------------------------------------------------------
# the CLI, workers, SIGHUP and reactor.run

CLI_APP = r'''
import json, os

def app(environ, start_response):
    keys = %r
    d = {k: environ.get(k) for k in keys}
    d["pid"] = os.getpid()
    body = json.dumps(d).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
''' % (ENV_KEYS,)

HTTPS_ADDR = re.compile(r"https://127\.0\.0\.1:(\d+)")


def https_port(srv):
    m = HTTPS_ADDR.search(srv.line or "")
    assert m, "the banner does not announce https://127.0.0.1:PORT: %r" % srv.line
    return int(m.group(1))


def write_app(tmp_path):
    (tmp_path / "tlsapp.py").write_text(CLI_APP)


def test_cli_https_banner_static_and_plain_http(certs, files, tmp_path):
    with reactor_server("--static", "/=%s" % files[0], "-b", "127.0.0.1:0", "--threads", "1",
                        "--certfile", certs.server_cert, "--keyfile", certs.server_key,
                        cwd=tmp_path) as srv:
        port = https_port(srv)
        assert "http://" not in srv.line, srv.line
        ctx = client_context(certs)
        resp, _ = tls_get(port, ctx, "/small.txt")
        assert resp.status == 200 and resp.body == SMALL
        resp, _ = tls_get(port, ctx, "/big.bin")
        assert hashlib.sha256(resp.body).digest() == hashlib.sha256(files[1]).digest()
        with Client(port) as c:
            c.send(request("/small.txt"))
            assert c.read_response().status == 400


@pytest.mark.parametrize("case", ["missing-cert", "missing-key", "wrong-password", "mismatch"])
def test_cli_bad_certificate_exits_before_serving(certs, tmp_path, case):
    missing = str(tmp_path / "nope.pem")
    args, named = {
        "missing-cert": (["--certfile", missing, "--keyfile", certs.server_key], [missing]),
        "missing-key": (["--certfile", certs.server_cert, "--keyfile", missing], [missing]),
        "wrong-password": (["--certfile", certs.server_cert, "--keyfile", certs.server_key_enc,
                            "--keyfile-password", "wrong"], [certs.server_key_enc]),
        "mismatch": (["--certfile", certs.server_cert, "--keyfile", certs.server2_key],
                     [certs.server_cert, certs.server2_key]),
    }[case]
    rc, out, err = run_reactor("-b", "127.0.0.1:0", *args, cwd=tmp_path, timeout=20)
    assert rc != 0, err
    assert any(p in err for p in named), "stderr does not name %s:\n%s" % (named, err)
    assert "reactor: serving" not in err, err


def test_cli_cert_reqs_without_ca_certs_exits(certs, tmp_path):
    rc, out, err = run_reactor("-b", "127.0.0.1:0", "--certfile", certs.server_pem,
                               "--cert-reqs", "required", cwd=tmp_path, timeout=20)
    assert rc != 0 and "reactor: serving" not in err, err


@pytest.mark.slow
def test_cli_client_certs_encrypted_key_and_handshake_timeout(certs, tmp_path):
    write_app(tmp_path)
    with reactor_server("tlsapp:app", "-b", "127.0.0.1:0", "--threads", "1",
                        "--certfile", certs.server_cert, "--keyfile", certs.server_key_enc,
                        "--keyfile-password", KEY_PASSWORD, "--ca-certs", certs.ca,
                        "--cert-reqs", "required", "--ciphers", "ECDHE+AESGCM",
                        "--tls-handshake-timeout", "1", "--tls-max-handshakes", "100",
                        cwd=tmp_path) as srv:
        port = https_port(srv)
        resp, _ = tls_get(port, client_context(certs, cert=certs.client), "/env")
        env = body_json(resp)
        assert env["wsgi.url_scheme"] == "https" and env["HTTPS"] == "on", env
        assert env["SSL_CLIENT_VERIFY"] == "SUCCESS", env
        assert env["SSL_CLIENT_S_DN"] == certs.client_subject, env
        assert refused(port, client_context(certs), "/env") is None
        assert refused(port, client_context(certs, cert=certs.bad_client), "/env") is None
        # --ciphers ECDHE+AESGCM: a TLS 1.2 client with only CHACHA20 is refused
        assert refused(port, client_context(certs, "1.2", cert=certs.client,
                                            ciphers="ECDHE-RSA-CHACHA20-POLY1305")) is None
        hello = client_hello()
        with raw_connect(port) as s:
            s.sendall(hello[:30])
            t0 = time.monotonic()
            assert closed_by_peer(s, 4.0), "--tls-handshake-timeout 1: still open after 4 s"
            took = time.monotonic() - t0
        assert took < 3.0, "--tls-handshake-timeout 1: closed after %.2f s" % took


def _chain_resumptions(port, certs, version, need=10, limit=40):
    """Reconnect with the previous connection's session; (results, pids)."""
    ctx = client_context(certs, version)
    resp, facts = tls_get(port, ctx, "/env")
    pids = {body_json(resp)["pid"]}
    session, results = facts.session, []
    while len(results) < limit and (len(results) < need or len(pids) < 2):
        resp, facts = tls_get(port, ctx, "/env", session=session)
        pid = body_json(resp)["pid"]
        pids.add(pid)
        results.append((pid, facts.session_reused))
        session = facts.session
    return results, pids


def test_cli_workers_resume_sessions_across_workers(certs, tmp_path):
    write_app(tmp_path)
    with reactor_server("tlsapp:app", "-b", "127.0.0.1:0", "-w", "2", "--threads", "1",
                        "--certfile", certs.server_pem, cwd=tmp_path) as srv:
        port = https_port(srv)
        srv.wait_workers(2)
        for version in BOTH:
            results, pids = _chain_resumptions(port, certs, version)
            not_reused = [r for r in results if not r[1]]
            assert not not_reused, "TLS %s: %d of %d reconnects not resumed (pid, reused): %s" \
                % (version, len(not_reused), len(results), results)
            if len(pids) < 2:
                print("TLS %s: every reconnect reached one worker %s" % (version, pids))


def test_sighup_reloads_the_certificate(certs, tmp_path):
    write_app(tmp_path)
    live = tmp_path / "live.pem"
    shutil.copyfile(certs.server_pem, live)
    with reactor_server("tlsapp:app", "-b", "127.0.0.1:0", "-w", "2", "--threads", "1",
                        "--graceful-timeout", "2", "--certfile", str(live),
                        cwd=tmp_path) as srv:
        port = https_port(srv)
        old = srv.wait_workers(2)
        ctx = client_context(certs)
        assert tls_get(port, ctx, "/env")[1].peer_der == certs.server_der
        with open(live, "wb") as f:
            with open(certs.server2_pem, "rb") as src:
                f.write(src.read())
        t0 = time.monotonic()
        srv.signal(signal.SIGHUP)

        def new_cert():
            try:
                return tls_get(port, ctx, "/env")[1].peer_der == certs.server2_der
            except (ssl.SSLError, OSError, EOFError):
                return False
        assert wait_until(new_cert, 10, 0.1), \
            "new connections still present the old certificate 10 s after SIGHUP:\n" \
            + srv.stderr()
        took = time.monotonic() - t0
        srv.wait_workers(2, timeout=8, exclude=old)
        for _ in range(10):
            assert tls_get(port, ctx, "/env")[1].peer_der == certs.server2_der
        assert srv.proc.poll() is None
        print("new certificate served %.2f s after SIGHUP" % took)


def test_reactor_run_with_certfile(certs, tmp_path):
    port = free_port()
    script = tmp_path / "run_tls.py"
    script.write_text(
        "import sys, reactor\n"
        "sys.exit(reactor.run(None, workers=1, threads=1, bind=['127.0.0.1:%d'],\n"
        "                     certfile=sys.argv[1], keyfile=sys.argv[2], graceful_timeout=2))\n"
        % port)
    with reactor_server(cwd=tmp_path, argv=[sys.executable, str(script), certs.server_cert,
                                            certs.server_key], ready=False) as srv:
        def up():
            if srv.proc.poll() is not None:
                raise AssertionError("reactor.run exited %r:\n%s" % (srv.proc.returncode,
                                                                    srv.stderr()))
            try:
                return tls_get(port, client_context(certs), "/network")[0]
            except (ssl.SSLError, OSError, EOFError):
                return None
        resp = wait_until(up, 15, 0.1)
        assert resp is not None, "reactor.run(certfile=...) never served TLS:\n" + srv.stderr()
        assert resp.status == 200 and b"network" in resp.body, resp
        srv.signal(signal.SIGTERM)
        assert srv.wait(10) == 0, srv.stderr()

"""A build without OpenSSL (issue 12): it still serves plain HTTP, and asking
for TLS says why it cannot be had.

``.ci/run`` builds that flavour with ``REACTOR_NO_TLS=1`` (the same code path
as a machine without the OpenSSL headers) and runs this file against it with
``REACTOR_EXPECT_NO_TLS=1``; against a normal build these tests skip.
"""
import os
import subprocess
import sys

import pytest

import reactor
from http_helpers import exchange, get, serve
from reactor.http_server import HttpServer

EXPECT_NO_TLS = os.environ.get("REACTOR_EXPECT_NO_TLS", "") not in ("", "0")
DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
CERT = os.path.join(DATA, "tls-test-cert.pem")
KEY = os.path.join(DATA, "tls-test-key.pem")


@pytest.fixture(autouse=True)
def no_tls_build():
    if reactor.tls_available():
        if EXPECT_NO_TLS:
            pytest.fail("REACTOR_EXPECT_NO_TLS=1 but this reactor was built with OpenSSL")
        pytest.skip("built with OpenSSL (build with REACTOR_NO_TLS=1 to test the other flavour)")


def test_library_says_how_to_get_tls():
    assert "libssl-dev" in reactor.tls_library()


def test_plain_http_still_served():
    with serve(lambda req: b"plain\n", routes={"/s": b"static\n"}) as server:
        assert exchange(server.port, get("/"))[0].body == b"plain\n"
        assert exchange(server.port, get("/s"))[0].body == b"static\n"


def test_http_server_with_certfile_says_why():
    with pytest.raises(RuntimeError, match="TLS is not available.*libssl-dev"):
        HttpServer(None, port=0, certfile=CERT, keyfile=KEY)


def test_cli_certfile_says_why(tmp_path):
    # cwd elsewhere: ``python -m`` puts the cwd first, and the checkout has its own build
    p = subprocess.run([sys.executable, "-m", "reactor", "--certfile", CERT, "--keyfile", KEY,
                        "--port", "0"], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert p.returncode != 0
    assert "TLS is not available" in p.stderr and "libssl-dev" in p.stderr, p.stderr

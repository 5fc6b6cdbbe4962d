"""TLS settings of a server: ``TlsContext`` wraps one OpenSSL context."""

import os
from collections.abc import Callable
from typing import Any

from typing_extensions import disjoint_base

CERT_REQS: dict[str, int]
TICKET_KEY_LEN: int

def tls_available() -> bool: ...
def tls_library() -> str: ...
def new_ticket_key() -> bytes: ...

_Path = str | bytes | os.PathLike[str] | os.PathLike[bytes]

@disjoint_base
class TlsContext:
    """``TlsContext(certfile, keyfile=None, password=None, ca_certs=None,
    cert_reqs="none", ciphers=None, ticket_key=None, max_handshakes=1024,
    handshake_timeout=10.0)``."""

    @property
    def certfile(self) -> Any: ...
    @property
    def keyfile(self) -> Any: ...
    @property
    def ca_certs(self) -> Any: ...
    @property
    def cert_reqs(self) -> str: ...
    @property
    def ciphers(self) -> Any: ...
    @property
    def max_handshakes(self) -> int: ...
    @property
    def handshake_timeout(self) -> float: ...
    def __init__(
        self,
        certfile: _Path,
        keyfile: _Path | None = None,
        password: str | bytes | Callable[[], str | bytes] | None = None,
        ca_certs: _Path | None = None,
        cert_reqs: str = "none",
        ciphers: str | bytes | None = None,
        ticket_key: bytes | None = None,
        max_handshakes: int = 1024,
        handshake_timeout: float = 10.0,
    ) -> None: ...
    @property
    def handshakes_in_flight(self) -> int: ...
    @property
    def failed_handshakes(self) -> int: ...

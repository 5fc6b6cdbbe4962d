from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from _typeshed.wsgi import WSGIApplication
from typing_extensions import Self, TypedDict

from reactor._tls import TlsContext

ENV_PREFIX: Final = "REACTOR_"

# the HttpServer limits a Config carries (field names)
HTTP_LIMITS: Final[tuple[str, ...]]

class _TlsOptions(TypedDict, total=False):
    """``Config.tls_options()``: HttpServer's TLS keywords (none without certfile)."""

    certfile: str
    keyfile: str | None
    keyfile_password: str | None
    ca_certs: str | None
    cert_reqs: str
    ciphers: str | None
    tls_handshake_timeout: float
    tls_max_handshakes: int
    tls_ticket_key: bytes | None

class _HttpOptions(_TlsOptions):
    """``Config.http_options()``: keywords for ``HttpServer``."""

    threads: int
    dispatcher: str | None
    max_connections: int | None
    spool_dir: str | None
    graceful_timeout: float
    backlog: int
    access_log_format: str | None
    access_ring_size: int
    max_request_line: int
    max_header_size: int
    max_headers: int
    max_body_size: int
    spool_threshold: int
    keep_alive_timeout: float
    header_timeout: float
    body_timeout: float
    min_body_rate: float

class _WSGIExtraOptions(TypedDict):
    """``Config.wsgi_options()``: keywords ``WSGIServer`` takes on top."""

    handler_threads: int
    multiprocess: bool
    root_path: str
    forwarded_allow_ips: str
    handler_warn_time: float

class _ASGIExtraOptions(TypedDict):
    """``Config.asgi_options()``: keywords ``ASGIServer`` takes on top."""

    interface: str
    lifespan: str
    root_path: str
    forwarded_allow_ips: str
    backpressure: int

class _FilesOptions(TypedDict):
    list_dirs: bool
    follow_symlinks: bool
    show_dotfiles: bool
    cache_control: str | None

class _ConfigOptions(TypedDict, total=False):
    """Config's fields (but ``app``) as keywords: ``reactor.run(app, **options)``.
    Values are converted as from a config file: a single ``bind`` string is
    one address, ``umask`` may be an octal string."""

    bind: str | list[str] | tuple[str, ...]
    host: str
    port: int
    umask: int | str | None
    reuse_port: bool
    backlog: int
    workers: int
    threads: int | None
    dispatcher: str | None
    handler_threads: int
    timeout: float
    graceful_timeout: float
    max_requests: int
    max_requests_jitter: int
    pid: str | None
    reload: bool
    reload_dir: str | list[str] | tuple[str, ...]
    keep_alive_timeout: float
    header_timeout: float
    body_timeout: float
    min_body_rate: float
    max_request_line: int
    max_header_size: int
    max_headers: int
    max_body_size: int
    spool_threshold: int
    spool_dir: str | None
    max_connections: int | None
    static: str | list[str] | tuple[str, ...]
    list_dirs: bool
    follow_symlinks: bool
    show_dotfiles: bool
    static_cache_control: str | None
    certfile: str | None
    keyfile: str | None
    keyfile_password: str | None
    ca_certs: str | None
    cert_reqs: str
    ciphers: str | None
    tls_handshake_timeout: float
    tls_max_handshakes: int
    tls_ticket_key: bytes | str | None
    access_log: str | None
    access_log_format: str | None
    access_log_buffer: int
    log_config: str | None
    log_level: str
    app_dir: str | None
    root_path: str
    interface: str
    lifespan: str
    backpressure: int
    handler_warn_time: float
    forwarded_allow_ips: str
    config: str | None

@dataclass
class Config:
    """Settings; see ``python -m reactor --help`` for each one."""

    app: str | WSGIApplication | None = None
    bind: list[str] = ...
    host: str = "127.0.0.1"
    port: int = 8080
    umask: int | None = None
    reuse_port: bool = False
    backlog: int = 1024
    workers: int = 1
    threads: int | None = None
    dispatcher: str | None = None
    handler_threads: int = 8
    timeout: float = 30.0
    graceful_timeout: float = 10.0
    max_requests: int = 0
    max_requests_jitter: int = 0
    pid: str | None = None
    reload: bool = False
    reload_dir: list[str] = ...
    keep_alive_timeout: float = 5.0
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    min_body_rate: float = 500.0
    max_request_line: int = 8192
    max_header_size: int = 65536
    max_headers: int = 100
    max_body_size: int = 1073741824
    spool_threshold: int = 1048576
    spool_dir: str | None = None
    max_connections: int | None = None
    static: list[str] = ...
    list_dirs: bool = False
    follow_symlinks: bool = False
    show_dotfiles: bool = False
    static_cache_control: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    keyfile_password: str | None = None
    ca_certs: str | None = None
    cert_reqs: str = "none"
    ciphers: str | None = None
    tls_handshake_timeout: float = 10.0
    tls_max_handshakes: int = 1024
    tls_ticket_key: bytes | None = None
    access_log: str | None = None
    access_log_format: str | None = None
    access_log_buffer: int = 1024
    log_config: str | None = None
    log_level: str = "info"
    app_dir: str | None = None
    root_path: str = ""
    interface: str = "auto"
    lifespan: str = "auto"
    backpressure: int = 1024
    handler_warn_time: float = 10.0
    forwarded_allow_ips: str = "127.0.0.1"
    config: str | None = None
    @classmethod
    def names(cls) -> list[str]: ...
    def update(self, values: Mapping[str, object], source: str | None) -> Self: ...
    def update_from_env(self, environ: Mapping[str, str] | None = None) -> Self: ...
    def update_from_file(self, path: str) -> Self: ...
    def validate(self) -> Self: ...
    def sub_reactors(self) -> int: ...
    def binds(self) -> list[str]: ...
    def http_options(self) -> _HttpOptions: ...
    def tls_options(self) -> _TlsOptions: ...
    def tls_context(self) -> TlsContext: ...
    def mounts(self) -> list[tuple[str, str]]: ...
    def files_options(self) -> _FilesOptions: ...
    def asgi_options(self) -> _ASGIExtraOptions: ...
    def wsgi_options(self) -> _WSGIExtraOptions: ...

def make_config(
    options: Mapping[str, object] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | None = None,
    use_env: bool = True,
    source: str | None = "keywords",
) -> Config: ...

"""nginx: ``return 200 "Hello, World!"`` (the reference for the machine's limit),
and a static file server for the files-* scenarios.

``write_config(workdir, port)`` writes a self-contained nginx.conf (pid, logs
and temp paths inside ``workdir``) for one single process in the foreground
(``daemon off; master_process off``), so it runs as any user.  With
``root=DIR`` the server serves DIR instead: ``sendfile on``, with
``open_file_cache off`` (nginx's default) spelled out, and nginx's defaults
for everything else (``tcp_nopush off``, ``sendfile_max_chunk 2m``,
``output_buffers``); ``default_type application/octet-stream``, what the
stock nginx.conf gives a ``.bin`` file through mime.types.  With
``tls=(certfile, keyfile)`` it listens with ``ssl`` on that certificate (the
tls-* scenarios): ``ssl_protocols TLSv1.2 TLSv1.3`` (the default of nginx
1.23.4 and later; older nginx, Debian 12's 1.22 among them, leaves TLS 1.3
out by default), and nginx's defaults spelled out for the session cache
(``ssl_session_cache none``: none kept, resumption only by ticket) and
tickets (``ssl_session_tickets on``, a random key per start).
"""
import os

CONFIG = """\
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;

events {{
    worker_connections 16384;
}}

http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_timeout 60s;
    keepalive_requests 1000000000;
{http}
    server {{
        listen 127.0.0.1:{port}{ssl} backlog=1024;
{server}
    }}
}}
"""

HELLO_HTTP = """\
    default_type text/plain;
"""
HELLO_SERVER = """\
        location / {
            return 200 "Hello, World!";
        }"""

TLS_SERVER = """\
        ssl_certificate {certfile};
        ssl_certificate_key {keyfile};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache none;
        ssl_session_tickets on;
"""

FILES_HTTP = """\
    default_type application/octet-stream;
    sendfile on;
    open_file_cache off;
"""
FILES_SERVER = """\
        root {root};"""


def write_config(workdir, port, root=None, tls=None):
    """Write ``workdir/nginx.conf`` (serving the directory ``root`` when given, over
    TLS with ``tls=(certfile, keyfile)``); return its path."""
    path = os.path.join(workdir, "nginx.conf")
    if root is None:
        http, server = HELLO_HTTP, HELLO_SERVER
    else:
        http, server = FILES_HTTP, FILES_SERVER.format(root=root)
    if tls is not None:
        server = TLS_SERVER.format(certfile=tls[0], keyfile=tls[1]) + server
    with open(path, "w") as f:
        f.write(CONFIG.format(dir=workdir, port=port, http=http, server=server,
                              ssl=" ssl" if tls is not None else ""))
    return path


def command(binary, workdir, port, root=None, tls=None):
    """The argv that runs nginx in the foreground with that config."""
    conf = write_config(workdir, port, root, tls)
    return [binary, "-p", workdir, "-e", os.path.join(workdir, "error.log"), "-c", conf]

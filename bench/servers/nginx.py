"""nginx ``return 200 "Hello, World!"``: the reference for the machine's limit.

``write_config(workdir, port)`` writes a self-contained nginx.conf (pid, logs
and temp paths inside ``workdir``) for one single process in the foreground
(``daemon off; master_process off``), so it runs as any user.
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
    default_type text/plain;

    server {{
        listen 127.0.0.1:{port} backlog=1024;
        location / {{
            return 200 "Hello, World!";
        }}
    }}
}}
"""


def write_config(workdir, port):
    """Write ``workdir/nginx.conf``; return its path."""
    path = os.path.join(workdir, "nginx.conf")
    with open(path, "w") as f:
        f.write(CONFIG.format(dir=workdir, port=port))
    return path


def command(binary, workdir, port):
    """The argv that runs nginx in the foreground with that config."""
    conf = write_config(workdir, port)
    return [binary, "-p", workdir, "-e", os.path.join(workdir, "error.log"), "-c", conf]

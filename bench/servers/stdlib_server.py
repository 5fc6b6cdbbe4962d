"""stdlib: ``http.server.ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive.

``python -m bench.servers.stdlib_server --port P``.  One thread per
connection (its natural model).  The listen backlog is raised from 5 to
1024 so the c1024 and idle-memory scenarios do not stall in SYN retries, and
TCP_NODELAY is set (the handler writes head and body separately, which
otherwise meets delayed ACKs and caps a keep-alive connection at ~25 req/s).
"""
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bench.servers.common import BODY, CONTENT_TYPE, parse_args


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True      # head and body are two writes: avoid the 40 ms stall

    def do_GET(self):
        self._answer()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self):
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format, *args):
        pass


class Server(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


def main():
    args = parse_args(__doc__)
    Server((args.host, args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()

"""stdlib-wsgiref: the standard library's WSGI server, one thread per connection.

``python -m bench.servers.wsgiref_server --port P [--app module:attr]``.
``wsgiref.simple_server`` with ``ThreadingMixIn`` (the stdlib has no other
WSGI server).  Its handler answers one request per connection in HTTP/1.0
and closes it (no keep-alive): that is how the stdlib serves WSGI.  The
listen backlog is raised from 5 to 1024 and request logging is off, as for
the other servers.
"""
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from bench.servers.common import load_app, parse_args


class Handler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


class Server(ThreadingMixIn, WSGIServer):
    request_queue_size = 1024
    daemon_threads = True


def main():
    args = parse_args(__doc__, app=True)
    make_server(args.host, args.port, load_app(args.app), server_class=Server,
                handler_class=Handler).serve_forever()


if __name__ == "__main__":
    main()

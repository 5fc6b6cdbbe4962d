"""reactor-static: ``HttpServer.route_static("/", ...)``, answered in C without the GIL.

``python -m bench.servers.reactor_static --port P [--threads 1]
[--certfile C --keyfile K]`` (with a certificate: over TLS, the tls-*
scenarios; passed as ``HttpServer(certfile=, keyfile=)``).
(GET/HEAD only: a POST falls through to the default 404 handler, so this
server is not part of the post4k scenario.)
"""
from reactor.http_server import HttpServer

from bench.servers.common import BODY, CONTENT_TYPE, KEEP_ALIVE_TIMEOUT, parse_args


def main():
    args = parse_args(__doc__, threads=1, tls=True)
    tls = {"certfile": args.certfile, "keyfile": args.keyfile} if args.certfile else {}
    server = HttpServer(host=args.host, port=args.port, threads=args.threads,
                        keep_alive_timeout=KEEP_ALIVE_TIMEOUT, **tls)
    server.route_static("/", BODY, content_type=CONTENT_TYPE)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""reactor-native: ``HttpServer`` with a Python handler returning ``HttpResponse``.

``python -m bench.servers.reactor_native --port P [--threads 1]``
"""
from reactor.http_response import HttpResponse
from reactor.http_server import HttpServer

from bench.servers.common import BODY, CONTENT_TYPE, KEEP_ALIVE_TIMEOUT, parse_args


def handler(request):
    request.body            # a POST body is already read in full; touch it anyway
    return HttpResponse(BODY, content_type=CONTENT_TYPE)


def main():
    args = parse_args(__doc__, threads=1)
    server = HttpServer(handler, host=args.host, port=args.port, threads=args.threads,
                        keep_alive_timeout=KEEP_ALIVE_TIMEOUT)
    server.serve_forever()


if __name__ == "__main__":
    main()

"""bjoern: a C WSGI server on libev, single-threaded.

``python -m bench.servers.bjoern_server --port P``
"""
import bjoern

from bench.servers.common import parse_args
from bench.servers.wsgi_app import app


def main():
    args = parse_args(__doc__)
    bjoern.run(app, args.host, args.port)


if __name__ == "__main__":
    main()

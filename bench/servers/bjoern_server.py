"""bjoern: a C WSGI server on libev, single-threaded.

``python -m bench.servers.bjoern_server --port P [--app module:attr]``
(default app: the Hello World ``bench.servers.wsgi_app:app``).
"""
import bjoern

from bench.servers.common import load_app, parse_args


def main():
    args = parse_args(__doc__, app=True)
    bjoern.run(load_app(args.app), args.host, args.port)


if __name__ == "__main__":
    main()

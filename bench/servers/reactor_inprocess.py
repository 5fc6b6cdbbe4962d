"""reactor-inprocess: ``reactor.wsgi.WSGIServer(app, threads=N).serve_forever()`` in
this process: one process, no master, no workers.

``python -m bench.servers.reactor_inprocess --port P --threads 1 --app module:attr``

The ``workers`` scenario runs it next to ``python -m reactor APP --workers 1``
(a master plus one worker running the same server): the difference between
the two rows is what the master costs at ``--workers 1``.  Same settings as
the CLI rows: the app runs on the sub-reactor (no handler threads),
keep-alive timeout 60 s, no access log, log level warning.
"""
import logging

from reactor.wsgi import WSGIServer

from bench.servers.common import KEEP_ALIVE_TIMEOUT, load_app, parse_args


def main():
    args = parse_args(__doc__, threads=1, app=True)
    logging.basicConfig(level=logging.WARNING)
    server = WSGIServer(load_app(args.app), host=args.host, port=args.port,
                        threads=args.threads, handler_threads=0,
                        keep_alive_timeout=KEEP_ALIVE_TIMEOUT)
    server.serve_forever()


if __name__ == "__main__":
    main()

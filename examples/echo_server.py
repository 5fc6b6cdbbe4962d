"""Echo server on reactor's TcpServer.

    python examples/echo_server.py --host 127.0.0.1 --port 9000 --threads 4 --dispatcher epoll
"""
import argparse
import signal

from reactor import TcpServer


class EchoServer(TcpServer):
    def on_message(self, conn, buffer):
        # send every readable byte back and consume it, without a copy
        conn.send_buffer(buffer)


def main(argv=None):
    ap = argparse.ArgumentParser(description="reactor echo server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--threads", type=int, default=0, help="sub-reactor threads (0 = one loop)")
    ap.add_argument("--dispatcher", choices=["epoll", "poll"], default=None)
    args = ap.parse_args(argv)
    server = EchoServer(None, args.host, args.port, threads=args.threads,
                        dispatcher=args.dispatcher, name="echo")
    server.start()
    signal.signal(signal.SIGTERM, lambda *a: server.loop.stop())
    signal.signal(signal.SIGINT, lambda *a: server.loop.stop())
    server.serve_forever()


if __name__ == "__main__":
    main()

"""Echo server on reactor's TcpServer.

    python examples/echo_server.py --host 127.0.0.1 --port 9000 --threads 4 --dispatcher epoll
"""
import argparse
import signal
from collections.abc import Sequence
from types import FrameType

from reactor import Buffer, TcpConnection, TcpServer


class EchoServer(TcpServer):
    def on_message(self, conn: TcpConnection, buffer: Buffer) -> None:
        # send every readable byte back and consume it, without a copy
        conn.send_buffer(buffer)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="reactor echo server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--threads", type=int, default=0, help="sub-reactor threads (0 = one loop)")
    ap.add_argument("--dispatcher", choices=["epoll", "poll"], default=None)
    args = ap.parse_args(argv)
    server = EchoServer(None, args.host, args.port, threads=args.threads,
                        dispatcher=args.dispatcher, name="echo")
    server.start()
    loop = server.loop              # start() created the base loop
    assert loop is not None

    def stop(signum: int, frame: FrameType | None) -> None:
        loop.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()

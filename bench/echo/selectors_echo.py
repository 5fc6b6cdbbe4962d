"""The baseline: a plain Python ``selectors`` echo server (one thread)."""
import selectors
import signal
import socket
import sys


def main(port):
    sel = selectors.DefaultSelector()
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(1024)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            if sock is lsock:
                conn, _ = lsock.accept()
                conn.setblocking(False)
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(sock)
                sock.close()
                continue
            try:
                sock.sendall(data)
            except OSError:
                sel.unregister(sock)
                sock.close()


if __name__ == "__main__":
    main(int(sys.argv[1]))

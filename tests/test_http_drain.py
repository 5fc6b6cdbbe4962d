"""Graceful stop loses no request that reached the server (issue 9).

A worker that drains (SIGTERM, a reload, --max-requests) closes the
connections that have nothing in progress.  Two kinds of connection look
idle to the loop but are not:

* one accepted a moment ago whose first request is still on its way: its
  client connected to be served, and closing it resets a fresh connection;
* a keep-alive connection whose next request is already in the socket but
  not yet read (the loop was busy): closing it with unread data resets it.

Both must be answered (with ``Connection: close``), not closed.
"""
import threading
import time

from http_helpers import Client, get, serve


def _handler(req):
    if req.path == "/slow":
        time.sleep(0.6)
    return b"ok"


def test_a_connection_whose_first_request_is_on_its_way_is_served_while_draining():
    with serve(_handler, threads=1, graceful_timeout=5) as server:
        fresh = Client(server.port)
        time.sleep(0.1)                 # accepted, nothing sent yet
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        time.sleep(0.2)                 # the drain has begun
        fresh.send(get("/"))
        r = fresh.read_response()
        assert r.status == 200 and r.body == b"ok"
        assert r.header("Connection") == "close"
        fresh.sock.close()              # as a client does after Connection: close
        stopper.join(10)
        assert not stopper.is_alive()


def test_a_request_waiting_unread_in_the_socket_is_served_while_draining():
    with serve(_handler, threads=1, graceful_timeout=5) as server:
        busy, idle = Client(server.port), Client(server.port)
        idle.send(get("/"))
        assert idle.read_response().status == 200      # a keep-alive connection, now idle
        busy.send(get("/slow"))         # holds the only sub-reactor for 0.6 s
        time.sleep(0.1)
        idle.send(get("/"))             # sits unread in the socket meanwhile
        time.sleep(0.05)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        assert busy.read_response().body == b"ok"
        r = idle.read_response()
        assert r.status == 200 and r.body == b"ok"
        busy.sock.close()
        idle.sock.close()
        stopper.join(10)
        assert not stopper.is_alive()


def test_idle_keep_alive_connections_still_close_at_once():
    with serve(_handler, threads=1, graceful_timeout=5) as server:
        c = Client(server.port)
        c.send(get("/"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        server.stop()
        assert time.monotonic() - t0 < 2.0
        assert c.sock.recv(1) == b""    # closed, cleanly
        c.sock.close()

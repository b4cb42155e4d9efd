#!/usr/bin/env python3
"""HTTP server fixture for CurlHTTPTests (Python 3 standard library only).

Binds 127.0.0.1 on a free port and prints one line, "<port> <closed-port>", then serves
until killed. <closed-port> is a socket bound but never listening, held for the life of
this process: connecting to it is refused, and no other process can take the port.

Routes:
  POST|PUT|... /echo   -> 200 JSON {"method", "path", "client_port", "body",
                                  "headers": {lowercased name: value}}
  GET  /status/<n>     -> status n, body "status <n>"
  GET  /delay/<ms>     -> sleeps ms milliseconds, then 200 "delayed <ms>"
  GET  /headers        -> 200 with "X-Cervella-Test: hello" and "Set-Cookie" twice
  GET  /close          -> closes the connection without answering
  GET  /chunks/<n>/<ms> -> 200, chunked: n chunks "chunk <i>\n", ms milliseconds apart
  GET  /flood/<kib>    -> 200, chunked: kib KiB of "x" as fast as the socket takes it
"""
import json
import signal
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    # Keep-alive, so the client's connection reuse is exercised.
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def reply(self, status, body, content_type="text/plain", extra_headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_any(self):
        body = self.read_body()
        path = self.path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        if parts[0] == "echo":
            payload = {
                "method": self.command,
                "path": self.path,
                "client_port": self.client_address[1],
                "body": body.decode("utf-8", "replace"),
                "headers": {name.lower(): value for name, value in self.headers.items()},
            }
            self.reply(200, json.dumps(payload), "application/json")
        elif parts[0] == "status" and len(parts) == 2:
            status = int(parts[1])
            self.reply(status, "" if status in (204, 304) else f"status {status}")
        elif parts[0] == "delay" and len(parts) == 2:
            time.sleep(int(parts[1]) / 1000)
            self.reply(200, f"delayed {parts[1]}")
        elif parts[0] == "headers":
            self.reply(200, "headers", extra_headers=[
                ("X-Cervella-Test", "hello"),
                ("Set-Cookie", "a=1"),
                ("Set-Cookie", "b=2"),
            ])
        elif parts[0] == "chunks" and len(parts) == 3:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for index in range(int(parts[1])):
                    data = f"chunk {index}\n".encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()
                    time.sleep(int(parts[2]) / 1000)
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
        elif parts[0] == "flood" and len(parts) == 2:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            block = b"x" * 1024
            try:
                for _ in range(int(parts[1])):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
        elif parts[0] == "close":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.reply(404, "no such route")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Length", "123")
        self.end_headers()


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops SYNs when the client opens dozens of connections at
    # once, and a dropped SYN costs a one-second retransmit.
    request_queue_size = 512


def main():
    # The test process spawns us from a thread that blocks most signals, and the mask is
    # inherited; unblock them so that SIGTERM and Ctrl-C work as usual.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    server = Server(("127.0.0.1", 0), Handler)
    closed = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    closed.bind(("127.0.0.1", 0))
    print(server.server_address[1], closed.getsockname()[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())

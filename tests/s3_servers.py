"""Loopback S3 servers for tests: moto in a subprocess, and a fault-injecting proxy in front of any endpoint.

Each moto server runs in its own process so IAM enforcement (``INITIAL_NO_AUTH_ACTION_COUNT``,
read when moto is imported) and state never leak between tiers. Everything binds 127.0.0.1.
"""
from __future__ import annotations

import http.client
import os
import random
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from botocore.config import Config

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
         "AWS_DEFAULT_REGION": "us-east-1"}

_SERVER = """
import logging, sys
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.ERROR)
srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
srv.start()
print(srv.get_host_and_port()[1], flush=True)
sys.stdin.read()
srv.stop()
"""


class MotoServer:
    """moto over real HTTP on 127.0.0.1, on a random port; ``no_auth_actions`` turns on IAM enforcement."""

    def __init__(self, no_auth_actions: int | None = None):
        env = {**os.environ, **CREDS}
        if no_auth_actions is not None:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(no_auth_actions)
        self.proc = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     env=env, text=True)
        self.port = int(self.proc.stdout.readline())
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def client(self, service: str = "s3", **creds):
        keys = {"aws_access_key_id": creds.get("key", "testing"), "aws_secret_access_key": creds.get("secret", "testing")}
        return boto3.client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}), **keys)

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class FaultyProxy:
    """Forwards to ``upstream`` but answers some requests with 503 SlowDown or 500, or drops the connection.

    Faults are decided before forwarding, so the upstream never sees a request whose answer
    was lost, and a seeded RNG makes a test's fault pattern repeatable.
    """

    def __init__(self, upstream_port: int, p503: float = 0.1, p500: float = 0.05, pdrop: float = 0.05, seed: int = 0,
                 hold=None):
        """``hold(method, path)``: seconds to hold a request before forwarding it (None = never answer it)."""
        self.counts = {"503": 0, "500": 0, "drop": 0, "ok": 0, "held": 0}
        self.released = threading.Event()
        rng = random.Random(seed)
        lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        chunk = self.rfile.read(size)
                        self.rfile.readline()
                        if size == 0:
                            return out
                        out += chunk
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _handle(self):
                body = self._body()
                wait = hold(self.command, self.path) if hold else 0
                if wait != 0:
                    with lock:
                        proxy.counts["held"] += 1
                    if proxy.released.wait(wait) or wait is None:  # stopped, or a stalled endpoint: no answer
                        self.close_connection = True
                        return
                with lock:
                    r = rng.random()
                fault = "503" if r < p503 else "500" if r < p503 + p500 else "drop" if r < p503 + p500 + pdrop else None
                with lock:
                    proxy.counts[fault or "ok"] += 1
                if fault == "drop":
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault:
                    code = "SlowDown" if fault == "503" else "InternalError"
                    payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("transfer-encoding", "connection")}
                headers["Content-Length"] = str(len(body))
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=60)
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


class StalledServer:
    """Accepts TCP connections on 127.0.0.1 and never answers: a hung S3 endpoint."""

    def __init__(self):
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.endpoint = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.held: list = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def stop(self) -> None:
        import socket

        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
        except OSError:
            pass
        self.sock.close()
        for conn in self.held:
            conn.close()

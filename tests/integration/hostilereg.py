#!/usr/bin/env python3
"""A hostile registry for the tests: a proxy on 127.0.0.1 in front of an
honest one (UPSTREAM, host:port of a docker-registry) that misbehaves as
the first component of the repository name says. A pull of
127.0.0.1:PORT/MODE/REPO:TAG gets UPSTREAM's REPO:TAG, with:

  honest   nothing changed
  reset    every blob GET: the headers, half the body, then a connection
           reset (RST)
  short    every blob GET: the headers (the whole Content-Length), half the
           body, then the connection closed
  long     every blob GET: a Content-Length larger than the blob, the whole
           blob, then the connection closed
  small    manifests: every layer's size is 1000 bytes less than the
           blob's, with a Docker-Content-Digest that matches the lie
  large    the same, 1000 bytes more
  digest   every blob GET: the right length, one byte changed
  mlie     manifests: a layer's size changed, Docker-Content-Digest left as
           it was (it no longer matches the content)
  swap     manifests: SWAP (REPO:TAG)'s manifest instead, whatever was
           asked for, with its own digest (a registry that answers a digest
           with another image)

Each request is logged to stdout: "METHOD PATH STATUS MODE".

usage: hostilereg.py PORT UPSTREAM [SWAP]
"""
import hashlib
import http.client
import http.server
import json
import os
import socket
import struct
import sys

PORT, UPSTREAM = int(sys.argv[1]), sys.argv[2]
SWAP = sys.argv[3] if len(sys.argv) > 3 else ""
MODES = ("honest", "reset", "short", "long", "small", "large", "digest", "mlie", "swap")


def upstream(method, path, headers):
    c = http.client.HTTPConnection(UPSTREAM, timeout=30)
    c.request(method, path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, dict(r.getheaders()), body


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, headers, body, length=None):
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "docker-content-digest"):
                self.send_header(k, v)
        if "docker-content-digest" in headers:
            self.send_header("Docker-Content-Digest", headers["docker-content-digest"])
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def handle_one(self):
        parts = self.path.split("/")
        if self.path in ("/v2", "/v2/") or len(parts) < 4 or parts[2] not in MODES:
            self.send(200, {"content-type": "application/json"}, b"{}")
            return 200, "-"
        mode = parts[2]
        path = "/".join(parts[:2] + parts[3:])
        fwd = {k: v for k, v in self.headers.items() if k.lower() in ("accept", "range")}
        is_blob = "/blobs/" in path
        is_manifest = "/manifests/" in path
        if mode == "swap" and is_manifest and SWAP:
            repo, tag = SWAP.rsplit(":", 1)
            path = "/v2/" + repo + "/manifests/" + tag
        status, headers, body = upstream(self.command, path, fwd)
        headers = {k.lower(): v for k, v in headers.items()}
        if status >= 300:
            self.send(status, headers, body)
            return status, mode
        if is_manifest and mode in ("small", "large", "mlie") and self.command == "GET":
            m = json.loads(body)
            for layer in m.get("layers", []):
                layer["size"] += 1000 if mode == "large" else -1000
            body = json.dumps(m).encode()
            if mode != "mlie":
                headers["docker-content-digest"] = "sha256:" + hashlib.sha256(body).hexdigest()
        if is_blob and self.command == "GET" and mode in ("reset", "short"):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            if mode == "reset":  # SO_LINGER 0: close(2) sends RST, not FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                os.close(self.connection.detach())
            self.close_connection = True
            return status, mode
        if is_blob and self.command == "GET" and mode == "long":
            self.send(status, headers, body, len(body) + 1000)
            self.close_connection = True
            return status, mode
        if is_blob and self.command == "GET" and mode == "digest" and body:
            body = bytearray(body)
            body[len(body) // 2] ^= 1
            body = bytes(body)
        self.send(status, headers, body)
        return status, mode

    def do_GET(self):
        status, mode = self.handle_one()
        print(self.command, self.path, status, mode, flush=True)

    do_HEAD = do_GET


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


Server(("127.0.0.1", PORT), Handler).serve_forever()

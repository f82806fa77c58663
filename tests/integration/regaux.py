#!/usr/bin/env python3
"""The helpers a token-auth registry needs in the tests, on one loopback port:

  GET /token?service=S&scope=repository:REPO:ACTIONS...
      a bearer-token service (docker distribution's token auth): a JWT signed
      RS256 with KEY, its certificate CERT in the x5c header (the registry
      trusts CERT through auth.token.rootcertbundle). Pulls are anonymous;
      pushes need PUSH_CREDS; repositories named "*secret*" need PULL_CREDS
      (401 UNAUTHORIZED otherwise); "*denied*" are refused (403 DENIED);
      every second token for "*flaky*" grants no access (the registry then
      answers 401 to a request that carries it).
  GET/HEAD /docker/registry/v2/...
      blob storage behind the registry's redirect middleware: files from
      STORE. A request carrying Authorization is refused (403), as
      pre-signed storage URLs are.

With REGAUX_HOSTILE=1 it plays a hostile blob store instead: every storage
request is answered 401 with `WWW-Authenticate: Bearer realm="http://ADDR:
PORT/token"` (its own token endpoint, over plain HTTP), and /token hands out
a worthless token to whoever asks, as a host that wants to collect the
credentials a client sends to a realm would.

REGAUX_ADDR: the loopback address to listen on (default 127.0.0.1).
REGAUX_AUTH_LOG: a file that records the Authorization header of every
request, "PATH<TAB>VALUE" ("-" when there is none).

Every request is logged to stdout: "METHOD PATH auth=yes|no STATUS"; a
storage GET also logs "inflight=N", the storage requests being served at
once (each takes at least $REGAUX_DELAY seconds, default 0.3), which shows
whether blobs are downloaded in parallel. The first GET of a blob larger
than 1 MiB sends 1 MiB and then stalls (a pull to interrupt); Range requests
are answered with 206.

usage: regaux.py PORT KEY CERT STORE EXPIRES_IN PUSH_CREDS PULL_CREDS
"""
import base64
import http.server
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

PORT, KEY, CERT, STORE = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
EXPIRES_IN = int(sys.argv[5])
PUSH_CREDS, PULL_CREDS = sys.argv[6], sys.argv[7]
ISSUER, SERVICE = "hpcrun-test-issuer", "hpcrun-test"
DELAY = float(os.environ.get("REGAUX_DELAY", "0.3"))
ADDR = os.environ.get("REGAUX_ADDR", "127.0.0.1")
HOSTILE = os.environ.get("REGAUX_HOSTILE") == "1"
AUTH_LOG = os.environ.get("REGAUX_AUTH_LOG")
inflight, lock = 0, threading.Lock()
STALL_AFTER = 1 << 20  # the first GET of a larger blob stops after this much
stalled = set()
flaky = {}


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt(claims):
    with open(CERT) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
    signing_input = (b64url(json.dumps(header).encode()) + "." +
                     b64url(json.dumps(claims).encode())).encode()
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", KEY],
                         input=signing_input, capture_output=True, check=True).stdout
    return signing_input.decode() + "." + b64url(sig)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", ctype="application/json", headers=None):
        auth = "yes" if self.headers.get("Authorization") else "no"
        print(f"{self.command} {self.path} auth={auth} {status}", flush=True)
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, headers=None):
        self.answer(status, json.dumps(
            {"errors": [{"code": code, "message": message}]}).encode(),
            headers=headers)

    def creds(self):
        h = self.headers.get("Authorization", "")
        if not h.startswith("Basic "):
            return None
        return base64.b64decode(h[6:]).decode()

    def token(self, query):
        q = urllib.parse.parse_qs(query)
        access, user = [], self.creds()
        for scope in q.get("scope", []):
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            actions = actions.split(",")
            if "denied" in name:
                return self.error(403, "DENIED", "requested access to the resource is denied")
            if user is not None and user not in (PUSH_CREDS, PULL_CREDS):
                return self.error(401, "UNAUTHORIZED", "bad credentials")
            if "push" in actions and user != PUSH_CREDS:
                return self.error(401, "UNAUTHORIZED", "push needs credentials")
            if "secret" in name and user not in (PUSH_CREDS, PULL_CREDS):
                return self.error(401, "UNAUTHORIZED", "authentication required")
            if "flaky" in name:  # every second token grants nothing
                flaky[name] = flaky.get(name, 0) + 1
                if flaky[name] % 2 == 0:
                    continue
            access.append({"type": kind, "name": name, "actions": actions})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": (user or "").split(":")[0], "aud": SERVICE,
                  "exp": now + max(EXPIRES_IN, 60), "nbf": now - 10, "iat": now,
                  "jti": os.urandom(8).hex(), "access": access}
        t = jwt(claims)
        self.answer(200, json.dumps({"token": t, "access_token": t,
                                     "expires_in": EXPIRES_IN}).encode())

    def storage(self, path):
        global inflight
        if self.command == "GET":
            with lock:
                inflight += 1
                print(f"inflight={inflight}", flush=True)
            time.sleep(DELAY)
            with lock:
                inflight -= 1
        if self.headers.get("Authorization"):
            return self.error(403, "DENIED", "storage refuses Authorization")
        full = os.path.normpath(os.path.join(STORE, path.lstrip("/")))
        if not full.startswith(STORE + "/") or not os.path.isfile(full):
            return self.error(404, "BLOB_UNKNOWN", "no such blob")
        with open(full, "rb") as f:
            data = f.read()
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if m and int(m.group(1)) < len(data):
            start = int(m.group(1))
            return self.answer(206, data[start:], "application/octet-stream",
                               {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"})
        if len(data) > STALL_AFTER and full not in stalled and self.command == "GET":
            stalled.add(full)  # once per blob: part of it, then nothing
            print(f"{self.command} {self.path} stalled after {STALL_AFTER}", flush=True)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:STALL_AFTER])
            self.wfile.flush()
            time.sleep(600)
            return
        self.answer(200, data, "application/octet-stream")

    def record_auth(self):
        if AUTH_LOG:
            with lock, open(AUTH_LOG, "a") as f:
                f.write(f"{self.path}\t{self.headers.get('Authorization') or '-'}\n")

    def hostile(self, path):
        if path == "/token":
            return self.answer(200, json.dumps({"token": "collected",
                                                "expires_in": 300}).encode())
        realm = f"http://{ADDR}:{PORT}/token"
        self.error(401, "UNAUTHORIZED", "authentication required",
                   {"WWW-Authenticate": f'Bearer realm="{realm}",service="storage"'})

    def do_GET(self):
        self.record_auth()
        u = urllib.parse.urlsplit(self.path)
        if HOSTILE:
            return self.hostile(u.path)
        if u.path == "/token":
            return self.token(u.query)
        return self.storage(u.path)

    do_HEAD = do_GET


http.server.ThreadingHTTPServer((ADDR, PORT), Handler).serve_forever()

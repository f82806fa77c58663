#!/usr/bin/env python3
"""Write the generated seeds of tests/fuzz/corpus/ (the JSON, tar and text
ones; mkseeds.sh adds the images and the files of the build). Run from the
top of the checkout: python3 tests/fuzz/mkseeds.py"""
import gzip
import io
import json
import os
import tarfile

C = "tests/fuzz/corpus"


def put(target, name, data):
    os.makedirs(f"{C}/{target}", exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(f"{C}/{target}/{name}", "wb") as f:
        f.write(data)


def tar(members, fmt=tarfile.PAX_FORMAT):
    """members: (name, kind, payload): kind f (file), d, l (symlink), h
    (hard link), c (char device); payload: bytes, link target or
    (major, minor); a dict as the fourth item gives pax headers."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for m in members:
            name, kind, payload = m[:3]
            ti = tarfile.TarInfo(name)
            ti.mtime = 1700000000
            ti.mode = 0o755 if kind == "d" else 0o644
            if len(m) > 3:
                ti.pax_headers = m[3]
            if kind == "f":
                ti.size = len(payload)
                t.addfile(ti, io.BytesIO(payload))
                continue
            ti.type = {"d": tarfile.DIRTYPE, "l": tarfile.SYMTYPE,
                       "h": tarfile.LNKTYPE, "c": tarfile.CHRTYPE}[kind]
            if kind in "lh":
                ti.linkname = payload
            if kind == "c":
                ti.devmajor, ti.devminor = payload
            t.addfile(ti)
    return buf.getvalue()


LOWER = tar([("etc/", "d", None), ("etc/passwd", "f", b"root:x:0:0::/root:/bin/sh\n"),
             ("etc/hidden", "f", b"x"), ("opt/", "d", None), ("opt/a", "f", b"a"),
             ("opt/sub/b", "f", b"b"), ("bin/sh", "f", b"#!/bin/busybox\n"),
             ("bin/ls", "l", "sh"), ("bin/link", "h", "bin/sh"),
             ("dev/null", "c", (1, 3))])
UPPER = tar([("etc/.wh.hidden", "f", b""), ("opt/.wh..wh..opq", "f", b""),
             ("opt/new", "f", b"new"), ("./.hpcrun/config.json", "f", b"{}"),
             ("usr/lib/x", "f", b"x" * 600,
              {"SCHILY.xattr.user.test": "v", "SCHILY.xattr.security.capability": "c"}),
             ("../escape", "f", b"x"), ("bin/ls/under", "f", b"x"),
             (".wh...", "f", b"")], fmt=tarfile.PAX_FORMAT)
SEP = b"\n--layer--\n"
put("layer", "one-layer.tar", LOWER)
put("layer", "two-layers", UPPER + SEP + LOWER)
put("layer", "gzip.tar.gz", gzip.compress(LOWER, mtime=0))
put("layer", "gnu.tar", tar([("a/" + "long" * 40, "f", b"gnu long name"),
                             ("a/l", "l", "x" * 200)], fmt=tarfile.GNU_FORMAT))

# OCI layouts: "sha256:@N@" is blob N's digest, "@N@" its size (fuzz-oci.c)
CONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                     "created": "2024-05-01T12:00:00.5+02:00",
                     "config": {"Env": ["PATH=/bin"], "Entrypoint": ["/bin/sh"]},
                     "rootfs": {"type": "layers", "diff_ids": [
                         "sha256:" + "a" * 64, "sha256:" + "b" * 64]}})
MANIFEST = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:@2@", "size": "@2@"},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                                   "digest": "sha256:" + "c" * 64, "size": 10},
                                  {"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": "sha256:" + "d" * 64}]}).replace('"@2@"', "@2@")


def index(desc):
    return json.dumps({"schemaVersion": 2, "manifests": desc})


PLAT = {"os": "linux", "architecture": "amd64"}
BSEP = "\n--blob--\n"
put("oci", "layout", index([{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                             "digest": "sha256:@1@", "size": 0, "platform": PLAT,
                             "annotations": {"org.opencontainers.image.ref.name": "latest"}}])
    .replace('"size": 0', '"size": @1@') + BSEP + MANIFEST + BSEP + CONFIG)
put("oci", "nested-index", index([{"mediaType": "application/vnd.oci.image.index.v1+json",
                                   "digest": "sha256:@1@"}]) + BSEP +
    index([{"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + "e" * 64, "platform": {"os": "linux", "architecture": "arm64",
                                                         "variant": "v8"}},
           {"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:@2@", "platform": PLAT}]) + BSEP + MANIFEST.replace("@2@", "@3@")
    + BSEP + CONFIG)
put("oci", "ambiguous", index([{"digest": "sha256:@1@"}, {"digest": "sha256:" + "f" * 64,
                                                          "annotations": {"org.opencontainers.image.ref.name": "v2"}}])
    + BSEP + MANIFEST.replace('"mediaType": "application/vnd.oci.image.manifest.v1+json",', "")
    + BSEP + CONFIG)
put("oci", "docker-list", index([{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                  "digest": "sha256:@1@", "platform": PLAT}]) + BSEP +
    MANIFEST.replace("application/vnd.oci.image.manifest.v1+json",
                     "application/vnd.docker.distribution.manifest.v2+json") + BSEP + CONFIG)

# docker save: manifest.json, then "\n--file--\nNAME\nCONTENT" members
DCONFIG = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]}})
FSEP = "\n--file--\n"
put("docker-archive", "classic", json.dumps(
    [{"Config": "c.json", "RepoTags": ["x:latest"], "Layers": ["l1/layer.tar"]}])
    + FSEP + "c.json\n" + DCONFIG + FSEP + "l1/layer.tar\n" + "layer")
put("docker-archive", "oci-names", json.dumps(
    [{"Config": "blobs/sha256/" + "1" * 64, "Layers": ["blobs/sha256/" + "2" * 64]},
     {"Config": "x", "Layers": []}])
    + FSEP + "blobs/sha256/" + "1" * 64 + "\n" + DCONFIG + FSEP + "blobs/sha256/" + "2" * 64 + "\nl")
raw = tar([("manifest.json", "f", json.dumps([{"Config": "c.json", "Layers": ["l.tar"]}]).encode()),
           ("c.json", "f", DCONFIG.encode()), ("l.tar", "f", LOWER)])
put("docker-archive", "archive.tar", raw)
put("docker-archive", "archive.tar.gz", gzip.compress(raw, mtime=0))

for i, r in enumerate(["busybox", "docker.io/library/busybox:1.36", "localhost:5000/a/b@sha256:" + "0" * 64,
                       "docker://quay.io/org/img:tag@sha256:" + "1" * 64, "ghcr.io/o/r",
                       "[::1]:5000/x:y", "UPPER/x", "a//b", "host:/x", "x:"]):
    put("ref", f"ref{i}", r)

for i, a in enumerate([
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
        'Basic realm="Registry Realm"', 'Bearer realm=http://x/t?a=b, error="invalid_token",  scope=a\\"b',
        '{"token":"abc","expires_in":300,"issued_at":"2024-01-01T00:00:00Z"}',
        '{"access_token":"t","expires_in":9223372036854775807}',
        '{"auths":{"registry.example":{"auth":"dXNlcjpwYXNz"},"https://index.docker.io/v1/":{"auth":"YTpi"}}}',
        'bytes 100-199/200', 'bytes 0-0/*', 'https://Registry.Example:443/v2/x', 'http://[::1]/a']):
    put("auth", f"auth{i}", a)

SITE = """# a site config
bind = /scratch
bind? = /opt/site:/opt/site:ro
gpu = auto
stage-dir = /local/hpcrun
stage-max-size = 16G
stage-min-free = 512M
kernel-mount-dirs = /shared/images:/apps/images
host-mpi = /opt/mpi/lib/libmpi.so.40
host-libs-nvidia = libcuda.so.1
unknown-key = 1
"""
put("config", "site", SITE)
put("config", "site-argv", SITE + "\n--argv--\n-b\n/a:/b:ro\n--env\nX=1\n--gpu=all\nrun\nimg.sqfs\n--\nsh"
    + "\n--env--\nHPCRUN_BIND=/x,/y:/z\nHPCRUN_JOIN=0")
put("config", "binds", "/a\n/a:/b\nrel:/b:rw\n/x:/:ro\n/a:/b/../c:xx\n:\n/a::ro")

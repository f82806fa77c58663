#!/usr/bin/env python3
"""Build OCI image layouts and `docker save` archives for hpcimg's tests,
offline and without root: layers are written with tarfile (PAX), so device
nodes, owners, setuid bits, xattrs and hostile names need no privileges.

  mkoci.py stack OUT          an OCI layout: three layers (gzip, zstd, plain)
                              with whiteouts, opaque dirs, hardlinks, ...
  mkoci.py stack-docker FILE  the same image as a `docker save` archive
  mkoci.py stack-docker-big FILE  ... with Docker 25's names and two layers
                              of over 1 MiB
  mkoci.py stack-docker-pax FILE  stack-docker as a PAX (or -gnu: GNU) tar,
                              its members under names of over 100 bytes
  mkoci.py docker-HOW FILE    stack-docker with a hostile header, HOW one of
                              negsize (a layer of -1024 bytes, base-256),
                              pax-short (a PAX record shorter than "N path="),
                              pax-nonl (a PAX record without its newline),
                              oversize (a layer longer than the file)
  mkoci.py runnable OUT BUSYBOX  a runnable image around a static busybox
  mkoci.py multi OUT           a multi-platform index (arm64, amd64)
  mkoci.py tags OUT ARCH      four images for linux/ARCH: v1, v2, latest and an
                              untagged one
  mkoci.py tags-noplat OUT    two images, v1 and v2, whose descriptors name no
                              platform (as skopeo and umoci write them)
  mkoci.py tags-same OUT ARCH one image for linux/ARCH, tagged v1 and latest
  mkoci.py foreign OUT ARCH   one image for linux/ARCH (another machine's)
  mkoci.py hostile OUT        entries that try to leave the image tree
  mkoci.py corrupt OUT        a truncated gzip layer (with a matching digest)
  mkoci.py bad-blob OUT       a layer whose bytes do not match its digest
  mkoci.py bad-diffid OUT     a layer whose tar does not match its diff_id
  mkoci.py bad-manifest OUT   a manifest with a wrong media type
"""
import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import sys
import tarfile

MTIME = 1600000000
CREATED = "2024-03-01T12:00:00Z"
CAP = bytes([1, 0, 0, 2, 0, 0x20, 0, 0] + [0] * 12)  # cap_net_bind_service+ep


def entry(name, kind="file", data=b"", mode=None, uid=0, gid=0, target=None,
          dev=(0, 0), xattrs=None, mtime=MTIME):
    return dict(name=name, kind=kind, data=data, mode=mode, uid=uid, gid=gid,
                target=target, dev=dev, xattrs=xattrs or {}, mtime=mtime)


def make_tar(entries):
    buf = io.BytesIO()
    tf = tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT)
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE,
             "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
             "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
             "fifo": tarfile.FIFOTYPE}
    for e in entries:
        ti = tarfile.TarInfo(e["name"])
        ti.type = types[e["kind"]]
        ti.mode = e["mode"] if e["mode"] is not None else (
            0o755 if e["kind"] == "dir" else 0o644)
        ti.uid, ti.gid = e["uid"], e["gid"]
        ti.uname = ti.gname = ""
        ti.mtime = e["mtime"]
        if e["target"] is not None:
            ti.linkname = e["target"]
        ti.devmajor, ti.devminor = e["dev"]
        for k, v in e["xattrs"].items():
            ti.pax_headers["SCHILY.xattr." + k] = v.decode("utf-8", "surrogateescape")
        data = e["data"] if e["kind"] == "file" else b""
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data) if data else None)
    tf.close()
    return buf.getvalue()


def compress(tar, how):
    if how == "gzip":
        return gzip.compress(tar, mtime=0)
    if how == "zstd":
        return subprocess.run(["zstd", "-q", "-c"], input=tar, check=True,
                              stdout=subprocess.PIPE).stdout
    return tar


MEDIA = {"gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
         "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
         "none": "application/vnd.oci.image.layer.v1.tar"}


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def put_blob(out, data):
    d = sha(data)
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(out, "blobs", "sha256", d[7:]), "wb") as f:
        f.write(data)
    return d


def image_config(diff_ids):
    return {
        "created": CREATED, "architecture": "amd64", "os": "linux",
        "config": {
            "Env": ["PATH=/usr/bin:/bin", "GREETING=hello world"],
            "Entrypoint": ["/usr/bin/tool"], "Cmd": ["--flag", "arg with space"],
            "WorkingDir": "/data", "User": "1000:100",
            "Labels": {"org.example.name": "stack"},
            "ExposedPorts": {"80/tcp": {}},
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": "mkoci.py"}],
    }


def write_layout(out, layers, tag="latest", tamper=None, manifest_type=None):
    """layers: list of (entries, compression), bottom first."""
    os.makedirs(out, exist_ok=True)
    descs, diff_ids = [], []
    for entries, how in layers:
        tar = make_tar(entries)
        blob = compress(tar, how)
        diff_ids.append(sha(tar))
        d = sha(blob)
        if tamper == "truncate" and how == "gzip":
            blob = blob[: len(blob) // 2]
            d = sha(blob)
        if tamper == "blob" and not descs:
            blob = blob[:-1] + bytes([blob[-1] ^ 1])
        if tamper == "diffid" and not descs:
            diff_ids[-1] = sha(tar + b"x")
        os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(out, "blobs", "sha256", d[7:]), "wb") as f:
            f.write(blob)
        descs.append({"mediaType": MEDIA[how], "digest": d, "size": len(blob)})
    cfg = json.dumps(image_config(diff_ids), sort_keys=True).encode()
    cd = put_blob(out, cfg)
    manifest = {"schemaVersion": 2,
                "mediaType": manifest_type or "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": cd, "size": len(cfg)},
                "layers": descs}
    mb = json.dumps(manifest, sort_keys=True).encode()
    md = put_blob(out, mb)
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
        "size": len(mb), "platform": {"architecture": "amd64", "os": "linux"},
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(md)


def one_layer_manifest(out, name, content, arch):
    """The manifest (bytes) of an image of one gzip layer holding one file
    name with content, its config saying arch; blobs written to out."""
    tar = make_tar([entry(name, data=content.encode())])
    blob = gzip.compress(tar, mtime=0)
    ld = put_blob(out, blob)
    cfg = image_config([sha(tar)])
    cfg["architecture"] = arch
    cb = json.dumps(cfg, sort_keys=True).encode()
    cd = put_blob(out, cb)
    return json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": cd, "size": len(cb)},
                       "layers": [{"mediaType": MEDIA["gzip"], "digest": ld,
                                   "size": len(blob)}]}).encode()


def write_multi(out):
    """An index -> image index with an arm64 and an amd64 manifest."""
    os.makedirs(out, exist_ok=True)
    subs = []
    for arch in ("arm64", "amd64"):
        mb = one_layer_manifest(out, "arch", arch, arch)
        subs.append({"mediaType": "application/vnd.oci.image.manifest.v1+json",
                     "digest": put_blob(out, mb), "size": len(mb),
                     "platform": {"architecture": arch, "os": "linux"}})
    ib = json.dumps({"schemaVersion": 2,
                     "mediaType": "application/vnd.oci.image.index.v1+json",
                     "manifests": subs}).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "digest": put_blob(out, ib), "size": len(ib),
        "annotations": {"org.opencontainers.image.ref.name": "multi"}}]}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f)


def write_tagged(out, images):
    """An OCI layout of small images: (tag or None, arch, platform in the
    index?, content) each; the same content gives the same manifest."""
    os.makedirs(out, exist_ok=True)
    descs = []
    for tag, arch, has_platform, content in images:
        mb = one_layer_manifest(out, "f", content, arch)
        d = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
             "digest": put_blob(out, mb), "size": len(mb)}
        if has_platform:
            d["platform"] = {"architecture": arch, "os": "linux"}
        if tag:
            d["annotations"] = {"org.opencontainers.image.ref.name": tag}
        descs.append(d)
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": descs}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def write_runnable(out, busybox, how="gzip"):
    """A small runnable image: a static busybox, the directories hpcrun
    mounts over, and a config whose Entrypoint/Cmd/Env/WorkingDir show."""
    global image_config
    with open(busybox, "rb") as f:
        bb = f.read()
    layer = [entry("bin/", "dir"), entry("bin/busybox", data=bb, mode=0o755),
             entry("bin/sh", "symlink", target="busybox", mode=0o777)]
    layer += [entry(d + "/", "dir") for d in
              ("etc", "dev", "proc", "sys", "tmp", "home", "root", "run", "data")]
    layer += [entry("etc/" + f, data=b"") for f in ("passwd", "group", "hosts", "resolv.conf")]
    base = image_config

    def config(diff_ids):
        c = base(diff_ids)
        c["config"]["Entrypoint"] = ["/bin/busybox", "sh", "-c"]
        c["config"]["Cmd"] = ['echo "greeting=$GREETING cwd=$(pwd)"']
        del c["config"]["User"]
        return c
    image_config = config
    write_layout(out, [(layer, how)])
    image_config = base


def write_docker_archive(path, layers, blob_names=False, fmt=tarfile.USTAR_FORMAT,
                         prefix=""):
    """Classic `docker save` names (<hex>.json, <id>/layer.tar), config
    first; with blob_names those of Docker 25 and later (blobs/sha256/<hex>),
    layers first, bottom first. prefix goes before each name but
    manifest.json's."""
    tars = [make_tar(e) for e, _ in layers]
    diff_ids = [sha(t) for t in tars]
    config = image_config(diff_ids)
    config["config"]["User"] = ""  # Docker's "not set"
    cfg = json.dumps(config, sort_keys=True).encode()
    if blob_names:
        names = [prefix + "blobs/sha256/" + sha(t)[7:] for t in tars]
        cname = prefix + "blobs/sha256/" + sha(cfg)[7:]
        members = list(zip(names, tars)) + [(cname, cfg)]
    else:
        names = [prefix + sha(t)[7:19] + "/layer.tar" for t in tars]
        cname = prefix + sha(cfg)[7:] + ".json"
        members = [(cname, cfg)] + list(zip(names, tars))
    manifest = [{"Config": cname, "RepoTags": ["stack:latest"], "Layers": names}]
    members.append(("manifest.json", json.dumps(manifest).encode()))
    with tarfile.open(path, "w", format=fmt) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), MTIME
            tf.addfile(ti, io.BytesIO(data))


def header_patched(tar, off, size_field):
    """tar with the header at off given another size field (12 bytes)."""
    h = bytearray(tar[off:off + 512])
    h[124:136] = size_field
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\0 " % sum(h)
    return tar[:off] + bytes(h) + tar[off + 512:]


def pax_header(name, record):
    """A PAX extended header block for name, with record as its data."""
    ti = tarfile.TarInfo("PaxHeader/" + name)
    ti.type, ti.size, ti.mtime = tarfile.XHDTYPE, len(record), MTIME
    return ti.tobuf(tarfile.USTAR_FORMAT) + record + b"\0" * (-len(record) % 512)


def write_hostile_archive(path, how):
    """stack-docker with one header made hostile (see the usage above)."""
    write_docker_archive(path, stack_layers())
    with open(path, "rb") as f:
        tar = f.read()
    with tarfile.open(path) as tf:
        at = {ti.name: ti.offset for ti in tf.getmembers()}
    layer = min(off for name, off in at.items() if name.endswith("/layer.tar"))
    if how == "negsize":  # -1024 in base-256: two's complement, top bit set
        tar = header_patched(tar, layer, bytes([0xff] * 10 + [0xfc, 0]))
    elif how == "oversize":
        tar = header_patched(tar, layer, b"%011o\0" % (len(tar) + (1 << 20)))
    elif how in ("pax-short", "pax-nonl"):
        # The length field counts the whole record, "N path=" included.
        record = b"6 path=" + b"A" * 700 if how == "pax-short" else b"20 path=AAAAAAAAAAAA"
        off = at["manifest.json"]
        tar = tar[:off] + pax_header("manifest.json", record) + tar[off:]
    else:
        sys.exit("unknown hostile archive: " + how)
    with open(path, "wb") as f:
        f.write(tar)


def stack_big_layers():
    """The stack with 1.5 MiB of random bytes in the lower and middle layers:
    too big for the index pass of a compressed archive to keep in memory."""
    layers = stack_layers()
    for i, (entries, how) in enumerate(layers[:2]):
        data = random.Random(i).randbytes(3 << 19)
        entries.append(entry("pad%d.bin" % i, data=data))
    return layers


LONG = "d" * 100 + "/" + "n" * 150 + "/" + "f" * 200


def stack_layers():
    lower = [
        entry("./", "dir", mode=0o755),
        entry("etc/", "dir"),
        entry("etc/hosts", data=b"lower\n"),
        entry("etc/gone", data=b"gone\n"),
        entry("usr/", "dir"), entry("usr/bin/", "dir"),
        entry("usr/bin/tool", data=b"#!/bin/sh\necho tool\n", mode=0o4755, uid=1000, gid=100),
        entry("usr/bin/sgid", data=b"x", mode=0o2711, uid=0, gid=42),
        entry("tmp/", "dir", mode=0o1777),
        entry("data/", "dir", mode=0o750, uid=1000, gid=100),
        entry("data/old1", data=b"old1"), entry("data/sub/", "dir"),
        entry("data/sub/old2", data=b"old2"),
        entry("keep/", "dir"), entry("keep/x", data=b"x"),
        entry("typechg", data=b"was a file"),
        entry("hl/", "dir"),
        entry("hl/orig", data=b"shared data\n", mode=0o640, uid=7, gid=8),
        entry("hl/link", "hardlink", target="hl/orig"),
        entry("hl/link2", "hardlink", target="hl/orig"),
        entry("sym_rel", "symlink", target="etc/hosts"),
        entry("sym_abs", "symlink", target="/etc/hosts"),
        entry("sym_dangling", "symlink", target="/nonexistent/target"),
        entry("dev/", "dir"),
        entry("dev/null", "chr", mode=0o666, dev=(1, 3)),
        entry("dev/sda", "blk", mode=0o660, dev=(8, 0)),
        entry("dev/bigminor", "chr", mode=0o600, dev=(240, 1000)),
        entry("fifo", "fifo", mode=0o600),
        entry("xattr", data=b"caps", mode=0o755,
              xattrs={"user.comment": b"hello", "security.capability": CAP}),
        entry(LONG, data=b"long"),
        entry("ünï/日本語.txt", data="utf-8 ✓\n".encode()),
        entry("big", data=bytes(range(256)) * 2048),  # 512 KiB, several blocks
        entry("mtime", data=b"t", mtime=1234567890),
    ]
    middle = [
        entry("etc/", "dir"),
        entry("etc/hosts", data=b"middle\n"),
        entry("etc/.wh.gone"),
        entry("data/", "dir", mode=0o750, uid=1000, gid=100),
        entry("data/.wh..wh..opq"),
        entry("data/new", data=b"new"),
        entry("typechg/", "dir"),
        entry("typechg/inside", data=b"now a dir"),
        entry("hl2/", "dir"),
        entry("hl2/a", data=b"lower a\n"),
        entry("hl2/b", "hardlink", target="hl2/a"),
        entry("hl2/c", "hardlink", target="hl2/a"),
    ]
    upper = [
        entry("etc/", "dir", mode=0o755),
        entry("etc/hosts", data=b"upper\n"),
        entry(".wh.keep"),
        entry("hl2/", "dir"),
        entry("hl2/a", data=b"upper a\n"),
        entry(".hpcrun/", "dir"),
        entry(".hpcrun/config.json", data=b'{"Cmd": ["/bin/evil"]}'),
    ]
    return [(lower, "gzip"), (middle, "zstd"), (upper, "none")]


def hostile_layers():
    lower = [
        entry("lowlink", "symlink", target="/"),
        entry("lowdir", "symlink", target="../../../.."),
        entry("ok", data=b"ok"),
    ]
    upper = [
        entry("../escape", data=b"x"),
        entry("a/../../escape2", data=b"x"),
        entry("/abs", data=b"abs is fine"),
        entry("evil", "symlink", target="/tmp"),
        entry("evil/pwned", data=b"x"),
        entry("file", data=b"f"),
        entry("file/under", data=b"x"),
        entry(".wh..", data=b""),
        entry("sub/.wh...", data=b""),
        entry("hl", "hardlink", target="../../etc/passwd"),
        entry("lowlink/pwned", data=b"stays inside"),
        entry("lowdir/x", data=b"stays inside"),
    ]
    return [(lower, "gzip"), (upper, "gzip")]


def main():
    what, out = sys.argv[1], sys.argv[2]
    small = [([entry("f", data=b"data " * 1000)], "gzip")]
    if what == "stack":
        write_layout(out, stack_layers())
    elif what == "stack-docker":
        write_docker_archive(out, stack_layers())
    elif what == "stack-docker-big":
        write_docker_archive(out, stack_big_layers(), blob_names=True)
    elif what in ("stack-docker-pax", "stack-docker-gnu"):
        write_docker_archive(out, stack_layers(), prefix="x" * 120 + "/",
                             fmt=tarfile.PAX_FORMAT if what.endswith("pax")
                             else tarfile.GNU_FORMAT)
    elif what.startswith("docker-"):
        write_hostile_archive(out, what[7:])
    elif what == "runnable":
        write_runnable(out, sys.argv[3])
    elif what == "runnable-zstd":
        write_runnable(out, sys.argv[3], "zstd")
    elif what == "big":  # a 4 MiB layer that does not compress
        data = random.Random(sys.argv[3]).randbytes(4 << 20)
        write_layout(out, [([entry("big.bin", data=data)], "gzip")])
    elif what == "unique":  # a small image of its own (digests no other has)
        write_layout(out, [([entry("f", data=sys.argv[3].encode())], "gzip")])
    elif what == "multi":
        write_multi(out)
    elif what == "tags":
        arch = sys.argv[3]
        write_tagged(out, [("v1", arch, True, "one"), ("v2", arch, True, "two"),
                           ("latest", arch, True, "three"), (None, arch, True, "four")])
    elif what == "tags-noplat":
        write_tagged(out, [("v1", "amd64", False, "one"), ("v2", "amd64", False, "two")])
    elif what == "tags-same":
        arch = sys.argv[3]
        write_tagged(out, [("v1", arch, True, "one"), ("latest", arch, True, "one")])
    elif what == "foreign":
        write_tagged(out, [("latest", sys.argv[3], True, "foreign")])
    elif what == "hostile":
        write_layout(out, hostile_layers())
    elif what == "corrupt":
        write_layout(out, small, tamper="truncate")
    elif what == "bad-blob":
        write_layout(out, small, tamper="blob")
    elif what == "bad-diffid":
        write_layout(out, small, tamper="diffid")
    elif what == "bad-manifest":
        write_layout(out, small,
                     manifest_type="application/vnd.oci.image.config.v1+json")
    else:
        sys.exit("unknown: " + what)


if __name__ == "__main__":
    main()

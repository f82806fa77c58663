#!/bin/bash
# Build the realistic test image for bench/convert.sh: Debian 12 minbase with
# python3 and build-essential (debootstrap, from Debian's repositories), as an
# OCI image layout with four gzip layers:
#   1. the root file system
#   2. /opt/bundle: a few hundred MB of real files (libraries, share/)
#   3. whiteouts deleting /opt/bundle, /usr/share/doc, man and locale
#   4. a small application (/app/main.py) and the config's Cmd
#
#   bench/make-debian-layout.sh WORKDIR       (as root; writes WORKDIR/layout)
set -euo pipefail
work=$1
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
mkdir -p "$work"
cd "$work"
if [ ! -f rootfs/.done ]; then
    rm -rf rootfs
    debootstrap --variant=minbase --include=python3,build-essential bookworm rootfs "$mirror" >debootstrap.log 2>&1
    rm -rf rootfs/var/cache/apt/archives/*.deb rootfs/var/lib/apt/lists/*
    touch rootfs/.done
fi
rm -rf layers layout && mkdir -p layers/1 layers/2/opt/bundle layers/3/opt layers/3/usr/share layers/4/app
# 1: the root file system (without our marker)
tar_layer() { # DIR OUT: a reproducible tar of DIR's contents, gzip'ed
    (cd "$1" && tar --sort=name --numeric-owner --mtime=@1700000000 --xattrs \
        --exclude=./.done -cf - .) | gzip -6 -n > "$2"
}
tar_layer rootfs layers/1.tar.gz
# 2: a bundle of real files, deleted again by layer 3
cp -a rootfs/usr/lib/x86_64-linux-gnu rootfs/usr/lib/gcc rootfs/usr/share layers/2/opt/bundle/
tar_layer layers/2 layers/2.tar.gz
# 3: whiteouts
: > layers/3/opt/.wh.bundle
for d in doc man locale; do : > "layers/3/usr/share/.wh.$d"; done
tar_layer layers/3 layers/3.tar.gz
# 4: the application
cat > layers/4/app/main.py <<'PY'
import sys, sysconfig
print("python", sys.version.split()[0], "from", sysconfig.get_paths()["stdlib"])
PY
tar_layer layers/4 layers/4.tar.gz

python3 - "$work" <<'PY'
import gzip, hashlib, json, os, shutil, sys
work = sys.argv[1]
blobs = os.path.join(work, "layout", "blobs", "sha256")
os.makedirs(blobs)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, d), "wb").write(data)
    return "sha256:" + d, len(data)
layers, diff_ids = [], []
for i in range(1, 5):
    path = os.path.join(work, "layers", f"{i}.tar.gz")
    h = hashlib.sha256()
    with gzip.open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    diff_ids.append("sha256:" + h.hexdigest())
    hd = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            hd.update(chunk)
    d = hd.hexdigest()
    shutil.copyfile(path, os.path.join(blobs, d))
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "digest": "sha256:" + d, "size": os.path.getsize(path)})
config = {"created": "2026-11-01T00:00:00Z", "architecture": "amd64", "os": "linux",
          "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                     "Cmd": ["python3", "/app/main.py"], "WorkingDir": "/app"},
          "rootfs": {"type": "layers", "diff_ids": diff_ids}}
cd, cs = put(json.dumps(config).encode())
manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cd, "size": cs}, "layers": layers}
md, ms = put(json.dumps(manifest).encode())
index = {"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
    "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}
open(os.path.join(work, "layout", "index.json"), "w").write(json.dumps(index))
open(os.path.join(work, "layout", "oci-layout"), "w").write('{"imageLayoutVersion": "1.0.0"}')
PY
du -sh layers/*.tar.gz layout | sed 's/^/  /'

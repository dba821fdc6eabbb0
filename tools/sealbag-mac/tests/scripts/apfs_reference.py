#!/usr/bin/env python3
"""Independent reader for the APFS tests: walks one volume of an APFS image
with dissect.apfs (https://github.com/fox-it/dissect.apfs) and prints what
it finds as JSON, for tools/sealbag-mac/tests/apfs.rs to compare with what
sealbag's ApfsSource reads.

usage: apfs_reference.py IMAGE [--volume INDEX] [--snapshot NAME]
       apfs_reference.py IMAGE --info

Output (one JSON document on stdout):
  --info: {"volumes": [{"index", "name", "role", "encrypted",
           "case_insensitive", "snapshots": [{"name", "xid"}]}], "xid"}
  else:   {"entries": [{"path", "kind", "size", "inode", "mode", "uid",
           "gid", "btime", "mtime", "ctime", "atime", "sha256"?, "link"?,
           "xattrs": {name: sha256}}]}, sorted by path; times are the
           inode's nanoseconds since 1970; "sha256" of a file's (decompressed)
           bytes; "link" a symlink's target.
"""

import hashlib
import json
import stat
import sys

from dissect.apfs.apfs import APFS

KINDS = [
    (stat.S_ISREG, "file"),
    (stat.S_ISDIR, "directory"),
    (stat.S_ISLNK, "symlink"),
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISCHR, "character device"),
]


def kind_of(mode):
    for test, name in KINDS:
        if test(mode):
            return name
    return "other"


def sha256_stream(fh):
    h = hashlib.sha256()
    while True:
        chunk = fh.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
    return h.hexdigest()


def record(node, path):
    raw = node.inode
    mode = node.mode
    kind = kind_of(mode)
    entry = {
        "path": path,
        "kind": kind,
        "inode": node.oid,
        "mode": mode,
        "uid": node.uid,
        "gid": node.gid,
        "btime": raw.create_time,
        "mtime": raw.mod_time,
        "ctime": raw.change_time,
        "atime": raw.access_time,
        "xattrs": {},
    }
    if kind == "file":
        data_hash = sha256_stream(node.open())
        entry["sha256"] = data_hash
        entry["size"] = node.size
    elif kind == "symlink":
        target = node.readlink()
        entry["link"] = target
        entry["size"] = len(target.encode())
    else:
        entry["size"] = 0
    compressed = kind == "file" and node.is_compressed()
    for name, xattr in node.xattr.items():
        if name == "com.apple.fs.symlink":
            continue
        if compressed and name in ("com.apple.decmpfs", "com.apple.ResourceFork"):
            continue
        entry["xattrs"][name] = sha256_stream(xattr.open())
    return entry


def walk(volume):
    out = []
    stack = [(volume.get("/"), "")]
    while stack:
        node, path = stack.pop()
        for name, dirent in sorted(node.listdir().items()):
            child = dirent.inode
            child_path = f"{path}/{name}"
            out.append(record(child, child_path))
            if child.is_dir():
                stack.append((child, child_path))
    out.sort(key=lambda e: e["path"])
    return out


def main(argv):
    image = argv[1]
    volume_index = 0
    snapshot = None
    info = False
    i = 2
    while i < len(argv):
        if argv[i] == "--volume":
            volume_index = int(argv[i + 1])
            i += 2
        elif argv[i] == "--snapshot":
            snapshot = argv[i + 1]
            i += 2
        elif argv[i] == "--info":
            info = True
            i += 1
        else:
            raise SystemExit(f"unknown argument {argv[i]}")
    with open(image, "rb") as fh:
        container = APFS(fh)
        if info:
            vols = []
            for v in container.volumes:
                snaps = []
                if not v.is_encrypted:
                    snaps = [{"name": s.name, "xid": s.xid} for s in v.snapshots]
                vols.append(
                    {
                        "index": v.index,
                        "name": v.name,
                        "role": int(v.role),
                        "encrypted": bool(v.is_encrypted),
                        "case_insensitive": bool(v.is_case_insensitive),
                        "snapshots": snaps,
                    }
                )
            json.dump({"volumes": vols, "xid": container.sb.xid}, sys.stdout)
            return
        volume = [v for v in container.volumes if v.index == volume_index][0]
        if snapshot is not None:
            volume = [s for s in volume.snapshots if s.name == snapshot][0].open()
        json.dump({"entries": walk(volume)}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv)

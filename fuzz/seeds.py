#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into DIR/<target>/ (python3 standard library only).

Nothing here is committed as binary: run.sh calls this before fuzzing, and libFuzzer reads the
seeds without writing to them (new inputs go to corpus/<target>/).

Each target reads its first byte as a mode (see fuzz_targets/*.rs):
- debug_grammar: no mode byte, the whole input is the DEBUG value;
- config_file: < 128 whole TOML file, 128 + i a string for template i, >= 128 + templates: a
  rewrite `FROM:TO`;
- unpack: even = the archive as is (bits 1-3: strip, same_owner), odd = structured.
"""

import gzip
import io
import lzma
import os
import struct
import sys
import tarfile
import zipfile

HEX = "0123456789abcdef" * 4

DEBUG = [
    "verbose",
    "stayalive",
    "stayalive=always",
    "stayalive=1h30m",
    "verbose,stayalive=10m",
    "fstree=https://h.example/tree.tar.gz,strip=1,verbose",
    f"fstree=/srv/t.tgz,sha256={HEX},dest=/srv,max-size=2G,timeout=30s",
    "fstree=https://h/a,b.tgz?x=1&y=2,verbose",
    f"plugin=/debug/coredump.wasm,write=/cores,read=/etc,env=HOME,config.limit=1G",
    f"plugin=https://h.example/dl/x.wasm?v=2,sha256={HEX},fetch=example.com:443,fetch=[::1]:80",
    "plugin=https://h/x.wasm,unpinned,config.a=b=c,config.list=1,2,3",
    "express:*,verbose,1,myapp:*",
    "verbos",
    "Fstree=/x",
    "strip=1,fstree=/x",
    "plugin=ftp://h/x.wasm",
    "fstree=/t.tgz,,, ,read=/x",
]

CONFIG_FILES = [
    """verbosity = 2
process-group = true
remap-exit = [143]
pdeathsig = "USR1"
rewrite = ["TERM:QUIT", "USR1:0"]
subreaper = true
grace = "5s"
debug = "verbose,stayalive"

[stayalive]
after-success = true
limit = "10m"

[[plugin]]
name = "coredump"
path = "/debug/coredump.wasm"
sha256 = "%s"
allow-unpinned = false
read = ["/etc"]
write = ["/cores"]
fetch = ["example.com:443"]
env = ["HOME"]
[plugin.config]
limit = "1G"
count = 3
on = true

[[plugin]]
url = "https://h.example/dl/trace.wasm?v=2"
allow-unpinned = true
""" % HEX,
    'grace = 3\npdeathsig = 10\n[stayalive]\n',
    'verbosity = "x"\n',
    '[[plugin]]\npath = "/p.wasm"\nurl = "https://h/p.wasm"\n',
    'rewrite = ["TERM:QUIT", "15:HUP"]\n',
    'debug = "verbos"\n',
    "a = { b = [1, 2, {c = 'd'}] }\n\"q\\u00e9\" = '''\nx'''\n",
]
# Template values, in the order of TEMPLATES in fuzz_targets/config_file.rs.
TEMPLATE_VALUES = [
    "/etc",
    "/cores",
    "example.com:443",
    "HOME",
    "/debug/x.wasm",
    "https://h.example/x.wasm",
    HEX,
    "coredump",
    "1G",
    "verbose,fstree=/t.tgz,strip=1",
    "TERM:QUIT",
    "SIGUSR1",
    "1h30m",
    "10m",
]
REWRITES = ["TERM:QUIT", "USR1:0", "15:3", "KILL:TERM"]


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def tar_bytes(fmt, members):
    """members: (name, kind, payload): kind is file, dir, symlink or hardlink."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            info.mtime = 1_600_000_000
            info.uid = os.getuid()
            info.gid = os.getgid()
            if kind == "file":
                info.size = len(payload)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(payload))
                continue
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, payload
            else:
                info.type, info.linkname = tarfile.LNKTYPE, payload
            tar.addfile(info)
    # The smallest tar: no padding to 10 KiB records past the end-of-archive marker.
    data = out.getvalue()
    return data.rstrip(b"\0") + b"\0" * (1024 + (-len(data.rstrip(b"\0"))) % 512)


def zstd_raw(data):
    """A zstd frame of raw (stored) blocks: the standard library has no zstd."""
    frame = b"\x28\xb5\x2f\xfd" + bytes([0x60]) + struct.pack("<H", len(data) - 256)
    step = 128 * 1024
    for start in range(0, len(data), step):
        chunk = data[start : start + step]
        last = 1 if start + step >= len(data) else 0
        frame += struct.pack("<I", (len(chunk) << 3) | last)[:3] + chunk
    return frame


def zip_bytes(members):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, kind, payload in members:
            info = zipfile.ZipInfo(name, date_time=(2020, 9, 13, 12, 26, 40))
            info.compress_type = zipfile.ZIP_DEFLATED
            if kind == "dir":
                info.external_attr = (0o040755 << 16) | 0x10
                z.writestr(info, b"")
            elif kind == "symlink":
                info.external_attr = 0o120777 << 16
                z.writestr(info, payload)
            else:
                info.external_attr = 0o100644 << 16
                z.writestr(info, payload)
    return out.getvalue()


GITHUB = [
    ("repo-main/", "dir", None),
    ("repo-main/etc/", "dir", None),
    ("repo-main/etc/app.conf", "file", b"key = value\n"),
    ("repo-main/bin/", "dir", None),
    ("repo-main/bin/run", "file", b"#!/bin/sh\necho hi\n"),
    ("repo-main/bin/go", "symlink", "run"),
    ("repo-main/bin/again", "hardlink", "repo-main/bin/run"),
]
ROOTFS = [
    ("etc/", "dir", None),
    ("etc/hostname", "file", b"box\n"),
    ("usr/lib/x", "file", b"x"),
    ("lib", "symlink", "usr/lib"),
    ("lib/y", "file", b"y"),
    ("d/" + "n" * 150, "file", b"long name"),
]
HOSTILE = [
    ("a", "symlink", "/"),
    ("a/etc/a", "file", b"x"),
    ("b", "symlink", ".."),
    ("b/outside/keep", "file", b"x"),
    ("../outside/keep", "file", b"x"),
    ("c", "hardlink", "../outside/keep"),
]


def unpack_seeds():
    seeds = {}
    for label, members in (("github", GITHUB), ("rootfs", ROOTFS)):
        for fmt_label, fmt in (("gnu", tarfile.GNU_FORMAT), ("pax", tarfile.PAX_FORMAT)):
            tar = tar_bytes(fmt, members)
            seeds[f"{label}-{fmt_label}.tar"] = tar
        tar = tar_bytes(tarfile.GNU_FORMAT, members)
        seeds[f"{label}.tar.gz"] = gzip.compress(tar, mtime=0)
        seeds[f"{label}.tar.xz"] = lzma.compress(tar, preset=1)
        seeds[f"{label}.tar.zst"] = zstd_raw(tar)
        seeds[f"{label}.zip"] = zip_bytes([m for m in members if m[1] != "hardlink"])
    for i, member in enumerate(HOSTILE):
        seeds[f"hostile-{i}.tar"] = tar_bytes(tarfile.GNU_FORMAT, HOSTILE[: i + 1])
    seeds["hostile.zip"] = zip_bytes([m for m in HOSTILE if m[1] != "hardlink"])
    seeds["empty.tar"] = b"\0" * 1024
    seeds["empty.zip"] = b"PK\x05\x06" + b"\0" * 18
    # Raw mode, no strip given, ownership not kept: first byte 0.
    return {name: b"\0" + data for name, data in seeds.items()}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: seeds.py DIR")
    root = sys.argv[1]
    for i, value in enumerate(DEBUG):
        write(os.path.join(root, "debug_grammar"), f"seed-{i}", value.encode())
    config = os.path.join(root, "config_file")
    for i, text in enumerate(CONFIG_FILES):
        # Mode byte: a newline (< 128), so the seed stays a readable TOML file.
        write(config, f"file-{i}", b"\n" + text.encode())
    for i, value in enumerate(TEMPLATE_VALUES):
        write(config, f"template-{i}", bytes([128 + i]) + value.encode())
    for i, value in enumerate(REWRITES):
        write(config, f"rewrite-{i}", b"\xff" + value.encode())
    for name, data in unpack_seeds().items():
        write(os.path.join(root, "unpack"), name, data)


if __name__ == "__main__":
    main()

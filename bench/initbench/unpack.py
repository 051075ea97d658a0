"""fstree (or the unpack service under it) against `tar -xzf`, on a deterministic 50 MB archive."""

from __future__ import annotations

import io
import os
import random
import shutil
import tarfile
import time
from pathlib import Path

from .console import BenchError, log
from .plan import TRUE, Setup, base_env, rotate
from .spawn import run

FSTREE_ARCHIVE_VERSION = 2  # bump when make_archive changes


def make_archive(path: Path, target_mb: int = 50) -> None:
    """A deterministic tar.gz of about target_mb MB that looks like a patch of a root
    filesystem: mostly small text files (configuration, scripts), some partly compressible data
    files, a few incompressible ones (compressed assets), relative symlinks, in nested folders;
    about half the size of what it unpacks to."""
    rng = random.Random(20260601)
    words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz_") for _ in range(rng.randint(2, 10))) for _ in range(2000)]
    table16 = bytes(0x41 + (b & 15) for b in range(256))
    tmp = path.with_suffix(".tmp")
    budget = target_mb * 1_000_000
    with tarfile.open(tmp, "w:gz", compresslevel=6, format=tarfile.GNU_FORMAT) as tar:
        gz = tar.fileobj  # the gzip stream; its file's position is the compressed size so far
        dirs_made = set()
        i = 0
        while gz.fileobj.tell() < budget:
            d = f"usr/share/bench/d{i % 97:02d}/s{i % 13}"
            if d not in dirs_made:
                dirs_made.add(d)
                info = tarfile.TarInfo(d)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_700_000_000
                tar.addfile(info)
            info = tarfile.TarInfo()
            info.mode, info.mtime = 0o644, 1_700_000_000
            info.uname = info.gname = "root"
            if i % 100 == 99:  # a symlink to an earlier file of the same folder
                info.name, info.type, info.linkname = f"{d}/l{i}", tarfile.SYMTYPE, f"f{i - 97 * 13}.conf"
                tar.addfile(info)
                i += 1
                continue
            r = rng.random()
            if r < 0.96:  # text
                data = b" ".join(rng.choice(words) for _ in range(rng.randint(50, 2000))) + b"\n"
                info.name = f"{d}/f{i}.conf"
            elif r < 0.99:  # half-compressible data
                data = rng.randbytes(rng.randint(10_000, 200_000)).translate(table16)
                info.name = f"{d}/f{i}.dat"
            else:  # incompressible
                data = rng.randbytes(rng.randint(50_000, 250_000))
                info.name = f"{d}/f{i}.bin"
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            i += 1
    tmp.rename(path)


def dir_size(path: Path) -> tuple[int, int]:
    files = size = 0
    for root, _, names in os.walk(path):
        for n in names:
            files += 1
            size += os.lstat(os.path.join(root, n)).st_size
    return files, size


def fstree_variant_env(setup: Setup, archive: Path, dest: Path) -> dict[str, str]:
    env = base_env()
    env["HOOKINIT_DEBUG"] = f"fstree=file://{archive},dest={dest}"
    return env


def plugin_unpack_env(setup: Setup, archive: Path, dest: Path) -> dict[str, str]:
    env = base_env()
    env["HOOKINIT_CACHE_DIR"] = str(setup.plugin_cache)
    env["HOOKINIT_DEBUG"] = (
        f"plugin={setup.plugin_wasm},read={archive.parent},write={dest},"
        f"config.unpack={archive},config.dest={dest}"
    )
    return env


def probe_fstree(setup: Setup, scratch: Path) -> str | None:
    """None when DEBUG=fstree works in this binary, else why not."""
    src = scratch / "fstree-probe-src"
    (src / "etc").mkdir(parents=True, exist_ok=True)
    (src / "etc" / "bench-fstree").write_text("ok\n")
    archive = scratch / "fstree-probe.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "etc", arcname="etc")
    dest = scratch / "fstree-probe-dest"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir()
    env = fstree_variant_env(setup, archive, dest) | {"HOOKINIT_VERBOSITY": "2"}
    p = run([str(setup.hookinit), "--", TRUE], env=env, capture_output=True, timeout=60)
    if p.returncode == 0 and (dest / "etc" / "bench-fstree").exists():
        return None
    said = [l.strip() for l in p.stderr.splitlines() if "fstree" in l or "error" in l]
    why = said[-1] if said else "it logs nothing about fstree"
    return f"`DEBUG=fstree=file://…,dest=DIR hookinit -- /bin/true` exits {p.returncode} and unpacks nothing; {why}"


def measure_fstree(setup: Setup, scratch: Path, runs: int) -> dict:
    archive = setup.target_dir / "bench" / f"fstree-50M-v{FSTREE_ARCHIVE_VERSION}.tar.gz"
    if not archive.exists():
        log(f"making the 50 MB test archive {archive} (once)")
        archive.parent.mkdir(parents=True, exist_ok=True)
        make_archive(archive)
    size = archive.stat().st_size
    res = {"tar": [], "fstree": [], "archive_bytes": size, "via_plugin": not setup.fstree_ready}
    hk_env = plugin_unpack_env if not setup.fstree_ready else fstree_variant_env
    # Unpacked into a tmpfs of its own: on a disk file system the writing costs depend on its
    # history, not on the unpacker. ext4 without a journal (this machine's root) skips inodes
    # freed in the last minutes when it allocates (`recently_deleted`), so each round's cleanup
    # slowed the next: `tar -xzf` of this archive went from 0.9 s to 7.1 s within a session,
    # nearly all system time in that scan, for tar and fstree alike but not evenly.
    mnt = scratch / "unpack-tmpfs"
    mnt.mkdir()
    p = run(["mount", "-t", "tmpfs", "-o", "size=1g,mode=0755", "bench-unpack", str(mnt)],
            capture_output=True)
    if p.returncode != 0:
        raise BenchError(f"cannot mount a tmpfs for the unpacking round (root needed): {p.stderr.strip()}")
    try:
        return unpack_rounds(setup, archive, mnt, runs, hk_env, res)
    finally:
        run(["umount", str(mnt)], capture_output=True)


def unpack_rounds(setup: Setup, archive: Path, mnt: Path, runs: int, hk_env, res: dict) -> dict:
    tar_dest = mnt / "tar-dest"
    fs_dest = mnt / "fstree-dest"
    for i in range(runs):
        for which in rotate(["tar", "fstree"], i):
            dest = tar_dest if which == "tar" else fs_dest
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            os.sync()
            if which == "tar":
                argv, env = ["tar", "-xzf", str(archive), "-C", str(dest)], base_env()
            else:
                argv, env = [str(setup.hookinit), "--", TRUE], hk_env(setup, archive, dest)
            t0 = time.monotonic_ns()
            p = run(argv, env=env, capture_output=True, timeout=600)
            t1 = time.monotonic_ns()
            if p.returncode != 0:
                raise BenchError(f"{which}: exit {p.returncode}: {p.stderr.strip()}")
            res[which].append(t1 - t0)
    res["files"], res["bytes"] = dir_size(tar_dest)
    got = dir_size(fs_dest)
    if got != (res["files"], res["bytes"]):
        raise BenchError(f"fstree unpacked {got} (files, bytes), tar {(res['files'], res['bytes'])}")
    shutil.rmtree(tar_dest, ignore_errors=True)
    shutil.rmtree(fs_dest, ignore_errors=True)
    return res

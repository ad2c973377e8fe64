#!/usr/bin/env python3
"""Compiles RocksDB's C++ for librocksdb-sys as a unity build, and prints where it is.

librocksdb-sys compiles RocksDB's 343 source files one by one, most of that work parsing
the same headers again for each: about 680 CPU-seconds with clang, the largest single
part of a build of weir from nothing. Compiled as two translation units that each include
half of the files (a unity build, which RocksDB's own CI builds and tests on every
change: `make unity_test`), the same library takes about 200 CPU-seconds.

This compiles the sources of the librocksdb-sys that Cargo.lock names, with the defines
and flags its build script uses for the features weir turns on, one unit per core, into
`$CARGO_TARGET_DIR/rocksdb/<version>-<key>/librocksdb.a`, and prints that directory.
`scripts/env.sh` points librocksdb-sys there (`ROCKSDB_LIB_DIR`, `ROCKSDB_STATIC`), and
the crate then links it instead of compiling RocksDB itself. The key covers the flags,
the compiler and this file, so any change to them compiles the library again.

Where the flags would differ from what the build script derives (another architecture,
RUSTFLAGS that choose a CPU, features weir does not use), this prints nothing and the
crate compiles RocksDB as usual.
"""

import concurrent.futures
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# librocksdb-sys features whose flags this mirrors; any other changes the build.
HANDLED_FEATURES = {"lz4", "lz4-sys", "static", "bindgen-runtime", "bindgen-static"}


def note(message):
    print(f"rocksdb: {message}", file=sys.stderr)


def packages():
    """The resolved librocksdb-sys and lz4-sys: their source directories, versions and features."""
    host = subprocess.run(
        ["rustc", "-vV"], check=True, capture_output=True, text=True
    ).stdout
    triple = next(line.split()[1] for line in host.splitlines() if line.startswith("host:"))
    metadata = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked", "--filter-platform", triple],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    features = {node["id"]: node["features"] for node in metadata["resolve"]["nodes"]}
    found = {}
    for package in metadata["packages"]:
        if package["name"] in ("librocksdb-sys", "lz4-sys"):
            found[package["name"]] = (
                Path(package["manifest_path"]).parent,
                package["version"],
                set(features.get(package["id"], [])),
            )
    return found


def flags(rocksdb_dir, lz4_dir):
    """librocksdb-sys's build script's flags for Linux on x86-64 with the lz4 feature
    (build.rs, `build_rocksdb`), plus what the cc crate adds for an optimized build."""
    return [
        "-std=c++20",
        f"-I{rocksdb_dir}/rocksdb/include",
        f"-I{rocksdb_dir}/rocksdb",
        f"-I{rocksdb_dir}/rocksdb/third-party/gtest-1.8.1/fused-src",
        f"-I{rocksdb_dir}",
        f"-I{lz4_dir}/liblz4/lib",
        "-DLZ4=1",
        "-DNDEBUG=1",
        "-DHAVE_ALIGNED_NEW",
        "-DHAVE_UINT128_EXTENSION",
        "-msse2",
        "-DOS_LINUX",
        "-DROCKSDB_PLATFORM_POSIX",
        "-DROCKSDB_LIB_IO_POSIX",
        "-DROCKSDB_SCHED_GETCPU_PRESENT",
        "-DROCKSDB_AUXV_GETAUXVAL_PRESENT",
        "-DROCKSDB_FALLOCATE_PRESENT",
        "-DROCKSDB_RANGESYNC_PRESENT",
        "-include",
        "cstdint",
        "-O3",
        "-ffunction-sections",
        "-fdata-sections",
        "-fPIC",
        "-m64",
        "-w",
    ]


def sources(rocksdb_dir):
    """The library's source files, as the build script lists them."""
    listed = (rocksdb_dir / "rocksdb_lib_sources.txt").read_text().split()
    files = [rocksdb_dir / "rocksdb" / name for name in listed if name != "util/build_version.cc"]
    return files + [rocksdb_dir / "build_version.cc"]


def chunks(files, count):
    """`count` runs of consecutive files of about equal size."""
    total = sum(file.stat().st_size for file in files)
    runs = [[] for _ in range(count)]
    done = 0
    for file in files:
        runs[min(count - 1, done * count // total)].append(file)
        done += file.stat().st_size
    return [run for run in runs if run]


def compile_library(compiler, options, files, into):
    """Compiles `files` as one unity unit per core into `into`/librocksdb.a."""
    units = chunks(files, os.cpu_count() or 1)
    note(f"compiling RocksDB as {len(units)} unity units (about 200 CPU-seconds)")

    def compile_unit(index_and_files):
        index, unit = index_and_files
        source = into / f"unity{index}.cc"
        source.write_text("".join(f'#include "{file}"\n' for file in unit))
        obj = into / f"unity{index}.o"
        subprocess.run([compiler, *options, "-c", str(source), "-o", str(obj)], check=True)
        return obj

    with concurrent.futures.ThreadPoolExecutor(len(units)) as pool:
        objects = list(pool.map(compile_unit, enumerate(units)))
    subprocess.run(["ar", "crs", str(into / "librocksdb.a"), *map(str, objects)], check=True)
    for path in into.iterdir():
        if path.name != "librocksdb.a":
            path.unlink()


def main():
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        note("not Linux on x86-64: librocksdb-sys compiles RocksDB itself")
        return
    rustflags = ("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS")
    if any(os.environ.get(name) for name in rustflags):
        note("RUSTFLAGS is set (it may choose a CPU): librocksdb-sys compiles RocksDB itself")
        return
    found = packages()
    rocksdb_dir, version, features = found["librocksdb-sys"]
    lz4_dir = found["lz4-sys"][0]
    if features - HANDLED_FEATURES:
        unhandled = sorted(features - HANDLED_FEATURES)
        note(f"librocksdb-sys features {unhandled} are not mirrored: it compiles RocksDB itself")
        return

    compiler = os.environ.get("CXX", "clang++")
    options = flags(rocksdb_dir, lz4_dir)
    compiler_version = subprocess.run(
        [compiler, "--version"], check=True, capture_output=True, text=True
    ).stdout
    key = hashlib.sha256(
        "\n".join([version, compiler_version, *options, Path(__file__).read_text()]).encode()
    ).hexdigest()[:16]
    target = Path(os.environ.get("CARGO_TARGET_DIR", "target")).resolve() / "rocksdb"
    library_dir = target / f"{version}-{key}"
    if not (library_dir / "librocksdb.a").exists():
        target.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix="building-", dir=target))
        try:
            compile_library(compiler, options, sources(rocksdb_dir), building)
            building.rename(library_dir)
        finally:
            shutil.rmtree(building, ignore_errors=True)
    print(library_dir)


if __name__ == "__main__":
    main()

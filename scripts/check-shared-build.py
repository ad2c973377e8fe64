#!/usr/bin/env python3
"""Checks that the run command and the test command share one build of the dependencies.

cargo builds a dependency once per set of features it resolves for it. `scripts/run.sh`
builds the server alone; `scripts/test.sh` builds every package with its dev-dependencies,
which turn on more features of crates the server uses too, and each such crate (and every
crate above it, DataFusion included) would then be compiled twice. This compares the
features cargo resolves for each crate in the two builds and names every difference,
which `crates/workspace-hack/Cargo.toml` must then turn on for the server too.
"""

import re
import subprocess
import sys

LINE = re.compile(r"(\S+) (v\S+)(?: \(proc-macro\))?(?: \([^)]*\))? \[(.*)\]")


def features(*selection):
    """Each crate of a build (name and version) with the features cargo resolves for it."""
    tree = subprocess.run(
        ["cargo", "tree", "--prefix", "none", "--format", "{p} [{f}]", *selection],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    resolved = {}
    for line in tree.splitlines():
        match = LINE.fullmatch(line.removesuffix(" (*)").strip())
        if match:
            name, version, names = match.groups()
            resolved.setdefault(f"{name} {version}", set()).update(
                feature for feature in names.split(",") if feature
            )
    return resolved


def main():
    tests = features("--workspace", "--edges", "normal,dev")
    builds = {
        "scripts/run.sh (weir)": features("--package", "weir-server", "--edges", "normal"),
        "scripts/bench.sh (weir and the benchmarks)": features(
            "--package", "weir-server", "--package", "weir-benches", "--edges", "normal"
        ),
    }
    differences = 0
    for build, resolved in builds.items():
        for crate, names in sorted(resolved.items()):
            missing = tests.get(crate, names) - names
            if missing:
                differences += 1
                print(f"{build}: {crate} lacks the tests' features {sorted(missing)}")
    if differences:
        print(
            "add these features to crates/workspace-hack/Cargo.toml, or the tests compile "
            "those crates (and everything built on them) a second time",
            file=sys.stderr,
        )
        sys.exit(1)
    print("the server, the benchmarks and the tests share one build of their dependencies")


if __name__ == "__main__":
    main()

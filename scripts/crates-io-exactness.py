#!/usr/bin/env python3
"""Compare the index lines cargohold derives from .crate files with crates.io's own.

For every crates.io package in the given Cargo.lock files, this downloads the
.crate (static.crates.io) and the crate's index file (index.crates.io), imports
all the .crate files into a scratch cargohold whose registry stands in for
crates.io, and compares each version's line field by field (`pubtime` and
`yanked` aside: import time and later yanks are not in the .crate).

This is a developer script: it needs the network. It is not part of the tests.

    scripts/crates-io-exactness.py Cargo.lock other/Cargo.lock [--report docs/exactness.md]
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request

CRATES_IO_SOURCES = {
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
}
IGNORED_FIELDS = {"pubtime", "yanked"}


def index_path(name: str) -> str:
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def locked_packages(lockfiles):
    packages = {}
    for lockfile in lockfiles:
        data = tomllib.loads(pathlib.Path(lockfile).read_text())
        for package in data.get("package", []):
            if package.get("source") in CRATES_IO_SOURCES:
                packages[(package["name"], package["version"])] = package.get("checksum")
    return packages


def fetch(url: str, dest: pathlib.Path) -> bytes:
    if dest.exists():
        return dest.read_bytes()
    for attempt in range(4):
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                body = response.read()
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(dest.suffix + ".part")
            tmp.write_bytes(body)
            tmp.replace(dest)
            return body
        except (urllib.error.URLError, TimeoutError) as err:
            if attempt == 3:
                raise RuntimeError(f"{url}: {err}") from err
            time.sleep(1 + attempt)
    raise AssertionError("unreachable")


def download(packages, cache: pathlib.Path):
    crates_dir = cache / "crates"
    index_dir = cache / "index"

    def one_crate(item):
        (name, version), checksum = item
        body = fetch(
            f"https://static.crates.io/crates/{name}/{name}-{version}.crate",
            crates_dir / f"{name}-{version}.crate",
        )
        digest = hashlib.sha256(body).hexdigest()
        if checksum and digest != checksum:
            raise RuntimeError(f"{name}-{version}.crate: checksum {digest}, lockfile says {checksum}")

    def one_index(name):
        fetch(f"https://index.crates.io/{index_path(name)}", index_dir / index_path(name))

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(one_crate, packages.items()))
        list(pool.map(one_index, sorted({name for name, _ in packages})))
    return crates_dir, index_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0 and not kwargs.get("allow_failure"):
        sys.stderr.write(result.stdout + result.stderr)
    return result


def import_and_serve(binary: str, crates_dir: pathlib.Path, scratch: pathlib.Path):
    port = free_port()
    config = scratch / "cargohold.toml"
    config.write_text(
        f'listen = "127.0.0.1:{port}"\ndata-dir = "{scratch / "data"}"\n\n'
        '[limits]\nmax-crate-size = 104857600\n\n'
        '[[registries]]\nname = "crates-io-copy"\nreplaces-crates-io = true\n'
    )
    base = [binary, "--config", str(config)]
    run(base + ["user", "add", "admin", "--admin"])
    started = time.monotonic()
    imported = run(base + ["import", "--registry", "crates-io-copy", str(crates_dir)])
    elapsed = time.monotonic() - started
    print(imported.stdout.strip().splitlines()[0] if imported.stdout else imported.stderr)
    server = subprocess.Popen(base + ["serve"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in server.stdout:
        if line.startswith("cargohold is listening on"):
            break
    return server, f"http://127.0.0.1:{port}/registries/crates-io-copy/index/", imported.stdout, elapsed


def lines_by_version(text: str):
    lines = {}
    for line in text.splitlines():
        if line.strip():
            entry = json.loads(line)
            lines[entry["vers"]] = entry
    return lines


def normalized_dep(dep):
    dep = dict(dep)
    dep.setdefault("features", [])
    dep.setdefault("optional", False)
    dep.setdefault("default_features", True)
    dep.setdefault("target", None)
    dep["kind"] = dep.get("kind") or "normal"
    return dep


def compare(ours, theirs):
    differences = []
    for field in sorted(set(ours) | set(theirs)):
        if field in IGNORED_FIELDS:
            continue
        a, b = ours.get(field), theirs.get(field)
        if field == "deps":
            a = [normalized_dep(d) for d in a or []]
            b = [normalized_dep(d) for d in b or []]
        if field == "features":
            a, b = a or {}, b or {}
        if a != b:
            if field == "deps":
                # Only the dependencies that differ, not the whole list.
                a, b = [d for d in a if d not in b], [d for d in b if d not in a]
            differences.append((field, a, b))
    return differences


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lockfiles", nargs="+")
    parser.add_argument("--cache", default=os.path.expanduser("~/.cache/cargohold-exactness"))
    parser.add_argument("--cargohold", default="target/release/cargohold")
    parser.add_argument("--report", help="also write the results as Markdown to this file")
    args = parser.parse_args()

    packages = locked_packages(args.lockfiles)
    print(f"{len(packages)} crates.io packages in {len(args.lockfiles)} lockfiles")
    crates_dir, index_dir = download(packages, pathlib.Path(args.cache))

    with tempfile.TemporaryDirectory() as scratch:
        server, index_url, import_output, import_seconds = import_and_serve(
            args.cargohold, crates_dir, pathlib.Path(scratch)
        )
        try:
            results = []
            for name, version in sorted(packages):
                theirs = lines_by_version((index_dir / index_path(name)).read_text()).get(version)
                try:
                    with urllib.request.urlopen(index_url + index_path(name)) as response:
                        ours = lines_by_version(response.read().decode()).get(version)
                except urllib.error.HTTPError as err:
                    if err.code != 404:
                        raise
                    ours = None
                if theirs is None or ours is None:
                    results.append((name, version, [("line", ours, theirs)]))
                else:
                    results.append((name, version, compare(ours, theirs)))
        finally:
            server.terminate()
            server.wait()

    # The cache may hold crates from earlier runs; only the locked ones are compared.
    identical = sum(1 for _, _, diffs in results if not diffs)
    by_field = {}
    for _, _, diffs in results:
        for field, _, _ in diffs:
            by_field[field] = by_field.get(field, 0) + 1
    summary = (
        f"{identical} of {len(results)} versions identical "
        f"({100.0 * identical / max(len(results), 1):.2f}%)"
    )
    print(summary)
    for field, count in sorted(by_field.items()):
        print(f"  {field}: {count} differ")
    for name, version, diffs in results:
        for field, ours, theirs in diffs:
            print(f"{name}@{version} {field}:\n  cargohold: {json.dumps(ours)}\n  crates.io: {json.dumps(theirs)}")

    if args.report:
        with open(args.report, "w") as report:
            report.write(f"- lockfiles: {', '.join(args.lockfiles)}\n- {summary}\n")
            report.write(f"- import of the .crate files: {import_seconds:.1f} s\n")
            for name, version, diffs in results:
                for field, ours, theirs in diffs:
                    report.write(f"- `{name}@{version}` `{field}`: cargohold `{json.dumps(ours)}`, crates.io `{json.dumps(theirs)}`\n")
    return 0 if identical == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())

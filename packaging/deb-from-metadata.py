#!/usr/bin/env python3
"""Builds the .deb with dpkg-deb from Cargo.toml's [package.metadata.deb], for machines without
cargo-deb: the same assets, modes, section, priority and description. Man pages are gzipped, the
copyright file is written from `copyright` and `license-file`, and `$auto` dependencies come from
dpkg-shlibdeps.

Usage: packaging/deb-from-metadata.py OUT_DIR   (from the repository root, after the assets exist)
"""
import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib


def main() -> int:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "target/packaging"
    with open("Cargo.toml", "rb") as f:
        cargo = tomllib.load(f)
    package = cargo["package"]
    meta = package["metadata"]["deb"]
    name = package["name"]
    # cargo-deb's default Debian revision is 1: both paths name the package alike.
    version = f"{package['version']}-{meta.get('revision', '1')}"
    arch = subprocess.run(["dpkg", "--print-architecture"], check=True, capture_output=True,
                          text=True).stdout.strip()
    root = os.path.join(out_dir, "deb-root")
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "DEBIAN"))

    for source, dest, mode in meta["assets"]:
        if dest.endswith("/"):
            dest += os.path.basename(source)
        target = os.path.join(root, dest)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if dest.startswith("usr/share/man/"):
            target += ".gz"
            with open(source, "rb") as src, open(target, "wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as z:
                    z.write(src.read())
        else:
            shutil.copyfile(source, target)
        os.chmod(target, int(mode, 8))

    doc = os.path.join(root, "usr/share/doc", name)
    os.makedirs(doc, exist_ok=True)
    licence_file = meta["license-file"][0]
    with open(licence_file) as f:
        licence = f.read()
    with open(os.path.join(doc, "copyright"), "w") as f:
        f.write(f"Upstream-Name: {name}\n\nFiles: *\nCopyright: {meta['copyright']}\n")
        f.write(f"License: {package['license']}\n")
        for line in licence.rstrip("\n").split("\n"):
            f.write(f" {line}\n" if line.strip() else " .\n")
    os.chmod(os.path.join(doc, "copyright"), 0o644)

    depends = meta.get("depends", "")
    if "$auto" in depends:
        binaries = [os.path.join(root, dest if not dest.endswith("/") else dest + os.path.basename(src))
                    for src, dest, mode in meta["assets"] if mode == "755"]
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "debian"))
            with open(os.path.join(tmp, "debian/control"), "w") as f:
                f.write(f"Source: {name}\n\nPackage: {name}\nArchitecture: any\n")
            shlibs = subprocess.run(["dpkg-shlibdeps", "-O"] + [os.path.abspath(b) for b in binaries],
                                    cwd=tmp, check=True, capture_output=True, text=True).stdout
        auto = shlibs.strip().split("=", 1)[1] if "=" in shlibs else ""
        depends = ", ".join(d for d in (p.strip() for p in depends.replace("$auto", auto).split(",")) if d)

    size_kib = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs) // 1024 + 1
    description = [package["description"]]
    for paragraph in meta.get("extended-description", "").strip().split("\n\n"):
        description.append(" " + " ".join(paragraph.split()))
    control = [
        f"Package: {name}",
        f"Version: {version}",
        f"Architecture: {arch}",
        f"Maintainer: {meta['maintainer']}",
        f"Installed-Size: {size_kib}",
    ]
    if depends:
        control.append(f"Depends: {depends}")
    control += [f"Section: {meta['section']}", f"Priority: {meta['priority']}"]
    control.append("Description: " + "\n".join(description))
    with open(os.path.join(root, "DEBIAN/control"), "w") as f:
        f.write("\n".join(control) + "\n")

    deb = os.path.join(out_dir, f"{name}_{version}_{arch}.deb")
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", root, deb], check=True)
    print(deb)
    return 0


if __name__ == "__main__":
    sys.exit(main())

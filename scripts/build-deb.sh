#!/bin/sh
# Builds cove's Debian packages (debian/) from this tree:
#   scripts/build-deb.sh [DIR]      the .debs go to DIR (default build-deb/); prints their paths
# dpkg-buildpackage writes next to the source directory, so it runs in a copy of the tree
# (the files git tracks or would track). The default guest comes from guest/build.sh's cache
# (~/.cache/cove), built first if it is not there (about 15 minutes on 2 cores). Needs
# debhelper and the Build-Depends of debian/control (scripts/install-deps.sh).
# Then: sudo apt install ./build-deb/cove_*.deb
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/build-deb}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

mkdir "$WORK/cove"
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$ROOT" && git ls-files -z -co --exclude-standard) |
        tar -C "$ROOT" --null -T - --ignore-failed-read -cf - 2>/dev/null |
        tar -C "$WORK/cove" -xf -
else
    tar -C "$ROOT" --exclude='./build*' -cf - . | tar -C "$WORK/cove" -xf -
fi

: "${DEB_BUILD_OPTIONS:=parallel=$(nproc)}"
export DEB_BUILD_OPTIONS
(cd "$WORK/cove" && dpkg-buildpackage -us -uc -b) >&2

mkdir -p "$OUT"
for deb in "$WORK"/*.deb; do
    mv "$deb" "$OUT/"
    echo "$OUT/$(basename "$deb")"
done

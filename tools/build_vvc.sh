#!/usr/bin/env bash
# Build one VVC source archive with cmake and copy its binaries.
#   tools/build_vvc.sh ARCHIVE DEST BINDIR BINARY...
# The archive is unpacked under DEST/src/<name>; binaries land in DEST/bin.
set -euo pipefail
archive=$1 dest=$2 bindir=$3; shift 3
name=$(basename "$archive" .tar.gz)
src="$dest/src/$name"
rm -rf "$src" && mkdir -p "$src" "$dest/bin"
tar -xzf "$archive" -C "$src"
# git-archive tarballs may or may not have a top folder
[ -f "$src/CMakeLists.txt" ] || src=$(dirname "$(ls "$src"/*/CMakeLists.txt | head -1)")
cmake -S "$src" -B "$src/build/release" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$src/build/release" -j"${JOBS:-2}"
for b in "$@"; do cp "$src/$bindir/$b" "$dest/bin/$b"; done
echo "built $* from $name"

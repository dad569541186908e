#!/usr/bin/env bash
# A small copy of the shared data for a lent GPU's calls (≤ 64 MiB each):
# .gpu/data/clic2025 (its first two photographs: the complexity sweep's is
# the second) and .gpu/data/train (the first TRAIN training and VAL
# validation images), each with the SHA256SUMS lines of its files, so that
# LIC_DATA_DIR=$PWD/.gpu/data verifies them as the full sets.  Enough for
# the chapters in the ci profile, not for training.  About 12 MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
SRC=${LIC_DATA_DIR:-../shared/data}
TRAIN=${TRAIN:-6} VAL=${VAL:-4}
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
rm -rf .gpu/data && mkdir -p .gpu/data/clic2025 .gpu/data/train/train .gpu/data/train/val
head -2 "$SRC/clic2025/SHA256SUMS" > .gpu/data/clic2025/SHA256SUMS
{ grep "  train/" "$SRC/train/SHA256SUMS" | head -"$TRAIN"
  grep "  val/" "$SRC/train/SHA256SUMS" | head -"$VAL"; } > .gpu/data/train/SHA256SUMS
for set in clic2025 train; do
  while read -r _ rel; do cp "$SRC/$set/$rel" ".gpu/data/$set/$rel"; done < ".gpu/data/$set/SHA256SUMS"
  (cd ".gpu/data/$set" && sha256sum --quiet -c SHA256SUMS)
done
du -sh .gpu/data

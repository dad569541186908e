#!/usr/bin/env bash
# Wheels a lent GPU machine (Python 3.12, PyTorch and the scientific stack
# already installed; no network) needs for the book's code, its chapters
# under nbval, and format-version-2 files: into .whl/ (git-ignored through
# .git/info/exclude), versions from constraints.txt.  About 6 MB.
# Then carry ".whl" and start the device command with checks_v2.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
# Not in the device image (checked against its package list, KINDS.md).
# Left out to fit the 64 MiB a call carries (10 MB): jedi (and parso), debugpy and the
# widget front-ends (IPython, ipykernel and ipywidgets import without
# them); myst-nb travels without its Sphinx dependencies (the chapters
# use only its `glue`, which needs IPython alone).
NEED="compressai constriction pytorch-msssim bjontegaard nbval myst-nb
ipykernel ipython ipython_pygments_lexers jupyter_client jupyter_core
nbformat fastjsonschema jsonschema jsonschema-specifications referencing
rpds-py traitlets pyzmq tornado comm matplotlib-inline
nest-asyncio2 prompt_toolkit wcwidth stack-data executing asttokens
pure_eval pexpect ptyprocess platformdirs ipywidgets"
mkdir -p .whl
for name in $NEED; do
  pin=$(grep -i "^${name//_/[-_]}==" constraints.txt || true)
  [ -n "$pin" ] || { echo "no pin for $name in constraints.txt" >&2; exit 2; }
  out=$(python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64 \
    --platform manylinux_2_35_x86_64 -d .whl "$pin" 2>&1) ||
    { echo "$out" | grep -v "^WARNING: Location" >&2; exit 1; }
done
ls .whl | wc -l; du -sh .whl

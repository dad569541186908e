#!/usr/bin/env bash
# Slim the working tree for one device call (it carries ≤ 64 MiB: the
# tracked files, untracked ones git does not ignore, and the carry paths),
# then put it back.  Only working-tree files are removed (the large
# checkpoint weights; their records and tables stay), never the index:
# `restore` checks the deleted files out again from HEAD.  Never commit
# between the two.
#   carry.sh timing     λ 0.0018 and 0.0067 checkpoints (conformance
#                       streams are qualities 1 and 3), no Kodak
#   carry.sh chapters   the factorized ladder and λ 0.0067 of every model,
#                       Kodak (what the chapters in the ci profile and
#                       crossdev.py load)
#   carry.sh restore
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:?timing, chapters or restore}" in
  timing)
    find data/checkpoints -name '*.pt' ! -name '0.0018.pt' ! -name '0.0067.pt' -delete
    rm -rf data/kodak data/train_state/joint ;;
  chapters)
    find data/checkpoints -name '*.pt' ! -name '0.0067.pt' \
      ! -path '*/bmshj2018-factorized/*' -delete
    rm -rf data/train_state/joint ;;
  restore)
    # only what was deleted: uncommitted changes elsewhere in data/ stay
    git ls-files -z --deleted data | xargs -0 -r git checkout --
    git status --short data | head; exit 0 ;;
esac
mb() { xargs -0 du -cb 2>/dev/null | tail -1 | awk '{printf "%.1f MB", $1/1e6}'; }
tree=$({ git ls-files -z; git ls-files -z --others --exclude-standard; } | mb || true)
carry=$(printf '%s\0' .whl .gpu | mb || true)
echo "the call carries: tree $tree + .whl and .gpu $carry (limit 67.1 MB)"

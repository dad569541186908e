test -f /tmp/bench.json || { echo "fresh machine: call 1 state missing"; exit 3; }
set -e
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 LIC_DATA_DIR=/tmp/lic_data
python3 tools/lent_gpu/unpack.py .gpu/dataB /tmp/lic_data
python3 tools/lent_gpu/ladders.py ${TRAIN_S:-500} "$@" 2>&1 | grep -v "Warning\|warnings.warn"

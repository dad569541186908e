set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 LIC_DATA_DIR=/tmp/lic_data
nvidia-smi -L
python3 -c "import torch, numpy, compressai; print(torch.__version__, numpy.__version__, compressai.__version__)"
python3 tools/lent_gpu/unpack.py .gpu/dataA /tmp/lic_data
python3 tools/lent_gpu/bench.py 2>&1 | grep -v Warning | tee $OUT/bench.txt

# One device call (about 7 min): the GPU parts of the evaluation issue.
# Carry: .whl (compressai cp312 + the Jupyter stack for nbval), .gpu
# (clic2025 subset as LIC_DATA_DIR, cross-device files from crossdev.py).
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target /tmp/site .whl/*.whl > $OUT/setup.log 2>&1 || { tail $OUT/setup.log; exit 3; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 LIC_DATA_DIR=$PWD/.gpu/data
export PYTHONWARNINGS=ignore::FutureWarning
nvidia-smi -L; nproc
python3 -c "import torch, numpy, compressai, pandas, matplotlib, PIL, nbval, ipykernel; print('torch', torch.__version__, 'numpy', numpy.__version__, 'pandas', pandas.__version__, 'mpl', matplotlib.__version__, 'PIL', PIL.__version__, torch.cuda.get_device_name())" 2>&1 | tee -a $OUT/setup.log
T0=$(date +%s)
timeout ${SWEEP_S:-230} python3 tools/lent_gpu/sweep.py $OUT/gpu.json > $OUT/sweep.log 2>&1; echo "sweep rc $? $(( $(date +%s) - T0 )) s"
grep -v "^\s*$" $OUT/sweep.log | tail -12
T1=$(date +%s)
(timeout ${XDEV_S:-170} python3 tools/lent_gpu/crossdev.py device .gpu/xdev $OUT > $OUT/xdev.log 2>&1; echo "xdev rc $? $(( $(date +%s) - T1 )) s" >> $OUT/xdev.log) &
LIC_PROFILE=ci timeout ${NBVAL_S:-200} python3 -m pytest -q -p no:cacheprovider --nbval-lax --nbval-current-env \
  -W ignore::DeprecationWarning book/ > $OUT/nbval.log 2>&1; echo "nbval rc $? $(( $(date +%s) - T1 )) s"
wait
tail -3 $OUT/xdev.log
grep -E "passed|failed|Error|FAILED" $OUT/nbval.log | tail -15

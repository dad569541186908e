# The GPU parts of the portability, coder and authors'-MSP issues, for
# format version 2: two device calls, one right after the other.
#
# Here first: bash tools/lent_gpu/prep_wheels.sh; bash tools/lent_gpu/prep_data.sh;
#   python tools/lent_gpu/crossdev.py prepare .gpu/xdev2   (this CPU's files)
# Call 1: bash tools/lent_gpu/carry.sh timing, then run with carry [".whl", ".gpu"]:
#   PART=timing bash tools/lent_gpu/checks_v2.sh        (≈ 7 min)
#   conformance streams on the GPU (defaults, TF32 off, cuDNN off) and on the
#   machine's CPU (seven kernel settings); the complexity sweep; pms_complexity.
# Call 2: bash tools/lent_gpu/carry.sh restore; bash tools/lent_gpu/carry.sh chapters:
#   PART=chapters bash tools/lent_gpu/checks_v2.sh      (≈ 4 min)
#   this CPU's files decoded there, the GPU's files coded there (crossdev.py),
#   and every chapter under nbval (ci profile) on the GPU.
# Afterwards: bash tools/lent_gpu/carry.sh restore, then see README.md here.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
  --upgrade --target /tmp/site .whl/*.whl > $OUT/setup.log 2>&1 || { tail $OUT/setup.log; exit 3; }
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 LIC_DATA_DIR=$PWD/.gpu/data
export PYTHONWARNINGS=ignore::FutureWarning
nvidia-smi -L; nproc
python3 -c "import torch, compressai, constriction, nbval, myst_nb, IPython; print('torch', torch.__version__, torch.cuda.get_device_name())" || exit 4
step() {  # step SECONDS NAME COMMAND...: one bounded step, its log in $OUT
  local limit=$1 name=$2; shift 2; local t0=$(date +%s)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  echo "$name rc $? $(( $(date +%s) - t0 )) s: $(grep -v '^\s*$' "$OUT/$name.log" | tail -1 | cut -c1-200)"
}
case "${PART:?timing or chapters}" in
  timing)
    # ≤ 530 s in all, inside the 600 s a call may run; the CPU row last
    step 100 conformance_gpu python3 tools/conformance_here.py --device cuda --out $OUT/conformance.json
    step 230 sweep python3 tools/lent_gpu/sweep.py $OUT/gpu.json
    step 90 pms python3 tools/pms_complexity.py --device cuda --out $OUT/pms_gpu.json
    step 110 conformance_cpu python3 tools/conformance_here.py --out $OUT/conformance.json ;;
  chapters)
    T0=$(date +%s)
    (step 170 xdev python3 tools/lent_gpu/crossdev.py device .gpu/xdev2 $OUT > $OUT/xdev.rc) &
    for nb in book/0*.ipynb; do
      (LIC_PROFILE=ci timeout 200 python3 -m pytest -q -p no:cacheprovider --nbval-lax \
         --nbval-current-env -W ignore::DeprecationWarning $nb > $OUT/nbval-$(basename $nb .ipynb).log 2>&1) &
    done
    wait
    cat $OUT/xdev.rc
    for f in $OUT/nbval-*.log; do echo "$(basename $f): $(tail -1 $f)"; done
    echo "all in $(( $(date +%s) - T0 )) s" ;;
esac
# at most 8 files come back: the logs travel as one tar
(cd $OUT && tar -cf logs.tar *.log *.rc 2>/dev/null; rm -f *.log *.rc; ls $OUT)

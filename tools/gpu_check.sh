#!/usr/bin/env bash
# The CuPy backend's first run on a GPU, in under 5 minutes (docs/performance.md, "CuPy").
#
#     bash tools/gpu_check.sh            # from the repository root, on a machine with a GPU
#
# 1. uses the virtual environment $VENV (default .venv; created when missing) and installs
#    this package with the gpu extra (CUDA 12) or gpu-cuda13 (when nvidia-smi reports
#    CUDA 13) and the test extra: nothing else;
# 2. prints nvidia-smi and CuPy's version and device;
# 3. runs the tests of the real CuPy backend (-m gpu), then the parity and CuPy test files
#    whole (CuPy, Numba and the CuPy kernels on NumPy against the reference);
# 4. runs the bench (--quick) on numpy, numba and cupy for the dual VAE (batch 32) and the
#    MLP VAE (batch 128), then the dual VAE at batch 256 on numba and cupy.
#
# Everything goes to runs/gpu-check/gpu_check-<date>.log (and the bench's figures to JSON
# files beside it).  Each step runs under `timeout`, capped by what is left of the 290 s
# the whole script may take; a step cut short is reported and the next one runs.  A second
# run reuses the environment, so its install takes seconds.  CI does not run this script
# (it has no GPU); tests/test_gpu_ready.py checks its syntax and what it installs.

set -u -o pipefail

DEADLINE=290                        # seconds for the whole script (bash's SECONDS counts them)
VENV=${VENV:-.venv}
OUT=runs/gpu-check
mkdir -p "$OUT"
LOG=$OUT/gpu_check-$(date +%Y%m%d-%H%M%S).log
exec > >(tee -a "$LOG") 2>&1
FAILED=()

# step NAME CAP COMMAND...: run COMMAND under timeout, at most CAP seconds and no later
# than the deadline; record a failure (or a timeout) and go on
step() {
    local name=$1 cap=$2
    shift 2
    local left=$((DEADLINE - SECONDS))
    if ((left < 10)); then
        echo "== $name: skipped, the 5 minutes are spent"
        FAILED+=("$name (skipped)")
        return
    fi
    local limit=$((cap < left ? cap : left))
    echo "== $name (at most ${limit} s)"
    local start=$SECONDS status=0
    timeout --kill-after=5 "$limit" "$@" || status=$?
    if ((status == 124 || status == 137)); then
        echo "== $name: stopped after ${limit} s"
        FAILED+=("$name (timeout)")
    elif ((status != 0)); then
        echo "== $name: failed (exit $status)"
        FAILED+=("$name (exit $status)")
    fi
    echo "== $name: $((SECONDS - start)) s"
}

echo "vae_from_scratch gpu check, $(date), in $(pwd), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if ! command -v nvidia-smi >/dev/null; then
    echo "nvidia-smi not found: this script needs a machine with an NVIDIA GPU and its driver"
    exit 1
fi
nvidia-smi
CUDA_MAJOR=$(nvidia-smi | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\).*/\1/p' | head -n 1)
EXTRA=gpu                           # cupy-cuda12x (setup.cfg)
if [[ -n "$CUDA_MAJOR" && "$CUDA_MAJOR" -ge 13 ]]; then
    EXTRA=gpu-cuda13                # cupy-cuda13x
fi
echo "driver's CUDA version: ${CUDA_MAJOR:-unknown}; installing the extra $EXTRA"

if [[ ! -x "$VENV/bin/python" ]]; then
    step "create $VENV" 60 python3 -m venv "$VENV"
fi
PY=$VENV/bin/python
step "pip install" 150 "$PY" -m pip install -q -e ".[$EXTRA,test]"
step "CuPy" 30 "$PY" -c "import cupy; r = cupy.cuda.runtime; d = r.getDeviceProperties(0); \
print('CuPy', cupy.__version__, '| CUDA runtime', r.runtimeGetVersion(), '| device 0:', \
d['name'].decode(), '|', round(d['totalGlobalMem'] / 2**30), 'GiB')"

step "tests of the real CuPy backend (-m gpu)" 60 "$PY" -m pytest -m gpu -q
step "parity and CuPy tests" 60 "$PY" -m pytest -q tests/test_backend_parity.py \
    tests/test_cupy_backend.py tests/test_gpu_ready.py
step "bench, batch 32 (dual) and 128 (mlp)" 100 "$PY" -m vae_from_scratch bench --quick \
    --backends numpy,numba,cupy --models dual,mlp --json "$OUT/bench.json"
step "bench, dual VAE at batch 256" 60 "$PY" -m vae_from_scratch bench --quick \
    --backends numba,cupy --models dual --batch-size 256 --json "$OUT/bench-dual-256.json"

echo
echo "log: $LOG; $SECONDS s in all"
if ((${#FAILED[@]})); then
    printf 'not passed: %s\n' "${FAILED[@]}"
    exit 1
fi
echo "every step passed"

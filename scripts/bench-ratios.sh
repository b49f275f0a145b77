#!/usr/bin/env bash
# Prints, for each ensemble size n, the time of one MI-CWA iteration divided by the time of
# the 2n forward+backward passes it needs, from the estimates of `cargo bench --bench cwa_iteration`.
set -euo pipefail
dir="${CARGO_TARGET_DIR:-target}/criterion/cwa_iteration"
python3 - "$dir" <<'PY'
import json, sys, os
root = sys.argv[1]
def mean(kind, n):
    with open(os.path.join(root, kind, str(n), "new", "estimates.json")) as f:
        return json.load(f)["mean"]["point_estimate"] / 1e6  # ms
print(f"{'n':>3} {'2n passes (ms)':>15} {'1 iteration (ms)':>17} {'ratio':>6}")
for n in (2, 4, 8):
    passes = mean("passes", n)
    iteration = (mean("mi_cwa_11", n) - mean("mi_cwa_1", n)) / 10
    print(f"{n:>3} {passes:>15.1f} {iteration:>17.1f} {iteration / passes:>6.3f}")
PY

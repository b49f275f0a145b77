#!/usr/bin/env bash
# Exports the models of `crates/onnx` to TorchScript, each with the sidecar JSON that
# `surrogate::load_torchscript` reads and PyTorch's parity references, plus the small models of
# the `torchscript` tests (scripts/export_torchscript.py):
#
#   $COMMON_WEAKNESS_TORCHSCRIPT (default: $HOME/.cache/common-weakness/torchscript)
#     <name>.pt, <name>.json, <name>.logits.f32, <name>.gradient.f32, <name>.gradient64.f32,
#     inputs.f32, manifest.json, tiny/                (about 1.2 GB, ViT-B/16 and VGG-11 most)
#
# Needs the PyTorch 2.9.0 environment (scripts/setup-libtorch.sh, which this script runs) and
# the ImageNet assets (scripts/fetch-imagenet-assets.sh); adds torchvision 0.24.0 and onnx (the
# export shares export_onnx.py's models) to that environment, from PyPI.
#
# Idempotent: when the folder holds every file and was written by the current export script,
# nothing is done.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${COMMON_WEAKNESS_TORCHSCRIPT:-$HOME/.cache/common-weakness/torchscript}"

eval "$("$here/setup-libtorch.sh" --exporters | tail -n 3)"

stamp="$out/export.sha256"
script_sum="$(cat "$here/export_torchscript.py" "$here/export_onnx.py" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$script_sum" ] && [ "$(ls "$out"/*.gradient64.f32 2>/dev/null | wc -l)" -eq 10 ]; then
    echo "TorchScript models ready in $out"
    exit 0
fi
started=$(date +%s)
rm -f "$stamp"
python "$here/export_torchscript.py" "$out"
echo "$script_sum" > "$stamp"
echo "TorchScript models exported to $out in $(($(date +%s) - started)) s"

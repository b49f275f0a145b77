#!/usr/bin/env bash
# Exports the models of `crates/onnx` to ONNX with PyTorch's parity references
# (scripts/export_onnx.py): seven torchvision 0.24 architectures of the paper's families with
# seeded random weights, and EfficientNet-Lite0/1/2 with their real ImageNet weights.
#
#   $COMMON_WEAKNESS_ONNX (default: $HOME/.cache/common-weakness/onnx)
#     <name>.onnx, <name>.logits.f32, <name>.gradient.f32, <name>.gradient64.f32,
#     inputs.f32, manifest.json                       (about 1.2 GB, ViT-B/16 and VGG-11 most)
#
# Needs the PyTorch 2.9.0 environment (scripts/setup-libtorch.sh, which this script runs) and
# the ImageNet assets (scripts/fetch-imagenet-assets.sh). Adds torchvision 0.24.0 (the release
# built for torch 2.9.0) and onnx to that environment, from PyPI.
#
# Idempotent: when the folder holds every file and was written by the current export script,
# nothing is done. Building `common-weakness-onnx` with its `import` feature afterwards
# generates the Burn code.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${COMMON_WEAKNESS_ONNX:-$HOME/.cache/common-weakness/onnx}"

eval "$("$here/setup-libtorch.sh" --exporters | tail -n 3)"

# The export is redone when the script that writes the files changes.
stamp="$out/export_onnx.py.sha256"
script_sum="$(sha256sum < "$here/export_onnx.py" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$script_sum" ] \
    && [ "$(ls "$out"/*.gradient64.f32 2>/dev/null | wc -l)" -eq 10 ]; then
    echo "ONNX models ready in $out"
    exit 0
fi
started=$(date +%s)
rm -f "$stamp"
python "$here/export_onnx.py" "$out"
echo "$script_sum" > "$stamp"
echo "ONNX models exported to $out in $(($(date +%s) - started)) s"

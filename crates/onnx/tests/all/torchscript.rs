//! The architectures of `scripts/export_onnx.py` exported to TorchScript and run by LibTorch at
//! run time, against PyTorch's own logits and input gradients (feature `tch`), with the
//! tolerances of the ONNX parity tests.

use burn::tensor::Device;
use common_weakness_onnx::{Architecture, Parity};

/// Logits within 1e-3 of PyTorch's (relative to the largest value), the same top-1 classes,
/// the input gradient no further from PyTorch's float64 gradient (relative L2) than 1e-3 or
/// three times PyTorch's own float32 error, and each image's logits the same alone as in the
/// batch.
fn agrees_with_pytorch(model: Architecture) {
    let file = model.torchscript_file();
    assert!(file.is_file(), "{} is missing: run scripts/export-torchscript-models.sh", file.display());
    let parity = Parity::measure_torchscript(model, &Device::libtorch().autodiff()).unwrap();
    eprintln!("{parity:?}");
    assert!(parity.logits <= 1e-3, "{model}: logits differ from PyTorch's by {:.1e} (relative)", parity.logits);
    assert!(parity.same_top1, "{model}: top-1 classes differ from PyTorch's");
    let allowed = (3.0 * parity.torch_gradient_l2).max(1e-3);
    assert!(
        parity.gradient_l2 <= allowed,
        "{model}: gradient error {:.1e} (relative L2) against PyTorch's float64 gradient, allowed {allowed:.1e}",
        parity.gradient_l2,
    );
    assert!(parity.batch_difference <= 1e-4, "{model}: batch-dependent by {:.1e}", parity.batch_difference);
}

macro_rules! torchscript_parity_tests {
    ($($test:ident $variant:ident),* $(,)?) => {
        $(
            #[test]
            #[ignore = "needs the TorchScript exports: scripts/export-torchscript-models.sh"]
            fn $test() {
                agrees_with_pytorch(Architecture::$variant);
            }
        )*
    };
}

torchscript_parity_tests! {
    resnet18_torchscript_agrees_with_pytorch ResNet18,
    vgg11_torchscript_agrees_with_pytorch Vgg11,
    densenet121_torchscript_agrees_with_pytorch DenseNet121,
    mobilenet_v3_small_torchscript_agrees_with_pytorch MobileNetV3Small,
    efficientnet_b0_torchscript_agrees_with_pytorch EfficientNetB0,
    convnext_tiny_torchscript_agrees_with_pytorch ConvNextTiny,
    vit_b_16_torchscript_agrees_with_pytorch VitB16,
    efficientnet_lite0_torchscript_agrees_with_pytorch EfficientNetLite0,
    efficientnet_lite1_torchscript_agrees_with_pytorch EfficientNetLite1,
    efficientnet_lite2_torchscript_agrees_with_pytorch EfficientNetLite2,
}

//! The architectures of `scripts/export_onnx.py` exported to TorchScript and run by LibTorch at
//! run time, against PyTorch's own logits and input gradients (feature `tch`), with the
//! tolerances of the ONNX parity tests.

use common_weakness::backend::BackendKind;
use common_weakness_onnx::{Architecture, Parity};

use crate::parity::assert_agrees;

/// The tolerances of the ONNX models ([`assert_agrees`]).
fn agrees_with_pytorch(model: Architecture) {
    let file = model.torchscript_file();
    assert!(file.is_file(), "{} is missing: run scripts/export-torchscript-models.sh", file.display());
    assert_agrees(&Parity::measure_torchscript(model, &BackendKind::Tch.device().unwrap()).unwrap());
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

//! Each imported architecture against PyTorch: logits, input gradients, batch independence.

use burn::tensor::Device;
use common_weakness::surrogate::Surrogate;
use common_weakness_onnx::{relative_error, relative_l2_error, Architecture, Parity, Reference};

use crate::require_generated;

/// Logits and the encoder's penultimate features within 1e-3 of PyTorch's, and what
/// [`assert_agrees`] asks.
fn agrees_with_pytorch(model: Architecture) {
    require_generated(model);
    let parity = Parity::measure(model, &Device::flex().autodiff()).unwrap();
    let encoder = common_weakness_onnx::load_encoder(model, &Device::flex().autodiff()).unwrap();
    assert_eq!(encoder.name(), format!("{model}-encoder"));
    let features = parity.features.unwrap();
    assert!(features <= 1e-3, "{model}: encoder features differ from PyTorch's by {features:.1e}");
    assert_agrees(&parity);
}

/// Logits within 1e-3 of PyTorch's (relative to the largest value), the same top-1 classes,
/// the input gradient no further from PyTorch's float64 gradient (relative L2) than 1e-3 or
/// three times PyTorch's own float32 error, whichever is larger, and each image's logits the
/// same alone as in the batch (batch norm frozen).
pub fn assert_agrees(parity: &Parity) {
    let model = parity.model;
    eprintln!("{parity:?}");
    assert!(parity.logits <= 1e-3, "{model}: logits differ from PyTorch's by {:.1e} (relative)", parity.logits);
    assert!(parity.same_top1, "{model}: top-1 classes differ from PyTorch's");
    let allowed = (3.0 * parity.torch_gradient_l2).max(1e-3);
    assert!(
        parity.gradient_l2 <= allowed,
        "{model}: gradient error {:.1e} (relative L2) against PyTorch's float64 gradient, allowed \
         {allowed:.1e} (PyTorch's own float32 error {:.1e})",
        parity.gradient_l2,
        parity.torch_gradient_l2
    );
    assert!(parity.batch_difference <= 1e-4, "{model}: batch-dependent by {:.1e}", parity.batch_difference);
}

macro_rules! parity_tests {
    ($($test:ident $variant:ident),* $(,)?) => {
        $(
            #[test]
            #[ignore = "needs the ONNX exports: scripts/export-onnx-models.sh"]
            fn $test() {
                agrees_with_pytorch(Architecture::$variant);
            }
        )*
    };
}

parity_tests! {
    resnet18_agrees_with_pytorch ResNet18,
    vgg11_agrees_with_pytorch Vgg11,
    densenet121_agrees_with_pytorch DenseNet121,
    mobilenet_v3_small_agrees_with_pytorch MobileNetV3Small,
    efficientnet_b0_agrees_with_pytorch EfficientNetB0,
    convnext_tiny_agrees_with_pytorch ConvNextTiny,
    vit_b_16_agrees_with_pytorch VitB16,
    efficientnet_lite0_agrees_with_pytorch EfficientNetLite0,
    efficientnet_lite1_agrees_with_pytorch EfficientNetLite1,
    efficientnet_lite2_agrees_with_pytorch EfficientNetLite2,
}

#[test]
fn every_architecture_has_a_distinct_name_that_maps_back() {
    for model in Architecture::ALL {
        assert_eq!(Architecture::from_name(model.name()), Some(model));
    }
    assert_eq!(Architecture::from_name("resnet-18"), None);
}

#[test]
fn a_missing_reference_is_an_error_naming_the_file() {
    let dir = std::env::temp_dir().join("common-weakness-onnx-no-such-folder");
    let error = Reference::load_from(&dir, Architecture::ResNet18).unwrap_err();
    assert!(error.to_string().contains("manifest.json"), "{error}");
}

#[test]
fn relative_error_is_relative_to_the_largest_expected_value_and_flags_nan_and_length() {
    approx::assert_relative_eq!(relative_error(&[1.0, -2.5], &[1.0, -2.0]), 0.25);
    assert_eq!(relative_error(&[0.0], &[0.0]), 0.0);
    assert_eq!(relative_error(&[f32::NAN], &[1.0]), f32::INFINITY);
    assert_eq!(relative_error(&[1.0], &[1.0, 1.0]), f32::INFINITY);
    approx::assert_relative_eq!(relative_l2_error(&[3.0, 4.0], &[0.0, 4.0]), 3.0 / 4.0);
    assert_eq!(relative_l2_error(&[f32::NAN], &[1.0]), f32::INFINITY);
}

//! Weight files and assets: missing, garbage or mis-shaped files are errors naming the file or
//! tensor.

use common_weakness_models::{EfficientNetLite, Error, ImagenetAssets, LiteVariant};

use crate::common::device;

#[test]
fn missing_or_malformed_weights_are_clear_errors() {
    let folder = std::env::temp_dir().join(format!("common-weakness-weights-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let text = folder.join("not-weights.safetensors");
    std::fs::write(&text, "hello").unwrap();
    assert!(matches!(ImagenetAssets::at(folder.join("nowhere")), Err(Error::MissingAssets { .. })));
    let missing = EfficientNetLite::load(LiteVariant::Lite0, folder.join("absent.safetensors"), &device());
    assert!(matches!(missing, Err(Error::MissingAssets { .. })));
    let garbage = EfficientNetLite::load(LiteVariant::Lite0, &text, &device());
    assert!(matches!(garbage, Err(Error::Weights { .. })));

    // A valid safetensors file with the stem at the wrong shape: the error names the tensor.
    let stem = vec![0u8; 4 * 16 * 3 * 3 * 3];
    let view = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![16, 3, 3, 3], &stem).unwrap();
    let wrong = folder.join("wrong.safetensors");
    safetensors::serialize_to_file([("_conv_stem.weight", view)], None, &wrong).unwrap();
    match EfficientNetLite::load(LiteVariant::Lite0, &wrong, &device()) {
        Err(Error::Weights { problem, .. }) => assert!(problem.contains("_conv_stem.weight"), "{problem}"),
        other => panic!("expected a weights error, got {other:?}"),
    }
    std::fs::remove_dir_all(&folder).unwrap();
}

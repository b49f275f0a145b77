//! Backend agreement of the zoo: its convolutions run im2col on ndarray and `conv2d`
//! elsewhere (flex, ndarray by default; tch, wgpu with their features), with the same logits.

use burn::tensor::Device;
use common_weakness::backend::BackendKind;
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::zoo::ZooModel;

/// Logits of the zoo models with dense, strided and depthwise convolutions on 16 test images.
fn zoo_logits(device: Device) -> Vec<f32> {
    let (images, _) = FashionMnist::test_slice().unwrap().head(16, &device);
    [ZooModel::SmallCnn, ZooModel::WideCnn, ZooModel::Separable, ZooModel::LargeKernel]
        .into_iter()
        .flat_map(|model| {
            let logits = model.load(&device).unwrap().forward(images.clone());
            logits.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
        })
        .collect()
}

#[test]
fn zoo_convolutions_agree_across_backends() {
    let reference = zoo_logits(BackendKind::Ndarray.device().unwrap());
    for kind in BackendKind::enabled_kinds() {
        if matches!(kind, BackendKind::Ndarray | BackendKind::TchCuda | BackendKind::Cuda) {
            continue;
        }
        let logits = zoo_logits(kind.device().unwrap());
        let worst = reference.iter().zip(&logits).map(|(a, b)| (a - b).abs() / (1.0 + a.abs())).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "ndarray (im2col) and {kind} (conv2d) zoo logits differ by {worst} (relative)");
    }
}

//! Backend agreement of the zoo and of the kernels: the zoo's convolutions run im2col on
//! ndarray and `conv2d` elsewhere (flex, ndarray by default; tch, wgpu with their features),
//! with the same logits; `kernels::frozen_conv2d` and `hardtanh`, each backend's own
//! implementation of the extension, give the same outputs and input gradients.

use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};
use common_weakness::backend::BackendKind;
use common_weakness::rng::AttackRng;
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::kernels::{frozen_conv2d, hardtanh};
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

/// A tiny MBConv-like block on the kernels (uneven padding, stride-2 stem, depthwise 3×3 with
/// bias, 1×1, ReLU6): its outputs and the input gradient of their weighted sum.
fn kernel_block(device: Device) -> Vec<f32> {
    let seeded = |seed: u64, shape: [usize; 4]| {
        let mut rng = AttackRng::new(seed);
        let values: Vec<f32> = (0..shape.iter().product()).map(|_| rng.unit() * 2.0 - 1.0).collect();
        Tensor::<4>::from_data(TensorData::new(values, shape), &device)
    };
    let (stem, depthwise, project) = (seeded(1, [6, 3, 3, 3]), seeded(2, [6, 1, 3, 3]), seeded(3, [4, 6, 1, 1]));
    let bias = seeded(4, [1, 1, 1, 6]).reshape([6]);
    let x = seeded(5, [2, 3, 9, 9]).mul_scalar(2.0).require_grad();
    let y = x.clone().pad([(0, 1), (0, 1)], PadMode::Constant(0.0));
    let y = hardtanh(frozen_conv2d(y, stem, None, ConvOptions::new([2, 2], [0, 0], [1, 1], 1)), 0.0, 6.0);
    let y = hardtanh(frozen_conv2d(y, depthwise, Some(bias), ConvOptions::new([1, 1], [1, 1], [1, 1], 6)), 0.0, 6.0);
    let y = frozen_conv2d(y, project, None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1));
    let weights = seeded(6, y.dims());
    let gradient = x.grad(&(y.clone() * weights).sum().backward()).unwrap();
    let mut values: Vec<f32> = y.inner().into_data().convert::<f32>().try_to_vec().unwrap();
    values.extend(gradient.into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
    values
}

#[test]
fn kernels_agree_across_backends() {
    let reference = kernel_block(BackendKind::Ndarray.device().unwrap().autodiff());
    assert!(reference.iter().any(|v| *v != 0.0), "the block passes something through");
    for kind in BackendKind::enabled_kinds() {
        if matches!(kind, BackendKind::Ndarray | BackendKind::TchCuda | BackendKind::Cuda) {
            continue;
        }
        let values = kernel_block(kind.device().unwrap().autodiff());
        let worst = reference.iter().zip(&values).map(|(a, b)| (a - b).abs() / (1.0 + a.abs())).fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "ndarray and {kind} kernels (outputs, input gradients) differ by {worst} (relative)");
    }
}

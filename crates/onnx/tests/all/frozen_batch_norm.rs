//! `FrozenBatchNorm` as a drop-in for burn's `BatchNorm` in generated and saved models.

use burn::module::{Module, RunningState};
use burn::nn::{BatchNorm, BatchNormConfig};
use burn::tensor::{Device, Tensor, TensorData};
use burn_store::{BurnpackStore, ModuleSnapshot};
use common_weakness::surrogate::{check_batch_independence, from_fn, FrozenBatchNorm, FrozenBatchNormConfig};

#[derive(Module, Debug)]
struct WithBatchNorm {
    norm: BatchNorm,
}

#[derive(Module, Debug)]
struct WithFrozen {
    norm: FrozenBatchNorm,
}

fn floats(values: &[f32], device: &Device) -> Tensor<1> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), device)
}

fn pixels(device: &Device) -> Tensor<4> {
    let values: Vec<f32> = (0..48).map(|i| ((i * 37) % 17) as f32 / 8.0 - 1.0).collect();
    Tensor::from_data(TensorData::new(values, [4, 3, 2, 2]), device)
}

#[test]
fn batch_norm_weights_saved_by_burn_load_into_frozen_batch_norm_by_name() {
    let device = Device::flex().autodiff();
    let mut norm = BatchNormConfig::new(3).with_epsilon(1e-3).init(&device);
    norm.gamma = burn::module::Param::from_tensor(floats(&[1.5, 0.5, 2.0], &device));
    norm.beta = burn::module::Param::from_tensor(floats(&[0.1, -0.2, 0.3], &device));
    norm.running_mean = RunningState::new(floats(&[0.2, 0.5, -0.1], &device));
    norm.running_var = RunningState::new(floats(&[0.5, 2.0, 1.5], &device));
    let original = WithBatchNorm { norm };
    let mut store = BurnpackStore::from_bytes(None);
    original.save_into(&mut store).unwrap();
    let bytes = store.get_bytes().unwrap();

    // Inference-mode reference: burn's BatchNorm on a backend without autodiff.
    let expected = original.norm.forward(pixels(&Device::flex())).into_data().try_to_vec::<f32>().unwrap();
    let mut frozen = WithFrozen { norm: FrozenBatchNormConfig::new(3).with_epsilon(1e-3).init(&device) };
    frozen.load_from(&mut BurnpackStore::from_bytes(Some(bytes))).unwrap();
    let actual = frozen.norm.forward(pixels(&device)).into_data().try_to_vec::<f32>().unwrap();
    for (a, e) in actual.iter().zip(&expected) {
        approx::assert_relative_eq!(a, e, epsilon = 1e-5);
    }
    // And under autodiff each image is normalised on its own.
    let surrogate = from_fn("frozen", move |x: Tensor<4>| frozen.norm.forward(x).flatten::<2>(1, 3));
    check_batch_independence(&surrogate, pixels(&device), 1e-6).unwrap();
}

//! Cost of pasting a universal patch on every object of a batch (`Placement::OnBoxes` with
//! the default EOT), forward and backward to the patch, as a patch attack does in every
//! gradient evaluation: 8 images of 256 × 256 with 3 objects each (boxes 64–128 pixels), a
//! 32 × 32 patch at a fifth of each box diagonal, on burn-ndarray.
//!
//! ```text
//! cargo bench --bench patch_pasting
//! ```

use burn::tensor::Device;
use burn::tensor::Tensor;
use common_weakness::rng::AttackRng;
use common_weakness::universal::{Batch, Eot, Patch, Placement, Region, UniversalVariable};
use criterion::{criterion_group, criterion_main, Criterion};

/// The device of these benchmarks: burn-ndarray (deprecated in Burn 0.22, kept so that the
/// figures of `docs/performance.md` stay comparable) with autodiff.
#[allow(deprecated)]
fn device() -> Device {
    Device::ndarray().autodiff()
}

fn pasting(c: &mut Criterion) {
    let device = device();
    let images = AttackRng::new(1).uniform([8, 3, 256, 256], 0.0, 1.0, &device);
    let region = |left: f64, top: f64, side: f64| Region { left, top, right: left + side, bottom: top + side };
    let boxes: Vec<Vec<Region>> = (0..8)
        .map(|i| {
            let shift = 8.0 * i as f64;
            vec![region(shift, 10.0, 64.0), region(120.0, shift + 20.0, 96.0), region(20.0, 120.0, 128.0)]
        })
        .collect();
    let batch = Batch::with_boxes(images, boxes);
    let patch = Patch::new(32, 32, Placement::OnBoxes { relative_scale: 0.2 }).with_eot(Eot::default());
    let variable = UniversalVariable::Patch(patch);
    let value = Tensor::<4>::full([1, 3, 32, 32], 0.5, &device).require_grad();
    let mut rng = AttackRng::new(0);
    c.bench_function("paste_on_boxes_forward_backward", |b| {
        b.iter(|| {
            let pasted = variable.apply_to(value.clone(), &batch, &mut rng).expect("the patch fits");
            let grads = pasted.sum().backward();
            value.grad(&grads).expect("the patch has a gradient").sum().into_scalar::<f32>()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = pasting
}
criterion_main!(benches);

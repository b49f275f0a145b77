//! Cost of one MI-CWA iteration against the forward/backward passes it needs.
//!
//! With n surrogates an iteration needs 2n forward+backward passes (n for the reverse step
//! on the ensemble, n for the inner sweep). For n = 2, 4, 8 small CNNs this measures:
//! * `passes`: 2n bare forward+backward passes computing input gradients;
//! * `mi_cwa_1` and `mi_cwa_11`: whole MI-CWA runs of 1 and 11 iterations (their difference
//!   divided by 10 is one iteration, without the per-run set-up).
//!
//! ```text
//! cargo bench --bench cwa_iteration
//! scripts/bench-ratios.sh   # prints iteration / passes for each n
//! ```

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::{from_module, Surrogate};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// The device of these benchmarks: burn-ndarray (deprecated in Burn 0.22, kept so that the
/// figures of `docs/performance.md` stay comparable) with autodiff.
#[allow(deprecated)]
fn device() -> Device {
    Device::ndarray().autodiff()
}
const BATCH: usize = 16;
const CLASSES: usize = 10;

#[derive(Module, Debug)]
struct SmallCnn {
    conv1: Conv2d,
    conv2: Conv2d,
    conv3: Conv2d,
    output: Linear,
}

impl SmallCnn {
    fn new(device: &Device) -> Self {
        let pad = || PaddingConfig2d::Explicit(1, 1, 1, 1);
        Self {
            conv1: Conv2dConfig::new([3, 16], [3, 3]).with_padding(pad()).init(device),
            conv2: Conv2dConfig::new([16, 32], [3, 3]).with_stride([2, 2]).with_padding(pad()).init(device),
            conv3: Conv2dConfig::new([32, 64], [3, 3]).with_stride([2, 2]).with_padding(pad()).init(device),
            output: LinearConfig::new(64, CLASSES).init(device),
        }
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = relu(self.conv3.forward(relu(self.conv2.forward(relu(self.conv1.forward(x))))));
        self.output.forward(x.mean_dims(&[2, 3]).flatten(1, 3))
    }
}

fn models(n: usize) -> Vec<Box<dyn Surrogate>> {
    let device = device();
    (0..n)
        .map(|i| {
            Box::new(from_module(format!("cnn{i}"), SmallCnn::new(&device), |m: &SmallCnn, x| m.forward(x)))
                as Box<dyn Surrogate>
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let device = device();
    let images = AttackRng::new(1).uniform([BATCH, 3, 32, 32], 0.0, 1.0, &device);
    let labels: Vec<usize> = (0..BATCH).map(|i| i % CLASSES).collect();
    let targets =
        Tensor::<1, Int>::from_data(TensorData::new(labels.iter().map(|&l| l as i64).collect(), [BATCH]), &device);
    let objective = Objective::untargeted(labels.clone());
    let loss = CrossEntropyLossConfig::new().init(&device);

    let mut group = c.benchmark_group("cwa_iteration");
    group.sample_size(10);
    for n in [2, 4, 8] {
        let members = models(n);
        group.bench_with_input(BenchmarkId::new("passes", n), &n, |bencher, _| {
            bencher.iter(|| {
                let mut checksum = 0.0;
                for _ in 0..2 {
                    for model in &members {
                        let x = images.clone().detach().require_grad();
                        let grads = loss.forward(model.forward(x.clone()), targets.clone()).backward();
                        checksum += x.grad(&grads).unwrap().sum().into_scalar::<f32>();
                    }
                }
                checksum
            })
        });
        let ensemble = Ensemble::new(members).unwrap();
        for iterations in [1, 11] {
            let attack = Cwa::mi_cwa(CwaConfig::paper(16.0 / 255.0).with_iterations(iterations));
            group.bench_with_input(BenchmarkId::new(format!("mi_cwa_{iterations}"), n), &n, |bencher, _| {
                bencher.iter(|| attack.run(&ensemble, images.clone(), &objective).unwrap().final_loss)
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Surrogates with random parts: one draw per model and iteration, from the run's seed, the
//! same for every image, so seeded runs repeat and shards equal one run.

use std::sync::{Arc, Mutex};

use burn::tensor::{Tensor, TensorData};
use common_weakness::attack::Attack;
use common_weakness::objective::Objective;
use common_weakness::prelude::*;
use common_weakness::surrogate::{draw_key, Surrogate};

use crate::common::{images, mlp, values};

/// A linear two-class model whose weights are scaled per pixel by `1 + range·u`, `u` uniform
/// in [−1, 1] from the draw; it remembers every draw it was given.
struct Jittered {
    w: Vec<f32>,
    range: f32,
    /// Every draw it was given, in order (shared with the test).
    draws: Arc<Mutex<Vec<u64>>>,
}

impl Jittered {
    fn new(range: f32) -> Self {
        Self { w: vec![1.0, -0.5, 0.25, 0.75, -1.0, 0.5], range, draws: Arc::default() }
    }

    fn logits(&self, images: Tensor<4>, w: Vec<f32>) -> Tensor<2> {
        let w = Tensor::<2>::from_data(TensorData::new(w, [6, 1]), &images.device());
        let s = images.flatten::<2>(1, 3).matmul(w);
        Tensor::cat(vec![s.clone(), s.neg()], 1)
    }
}

impl Surrogate for Jittered {
    fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.logits(images, self.w.clone())
    }

    fn forward_drawn(&self, images: Tensor<4>, draw: u64) -> Tensor<2> {
        self.draws.lock().unwrap().push(draw);
        let mut rng = common_weakness::rng::AttackRng::new(draw);
        let w = self.w.iter().map(|w| w * (1.0 + self.range * (2.0 * rng.unit() - 1.0))).collect();
        self.logits(images, w)
    }

    fn name(&self) -> &str {
        "jittered"
    }
}

fn ensemble(range: f32) -> Ensemble {
    Ensemble::new(vec![mlp("mlp", 5, 6, 8, 2), Box::new(Jittered::new(range))]).unwrap()
}

fn run(ensemble: &Ensemble, x: Tensor<4>, labels: Vec<usize>, seed: u64) -> Vec<f32> {
    let attack = mi_fgsm(ThreatModel::linf(0.1), 4, 1.0).with_seed(seed);
    values(attack.run(ensemble, x, &Objective::untargeted(labels)).unwrap().adversarial)
}

#[test]
fn a_seed_repeats_its_draws_another_seed_draws_others() {
    let x = images(2, [3, 1, 2, 3], 0.2, 0.8);
    let labels = vec![0, 1, 0];
    let drawn = ensemble(0.9);
    assert_eq!(run(&drawn, x.clone(), labels.clone(), 4), run(&drawn, x.clone(), labels.clone(), 4));
    assert_ne!(run(&drawn, x.clone(), labels.clone(), 4), run(&drawn, x.clone(), labels.clone(), 5));
    // Without random parts the seed changes nothing in MI-FGSM.
    let fixed = ensemble(0.0);
    assert_eq!(run(&fixed, x.clone(), labels.clone(), 4), run(&fixed, x, labels, 5));
}

#[test]
fn a_model_without_randomness_in_its_draws_equals_the_fixed_model() {
    let x = images(3, [2, 1, 2, 3], 0.2, 0.8);
    let plain = Ensemble::new(vec![mlp("mlp", 5, 6, 8, 2), Box::new(Jittered::new(0.0))]).unwrap();
    struct Fixed(Jittered);
    impl Surrogate for Fixed {
        fn forward(&self, images: Tensor<4>) -> Tensor<2> {
            self.0.forward(images)
        }
        fn name(&self) -> &str {
            "fixed"
        }
    }
    let fixed = Ensemble::new(vec![mlp("mlp", 5, 6, 8, 2), Box::new(Fixed(Jittered::new(0.0)))]).unwrap();
    assert_eq!(run(&plain, x.clone(), vec![0, 1], 0), run(&fixed, x, vec![0, 1], 0));
}

#[test]
fn the_draws_are_the_runs_keys_and_shared_by_every_image_so_shards_equal_one_run() {
    let x = images(4, [4, 1, 2, 3], 0.2, 0.8);
    let labels = vec![0, 1, 1, 0];
    let drawn = ensemble(0.9);
    let whole = run(&drawn, x.clone(), labels.clone(), 11);
    for image in 0..4 {
        let alone = run(&drawn, x.clone().narrow(0, image, 1), vec![labels[image]], 11);
        assert_eq!(alone, whole[image * 6..(image + 1) * 6], "image {image}");
    }
    // What the model saw: the keys of (seed 11, iterations 1..=4, model 1), each for every
    // forward pass of its iteration, nothing else.
    let jittered = Jittered::new(0.9);
    let draws = jittered.draws.clone();
    let ensemble = Ensemble::new(vec![mlp("mlp", 5, 6, 8, 2), Box::new(jittered)]).unwrap();
    let _ = run(&ensemble, x, labels, 11);
    let mut seen = draws.lock().unwrap().clone();
    seen.dedup();
    let expected: Vec<u64> = (1..=4).map(|t| draw_key(11, t, 1)).collect();
    assert_eq!(seen, expected);
}

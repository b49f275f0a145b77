//! Each optimizer role receives what its trait promises: the reverse step the negated
//! ensemble gradient, each inner step one model's gradient L2-normalised per image (whatever
//! the model's scale), the outer step the pseudo-gradient.

use std::sync::Mutex;

use burn::tensor::Tensor;
use common_weakness::attack::{AnchorPoint, Cwa, CwaConfig};
use common_weakness::optim::Optimizer;
use common_weakness::prelude::*;

use super::common::{linear, minimise_output, tensor4, values};

/// Records every gradient it is given and steps a little along it.
#[derive(Default)]
struct Recorder(Mutex<Vec<Vec<f32>>>);

impl Optimizer for Recorder {
    type State = ();
    fn init(&self, _like: &Tensor<4>) {}
    fn step(&self, gradient: Tensor<4>, _state: &mut ()) -> Tensor<4> {
        self.0.lock().unwrap().push(gradient.clone().into_data().convert::<f32>().try_to_vec::<f32>().unwrap());
        gradient.mul_scalar(-1e-3)
    }
}

fn received(recorder: &Recorder) -> Vec<Vec<f32>> {
    recorder.0.lock().unwrap().clone()
}

#[test]
fn each_role_receives_the_gradient_its_trait_promises() {
    // Linear models: model a's gradient is 1000·(1, 2, 2, 0), model b's (0, 0, 3, 4), everywhere.
    let a = [1000.0, 2000.0, 2000.0, 0.0];
    let b = [0.0, 0.0, 3.0, 4.0];
    let ensemble = Ensemble::new(vec![linear("a", a.to_vec()), linear("b", b.to_vec())]).unwrap();
    let x = tensor4(vec![0.5; 4], [1, 1, 2, 2]);
    let mut attack = Cwa::mi_cwa(CwaConfig::paper(0.5).with_iterations(1))
        .with_reverse(Recorder::default())
        .with_inner(Recorder::default())
        .with_outer(Recorder::default());
    attack.settings.anchor = AnchorPoint::Reversed;
    let outcome = attack.run(&ensemble, x, &minimise_output()).unwrap();

    // Reverse: the ascent direction −∇L_ens, the logit mean's gradient negated.
    let reverse = received(attack.reverse.as_ref().unwrap());
    let ascent: Vec<f32> = a.iter().zip(&b).map(|(a, b)| -(a + b) / 2.0).collect();
    assert_eq!(reverse.len(), 1);
    for (got, want) in reverse[0].iter().zip(&ascent) {
        approx::assert_relative_eq!(*got, *want, max_relative = 1e-5);
    }

    // Inner: each model's gradient at unit L2 norm, 1000× scale difference gone.
    let inner = received(attack.inner.as_ref().unwrap());
    let unit = |g: [f32; 4]| {
        let norm = g.iter().map(|v| v * v).sum::<f32>().sqrt();
        g.map(|v| v / norm)
    };
    assert_eq!(inner.len(), 2);
    for (got, want) in inner.iter().zip([unit(a), unit(b)]) {
        for (g, w) in got.iter().zip(want) {
            approx::assert_abs_diff_eq!(*g, w, epsilon = 1e-6);
        }
    }

    // Outer: the pseudo-gradient `x_r − x_inner`, the sum of the two inner steps' descents
    // (1e-3 per unit gradient), undone by the 1e-3 outer step.
    let outer = received(&attack.outer);
    let sweep: Vec<f32> = unit(a).iter().zip(unit(b)).map(|(a, b)| 1e-3 * (a + b)).collect();
    for (got, want) in outer[0].iter().zip(&sweep) {
        approx::assert_abs_diff_eq!(*got, *want, epsilon = 1e-6);
    }
    assert_eq!(values(outcome.adversarial).len(), 4);
}

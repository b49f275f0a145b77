//! Attacks on small models trained here with Burn: untargeted attacks raise the true label's
//! cross-entropy, targeted attacks lower the target's, and accuracy falls.

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::relu;
use burn::tensor::{Int, Tensor, TensorData};
use common_weakness::attack::{bim, di_mi_fgsm, fgsm, mi_fgsm, pgd, ssa, ti_mi_fgsm, vmi_fgsm, CwaConfig};
use common_weakness::eval::predictions;
use common_weakness::prelude::*;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::from_module;

use super::common::device;

// Burn's `Module` derive recognises the backend parameter by its name `B`.
#[derive(Module, Debug)]
struct Net {
    hidden: Linear,
    output: Linear,
}

impl Net {
    fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        self.output.forward(relu(self.hidden.forward(x.flatten(1, 3))))
    }
}

const CLASSES: usize = 3;

/// `count` noisy copies of three fixed 1×4×4 class patterns, with their labels.
fn dataset(seed: u64, count: usize) -> (Tensor<4>, Vec<usize>) {
    let mut patterns = AttackRng::new(99);
    let centres: Vec<Vec<f32>> = (0..CLASSES).map(|_| (0..16).map(|_| 0.3 + 0.4 * patterns.unit()).collect()).collect();
    let mut rng = AttackRng::new(seed);
    let mut pixels = Vec::with_capacity(count * 16);
    let labels: Vec<usize> = (0..count).map(|i| i % CLASSES).collect();
    for &label in &labels {
        pixels.extend(centres[label].iter().map(|c| (c + 0.2 * (rng.unit() - 0.5)).clamp(0.0, 1.0)));
    }
    (Tensor::from_data(TensorData::new(pixels, [count, 1, 4, 4]), &device()), labels)
}

fn train(hidden: usize) -> Net {
    let (x, labels) = dataset(1, 300);
    let targets = Tensor::<1, Int>::from_data(
        TensorData::new(labels.iter().map(|&l| l as i64).collect(), [labels.len()]),
        &device(),
    );
    let mut net = Net {
        hidden: LinearConfig::new(16, hidden).init(&device()),
        output: LinearConfig::new(hidden, CLASSES).init(&device()),
    };
    let mut optimizer = AdamConfig::new().init();
    let loss = CrossEntropyLossConfig::new().init(&device());
    for _ in 0..200 {
        let l = loss.forward(net.forward(x.clone()), targets.clone());
        let grads = GradientsParams::from_grads(l.backward(), &net);
        net = optimizer.step(0.02, net, grads);
    }
    net
}

fn accuracy(net: &Net, x: Tensor<4>, labels: &[usize]) -> f64 {
    let predicted = predictions(net.forward(x).detach()).unwrap();
    predicted.iter().zip(labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
}

fn trained_ensemble(nets: &[Net]) -> Ensemble {
    Ensemble::new(
        nets.iter()
            .enumerate()
            .map(|(i, net)| {
                Box::new(from_module(format!("net{i}"), net.clone(), |m: &Net, x: Tensor<4>| m.forward(x)))
                    as Box<dyn common_weakness::surrogate::Surrogate>
            })
            .collect(),
    )
    .unwrap()
}

/// Every attack of the crate raises every trained surrogate's true-label loss.
#[test]
fn every_attack_raises_the_loss_of_trained_models() {
    let ensemble = trained_ensemble(&[train(16), train(24)]);
    let (x, labels) = dataset(3, 12);
    let objective = Objective::untargeted(labels);
    let threat = ThreatModel::linf(0.1);
    let config = CwaConfig::paper(0.1);
    let small_ti = GradientEstimator::default().with_smoothing(GaussianSmoothing { kernel_size: 3, sigma: 0.8 });
    let translate = GradientEstimator::default().with_diversity(InputDiversity::Translate { padding: 1 });
    let attacks: Vec<Box<dyn Attack>> = vec![
        Box::new(fgsm(threat)),
        Box::new(bim(threat, 10)),
        Box::new(pgd(threat, 10, 0.02, 1)),
        Box::new(mi_fgsm(threat, 10, 1.0)),
        Box::new(common_weakness::attack::ni_fgsm(threat, 10, 1.0)),
        Box::new(common_weakness::attack::pi_fgsm(threat, 10)),
        Box::new(common_weakness::attack::Svre::new(common_weakness::attack::SvreConfig::paper(threat))),
        Box::new(common_weakness::attack::Rap::new(common_weakness::attack::RapConfig {
            iterations: 10,
            ..common_weakness::attack::RapConfig::paper(threat)
        })),
        Box::new(di_mi_fgsm(threat, 10, 1.0).with_ensemble_gradient(translate)),
        Box::new(ti_mi_fgsm(threat, 10, 1.0).with_ensemble_gradient(small_ti)),
        Box::new(vmi_fgsm(threat, 10, 1.0)),
        Box::new(ssa(threat, 10, 1.0)),
        Box::new(Cwa::mi_sam(config.clone())),
        Box::new(Cwa::mi_cse(config.clone())),
        Box::new(Cwa::mi_cwa(config.clone())),
        Box::new(Cwa::adam_cwa(config.clone())),
        Box::new(Cwa::vmi_cwa(config.clone())),
        Box::new(Cwa::ssa_cwa(config.clone())),
        Box::new(Cwa::mi_cwa(CwaConfig::reference(0.1))),
    ];
    for attack in attacks {
        let outcome = attack.run(&ensemble, x.clone(), &objective).unwrap();
        for (before, after) in outcome.initial_loss.iter().zip(&outcome.final_loss) {
            assert!(after < before, "{}: −CE went {before} -> {after}", attack.name());
        }
    }
}

#[test]
fn attacks_on_trained_models_move_the_loss_the_right_way() {
    let nets = [train(16), train(24)];
    let (x, labels) = dataset(2, 30);
    for net in &nets {
        assert!(accuracy(net, x.clone(), &labels) >= 0.9, "the model should learn the easy task");
    }
    let ensemble = trained_ensemble(&nets);
    let config = CwaConfig::paper(0.2);

    let untargeted =
        Cwa::mi_cwa(config.clone()).run(&ensemble, x.clone(), &Objective::untargeted(labels.clone())).unwrap();
    for (before, after) in untargeted.initial_loss.iter().zip(&untargeted.final_loss) {
        assert!(*before < 0.0, "the untargeted objective is −CE(y) ≤ 0");
        // The objective is −CE(y): it falls as the true label's cross-entropy rises.
        assert!(after < before, "true-label cross-entropy should rise: −CE went {before} -> {after}");
    }
    for net in &nets {
        assert!(accuracy(net, untargeted.adversarial.clone(), &labels) < accuracy(net, x.clone(), &labels));
    }

    let targets: Vec<usize> = labels.iter().map(|l| (l + 1) % CLASSES).collect();
    let targeted = Cwa::mi_cwa(config).run(&ensemble, x.clone(), &Objective::targeted(targets.clone())).unwrap();
    for (before, after) in targeted.initial_loss.iter().zip(&targeted.final_loss) {
        assert!(*before > 0.0, "the targeted objective is CE(t) ≥ 0");
        assert!(after < before, "target cross-entropy should fall: {before} -> {after}");
    }
    for net in &nets {
        assert!(accuracy(net, targeted.adversarial.clone(), &targets) > accuracy(net, x.clone(), &targets));
    }
}

//! The classic iterative attacks on an ensemble, as degenerate CWA loops (no reverse step,
//! no inner sweep: the outer optimizer steps on the combined ensemble gradient).

use super::cwa::{AnchorPoint, Cwa, LoopSettings};
use super::order::VisitOrder;
use crate::ensemble::Combination;
use crate::gradient::{GaussianSmoothing, GradientEstimator, InputDiversity, Sampling};
use crate::optim::{Momentum, PatchWise, Sgd};
use crate::threat::ThreatModel;

/// An iterative gradient attack on the combined ensemble objective with outer optimizer `O`.
pub type Iterative<O> = Cwa<Sgd, Sgd, O>;

fn iterative<O>(name: &str, threat: ThreatModel, iterations: usize, outer: O) -> Iterative<O> {
    Cwa {
        name: name.into(),
        settings: LoopSettings {
            threat,
            iterations,
            anchor: AnchorPoint::Iterate,
            origin: AnchorPoint::Iterate,
            combination: Combination::LogitMean,
            order: VisitOrder::Fixed,
            random_start: false,
            seed: 0,
            record_similarity: false,
            ensemble_gradient: GradientEstimator::default(),
            model_gradient: GradientEstimator::default(),
        },
        reverse: None,
        inner: None,
        outer,
    }
}

/// FGSM (Goodfellow et al. 2015): one steepest step of the whole budget.
///
/// ```
/// use common_weakness::attack::fgsm;
/// use common_weakness::threat::ThreatModel;
/// let attack = fgsm(ThreatModel::linf(8.0 / 255.0));
/// assert_eq!(attack.settings.iterations, 1);
/// assert_eq!(attack.outer.step_size, 8.0 / 255.0);
/// ```
pub fn fgsm(threat: ThreatModel) -> Iterative<Sgd> {
    iterative("FGSM", threat, 1, Sgd::steepest(threat.budget, threat.steepest()))
}

/// BIM / I-FGSM (Kurakin et al. 2017): `iterations` steepest steps of `budget/iterations`.
pub fn bim(threat: ThreatModel, iterations: usize) -> Iterative<Sgd> {
    let step = threat.budget / iterations.max(1) as f64;
    iterative("BIM", threat, iterations, Sgd::steepest(step, threat.steepest()))
}

/// PGD (Madry et al. 2018): BIM with step `step_size` from a random start drawn from `seed`.
pub fn pgd(threat: ThreatModel, iterations: usize, step_size: f64, seed: u64) -> Iterative<Sgd> {
    let mut attack = iterative("PGD", threat, iterations, Sgd::steepest(step_size, threat.steepest()));
    attack.settings.random_start = true;
    attack.settings.seed = seed;
    attack
}

/// MI-FGSM (Dong et al. 2018): L1-normalised momentum μ, steps of `budget/iterations`.
pub fn mi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let step = threat.budget / iterations.max(1) as f64;
    let outer = Momentum { direction: threat.steepest(), ..Momentum::mi(step, momentum) };
    iterative("MI-FGSM", threat, iterations, outer)
}

/// DI-MI-FGSM (Xie et al. 2019): MI-FGSM on gradients through a random resize-and-pad of the
/// input (probability 0.5, resize rate 1.1).
pub fn di_mi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let estimator = GradientEstimator::default().with_diversity(InputDiversity::resize_pad());
    mi_fgsm(threat, iterations, momentum).with_ensemble_gradient(estimator).named("DI-MI-FGSM")
}

/// TI-MI-FGSM (Dong et al. 2019): MI-FGSM on gradients smoothed by the authors' 15×15
/// Gaussian kernel.
pub fn ti_mi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let estimator = GradientEstimator::default().with_smoothing(GaussianSmoothing::default());
    mi_fgsm(threat, iterations, momentum).with_ensemble_gradient(estimator).named("TI-MI-FGSM")
}

/// VMI-FGSM (Wang & He 2021): MI-FGSM with variance tuning, N = 20 points in a box of ±1.5ε.
/// For the CWA authors' neighbourhood-mean form use
/// `Sampling::Neighbourhood { samples: 20, range: 1.5 }`.
pub fn vmi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let sampling = Sampling::VarianceTuning { samples: 20, range: 1.5 };
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_sampling(sampling))
        .named("VMI-FGSM")
}

/// SSA (Long et al. 2022): MI-FGSM on the mean gradient over 20 spectrum-simulated copies
/// (ρ = 0.5, σ = ε).
pub fn ssa(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let sampling = Sampling::Spectrum { samples: 20, rho: 0.5, sigma: threat.budget };
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_sampling(sampling))
        .named("SSA")
}

/// NI-FGSM (Lin et al. 2020): MI-FGSM whose gradient is taken at the Nesterov look-ahead
/// point `x + α·μ·g` (in ascent terms), steps of `budget/iterations`.
pub fn ni_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let step = threat.budget / iterations.max(1) as f64;
    let outer = Momentum { direction: threat.steepest(), ..Momentum::ni(step, momentum) };
    iterative("NI-FGSM", threat, iterations, outer)
}

/// PI-FGSM (Gao et al. 2020): the patch-wise step with amplification 5 (α_b = ε/2) and
/// projection step γ = α_b; the authors run 10 iterations.
pub fn pi_fgsm(threat: ThreatModel, iterations: usize) -> Iterative<PatchWise> {
    let outer = PatchWise { direction: threat.steepest(), ..PatchWise::new(threat.budget) };
    iterative("PI-FGSM", threat, iterations, outer)
}

//! The classic iterative attacks on an ensemble, as degenerate CWA loops (no reverse step,
//! no inner sweep: the outer optimizer steps on the combined ensemble gradient).

use super::cwa::{AnchorPoint, Cwa, LoopSettings};
use crate::optim::{Momentum, Sgd};
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
            combination: None,
            random_start: false,
            seed: 0,
            record_similarity: false,
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
/// use common_weakness::ThreatModel;
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

//! One-line presets of the CWA family (the paper's Table 1 rows MI-SAM, MI-CSE, MI-CWA,
//! VMI-CWA, SSA-CWA and the Adam-CWA of its detection experiment), in the paper and
//! reference flavours.

use super::config::{CwaConfig, Flavor};
use super::cwa::{AnchorPoint, Cwa, LoopSettings};
use super::order::VisitOrder;
use crate::ensemble::Combination;
use crate::gradient::{GradientEstimator, Sampling};
use crate::norm::Normalization;
use crate::optim::{Adam, Momentum, Sgd};

/// 16/255/5: the outer step the authors' code hard-codes.
const REFERENCE_OUTER_STEP: f64 = 16.0 / 255.0 / 5.0;
/// 16/255/10: the reverse step of the authors' MI-SAM.
const REFERENCE_SAM_REVERSE_STEP: f64 = 16.0 / 255.0 / 10.0;
/// 50: the inner step of the authors' MI-CSE.
const REFERENCE_CSE_INNER_STEP: f64 = 50.0;
/// 1e-3: the outer Adam learning rate of the authors' `Adam_CommonWeakness`.
const REFERENCE_ADAM_STEP: f64 = 1e-3;
/// VMI-CWA's neighbourhood: 8 points per model in a box of ±1.5ε (the authors' code).
const VMI_SAMPLES: usize = 8;
const VMI_RANGE: f64 = 1.5;
/// SSA's settings: 20 spectrum copies, ρ = 0.5, σ = 16/255 (the authors' code).
const SSA_SAMPLES: usize = 20;
const SSA_RHO: f64 = 0.5;
const REFERENCE_SSA_SIGMA: f64 = 16.0 / 255.0;

fn settings(config: &CwaConfig, anchor: AnchorPoint, origin: AnchorPoint) -> LoopSettings {
    LoopSettings {
        threat: config.threat,
        iterations: config.iterations,
        anchor,
        origin,
        combination: match config.flavor {
            Flavor::Paper => Combination::LogitMean,
            Flavor::Reference => Combination::LogitSum,
        },
        order: VisitOrder::Fixed,
        random_start: config.random_start,
        seed: config.seed,
        record_similarity: true,
        ensemble_gradient: GradientEstimator::default(),
        model_gradient: GradientEstimator::default(),
    }
}

/// The CWA points: the paper measures and steps from the reversed point, the authors' code
/// from the iterate before the reverse step.
fn cwa_points(flavor: Flavor) -> AnchorPoint {
    match flavor {
        Flavor::Paper => AnchorPoint::Reversed,
        Flavor::Reference => AnchorPoint::Iterate,
    }
}

/// MI outer step on the pseudo-gradient: per-sample L1 (paper flavour) or batch-global L1
/// (reference), then a steepest step of α.
fn mi_outer(config: &CwaConfig, step_size: f64) -> Momentum {
    let normalize = match config.flavor {
        Flavor::Paper => Normalization::L1,
        Flavor::Reference => Normalization::L1Batch,
    };
    Momentum { step_size, momentum: config.momentum, normalize, direction: config.threat.steepest(), look_ahead: false }
}

fn outer_step(config: &CwaConfig) -> f64 {
    match config.flavor {
        Flavor::Paper => config.step_size,
        Flavor::Reference => REFERENCE_OUTER_STEP,
    }
}

impl Cwa<Sgd, Momentum, Momentum> {
    /// MI-CWA (paper Algorithm 1): sign ascent of r on the ensemble, L2-normalised momentum
    /// inner steps of β on each model, MI outer step of α on the pseudo-gradient.
    pub fn mi_cwa(config: CwaConfig) -> Self {
        let point = cwa_points(config.flavor);
        Cwa {
            name: "MI-CWA".into(),
            settings: settings(&config, point, point),
            reverse: Some(Sgd::steepest(config.reverse_step_size, config.threat.steepest())),
            inner: Some(Momentum::cwa_inner(config.inner_step_size, config.momentum)),
            outer: mi_outer(&config, outer_step(&config)),
        }
    }

    /// MI-CSE (cosine-similarity encourager): MI-CWA without the reverse step. The reference
    /// flavour uses the authors' MI-CSE inner step of 50.
    pub fn mi_cse(config: CwaConfig) -> Self {
        let inner_step_size = match config.flavor {
            Flavor::Paper => config.inner_step_size,
            Flavor::Reference => REFERENCE_CSE_INNER_STEP,
        };
        Cwa {
            name: "MI-CSE".into(),
            settings: settings(&config, AnchorPoint::Iterate, AnchorPoint::Iterate),
            reverse: None,
            inner: Some(Momentum::cwa_inner(inner_step_size, config.momentum)),
            outer: mi_outer(&config, outer_step(&config)),
        }
    }

    /// MI-SAM: sharpness-aware MI. The MI step uses the ensemble gradient at the reversed
    /// point and is applied at the iterate. The reference flavour uses the authors' r =
    /// 16/255/10 (their gradient-accumulation artifact is not reproduced, see
    /// `docs/algorithms.md`).
    pub fn mi_sam(config: CwaConfig) -> Self {
        let (reverse_step_size, normalize) = match config.flavor {
            Flavor::Paper => (config.reverse_step_size, Normalization::L1),
            Flavor::Reference => (REFERENCE_SAM_REVERSE_STEP, Normalization::L1),
        };
        let outer = Momentum { normalize, ..mi_outer(&config, outer_step(&config)) };
        Cwa {
            name: "MI-SAM".into(),
            settings: settings(&config, AnchorPoint::Reversed, AnchorPoint::Iterate),
            reverse: Some(Sgd::steepest(reverse_step_size, config.threat.steepest())),
            inner: None,
            outer,
        }
    }
}

impl Cwa<Sgd, Momentum, Momentum> {
    /// VMI-CWA: MI-CWA whose inner sweep uses each model's VMI gradient (8 points in a box of
    /// ±1.5ε). Paper flavour: Wang & He's variance tuning. Reference flavour: the authors'
    /// `VMI_Inner_CommonWeakness`, the plain neighbourhood mean (their unclipped reverse step
    /// and targeted-mode skip are not reproduced, see `docs/algorithms.md`).
    pub fn vmi_cwa(config: CwaConfig) -> Self {
        let sampling = match config.flavor {
            Flavor::Paper => Sampling::VarianceTuning { samples: VMI_SAMPLES, range: VMI_RANGE },
            Flavor::Reference => Sampling::Neighbourhood { samples: VMI_SAMPLES, range: VMI_RANGE },
        };
        Cwa::mi_cwa(config).with_model_gradient(GradientEstimator::default().with_sampling(sampling)).named("VMI-CWA")
    }

    /// SSA-CWA: MI-CWA whose inner sweep uses each model's SSA gradient (20 spectrum copies,
    /// ρ = 0.5, σ = ε). The reference flavour is the authors' `SSA_CommonWeakness`, which
    /// has **no** reverse step (it is SSA combined with CSE) and σ = 16/255.
    pub fn ssa_cwa(config: CwaConfig) -> Self {
        let (sigma, attack) = match config.flavor {
            Flavor::Paper => (config.threat.budget, Cwa::mi_cwa(config)),
            Flavor::Reference => (REFERENCE_SSA_SIGMA, Cwa::mi_cwa(config).without_reverse()),
        };
        let sampling = Sampling::Spectrum { samples: SSA_SAMPLES, rho: SSA_RHO, sigma };
        attack.with_model_gradient(GradientEstimator::default().with_sampling(sampling)).named("SSA-CWA")
    }
}

impl Cwa<Sgd, Momentum, Adam> {
    /// Adam-CWA: MI-CWA with an Adam outer step (PyTorch defaults). Its learning rate is α in
    /// the paper flavour (Adam's first steps are ≈ α·sign, like MI) and the authors' 1e-3 in
    /// the reference flavour.
    pub fn adam_cwa(config: CwaConfig) -> Self {
        let step_size = match config.flavor {
            Flavor::Paper => config.step_size,
            Flavor::Reference => REFERENCE_ADAM_STEP,
        };
        Cwa::mi_cwa(config).with_outer(Adam::new(step_size)).named("Adam-CWA")
    }
}

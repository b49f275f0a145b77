//! One-line presets of the CWA family (the paper's Table 1 rows MI-SAM, MI-CSE, MI-CWA,
//! VMI-CWA, SSA-CWA and the Adam-CWA of its detection experiment), in the paper and
//! reference flavours.

use super::config::{CwaConfig, Flavor};
use super::cwa::{AnchorPoint, Cwa, LoopSettings};
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
        iterations: config.iterations,
        anchor,
        origin,
        combination: match config.flavor {
            Flavor::Paper => Combination::LogitMean,
            Flavor::Reference => Combination::LogitSum,
        },
        random_start: config.random_start,
        seed: config.seed,
        record_similarity: true,
        ..LoopSettings::new(config.threat)
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
    /// MI-CWA: the Common Weakness Attack with momentum in every role.
    ///
    /// - **Paper**: Chen et al., *Rethinking Model Ensemble in Transfer-based Adversarial Attacks*,
    ///   ICLR 2024 (Algorithm 1).
    /// - **Update**: reverse `x_r = P(x_t + r·sign(∇L_ens(x_t)))`; inner, for each model, `m ← μm +
    ///   ∇L_i/‖∇L_i‖₂`, `x ← P(x − β·m)`; outer on `q = x_r − x`: `G ← μG + q/‖q‖₁`, `x_{t+1} = P(x_r
    ///   − α·sign(G))`.
    /// - **Defaults**: `CwaConfig::paper(ε)`: T = 10, α = ε/5, β = 50, r = ε/15, μ = 1 (the
    ///   reference flavour: `docs/algorithms.md`).
    /// - **Cost**: 2n passes per iteration with n models (n forward and one backward for the
    ///   reverse step, n forward/backward for the sweep).
    ///
    /// ```
    /// use common_weakness::attack::{Cwa, CwaConfig};
    ///
    /// let attack = Cwa::mi_cwa(CwaConfig::paper(16.0 / 255.0));
    /// assert!(attack.reverse.is_some() && attack.inner.is_some());
    /// ```
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

    /// MI-CSE (cosine-similarity encourager): MI-CWA without the reverse step.
    ///
    /// - **Paper**: Chen et al., *Rethinking Model Ensemble in Transfer-based Adversarial Attacks*,
    ///   ICLR 2024.
    /// - **Update**: inner, for each model, `m ← μm + ∇L_i/‖∇L_i‖₂`, `x ← P(x − β·m)` from `x_t`;
    ///   outer MI step on `q = x_t − x`.
    /// - **Defaults**: `CwaConfig::paper(ε)`; the reference flavour uses the authors' inner step of
    ///   50.
    /// - **Cost**: n forward/backward passes per iteration.
    ///
    /// ```
    /// use common_weakness::attack::{Cwa, CwaConfig};
    ///
    /// let attack = Cwa::mi_cse(CwaConfig::paper(16.0 / 255.0));
    /// assert!(attack.reverse.is_none());
    /// ```
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

    /// MI-SAM: sharpness-aware MI-FGSM.
    ///
    /// - **Paper**: Chen et al., *Rethinking Model Ensemble in Transfer-based Adversarial Attacks*,
    ///   ICLR 2024 (after Foret et al., ICLR 2021).
    /// - **Update**: `x_r = P(x_t + r·sign(∇L_ens(x_t)))`, then the MI step with `∇L_ens(x_r)`
    ///   applied at `x_t`. The reference flavour uses the authors' r = 16/255/10 (their
    ///   gradient-accumulation artifact is not reproduced, see `docs/algorithms.md`).
    /// - **Defaults**: `CwaConfig::paper(ε)`: T = 10, α = ε/5, r = ε/15, μ = 1.
    /// - **Cost**: two ensemble forward/backward passes per iteration.
    ///
    /// ```
    /// use common_weakness::attack::{Cwa, CwaConfig};
    ///
    /// let attack = Cwa::mi_sam(CwaConfig::paper(16.0 / 255.0));
    /// assert!(attack.inner.is_none());
    /// ```
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
    /// VMI-CWA: MI-CWA whose inner sweep uses each model's VMI gradient.
    ///
    /// - **Paper**: Chen et al., *Rethinking Model Ensemble in Transfer-based Adversarial Attacks*,
    ///   ICLR 2024.
    /// - **Update**: MI-CWA with each inner `∇L_i` replaced by its variance-tuned estimate (paper
    ///   flavour: Wang & He's variance tuning; reference flavour: the authors'
    ///   `VMI_Inner_CommonWeakness`, the plain neighbourhood mean; their unclipped reverse step and
    ///   targeted-mode skip are not reproduced).
    /// - **Defaults**: `CwaConfig::paper(ε)`, 8 points per model in a box of ±1.5ε.
    /// - **Cost**: n + 9n passes per iteration (reverse, then 9 per model).
    ///
    /// ```
    /// use common_weakness::attack::{Cwa, CwaConfig};
    ///
    /// let attack = Cwa::vmi_cwa(CwaConfig::paper(16.0 / 255.0));
    /// assert!(attack.settings.model_gradient.sampling.is_some());
    /// ```
    pub fn vmi_cwa(config: CwaConfig) -> Self {
        let sampling = match config.flavor {
            Flavor::Paper => Sampling::VarianceTuning { samples: VMI_SAMPLES, range: VMI_RANGE },
            Flavor::Reference => Sampling::Neighbourhood { samples: VMI_SAMPLES, range: VMI_RANGE },
        };
        Cwa::mi_cwa(config).with_model_gradient(GradientEstimator::default().with_sampling(sampling)).named("VMI-CWA")
    }

    /// SSA-CWA: MI-CWA whose inner sweep uses each model's SSA gradient.
    ///
    /// - **Paper**: Chen et al., *Rethinking Model Ensemble in Transfer-based Adversarial Attacks*,
    ///   ICLR 2024.
    /// - **Update**: MI-CWA with each inner `∇L_i` replaced by its mean over spectrum-simulated
    ///   copies. The reference flavour is the authors' `SSA_CommonWeakness`, which has **no** reverse
    ///   step (SSA combined with CSE) and σ = 16/255.
    /// - **Defaults**: `CwaConfig::paper(ε)`, 20 copies, ρ = 0.5, σ = ε.
    /// - **Cost**: n + 20n passes per iteration (paper flavour).
    ///
    /// ```
    /// use common_weakness::attack::{Cwa, CwaConfig};
    ///
    /// let attack = Cwa::ssa_cwa(CwaConfig::paper(16.0 / 255.0));
    /// assert!(attack.settings.model_gradient.sampling.is_some());
    /// ```
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
    /// Adam-CWA: MI-CWA with an Adam outer step (the paper's universal-patch attack).
    ///
    /// - **Paper**: Chen et al., *Rethinking Model Ensemble in Transfer-based Adversarial Attacks*,
    ///   ICLR 2024 (Section 4.2).
    /// - **Update**: MI-CWA's reverse and inner steps; outer Adam on the pseudo-gradient (PyTorch
    ///   defaults β₁ = 0.9, β₂ = 0.999, ε = 1e-8).
    /// - **Defaults**: `CwaConfig::paper(ε)`, learning rate α (Adam's first steps are ≈ α·sign,
    ///   like MI); the reference flavour uses the authors' 1e-3.
    /// - **Cost**: 2n passes per iteration, as MI-CWA.
    ///
    /// ```
    /// use common_weakness::attack::{Cwa, CwaConfig};
    ///
    /// let attack = Cwa::adam_cwa(CwaConfig::paper(16.0 / 255.0));
    /// assert_eq!(attack.outer.step_size, 16.0 / 255.0 / 5.0);
    /// ```
    pub fn adam_cwa(config: CwaConfig) -> Self {
        let step_size = match config.flavor {
            Flavor::Paper => config.step_size,
            Flavor::Reference => REFERENCE_ADAM_STEP,
        };
        Cwa::mi_cwa(config).with_outer(Adam::new(step_size)).named("Adam-CWA")
    }
}

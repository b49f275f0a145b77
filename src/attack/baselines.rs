//! The classic iterative attacks on an ensemble, as degenerate CWA loops (no reverse step,
//! no inner sweep: the outer optimizer steps on the combined ensemble gradient).

use super::cwa::{Cwa, LoopSettings, WarmUp};
use super::weighting::{AdaEa, Weighting};
use crate::gradient::{Copies, GaussianSmoothing, GradientEstimator, InputDiversity, Sampling};
use crate::norm::Normalization;
use crate::optim::{DecayIndicator, Momentum, PatchWise, Sgd};
use crate::threat::ThreatModel;

/// An iterative gradient attack on the combined ensemble objective with outer optimizer `O`.
pub type Iterative<O> = Cwa<Sgd, Sgd, O>;

fn iterative<O>(name: &str, threat: ThreatModel, iterations: usize, outer: O) -> Iterative<O> {
    Cwa {
        name: name.into(),
        settings: LoopSettings { iterations, ..LoopSettings::new(threat) },
        reverse: None,
        inner: None,
        outer,
    }
}

/// FGSM: one steepest step of the whole budget.
///
/// - **Paper**: Goodfellow et al., *Explaining and Harnessing Adversarial Examples*, ICLR 2015.
/// - **Update**: `x₁ = P(x₀ − ε·sign(∇L_ens(x₀)))` (L2: along `∇L/‖∇L‖₂`).
/// - **Defaults**: one iteration, step ε.
/// - **Cost**: one ensemble forward/backward pass.
///
/// ```
/// use common_weakness::attack::fgsm;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = fgsm(ThreatModel::linf(8.0 / 255.0));
/// assert_eq!(attack.settings.iterations, 1);
/// assert_eq!(attack.outer.step_size, 8.0 / 255.0);
/// ```
pub fn fgsm(threat: ThreatModel) -> Iterative<Sgd> {
    iterative("FGSM", threat, 1, Sgd::steepest(threat.budget, threat.steepest()))
}

/// BIM / I-FGSM: `iterations` steepest steps of `budget/iterations`.
///
/// - **Paper**: Kurakin et al., *Adversarial Examples in the Physical World*, ICLR Workshops 2017.
/// - **Update**: `x_{t+1} = P(x_t − α·sign(∇L_ens(x_t)))`, α = ε/T.
/// - **Defaults**: the registry uses T = 10.
/// - **Cost**: one ensemble forward/backward pass per iteration.
///
/// ```
/// use common_weakness::attack::bim;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = bim(ThreatModel::linf(0.1), 10);
/// assert!((attack.outer.step_size - 0.01).abs() < 1e-12);
/// ```
pub fn bim(threat: ThreatModel, iterations: usize) -> Iterative<Sgd> {
    let step = threat.budget / iterations.max(1) as f64;
    iterative("BIM", threat, iterations, Sgd::steepest(step, threat.steepest()))
}

/// PGD: BIM with step `step_size` from a random start drawn from `seed`.
///
/// - **Paper**: Madry et al., *Towards Deep Learning Models Resistant to Adversarial Attacks*, ICLR
///   2018.
/// - **Update**: `x₀ ~ U(B_ε(x))`, `x_{t+1} = P(x_t − α·sign(∇L_ens(x_t)))`.
/// - **Defaults**: the registry uses T = 10, α = ε/4.
/// - **Cost**: one ensemble forward/backward pass per iteration.
///
/// ```
/// use common_weakness::attack::pgd;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = pgd(ThreatModel::linf(0.1), 10, 0.025, 7);
/// assert!(attack.settings.random_start);
/// assert_eq!(attack.settings.seed, 7);
/// ```
pub fn pgd(threat: ThreatModel, iterations: usize, step_size: f64, seed: u64) -> Iterative<Sgd> {
    let mut attack = iterative("PGD", threat, iterations, Sgd::steepest(step_size, threat.steepest()));
    attack.settings.random_start = true;
    attack.settings.seed = seed;
    attack
}

/// MI-FGSM: momentum on L1-normalised gradients.
///
/// - **Paper**: Dong et al., *Boosting Adversarial Attacks with Momentum*, CVPR 2018.
/// - **Update**: `g ← μ·g + ∇L_ens/‖∇L_ens‖₁`, `x_{t+1} = P(x_t − α·sign(g))`, α = ε/T.
/// - **Defaults**: T = 10, μ = 1 in the registry.
/// - **Cost**: one ensemble forward/backward pass per iteration.
///
/// ```
/// use common_weakness::attack::mi_fgsm;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = mi_fgsm(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.outer.momentum, 1.0);
/// ```
pub fn mi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let step = threat.budget / iterations.max(1) as f64;
    let outer = Momentum { direction: threat.steepest(), ..Momentum::mi(step, momentum) };
    iterative("MI-FGSM", threat, iterations, outer)
}

/// DI-MI-FGSM: MI-FGSM on gradients through a random resize-and-pad of the input.
///
/// - **Paper**: Xie et al., *Improving Transferability of Adversarial Examples with Input
///   Diversity*, CVPR 2019.
/// - **Update**: MI-FGSM with `∇L_ens(T(x))`, T a random resize (rate 1.1) and pad applied with
///   probability 0.5.
/// - **Defaults**: T = 10, μ = 1; `InputDiversity::resize_pad()`.
/// - **Cost**: one ensemble forward/backward pass per iteration.
///
/// ```
/// use common_weakness::attack::di_mi_fgsm;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = di_mi_fgsm(ThreatModel::linf(0.1), 10, 1.0);
/// assert!(attack.settings.ensemble_gradient.diversity.is_some());
/// ```
pub fn di_mi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let estimator = GradientEstimator::default().with_diversity(InputDiversity::resize_pad());
    mi_fgsm(threat, iterations, momentum).with_ensemble_gradient(estimator).named("DI-MI-FGSM")
}

/// TI-MI-FGSM: MI-FGSM on Gaussian-smoothed gradients.
///
/// - **Paper**: Dong et al., *Evading Defenses to Transferable Adversarial Examples by
///   Translation-Invariant Attacks*, CVPR 2019.
/// - **Update**: MI-FGSM with `W ∗ ∇L_ens`, W the authors' 15×15 Gaussian kernel (σ = 14/6).
/// - **Defaults**: T = 10, μ = 1; `GaussianSmoothing::default()`.
/// - **Cost**: one ensemble forward/backward pass per iteration (plus one depthwise convolution).
///
/// ```
/// use common_weakness::attack::ti_mi_fgsm;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = ti_mi_fgsm(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.settings.ensemble_gradient.smoothing.unwrap().kernel_size, 15);
/// ```
pub fn ti_mi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let estimator = GradientEstimator::default().with_smoothing(GaussianSmoothing::default());
    mi_fgsm(threat, iterations, momentum).with_ensemble_gradient(estimator).named("TI-MI-FGSM")
}

/// SI-TI-DIM: the usual stack of input transformations on MI-FGSM (SIM's scaled copies, each
/// through DI's resize-and-pad, the mean smoothed by TI).
///
/// - **Papers**: Lin et al., ICLR 2020 (SIM, which proposed the stack); Xie et al., CVPR 2019
///   (DI); Dong et al., CVPR 2019 (TI).
/// - **Update**: `ĝ = W ∗ (1/m)·Σ_{i<m} ∇_x L_ens(T_i(x/2^i))`, `T_i` a fresh DI transform per
///   copy, W TI's kernel; then the MI-FGSM step on ĝ.
/// - **Defaults**: T = 10, μ = 1, α = ε/T, m = 5, DI p = 0.5 and rate 1.1, TI 15 × 15 (σ =
///   14/6): each part's own defaults.
/// - **Cost**: m = 5 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::si_ti_dim;
/// use common_weakness::threat::ThreatModel;
///
/// let estimator = si_ti_dim(ThreatModel::linf(0.1), 10, 1.0).settings.ensemble_gradient;
/// assert!(estimator.copies.is_some() && estimator.diversity.is_some() && estimator.smoothing.is_some());
/// ```
pub fn si_ti_dim(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum).with_ensemble_gradient(si_ti_di()).named("SI-TI-DIM")
}

/// The SI-TI-DI stack of gradient estimators, each part at its paper's defaults.
pub(crate) fn si_ti_di() -> GradientEstimator {
    GradientEstimator::default()
        .with_copies(Copies::sim())
        .with_diversity(InputDiversity::resize_pad())
        .with_smoothing(GaussianSmoothing::default())
}

/// VMI-FGSM: MI-FGSM with variance tuning.
///
/// - **Paper**: Wang & He, *Enhancing the Transferability of Adversarial Attacks through Variance
///   Tuning*, CVPR 2021.
/// - **Update**: `ĝ = ∇L_ens(x_t) + v_{t−1}`, `v_t` the mean gradient at N points of `x_t +
///   U(±1.5ε)` minus `∇L_ens(x_t)`; then the MI-FGSM step on ĝ. For the CWA authors'
///   neighbourhood-mean form use `Sampling::Neighbourhood { samples: 20, range: 1.5 }`.
/// - **Defaults**: T = 10, μ = 1, N = 20, range 1.5ε.
/// - **Cost**: N + 1 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::vmi_fgsm;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = vmi_fgsm(ThreatModel::linf(0.1), 10, 1.0);
/// assert!(attack.settings.ensemble_gradient.sampling.is_some());
/// ```
pub fn vmi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_sampling(VMI_SAMPLING))
        .named("VMI-FGSM")
}

/// SSA: MI-FGSM on the mean gradient over spectrum-simulated copies.
///
/// - **Paper**: Long et al., *Frequency Domain Model Augmentation for Adversarial Attack*, ECCV
///   2022.
/// - **Update**: the mean of `∇L_ens(IDCT(DCT(x + ξ)·M))` over N copies, ξ ~ N(0, σ²), M ~ U(1 − ρ,
///   1 + ρ); then the MI-FGSM step.
/// - **Defaults**: T = 10, μ = 1, N = 20, ρ = 0.5, σ = ε.
/// - **Cost**: N ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::ssa;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = ssa(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.name, "SSA");
/// ```
pub fn ssa(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let sampling = Sampling::Spectrum { samples: 20, rho: 0.5, sigma: threat.budget };
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_sampling(sampling))
        .named("SSA")
}

/// SI-MI-FGSM: MI-FGSM on the mean gradient over scaled copies of the input (SIM).
///
/// - **Paper**: Lin et al., *Nesterov Accelerated Gradient and Scale Invariance for Adversarial
///   Attacks*, ICLR 2020 (the scale-invariance method).
/// - **Update**: `ĝ = (1/m)·Σ_{i<m} ∇_x L_ens(x/2^i)`, each copy's gradient taken through the
///   scaling (so `2^{−i}·∇L_ens` at `x/2^i`); then the MI-FGSM step on ĝ.
/// - **Defaults**: T = 10, μ = 1, α = ε/T, m = 5 copies ([`Copies::sim`]).
/// - **Cost**: m ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::si_mi_fgsm;
/// use common_weakness::gradient::Copies;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = si_mi_fgsm(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.settings.ensemble_gradient.copies, Some(Copies::Scale { scales: 5 }));
/// ```
pub fn si_mi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_copies(Copies::sim()))
        .named("SI-MI-FGSM")
}

/// MaskBlock: MI-FGSM on the mean gradient over copies of the input with one block masked.
///
/// - **Paper**: Fan et al., *MaskBlock: Transferable Adversarial Examples with Bayes
///   Approach*, 2022.
/// - **Update**: `ĝ = (1/K)·Σ_k ∇_x L_ens(M_k ⊙ x)`, `M_k` zero on block k of a 4 × 4 grid
///   and one elsewhere (so `M_k ⊙ ∇L_ens` at `M_k ⊙ x`); then the MI-FGSM step on ĝ.
/// - **Defaults**: T = 10, μ = 1, α = ε/T, a 4 × 4 grid ([`Copies::mask_block`]: the 56-pixel
///   blocks of TransferAttack's implementation on 224-pixel images). TransferAttack steps by
///   2/255 at ε = 16/255 (ε/8); the registry keeps MI-FGSM's ε/T, so that only the gradient
///   differs from MI-FGSM.
/// - **Cost**: K = 16 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::mask_block;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = mask_block(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.name, "MaskBlock");
/// ```
pub fn mask_block(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_copies(Copies::mask_block()))
        .named("MaskBlock")
}

/// BSR: MI-FGSM on the mean gradient over copies with their blocks shuffled and turned.
///
/// - **Paper**: Wang et al., *Boosting Adversarial Transferability by Block Shuffle and
///   Rotation*, CVPR 2024.
/// - **Update**: `ĝ = (1/N)·Σ_k ∇_x L_ens(T_k(x))`, each `T_k` cutting every image into 2 × 2
///   blocks, shuffling them and turning each by an angle uniform in ±24° (drawn per image and
///   copy, [`Copies::bsr`]); then the MI-FGSM step on ĝ.
/// - **Defaults**: T = 10, μ = 1, α = ε/T, N = 20 copies, 2 × 2 blocks, 24° (the paper's;
///   TransferAttack's code cuts 3 random-length strips per side and does not rotate).
/// - **Cost**: N = 20 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::bsr;
/// use common_weakness::gradient::Copies;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = bsr(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.settings.ensemble_gradient.copies, Some(Copies::bsr()));
/// ```
pub fn bsr(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_copies(Copies::bsr()))
        .named("BSR")
}

/// SIA: MI-FGSM on the mean gradient over copies with a random operation on each block.
///
/// - **Paper**: Wang et al., *Structure Invariant Transformation for better Adversarial
///   Transferability*, ICCV 2023.
/// - **Update**: `ĝ = (1/N)·Σ_k ∇_x L_ens(T_k(x))`, each `T_k` cutting every image at random
///   into 3 × 3 blocks and applying to each a shift, flip, 180° rotation, scaling or noise
///   (drawn per image and copy, [`Copies::sia`]); then the MI-FGSM step on ĝ.
/// - **Defaults**: T = 10, μ = 1, α = ε/T, N = 20 copies, 3 × 3 blocks, the seven operations
///   of the paper's default (and TransferAttack's).
/// - **Cost**: N = 20 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::sia;
/// use common_weakness::gradient::Copies;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = sia(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.settings.ensemble_gradient.copies, Some(Copies::sia()));
/// ```
pub fn sia(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_copies(Copies::sia()))
        .named("SIA")
}

/// PGN: MI-FGSM on the gradient-norm-penalising estimate (a flatness method).
///
/// - **Paper**: Ge et al., *Boosting Adversarial Transferability by Achieving Flat Local
///   Maxima*, NeurIPS 2023.
/// - **Update**: for N points `x' = x + U(±ζ)`, `g₁ = ∇L_ens(x')` and `g₂ = ∇L_ens(x' +
///   α·g₁/mean|g₁|)` (one normalised step up the objective, where a sharp maximum's gradient
///   changes most); `ĝ = mean of (1 − δ)·g₁ + δ·g₂`; then the MI-FGSM step on ĝ
///   ([`Sampling::GradientNormPenalty`]).
/// - **Defaults**: T = 10, μ = 1, α = ε/T, N = 20, ζ = 3ε, δ = 0.5 (the paper's and
///   TransferAttack's).
/// - **Cost**: 2N ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::pgn;
/// use common_weakness::gradient::Sampling;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = pgn(ThreatModel::linf(0.1), 10, 1.0);
/// assert!(matches!(
///     attack.settings.ensemble_gradient.sampling,
///     Some(Sampling::GradientNormPenalty { samples: 20, range: 3.0, step: 0.1, balance: 0.5 })
/// ));
/// ```
pub fn pgn(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_sampling(pgn_sampling(iterations)))
        .named("PGN")
}

/// PGN's sampling with the paper's settings for an attack of `iterations` iterations.
pub(crate) fn pgn_sampling(iterations: usize) -> Sampling {
    Sampling::GradientNormPenalty { samples: 20, range: 3.0, step: 1.0 / iterations.max(1) as f64, balance: 0.5 }
}

/// ANDA: sign steps on the running mean of the gradients over translated copies.
///
/// - **Paper**: Fang et al., *Strong Transferable Adversarial Attacks via Ensembled
///   Asymptotically Normal Distribution Learning*, CVPR 2024.
/// - **Update**: `ĝ_t = Σ_k ∇_x L_ens(S_k(x_t))` over 25 translations `S_k`
///   ([`Copies::anda`]); `x_{t+1} = P(x_t − α·sign(Σ_{s≤t} μ^{t−s}·ĝ_s))`: with μ = 1 the
///   sign of the running mean of every gradient gathered, the mean of ANDA's asymptotically
///   normal estimate (a [`Momentum`] without normalisation).
/// - **Defaults**: T = 10, α = ε/T, a 5 × 5 grid of shifts up to 0.3, μ = 1 (the paper's
///   and TransferAttack's; its MultiANDA, which samples outputs from the estimated
///   covariance, is not included).
/// - **Cost**: 25 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::anda;
/// use common_weakness::gradient::Copies;
/// use common_weakness::norm::Normalization;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = anda(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.settings.ensemble_gradient.copies, Some(Copies::anda()));
/// assert_eq!(attack.outer.normalize, Normalization::None);
/// ```
pub fn anda(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let step = threat.budget / iterations.max(1) as f64;
    let outer =
        Momentum { direction: threat.steepest(), normalize: Normalization::None, ..Momentum::mi(step, momentum) };
    iterative("ANDA", threat, iterations, outer)
        .with_ensemble_gradient(GradientEstimator::default().with_copies(Copies::anda()))
}

/// DeCoWA: MI-FGSM on the mean gradient over copies warped by thin-plate splines, each warp
/// first moved to resist the attack.
///
/// - **Paper**: Lin et al., *Boosting Adversarial Transferability across Model Genus by
///   Deformation-Constrained Warping*, AAAI 2024.
/// - **Update**: for each of N copies, offsets `o ~ U(±s/2)` of the inner points of a 3 × 3
///   control mesh, `o ← o + ρ·∇_o L_ens(W_o(x))` (the warp that most resists the attack), then
///   `ĝ = (1/N)·Σ ∇_x L_ens(W_o(x))`; then the MI-FGSM step on ĝ ([`Copies::decowa`]).
/// - **Defaults**: T = 10, μ = 1, α = ε/T, N = 20, s = 2, ρ = 0.01 (TransferAttack's).
/// - **Cost**: 2N = 40 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::decowa;
/// use common_weakness::gradient::Copies;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = decowa(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.settings.ensemble_gradient.copies, Some(Copies::decowa()));
/// ```
pub fn decowa(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_copies(Copies::decowa()))
        .named("DeCoWA")
}

/// Admix: MI-FGSM on the mean gradient over scaled copies of the image with other classes'
/// images mixed in.
///
/// - **Paper**: Wang et al., *Admix: Enhancing the Transferability of Adversarial Attacks*,
///   ICCV 2021.
/// - **Update**: `ĝ = (1/(m₁m₂))·Σ_{i<m₁} Σ_{j<m₂} ∇_x L_ens((x + η·x'_j)/2^i)`, each `x'_j` an
///   image of the objective's mixing pool of another class, drawn per image and copy
///   ([`Copies::admix`]); then the MI-FGSM step on ĝ. The objective needs a pool
///   ([`Objective::with_mixing_pool`](crate::objective::Objective::with_mixing_pool)).
/// - **Defaults**: T = 10, μ = 1, α = ε/T, m₁ = 5 scales, m₂ = 3 mixes, η = 0.2 (the paper's
///   and TransferAttack's).
/// - **Cost**: m₁m₂ = 15 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::admix;
/// use common_weakness::gradient::Copies;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = admix(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.settings.ensemble_gradient.copies, Some(Copies::admix()));
/// ```
pub fn admix(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_copies(Copies::admix()))
        .named("Admix")
}

/// EMI-FGSM: MI-FGSM on the mean gradient over points along the previous gradient.
///
/// - **Paper**: Wang et al., *Boosting Adversarial Transferability through Enhanced
///   Momentum*, BMVC 2021.
/// - **Update**: `ḡ_t = (1/N)·Σ_k ∇L_ens(x_t + c_k·α·ḡ_{t−1}/mean|ḡ_{t−1}|)`, `c_k` evenly
///   spaced in [−7, 7] (`ḡ_0 = 0`); then the MI-FGSM step on ḡ_t
///   ([`Sampling::LinearLookAround`]).
/// - **Defaults**: T = 10, μ = 1, α = ε/T, N = 11, radius 7 steps (the paper's and
///   TransferAttack's linear sampling).
/// - **Cost**: N = 11 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::emi_fgsm;
/// use common_weakness::gradient::Sampling;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = emi_fgsm(ThreatModel::linf(0.1), 10, 1.0);
/// assert!(matches!(
///     attack.settings.ensemble_gradient.sampling,
///     Some(Sampling::LinearLookAround { samples: 11, range: 0.7 })
/// ));
/// ```
pub fn emi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_sampling(emi_sampling(iterations)))
        .named("EMI-FGSM")
}

/// EMI's sampling with the paper's settings for an attack of `iterations` iterations.
pub(crate) fn emi_sampling(iterations: usize) -> Sampling {
    Sampling::LinearLookAround { samples: 11, range: 7.0 / iterations.max(1) as f64 }
}

/// GI-FGSM: MI-FGSM whose momentum is first gathered by a warm-up of long steps.
///
/// - **Paper**: Wang et al., *Boosting the Transferability of Adversarial Attacks with Global
///   Momentum Initialization*, 2022.
/// - **Update**: P warm-up iterations of MI-FGSM with steps s·α, then back to the start with
///   the momentum kept, then the T iterations of MI-FGSM ([`WarmUp`]).
/// - **Defaults**: T = 10, μ = 1, α = ε/T, P = 5, s = 10 (the paper's and TransferAttack's).
/// - **Cost**: T + P = 15 ensemble forward/backward passes.
///
/// ```
/// use common_weakness::attack::{gi_fgsm, Iterate, WarmUp};
/// use common_weakness::threat::ThreatModel;
///
/// let attack = gi_fgsm(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.settings.warm_up, Some(WarmUp::gi()));
/// assert_eq!(attack.plan().iterations, 15);
/// ```
pub fn gi_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let mut attack = mi_fgsm(threat, iterations, momentum).named("GI-FGSM");
    attack.settings.warm_up = Some(WarmUp::gi());
    attack
}

/// AdaEA: MI-FGSM on the ensemble gradient with AdaEA's adaptive model weights and
/// disparity filter.
///
/// - **Paper**: Chen et al., *An Adaptive Model Ensemble Adversarial Attack for Boosting
///   Adversarial Transferability*, ICCV 2023.
/// - **Update**: each iteration, per-image weights `w` from each model's adversarial ability
///   and a filter `B` where the models' gradients agree ([`AdaEa`]); then the MI-FGSM step on
///   `B ⊙ ∇L_ens,w`, the ensemble objective with the weights `w`.
/// - **Defaults**: T = 10, μ = 1, α = ε/T, β = 10, threshold −0.3, probe step α (the paper's
///   and TransferAttack's).
/// - **Cost**: per iteration with n models, n forward/backward passes and n² forward passes
///   for the weights, then the ensemble's forward/backward pass.
///
/// ```
/// use common_weakness::attack::{ada_ea, AdaEa, Weighting};
/// use common_weakness::threat::ThreatModel;
///
/// let attack = ada_ea(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.settings.weighting, Weighting::AdaEa(AdaEa::paper(10)));
/// ```
pub fn ada_ea(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    mi_fgsm(threat, iterations, momentum).with_weighting(Weighting::AdaEa(AdaEa::paper(iterations))).named("AdaEA")
}

/// GRA: the relevance-weighted gradient with a momentum whose step decays where it flips.
///
/// - **Paper**: Zhu et al., *Boosting Adversarial Transferability via Gradient Relevance
///   Attack*, ICCV 2023.
/// - **Update**: `g = ∇L_ens(x_t)`, `ḡ = (1/N)·Σ_k ∇L_ens(x_t + u_k)`, `u_k ~ U(±β·ε)`,
///   `s = cos(g, ḡ)` per image, `ĝ = s·g + (1 − s)·ḡ` ([`Sampling::Relevance`]); `m ← μ·m +
///   ĝ/mean|ĝ|`, the indicator `M` multiplied by η where `sign(m)` flipped, `x_{t+1} =
///   P(x_t − α·M ⊙ sign(m))` ([`DecayIndicator`]).
/// - **Defaults**: T = 10, μ = 1, α = ε/T, N = 20, β = 3.5, η = 0.94 (the paper's and
///   TransferAttack's).
/// - **Cost**: N + 1 = 21 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::gra;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = gra(ThreatModel::linf(0.1), 10, 1.0);
/// assert_eq!(attack.outer.decay, 0.94);
/// ```
pub fn gra(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<DecayIndicator> {
    let step = threat.budget / iterations.max(1) as f64;
    let outer = DecayIndicator { direction: threat.steepest(), ..DecayIndicator::gra(step, momentum) };
    iterative("GRA", threat, iterations, outer)
        .with_ensemble_gradient(GradientEstimator::default().with_sampling(GRA_SAMPLING))
}

/// GRA's neighbourhood: N = 20 points in a box of half-width 3.5ε.
pub(crate) const GRA_SAMPLING: Sampling = Sampling::Relevance { samples: 20, range: 3.5 };

/// VNI-FGSM: NI-FGSM on the variance-tuned gradient.
///
/// - **Paper**: Wang & He, *Enhancing the Transferability of Adversarial Attacks through
///   Variance Tuning*, CVPR 2021 (VNI, beside VMI).
/// - **Update**: NI-FGSM's look-ahead step on `∇L_ens + v`, `v` VMI's variance term
///   ([`Sampling::VarianceTuning`]).
/// - **Defaults**: T = 10, μ = 1, α = ε/T, N = 20, β = 1.5.
/// - **Cost**: N + 1 = 21 ensemble forward/backward passes per iteration.
///
/// ```
/// use common_weakness::attack::vni_fgsm;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = vni_fgsm(ThreatModel::linf(0.1), 10, 1.0);
/// assert!(attack.outer.look_ahead && attack.settings.ensemble_gradient.sampling.is_some());
/// ```
pub fn vni_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    ni_fgsm(threat, iterations, momentum)
        .with_ensemble_gradient(GradientEstimator::default().with_sampling(VMI_SAMPLING))
        .named("VNI-FGSM")
}

/// VMI's variance tuning with the paper's N = 20 points in a box of half-width 1.5ε.
const VMI_SAMPLING: Sampling = Sampling::VarianceTuning { samples: 20, range: 1.5 };

/// NI-FGSM: MI-FGSM whose gradient is taken at the Nesterov look-ahead point.
///
/// - **Paper**: Lin et al., *Nesterov Accelerated Gradient and Scale Invariance for Adversarial
///   Attacks*, ICLR 2020.
/// - **Update**: `g ← μ·g + ∇L_ens(x_t − α·μ·g)/mean|∇L_ens|`, `x_{t+1} = P(x_t − α·sign(g))`, α =
///   ε/T.
/// - **Defaults**: T = 10, μ = 1.
/// - **Cost**: one ensemble forward/backward pass per iteration.
///
/// ```
/// use common_weakness::attack::ni_fgsm;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = ni_fgsm(ThreatModel::linf(0.1), 10, 1.0);
/// assert!(attack.outer.look_ahead);
/// ```
pub fn ni_fgsm(threat: ThreatModel, iterations: usize, momentum: f64) -> Iterative<Momentum> {
    let step = threat.budget / iterations.max(1) as f64;
    let outer = Momentum { direction: threat.steepest(), ..Momentum::ni(step, momentum) };
    iterative("NI-FGSM", threat, iterations, outer)
}

/// PI-FGSM: patch-wise steps with amplification and projection onto neighbouring pixels.
///
/// - **Paper**: Gao et al., *Patch-wise Attack for Fooling Deep Neural Network*, ECCV 2020.
/// - **Update**: `a ← a + β·sign(∇L_ens)`; the part of `a` beyond ε is spread to neighbours by a
///   uniform 3×3 kernel with step γ; `x_{t+1} = P(x_t − (β·sign(∇L_ens) + γ·sign(W ∗ C)))`.
/// - **Defaults**: amplification 5 (β = ε/2), γ = β; the authors run T = 10.
/// - **Cost**: one ensemble forward/backward pass per iteration.
///
/// ```
/// use common_weakness::attack::pi_fgsm;
/// use common_weakness::threat::ThreatModel;
///
/// let attack = pi_fgsm(ThreatModel::linf(0.1), 10);
/// assert_eq!(attack.outer.step_size, 0.05);
/// ```
pub fn pi_fgsm(threat: ThreatModel, iterations: usize) -> Iterative<PatchWise> {
    let outer = PatchWise { direction: threat.steepest(), ..PatchWise::new(threat.budget) };
    iterative("PI-FGSM", threat, iterations, outer)
}

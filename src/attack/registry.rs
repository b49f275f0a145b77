//! Every attack by name, from a short serde (JSON) spec that expands into an
//! [`AttackConfig`]: the paper's table ([`registry`]) and the later methods ([`catalogue`]).

use std::fmt;

use serde::{Deserialize, Serialize};

use super::baselines::{
    ada_ea, admix, anda, bim, bsr, decowa, di_mi_fgsm, emi_fgsm, emi_sampling, fgsm, gi_fgsm, gra, mask_block, mi_fgsm,
    ni_fgsm, pgd, pgn, pgn_sampling, pi_fgsm, si_mi_fgsm, si_ti_di, si_ti_dim, sia, ssa, ti_mi_fgsm, vmi_fgsm,
    vni_fgsm, GRA_SAMPLING,
};
use super::defaults::serde_with_defaults;
use super::{
    AdaEa, Attack, AttackConfig, Cwa, CwaConfig, Iterative, Rap, RapConfig, Smer, SmerConfig, Svre, SvreConfig, WarmUp,
    Weighting,
};
use crate::gradient::{Copies, GradientEstimator};
use crate::optim::{AnyOptimizer, DecayIndicator};
use crate::threat::ThreatModel;

/// A registry preset by name with its few parameters, so that a benchmark can iterate over a
/// list of specs read from a file. It is shorthand, not a second schema: [`config`](Self::config)
/// expands it into the [`AttackConfig`] every run records, where any part can be changed.
///
/// Read from JSON, a spec needs only `attack` and `threat`: every other field defaults to the
/// registry's value for that threat model ([`registry_at`]; the CWA presets to their
/// flavour's, [`CwaConfig::paper`] or [`CwaConfig::reference`]).
///
/// ```
/// use common_weakness::attack::AttackSpec;
///
/// let spec: AttackSpec = serde_json::from_str(
///     r#"{"attack": "mi-fgsm", "threat": {"norm": "Linf", "budget": 0.03}, "iterations": 20}"#,
/// ).unwrap();
/// assert!(matches!(spec, AttackSpec::MiFgsm { iterations: 20, momentum: 1.0, .. }));
/// let attack = spec.build();
/// assert_eq!(attack.name(), "MI-FGSM");
/// let cwa: AttackSpec = serde_json::from_str(&serde_json::to_string(&AttackSpec::MiCwa(
///     common_weakness::attack::CwaConfig::paper(8.0 / 255.0),
/// )).unwrap()).unwrap();
/// assert_eq!(cwa.build().name(), "MI-CWA");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
#[serde(tag = "attack", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AttackSpec {
    /// [`fgsm`].
    Fgsm {
        /// Threat model.
        threat: ThreatModel,
    },
    /// [`bim`].
    Bim {
        /// Threat model.
        threat: ThreatModel,
        /// Iterations.
        iterations: usize,
    },
    /// [`pgd`].
    Pgd {
        /// Threat model.
        threat: ThreatModel,
        /// Iterations.
        iterations: usize,
        /// Step α.
        #[serde(with = "crate::json_float")]
        step_size: f64,
        /// Seed of the random start.
        seed: u64,
    },
    /// [`mi_fgsm`].
    MiFgsm {
        /// Threat model.
        threat: ThreatModel,
        /// Iterations.
        iterations: usize,
        /// Momentum μ.
        #[serde(with = "crate::json_float")]
        momentum: f64,
    },
    /// [`ni_fgsm`].
    NiFgsm {
        /// Threat model.
        threat: ThreatModel,
        /// Iterations.
        iterations: usize,
        /// Momentum μ.
        #[serde(with = "crate::json_float")]
        momentum: f64,
    },
    /// [`di_mi_fgsm`].
    DiMiFgsm {
        /// Threat model.
        threat: ThreatModel,
        /// Iterations.
        iterations: usize,
        /// Momentum μ.
        #[serde(with = "crate::json_float")]
        momentum: f64,
        /// Seed of the random transforms or samples.
        #[serde(default)]
        seed: u64,
    },
    /// [`ti_mi_fgsm`].
    TiMiFgsm {
        /// Threat model.
        threat: ThreatModel,
        /// Iterations.
        iterations: usize,
        /// Momentum μ.
        #[serde(with = "crate::json_float")]
        momentum: f64,
    },
    /// [`vmi_fgsm`].
    VmiFgsm {
        /// Threat model.
        threat: ThreatModel,
        /// Iterations.
        iterations: usize,
        /// Momentum μ.
        #[serde(with = "crate::json_float")]
        momentum: f64,
        /// Seed of the random transforms or samples.
        #[serde(default)]
        seed: u64,
    },
    /// [`ssa`].
    Ssa {
        /// Threat model.
        threat: ThreatModel,
        /// Iterations.
        iterations: usize,
        /// Momentum μ.
        #[serde(with = "crate::json_float")]
        momentum: f64,
        /// Seed of the random transforms or samples.
        #[serde(default)]
        seed: u64,
    },
    /// [`pi_fgsm`].
    PiFgsm {
        /// Threat model.
        threat: ThreatModel,
        /// Iterations.
        iterations: usize,
    },
    /// [`Svre`].
    Svre(SvreConfig),
    /// [`Rap`].
    Rap(RapConfig),
    /// [`Cwa::mi_sam`].
    MiSam(CwaConfig),
    /// [`Cwa::mi_cse`].
    MiCse(CwaConfig),
    /// [`Cwa::mi_cwa`].
    MiCwa(CwaConfig),
    /// [`Cwa::adam_cwa`].
    AdamCwa(CwaConfig),
    /// [`Cwa::vmi_cwa`].
    VmiCwa(CwaConfig),
    /// [`Cwa::ssa_cwa`].
    SsaCwa(CwaConfig),
    /// [`si_mi_fgsm`] (in the [`catalogue`]).
    SiMiFgsm(MomentumSettings),
    /// [`mask_block`] (in the [`catalogue`]).
    MaskBlock(MomentumSettings),
    /// [`Cwa::mi_cwa`] whose inner (per-model) gradients are SIM's ([`Copies::sim`]), as
    /// SSA-CWA's are SSA's (in the [`catalogue`]).
    SimCwa(CwaConfig),
    /// [`Cwa::mi_cwa`] whose inner gradients are MaskBlock's ([`Copies::mask_block`]) (in the
    /// [`catalogue`]).
    MaskBlockCwa(CwaConfig),
    /// [`pgn`] (in the [`catalogue`]).
    Pgn(MomentumSettings),
    /// [`Cwa::mi_cwa`] whose inner gradients are PGN's (in the [`catalogue`]).
    PgnCwa(CwaConfig),
    /// [`bsr`] (in the [`catalogue`]).
    Bsr(MomentumSettings),
    /// [`Cwa::mi_cwa`] whose inner gradients are BSR's ([`Copies::bsr`]) (in the
    /// [`catalogue`]).
    BsrCwa(CwaConfig),
    /// [`sia`] (in the [`catalogue`]).
    Sia(MomentumSettings),
    /// [`Cwa::mi_cwa`] whose inner gradients are SIA's ([`Copies::sia`]) (in the
    /// [`catalogue`]).
    SiaCwa(CwaConfig),
    /// [`emi_fgsm`] (in the [`catalogue`]).
    EmiFgsm(MomentumSettings),
    /// [`Cwa::mi_cwa`] whose inner gradients are EMI's, each model's line along its own
    /// previous gradient (in the [`catalogue`]).
    EmiCwa(CwaConfig),
    /// [`gra`] (in the [`catalogue`]).
    Gra(MomentumSettings),
    /// [`Cwa::mi_cwa`] whose inner gradients are GRA's relevance-weighted ones and whose
    /// outer momentum has GRA's decay indicator (in the [`catalogue`]).
    GraCwa(CwaConfig),
    /// [`vni_fgsm`] (in the [`catalogue`]).
    VniFgsm(MomentumSettings),
    /// [`admix`] (in the [`catalogue`]; the objective needs a mixing pool).
    Admix(MomentumSettings),
    /// [`Cwa::mi_cwa`] whose inner gradients are Admix's ([`Copies::admix`]) (in the
    /// [`catalogue`]; the objective needs a mixing pool).
    AdmixCwa(CwaConfig),
    /// [`decowa`] (in the [`catalogue`]).
    Decowa(MomentumSettings),
    /// [`Cwa::mi_cwa`] whose inner gradients are DeCoWA's ([`Copies::decowa`]), each model's
    /// warps resisting that model (in the [`catalogue`]).
    DecowaCwa(CwaConfig),
    /// [`si_ti_dim`] (in the [`catalogue`]).
    SiTiDim(MomentumSettings),
    /// [`gi_fgsm`] (in the [`catalogue`]).
    GiFgsm(MomentumSettings),
    /// [`anda`] (in the [`catalogue`]).
    Anda(MomentumSettings),
    /// [`Cwa::mi_cwa`] whose inner gradients average over ANDA's translations
    /// ([`Copies::anda`]) (in the [`catalogue`]).
    AndaCwa(CwaConfig),
    /// [`Cwa::mi_cwa`] after GI's warm-up ([`WarmUp::gi`]) (in the [`catalogue`]).
    GiCwa(CwaConfig),
    /// [`Cwa::mi_cwa`] whose inner gradients go through the SI-TI-DI stack (in the
    /// [`catalogue`]).
    SiTiDiCwa(CwaConfig),
    /// [`ada_ea`] (in the [`catalogue`]).
    AdaEa(MomentumSettings),
    /// [`Smer`] (in the [`catalogue`]).
    Smer(SmerConfig),
    /// [`Cwa::mi_cwa`] whose reverse step's ensemble gradient has AdaEA's weights and filter
    /// ([`Weighting::AdaEa`]) (in the [`catalogue`]).
    AdaEaCwa(CwaConfig),
}

impl AttackSpec {
    /// The attack in the one configuration schema, [`AttackConfig`]: every default spelled
    /// out, ready to be changed (an optimizer, an estimator, the combination) or recorded.
    pub fn config(&self) -> AttackConfig {
        match self.clone() {
            AttackSpec::Fgsm { threat } => AttackConfig::from(fgsm(threat)),
            AttackSpec::Bim { threat, iterations } => AttackConfig::from(bim(threat, iterations)),
            AttackSpec::Pgd { threat, iterations, step_size, seed } => {
                AttackConfig::from(pgd(threat, iterations, step_size, seed))
            }
            AttackSpec::MiFgsm { threat, iterations, momentum } => {
                AttackConfig::from(mi_fgsm(threat, iterations, momentum))
            }
            AttackSpec::NiFgsm { threat, iterations, momentum } => {
                AttackConfig::from(ni_fgsm(threat, iterations, momentum))
            }
            AttackSpec::DiMiFgsm { threat, iterations, momentum, seed } => {
                AttackConfig::from(di_mi_fgsm(threat, iterations, momentum).with_seed(seed))
            }
            AttackSpec::TiMiFgsm { threat, iterations, momentum } => {
                AttackConfig::from(ti_mi_fgsm(threat, iterations, momentum))
            }
            AttackSpec::VmiFgsm { threat, iterations, momentum, seed } => {
                AttackConfig::from(vmi_fgsm(threat, iterations, momentum).with_seed(seed))
            }
            AttackSpec::Ssa { threat, iterations, momentum, seed } => {
                AttackConfig::from(ssa(threat, iterations, momentum).with_seed(seed))
            }
            AttackSpec::PiFgsm { threat, iterations } => AttackConfig::from(pi_fgsm(threat, iterations)),
            AttackSpec::Svre(config) => AttackConfig::from(Svre::new(config)),
            AttackSpec::Rap(config) => AttackConfig::from(Rap::new(config)),
            AttackSpec::MiSam(config) => AttackConfig::from(Cwa::mi_sam(config)),
            AttackSpec::MiCse(config) => AttackConfig::from(Cwa::mi_cse(config)),
            AttackSpec::MiCwa(config) => AttackConfig::from(Cwa::mi_cwa(config)),
            AttackSpec::AdamCwa(config) => AttackConfig::from(Cwa::adam_cwa(config)),
            AttackSpec::VmiCwa(config) => AttackConfig::from(Cwa::vmi_cwa(config)),
            AttackSpec::SsaCwa(config) => AttackConfig::from(Cwa::ssa_cwa(config)),
            AttackSpec::SiMiFgsm(settings) => settings.on(si_mi_fgsm),
            AttackSpec::MaskBlock(settings) => settings.on(mask_block),
            AttackSpec::Pgn(settings) => settings.on(pgn),
            AttackSpec::PgnCwa(config) => {
                let sampling = pgn_sampling(config.iterations);
                inner_cwa(config, GradientEstimator::default().with_sampling(sampling), "PGN-CWA")
            }
            AttackSpec::SimCwa(config) => inner_cwa(config, through(Copies::sim()), "SIM-CWA"),
            AttackSpec::MaskBlockCwa(config) => inner_cwa(config, through(Copies::mask_block()), "MaskBlock-CWA"),
            AttackSpec::Bsr(settings) => settings.on(bsr),
            AttackSpec::BsrCwa(config) => inner_cwa(config, through(Copies::bsr()), "BSR-CWA"),
            AttackSpec::Sia(settings) => settings.on(sia),
            AttackSpec::SiaCwa(config) => inner_cwa(config, through(Copies::sia()), "SIA-CWA"),
            AttackSpec::EmiFgsm(settings) => settings.on(emi_fgsm),
            AttackSpec::EmiCwa(config) => {
                let sampling = emi_sampling(config.iterations);
                inner_cwa(config, GradientEstimator::default().with_sampling(sampling), "EMI-CWA")
            }
            AttackSpec::Gra(settings) => settings.on(gra),
            AttackSpec::GraCwa(config) => {
                let cwa = Cwa::mi_cwa(config)
                    .with_model_gradient(GradientEstimator::default().with_sampling(GRA_SAMPLING))
                    .named("GRA-CWA");
                let outer = DecayIndicator {
                    direction: cwa.outer.direction,
                    ..DecayIndicator::gra(cwa.outer.step_size, cwa.outer.momentum)
                };
                AttackConfig::from(cwa.with_outer(outer))
            }
            AttackSpec::VniFgsm(settings) => settings.on(vni_fgsm),
            AttackSpec::Admix(settings) => settings.on(admix),
            AttackSpec::AdmixCwa(config) => inner_cwa(config, through(Copies::admix()), "Admix-CWA"),
            AttackSpec::Decowa(settings) => settings.on(decowa),
            AttackSpec::DecowaCwa(config) => inner_cwa(config, through(Copies::decowa()), "DeCoWA-CWA"),
            AttackSpec::SiTiDim(settings) => settings.on(si_ti_dim),
            AttackSpec::GiFgsm(settings) => settings.on(gi_fgsm),
            AttackSpec::Anda(settings) => settings.on(anda),
            AttackSpec::AndaCwa(config) => inner_cwa(config, through(Copies::anda()), "ANDA-CWA"),
            AttackSpec::GiCwa(config) => {
                let mut cwa = Cwa::mi_cwa(config).named("GI-CWA");
                cwa.settings.warm_up = Some(WarmUp::gi());
                AttackConfig::from(cwa)
            }
            AttackSpec::SiTiDiCwa(config) => inner_cwa(config, si_ti_di(), "SI-TI-DI-CWA"),
            AttackSpec::AdaEa(settings) => settings.on(ada_ea),
            AttackSpec::Smer(config) => AttackConfig::from(Smer::new(config)),
            AttackSpec::AdaEaCwa(config) => {
                let weighting = Weighting::AdaEa(AdaEa::paper(config.iterations));
                AttackConfig::from(Cwa::mi_cwa(config).with_weighting(weighting).named("AdaEA-CWA"))
            }
        }
    }

    /// Builds the attack (through [`config`](Self::config)).
    pub fn build(&self) -> Box<dyn Attack> {
        self.config().build()
    }
}

/// The gradient averaged over `copies`.
fn through(copies: Copies) -> GradientEstimator {
    GradientEstimator::default().with_copies(copies)
}

/// [`Cwa::mi_cwa`] whose inner (per-model) gradients go through `estimator`, named `name`.
fn inner_cwa(config: CwaConfig, estimator: GradientEstimator, name: &str) -> AttackConfig {
    AttackConfig::from(Cwa::mi_cwa(config).with_model_gradient(estimator).named(name))
}

/// The settings of a method on MI-FGSM (the [`catalogue`]'s methods alone): what a spec of
/// one holds besides its name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MomentumSettings {
    /// Threat model.
    pub threat: ThreatModel,
    /// Iterations T.
    pub iterations: usize,
    /// Momentum μ.
    #[serde(with = "crate::json_float")]
    pub momentum: f64,
    /// Seed of the method's random draws (a deterministic method ignores it).
    #[serde(default)]
    pub seed: u64,
}

impl MomentumSettings {
    /// The catalogue's settings under `threat`: 10 iterations, μ = 1, seed 0.
    pub fn at(threat: ThreatModel) -> Self {
        Self { threat, iterations: 10, momentum: 1.0, seed: 0 }
    }

    /// The attack `method(threat, iterations, momentum)` with these settings and seed.
    fn on<O: Into<AnyOptimizer>>(&self, method: fn(ThreatModel, usize, f64) -> Iterative<O>) -> AttackConfig {
        AttackConfig::from(method(self.threat, self.iterations, self.momentum)).with_seed(self.seed)
    }
}

serde_with_defaults!(AttackSpec, |threat, fields: &serde_json::Map<String, serde_json::Value>| {
    // The CWA presets read their own defaults, which depend on their flavour.
    let cwa = |spec: &AttackSpec| {
        use AttackSpec::*;
        matches!(
            spec,
            MiSam(_)
                | MiCse(_)
                | MiCwa(_)
                | AdamCwa(_)
                | VmiCwa(_)
                | SsaCwa(_)
                | SimCwa(_)
                | MaskBlockCwa(_)
                | PgnCwa(_)
                | BsrCwa(_)
                | SiaCwa(_)
                | EmiCwa(_)
                | GraCwa(_)
                | AdmixCwa(_)
                | DecowaCwa(_)
                | SiTiDiCwa(_)
                | GiCwa(_)
                | AndaCwa(_)
                | AdaEaCwa(_)
        )
    };
    registry_at(threat)
        .into_iter()
        .chain(catalogue_at(threat))
        .filter(|entry| !cwa(&entry.defaults))
        .map(|entry| serde_json::to_value(entry.defaults).expect("a spec is JSON"))
        .find(|defaults| defaults.get("attack") == fields.get("attack"))
        .unwrap_or_else(|| serde_json::json!({}))
});

/// One registry entry: an attack's name, its paper and its default spec.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryEntry {
    /// Display name.
    pub name: &'static str,
    /// The paper that introduced it.
    pub reference: &'static str,
    /// The spec with the defaults (budget 16/255 under L∞, 10 iterations, μ = 1).
    pub defaults: AttackSpec,
}

impl fmt::Display for RegistryEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let defaults = serde_json::to_string(&self.defaults).map_err(|_| fmt::Error)?;
        write!(f, "{:<12} {}\n             defaults: {}", self.name, self.reference, defaults)
    }
}

/// Every attack of the crate with its paper and defaults, in the order of the paper's table.
///
/// ```
/// let names: Vec<&str> = common_weakness::attack::registry().iter().map(|e| e.name).collect();
/// assert!(names.contains(&"MI-CWA") && names.contains(&"FGSM"));
/// for entry in common_weakness::attack::registry() {
///     println!("{entry}");
/// }
/// ```
pub fn registry() -> Vec<RegistryEntry> {
    registry_at(ThreatModel::linf(16.0 / 255.0))
}

/// [`registry`] with every attack set to `threat`; step sizes that the defaults derive from
/// the budget (budget / iterations, budget / 4 for PGD, the CWA step sizes) follow it.
///
/// ```
/// use common_weakness::attack::{registry_at, AttackSpec};
/// use common_weakness::threat::ThreatModel;
///
/// let entries = registry_at(ThreatModel::linf(32.0 / 255.0));
/// assert!(matches!(entries[2].defaults, AttackSpec::Pgd { step_size, .. } if step_size == 8.0 / 255.0));
/// ```
pub fn registry_at(threat: ThreatModel) -> Vec<RegistryEntry> {
    let config = CwaConfig { threat, ..CwaConfig::paper(threat.budget) };
    let (iterations, momentum) = (10, 1.0);
    let entry = |name, reference, defaults| RegistryEntry { name, reference, defaults };
    vec![
        entry("FGSM", "Goodfellow et al., Explaining and Harnessing Adversarial Examples, ICLR 2015", AttackSpec::Fgsm { threat }),
        entry("BIM", "Kurakin et al., Adversarial Examples in the Physical World, ICLR-W 2017", AttackSpec::Bim { threat, iterations }),
        entry(
            "PGD",
            "Madry et al., Towards Deep Learning Models Resistant to Adversarial Attacks, ICLR 2018",
            AttackSpec::Pgd { threat, iterations, step_size: threat.budget / 4.0, seed: 0 },
        ),
        entry(
            "MI-FGSM",
            "Dong et al., Boosting Adversarial Attacks with Momentum, CVPR 2018",
            AttackSpec::MiFgsm { threat, iterations, momentum },
        ),
        entry(
            "NI-FGSM",
            "Lin et al., Nesterov Accelerated Gradient and Scale Invariance for Adversarial Attacks, ICLR 2020",
            AttackSpec::NiFgsm { threat, iterations, momentum },
        ),
        entry(
            "DI-MI-FGSM",
            "Xie et al., Improving Transferability of Adversarial Examples with Input Diversity, CVPR 2019",
            AttackSpec::DiMiFgsm { threat, iterations, momentum, seed: 0 },
        ),
        entry(
            "TI-MI-FGSM",
            "Dong et al., Evading Defenses to Transferable Adversarial Examples by Translation-Invariant Attacks, CVPR 2019",
            AttackSpec::TiMiFgsm { threat, iterations, momentum },
        ),
        entry(
            "VMI-FGSM",
            "Wang & He, Enhancing the Transferability of Adversarial Attacks through Variance Tuning, CVPR 2021",
            AttackSpec::VmiFgsm { threat, iterations, momentum, seed: 0 },
        ),
        entry(
            "PI-FGSM",
            "Gao et al., Patch-wise Attack for Fooling Deep Neural Network, ECCV 2020",
            AttackSpec::PiFgsm { threat, iterations },
        ),
        entry(
            "SSA",
            "Long et al., Frequency Domain Model Augmentation for Adversarial Attack, ECCV 2022",
            AttackSpec::Ssa { threat, iterations, momentum, seed: 0 },
        ),
        entry(
            "SVRE",
            "Xiong et al., Stochastic Variance Reduced Ensemble Adversarial Attack for Boosting the Adversarial Transferability, CVPR 2022",
            AttackSpec::Svre(SvreConfig::paper(threat)),
        ),
        entry(
            "RAP",
            "Qin et al., Boosting the Transferability of Adversarial Attacks with Reverse Adversarial Perturbation, NeurIPS 2022",
            AttackSpec::Rap(RapConfig::paper(threat)),
        ),
        entry("MI-SAM", "Chen et al., Rethinking Model Ensemble in Transfer-based Adversarial Attacks, ICLR 2024", AttackSpec::MiSam(config.clone())),
        entry("MI-CSE", "Chen et al., ICLR 2024", AttackSpec::MiCse(config.clone())),
        entry("MI-CWA", "Chen et al., ICLR 2024", AttackSpec::MiCwa(config.clone())),
        entry("VMI-CWA", "Chen et al., ICLR 2024", AttackSpec::VmiCwa(config.clone())),
        entry("SSA-CWA", "Chen et al., ICLR 2024", AttackSpec::SsaCwa(config.clone())),
        entry("Adam-CWA", "Chen et al., ICLR 2024", AttackSpec::AdamCwa(config)),
    ]
}

/// The methods beyond the paper's table, each alone on MI-FGSM and composed with MI-CWA, with
/// their papers and defaults (budget 16/255 under L∞, 10 iterations, μ = 1). They are built by
/// name from JSON like the [`registry`]'s, which the paper's table (and `transfer_table`'s
/// default run) keeps to.
///
/// ```
/// use common_weakness::attack::catalogue;
///
/// let names: Vec<&str> = catalogue().iter().map(|e| e.name).collect();
/// assert_eq!(names.len(), 28);
/// assert_eq!(names[..4], ["SI-MI-FGSM", "SIM-CWA", "MaskBlock", "MaskBlock-CWA"]);
/// assert!(names.contains(&"BSR-CWA") && names.contains(&"GRA"));
/// let spec = serde_json::from_str::<common_weakness::attack::AttackSpec>(
///     r#"{"attack": "sim-cwa", "threat": {"norm": "Linf", "budget": 0.0627}}"#,
/// ).unwrap();
/// assert_eq!(spec.build().name(), "SIM-CWA");
/// ```
pub fn catalogue() -> Vec<RegistryEntry> {
    catalogue_at(ThreatModel::linf(16.0 / 255.0))
}

/// [`catalogue`] with every attack set to `threat` (step sizes derived from the budget follow
/// it, as in [`registry_at`]).
pub fn catalogue_at(threat: ThreatModel) -> Vec<RegistryEntry> {
    let config = CwaConfig { threat, ..CwaConfig::paper(threat.budget) };
    let alone = MomentumSettings::at(threat);
    let sim = "Lin et al., Nesterov Accelerated Gradient and Scale Invariance for Adversarial Attacks, ICLR 2020";
    let mask = "Fan et al., MaskBlock: Transferable Adversarial Examples with Bayes Approach, 2022";
    let pgn_paper = "Ge et al., Boosting Adversarial Transferability by Achieving Flat Local Maxima, NeurIPS 2023";
    let bsr_paper = "Wang et al., Boosting Adversarial Transferability by Block Shuffle and Rotation, CVPR 2024";
    let sia_paper = "Wang et al., Structure Invariant Transformation for better Adversarial Transferability, ICCV 2023";
    let emi_paper = "Wang et al., Boosting Adversarial Transferability through Enhanced Momentum, BMVC 2021";
    let gra_paper = "Zhu et al., Boosting Adversarial Transferability via Gradient Relevance Attack, ICCV 2023";
    let vni_paper =
        "Wang & He, Enhancing the Transferability of Adversarial Attacks through Variance Tuning, CVPR 2021";
    let decowa_paper = "Lin et al., Boosting Adversarial Transferability across Model Genus by Deformation-Constrained Warping, AAAI 2024";
    let gi_paper =
        "Wang et al., Boosting the Transferability of Adversarial Attacks with Global Momentum Initialization, 2022";
    let anda_paper = "Fang et al., Strong Transferable Adversarial Attacks via Ensembled Asymptotically Normal Distribution Learning, CVPR 2024";
    let admix_paper = "Wang et al., Admix: Enhancing the Transferability of Adversarial Attacks, ICCV 2021";
    let ada_ea_paper =
        "Chen et al., An Adaptive Model Ensemble Adversarial Attack for Boosting Adversarial Transferability, ICCV 2023";
    let entry = |name, reference, defaults| RegistryEntry { name, reference, defaults };
    vec![
        entry("SI-MI-FGSM", sim, AttackSpec::SiMiFgsm(alone.clone())),
        entry("SIM-CWA", sim, AttackSpec::SimCwa(config.clone())),
        entry("MaskBlock", mask, AttackSpec::MaskBlock(alone.clone())),
        entry("MaskBlock-CWA", mask, AttackSpec::MaskBlockCwa(config.clone())),
        entry("PGN", pgn_paper, AttackSpec::Pgn(alone.clone())),
        entry("PGN-CWA", pgn_paper, AttackSpec::PgnCwa(config.clone())),
        entry("BSR", bsr_paper, AttackSpec::Bsr(alone.clone())),
        entry("BSR-CWA", bsr_paper, AttackSpec::BsrCwa(config.clone())),
        entry("SIA", sia_paper, AttackSpec::Sia(alone.clone())),
        entry("SIA-CWA", sia_paper, AttackSpec::SiaCwa(config.clone())),
        entry("EMI-FGSM", emi_paper, AttackSpec::EmiFgsm(alone.clone())),
        entry("EMI-CWA", emi_paper, AttackSpec::EmiCwa(config.clone())),
        entry("GRA", gra_paper, AttackSpec::Gra(alone.clone())),
        entry("GRA-CWA", gra_paper, AttackSpec::GraCwa(config.clone())),
        entry("VNI-FGSM", vni_paper, AttackSpec::VniFgsm(alone.clone())),
        entry("Admix", admix_paper, AttackSpec::Admix(alone.clone())),
        entry("Admix-CWA", admix_paper, AttackSpec::AdmixCwa(config.clone())),
        entry("DeCoWA", decowa_paper, AttackSpec::Decowa(alone.clone())),
        entry("DeCoWA-CWA", decowa_paper, AttackSpec::DecowaCwa(config.clone())),
        entry("SI-TI-DIM", sim, AttackSpec::SiTiDim(alone.clone())),
        entry("SI-TI-DI-CWA", sim, AttackSpec::SiTiDiCwa(config.clone())),
        entry("GI-FGSM", gi_paper, AttackSpec::GiFgsm(alone.clone())),
        entry("GI-CWA", gi_paper, AttackSpec::GiCwa(config.clone())),
        entry("ANDA", anda_paper, AttackSpec::Anda(alone.clone())),
        entry("ANDA-CWA", anda_paper, AttackSpec::AndaCwa(config.clone())),
        entry("AdaEA", ada_ea_paper, AttackSpec::AdaEa(alone)),
        entry("AdaEA-CWA", ada_ea_paper, AttackSpec::AdaEaCwa(config)),
        entry(
            "SMER",
            "Tang et al., Ensemble Diversity Facilitates Adversarial Transferability, CVPR 2024",
            AttackSpec::Smer(SmerConfig::paper(threat)),
        ),
    ]
}

//! Hyper-parameters of the CWA-family presets.

use serde::{Deserialize, Serialize};

use super::defaults::serde_with_defaults;
use crate::threat::ThreatModel;

/// Which published version of an algorithm a preset follows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Flavor {
    /// The paper's algorithm, with per-sample normalisation everywhere (default).
    #[default]
    Paper,
    /// The authors' published code (huanranchen/AdversarialAttacks): logit *sum*, inner step
    /// 250, batch-global L1 normalisation of the pseudo-gradient, anchor before the reverse
    /// step, outer step fixed at 16/255/5. See `docs/algorithms.md`.
    Reference,
}

/// The hyper-parameters the CWA-family presets are built from.
///
/// ```
/// use common_weakness::attack::{CwaConfig, Flavor};
///
/// let paper = CwaConfig::paper(16.0 / 255.0);
/// assert_eq!(paper.inner_step_size, 50.0);
/// assert!((paper.step_size - 16.0 / 255.0 / 5.0).abs() < 1e-12);
/// let reference = CwaConfig::reference(8.0 / 255.0);
/// assert_eq!((reference.flavor, reference.inner_step_size), (Flavor::Reference, 250.0));
///
/// // In JSON only the threat model is required: the rest defaults to the flavour's values.
/// let json = r#"{"threat": {"norm": "Linf", "budget": 0.0627}, "iterations": 20}"#;
/// let read: CwaConfig = serde_json::from_str(json).unwrap();
/// assert_eq!(read, CwaConfig::paper(0.0627).with_iterations(20));
/// let json = r#"{"threat": {"norm": "Linf", "budget": 0.0627}, "flavor": "Reference"}"#;
/// assert_eq!(serde_json::from_str::<CwaConfig>(json).unwrap(), CwaConfig::reference(0.0627));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", deny_unknown_fields)]
pub struct CwaConfig {
    /// The threat model (norm and budget ε).
    pub threat: ThreatModel,
    /// Outer iterations T.
    pub iterations: usize,
    /// Outer step α.
    #[doc(alias = "alpha")]
    #[serde(with = "crate::json_float")]
    pub step_size: f64,
    /// Inner (per-model) step β.
    #[doc(alias = "beta")]
    #[serde(with = "crate::json_float")]
    pub inner_step_size: f64,
    /// Reverse (sharpness) step r.
    #[serde(with = "crate::json_float")]
    pub reverse_step_size: f64,
    /// Momentum μ of the inner and outer rules.
    #[doc(alias = "mu")]
    #[serde(with = "crate::json_float")]
    pub momentum: f64,
    /// Paper or reference behaviour.
    #[serde(default)]
    pub flavor: Flavor,
    /// Start from a random point of the threat model instead of the clean images.
    pub random_start: bool,
    /// Seed of every random choice (random start, shuffled visiting order).
    pub seed: u64,
}

impl CwaConfig {
    /// The paper's settings (§4.1), scaled to `budget` under L∞: T = 10, α = ε/5, β = 50,
    /// r = ε/15, μ = 1.
    pub fn paper(budget: f64) -> Self {
        Self {
            threat: ThreatModel::linf(budget),
            iterations: 10,
            step_size: budget / 5.0,
            inner_step_size: 50.0,
            reverse_step_size: budget / 15.0,
            momentum: 1.0,
            flavor: Flavor::Paper,
            random_start: false,
            seed: 0,
        }
    }

    /// The authors' code defaults: T = 10, α = 16/255/5 and r = 16/255/15 whatever the
    /// budget (hard-coded there), β = 250, μ = 1.
    pub fn reference(budget: f64) -> Self {
        Self {
            step_size: 16.0 / 255.0 / 5.0,
            inner_step_size: 250.0,
            reverse_step_size: 16.0 / 255.0 / 15.0,
            flavor: Flavor::Reference,
            ..Self::paper(budget)
        }
    }

    /// The same settings under another threat model.
    pub fn with_threat(mut self, threat: ThreatModel) -> Self {
        self.threat = threat;
        self
    }

    /// The same settings with `iterations` outer iterations.
    pub fn with_iterations(mut self, iterations: usize) -> Self {
        self.iterations = iterations;
        self
    }

    /// The same settings with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

serde_with_defaults!(CwaConfig, |threat: ThreatModel, fields: &serde_json::Map<String, serde_json::Value>| {
    let flavor = fields.get("flavor").and_then(|f| Flavor::deserialize(f).ok()).unwrap_or_default();
    let defaults = match flavor {
        Flavor::Paper => CwaConfig::paper(threat.budget),
        Flavor::Reference => CwaConfig::reference(threat.budget),
    };
    serde_json::to_value(defaults).expect("a configuration is JSON")
});

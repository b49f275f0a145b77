//! The order in which an attack visits the models one at a time (the CWA inner sweep, SVRE's
//! inner loop): a setting of the attack, drawn from the attack's seed.

use serde::{Deserialize, Serialize};

use crate::rng::AttackRng;

/// The order in which an attack visits the models, one per inner step.
///
/// ```
/// use common_weakness::attack::VisitOrder;
/// use common_weakness::rng::AttackRng;
///
/// let mut rng = AttackRng::new(0);
/// assert_eq!(VisitOrder::Fixed.visits(3, 5, &mut rng), vec![0, 1, 2, 0, 1]);
/// let mut shuffled = VisitOrder::Shuffled.visits(3, 3, &mut rng);
/// shuffled.sort();
/// assert_eq!(shuffled, vec![0, 1, 2]); // every model once per sweep
/// assert!(VisitOrder::Random.visits(3, 100, &mut rng).iter().all(|&k| k < 3));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum VisitOrder {
    /// The order in which the models were added (the CWA and SVRE authors' code).
    #[default]
    Fixed,
    /// A fresh permutation for every sweep over the models, drawn from the attack's seed.
    Shuffled,
    /// Each step's model drawn uniformly, with replacement (the SVRE paper).
    Random,
}

impl VisitOrder {
    /// The models (indices below `models`) of `steps` consecutive inner steps.
    pub fn visits(self, models: usize, steps: usize, rng: &mut AttackRng) -> Vec<usize> {
        match self {
            VisitOrder::Fixed => (0..steps).map(|step| step % models).collect(),
            VisitOrder::Shuffled => {
                (0..steps.div_ceil(models)).flat_map(|_| rng.permutation(models)).take(steps).collect()
            }
            VisitOrder::Random => (0..steps).map(|_| (rng.unit() * models as f32) as usize % models).collect(),
        }
    }
}

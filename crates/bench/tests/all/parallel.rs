//! Attacks split into batches on several threads give a single run's adversarial examples.

use burn::tensor::Tensor;
use common_weakness::attack::{registry_at, AttackSpec};
use common_weakness::prelude::*;
use common_weakness_bench::parallel::{attack_batches, untargeted, IndexedBatch};

use crate::common::{images, mlp_ensemble};

#[test]
fn batches_on_threads_equal_one_run() {
    let ensemble = mlp_ensemble(3, 2 * 4 * 4, 5);
    let x = images(1, [7, 2, 4, 4], 0.0, 1.0);
    let labels: Vec<usize> = (0..7).map(|i| i % 5).collect();
    let indices: Vec<usize> = (10..17).collect();
    let objective = Objective::untargeted(labels.clone());
    for entry in registry_at(ThreatModel::linf(0.1)) {
        // The seeded ones and one deterministic one: per-image seeds make batching irrelevant.
        if !(entry.defaults.config().uses_randomness() || matches!(entry.defaults, AttackSpec::MiCwa(_))) {
            continue;
        }
        let attack = entry.defaults.build();
        let whole = attack.run_indexed(&ensemble, x.clone(), &objective, &indices, &mut Silent).unwrap().adversarial;
        for (parts, threads) in [(1, 1), (3, 2), (7, 3)] {
            let batches = IndexedBatch::split(x.clone(), &labels, &indices, parts);
            assert_eq!(batches.len(), parts);
            let split =
                Tensor::cat(attack_batches(attack.as_ref(), &ensemble, &batches, threads, &untargeted).unwrap(), 0);
            let difference: f32 = (split - whole.clone()).abs().max().into_scalar();
            assert!(difference < 1e-6, "{}: {parts} batches on {threads} threads differ by {difference}", entry.name);
        }
    }
    // More parts than images: one image per batch.
    assert_eq!(IndexedBatch::split(x, &labels, &indices, 20).len(), 7);
}

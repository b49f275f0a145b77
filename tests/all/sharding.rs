//! Image sets attacked in shards, batches of any size or any order give every image the same
//! adversarial example as one run over the whole set: every random draw is keyed by the
//! run's seed and the image's index.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use common_weakness::attack::{catalogue_at, pgd, registry_at, Attack, Cwa, CwaConfig, VisitOrder};
use common_weakness::ensemble::Ensemble;
use common_weakness::gradient::{GradientEstimator, InputDiversity};
use common_weakness::objective::Objective;
use common_weakness::observe::Silent;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::from_fn;
use common_weakness::threat::ThreatModel;
use common_weakness::Error;

use super::common::{device, images, mlp, values};

const IMAGES: usize = 6;
const SHAPE: [usize; 4] = [IMAGES, 1, 12, 12];

/// Two MLPs and a small convolutional model over 12 × 12 images, 4 classes.
fn ensemble() -> Ensemble {
    let mut rng = AttackRng::new(40);
    let kernels = rng.normal([3, 1, 3, 3], &device()).mul_scalar(0.5);
    let head = rng.normal([1, 1, 3 * 10 * 10, 4], &device()).reshape([3 * 10 * 10, 4]).mul_scalar(0.05);
    let conv = from_fn("conv", move |x: Tensor<4>| {
        conv2d(x, kernels.clone(), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
            .tanh()
            .flatten::<2>(1, 3)
            .matmul(head.clone())
    });
    Ensemble::new(vec![mlp("mlp0", 100, 144, 8, 4), mlp("mlp1", 101, 144, 8, 4), Box::new(conv)]).unwrap()
}

fn labels(indices: &[usize]) -> Vec<usize> {
    indices.iter().map(|i| i % 4).collect()
}

/// The adversarial examples of the images `indices` of the set, attacked as one batch.
fn attack_at(attack: &dyn Attack, ensemble: &Ensemble, set: &Tensor<4>, indices: &[usize]) -> Vec<Vec<f32>> {
    let ids = Tensor::from_data(
        burn::tensor::TensorData::new(indices.iter().map(|&i| i as i64).collect(), [indices.len()]),
        &device(),
    );
    let batch = set.clone().select(0, ids);
    // A pool for Admix (the other attacks ignore it): images of every class.
    let pool = images(7, [4, 1, 12, 12], 0.0, 1.0);
    let objective = Objective::untargeted(labels(indices)).with_mixing_pool(pool, vec![0, 1, 2, 3]);
    let outcome = attack.run_indexed(ensemble, batch, &objective, indices, &mut Silent).unwrap();
    assert_eq!(outcome.info.image_indices, indices);
    let per_image = SHAPE[1..].iter().product::<usize>();
    values(outcome.adversarial).chunks(per_image).map(<[f32]>::to_vec).collect()
}

/// One run over the whole set against two shards and a shuffled single batch: bit for bit.
fn assert_shard_invariant(name: &str, attack: &dyn Attack) {
    let ensemble = ensemble();
    let set = images(5, SHAPE, 0.0, 1.0);
    let whole = attack_at(attack, &ensemble, &set, &(0..IMAGES).collect::<Vec<_>>());
    let mut sharded = attack_at(attack, &ensemble, &set, &[0, 1]);
    sharded.extend(attack_at(attack, &ensemble, &set, &[2, 3, 4, 5]));
    let shuffled_order = [4, 1, 5, 0, 3, 2];
    let shuffled = attack_at(attack, &ensemble, &set, &shuffled_order);
    for image in 0..IMAGES {
        assert!(whole[image] == sharded[image], "{name}: image {image} differs between the whole run and its shard");
        let position = shuffled_order.iter().position(|&k| k == image).unwrap();
        assert!(
            whole[image] == shuffled[position],
            "{name}: image {image} differs between the whole run and a shuffled batch"
        );
    }
}

#[test]
fn every_registry_attack_gives_each_image_the_same_example_in_any_shard_or_order() {
    let threat = ThreatModel::linf(0.1);
    for entry in registry_at(threat) {
        assert_shard_invariant(entry.name, entry.defaults.build().as_ref());
    }
    // The catalogue's methods at 2 iterations: their draws are what is per image.
    for entry in catalogue_at(threat) {
        let mut spec = serde_json::to_value(&entry.defaults).unwrap();
        spec["iterations"] = 2.into();
        let spec: common_weakness::attack::AttackSpec = serde_json::from_value(spec).unwrap();
        assert_shard_invariant(entry.name, spec.build().as_ref());
    }
}

#[test]
fn random_starts_input_diversity_crops_and_shuffled_visits_are_per_image() {
    let config = CwaConfig { random_start: true, ..CwaConfig::paper(0.1) }.with_seed(3);
    let crops = GradientEstimator::default().with_diversity(InputDiversity::crop());
    let cwa = Cwa::mi_cwa(config).with_order(VisitOrder::Shuffled).with_gradient(crops);
    assert_shard_invariant("MI-CWA (random start, crops, shuffled visits)", &cwa);
    assert_shard_invariant("PGD, L2", &pgd(ThreatModel::l2(1.0), 5, 0.25, 9));
}

#[test]
fn different_indices_give_different_draws_and_a_wrong_count_is_refused() {
    let ensemble = ensemble();
    let set = images(5, SHAPE, 0.0, 1.0);
    let attack = pgd(ThreatModel::linf(0.1), 1, 0.025, 1);
    // The same image under two indices starts from two different random points.
    let as_zero = attack_at(&attack, &ensemble, &set, &[0]);
    let objective = Objective::untargeted(labels(&[0]));
    let as_seven = attack.run_indexed(&ensemble, set.clone().narrow(0, 0, 1), &objective, &[7], &mut Silent).unwrap();
    assert!(as_zero[0] != values(as_seven.adversarial));
    let e = attack
        .run_indexed(&ensemble, set.narrow(0, 0, 2), &Objective::untargeted(vec![0, 1]), &[0], &mut Silent)
        .unwrap_err();
    assert!(matches!(e, Error::IndexMismatch { images: 2, indices: 1 }), "{e}");
}

/// A dataset run over one shard of the set, numbered from the shard's first image
/// (`Executor::with_first_index`), gives the images of a run over the whole set, in batches of
/// any size.
#[test]
fn a_dataset_shard_numbered_from_its_first_image_equals_the_whole_run() {
    use common_weakness::attack::Executor;
    use common_weakness::universal::Batch;

    let ensemble = ensemble();
    let set = images(5, SHAPE, 0.0, 1.0);
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1).with_iterations(3))
        .with_gradient(GradientEstimator::default().with_diversity(InputDiversity::crop()));
    let batches = |from: usize, to: usize, size: usize| -> Vec<Batch> {
        (from..to)
            .step_by(size)
            .map(|start| {
                let end = (start + size).min(to);
                Batch::labelled(set.clone().narrow(0, start, end - start), labels(&(start..end).collect::<Vec<_>>()))
            })
            .collect()
    };
    let objective = |b: &Batch| Objective::untargeted(b.labels.clone().unwrap());
    let run = |executor: Executor<'_>, batches: Vec<Batch>| {
        values(attack.run_dataset(executor, &ensemble, &batches, &objective).unwrap().adversarial())
    };
    let whole = run(Executor::new(), batches(0, IMAGES, 4));
    let shard = run(Executor::new().with_first_index(2), batches(2, IMAGES, 3));
    let per_image = SHAPE[1..].iter().product::<usize>();
    assert_eq!(shard, whole[2 * per_image..]);
    assert_ne!(run(Executor::new(), batches(2, IMAGES, 3)), shard, "the numbering keys the random draws");
    let overflow =
        attack.run_dataset(Executor::new().with_first_index(usize::MAX), &ensemble, &batches(0, 2, 2), &objective);
    assert!(overflow.unwrap_err().to_string().contains("first_index"));
}

//! BSR and SIA, the block transforms: what the models see, checked by hand.

use std::sync::{Arc, Mutex};

use burn::tensor::Tensor;
use common_weakness::attack::bim;
use common_weakness::gradient::Copies;
use common_weakness::prelude::*;
use common_weakness::surrogate::from_fn;

use super::common::{images, values};

/// Every batch a model sees during a one-iteration BIM whose gradient averages over `copies`
/// of `x` before it steps (the clean evaluation sees `x` itself), as one vector per image.
fn seen(copies: Copies, x: &Tensor<4>, seed: u64) -> Vec<Vec<f32>> {
    let [n, ..] = x.dims();
    let inputs = Arc::new(Mutex::new(Vec::new()));
    let recorder = inputs.clone();
    let model = from_fn("recorder", move |images: Tensor<4>| {
        recorder.lock().unwrap().push(values(images.clone()));
        images.flatten::<2>(1, 3).narrow(1, 0, 2)
    });
    let ensemble = Ensemble::new(vec![Box::new(model)]).unwrap();
    bim(ThreatModel::linf(0.1), 1)
        .with_gradient(GradientEstimator::default().with_copies(copies))
        .with_seed(seed)
        .run(&ensemble, x.clone(), &Objective::untargeted(vec![0; n]))
        .unwrap();
    let mut batches = inputs.lock().unwrap().clone();
    batches.pop(); // the evaluation of the result
    batches.iter().flat_map(|batch| batch.chunks(batch.len() / n).map(<[f32]>::to_vec).collect::<Vec<_>>()).collect()
}

/// The blocks of a `side × side` single-channel image cut into `grid × grid` equal blocks.
fn blocks(image: &[f32], side: usize, grid: usize) -> Vec<Vec<f32>> {
    let size = side / grid;
    (0..grid * grid)
        .map(|block| {
            let (top, left) = ((block / grid) * size, (block % grid) * size);
            (0..size * size).map(|p| image[(top + p / size) * side + left + p % size]).collect()
        })
        .collect()
}

#[test]
fn bsr_with_one_block_and_no_rotation_is_the_identity() {
    let x = images(40, [2, 3, 6, 6], 0.1, 0.9);
    let copies = Copies::BlockShuffle { copies: 4, grid: 1, max_angle: 0.0 };
    let originals: Vec<Vec<f32>> = values(x.clone()).chunks(108).map(<[f32]>::to_vec).collect();
    let seen = seen(copies, &x, 0);
    assert!(seen.len() >= 2 * 4);
    for (k, image) in seen.iter().enumerate() {
        assert_eq!(image, &originals[k % 2], "copy {k} is not the image");
    }
}

#[test]
fn bsr_without_rotation_shuffles_the_blocks_and_varies_them_by_image_and_copy() {
    let x = images(41, [2, 1, 4, 4], 0.1, 0.9);
    let originals: Vec<Vec<f32>> = values(x.clone()).chunks(16).map(<[f32]>::to_vec).collect();
    let seen = seen(Copies::BlockShuffle { copies: 12, grid: 2, max_angle: 0.0 }, &x, 1);
    let mut orders = std::collections::BTreeSet::new();
    for (k, image) in seen.iter().enumerate() {
        let original = blocks(&originals[k % 2], 4, 2);
        let moved = blocks(image, 4, 2);
        // Each block of the copy is one of the image's blocks, each used once.
        let order: Vec<usize> = moved.iter().map(|b| original.iter().position(|o| o == b).unwrap()).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [0, 1, 2, 3], "copy {k}: {order:?}");
        orders.insert(order);
    }
    assert!(orders.len() > 3, "only {} orders in {} copies", orders.len(), seen.len());
}

#[test]
fn bsr_rotation_keeps_a_constant_block_constant_inside_and_zero_fills_outside() {
    let x = Tensor::<4>::full([1, 1, 9, 9], 0.5, &super::common::device());
    let seen = seen(Copies::BlockShuffle { copies: 8, grid: 1, max_angle: 24.0 }, &x, 2);
    let mut corners_cut = 0;
    for image in &seen {
        // Every value is a convex mix of 0.5 and the zero fill; the centre is well inside.
        assert!(image.iter().all(|&v| (-1e-6..=0.5 + 1e-6).contains(&v)));
        for p in [3 * 9 + 3, 4 * 9 + 4, 5 * 9 + 5, 3 * 9 + 5] {
            assert!((image[p] - 0.5).abs() < 1e-5, "pixel {p}: {}", image[p]);
        }
        corners_cut += usize::from(image[0] < 0.5 - 1e-3);
    }
    // Turned by more than a hair, a corner comes from outside the block.
    assert!(corners_cut > 0);
}

#[test]
fn sia_applies_one_of_its_seven_operations_to_a_single_block() {
    let side = 5;
    let x = images(42, [2, 2, side, side], 0.1, 0.9);
    let originals: Vec<Vec<f32>> = values(x.clone()).chunks(2 * side * side).map(<[f32]>::to_vec).collect();
    let seen = seen(Copies::BlockTransform { copies: 30, grid: 1 }, &x, 3);
    // The candidates a copy may be, pixel (channel, row, column) read from the original.
    let remapped = |image: &[f32], map: &dyn Fn(usize, usize) -> (usize, usize)| -> Vec<f32> {
        (0..2 * side * side)
            .map(|p| {
                let (channel, row, column) = (p / (side * side), (p / side) % side, p % side);
                let (r, c) = map(row, column);
                image[(channel * side + r) * side + c]
            })
            .collect()
    };
    let mut kinds = std::collections::BTreeSet::new();
    for (k, copy) in seen.iter().enumerate() {
        let original = &originals[k % 2];
        let same = |candidate: &[f32]| candidate == copy.as_slice();
        let ratio = copy[0] / original[0];
        let scaled =
            (0.0..1.0).contains(&ratio) && copy.iter().zip(original).all(|(c, o)| (c - ratio * o).abs() < 1e-5);
        let kind = if (0..side).any(|s| same(&remapped(original, &|r, c| ((r + side - s) % side, c))))
            && copy != original
        {
            "vertical shift"
        } else if (0..side).any(|s| same(&remapped(original, &|r, c| (r, (c + side - s) % side)))) && copy != original {
            "horizontal shift"
        } else if same(&remapped(original, &|r, c| (side - 1 - r, c))) {
            "vertical flip"
        } else if same(&remapped(original, &|r, c| (r, side - 1 - c))) {
            "horizontal flip"
        } else if same(&remapped(original, &|r, c| (side - 1 - r, side - 1 - c))) {
            "rotation by 180°"
        } else if copy == original {
            "identity (a shift by 0, or the clean evaluation)"
        } else if scaled {
            "scaling"
        } else if copy
            .iter()
            .zip(original)
            .all(|(c, o)| (c - o).abs() <= 16.0 / 255.0 + 1e-6 && (0.0..=1.0).contains(c))
        {
            "noise"
        } else {
            panic!("copy {k} is none of SIA's operations: {copy:?}")
        };
        kinds.insert(kind);
    }
    assert!(kinds.len() >= 5, "{kinds:?}");
}

#[test]
fn block_copies_are_refused_with_bad_parameters_by_name() {
    let x = images(43, [1, 3, 8, 8], 0.1, 0.9);
    for (copies, name) in [
        (Copies::BlockShuffle { copies: 0, grid: 2, max_angle: 24.0 }, "copies"),
        (Copies::BlockShuffle { copies: 2, grid: 0, max_angle: 24.0 }, "grid"),
        (Copies::BlockShuffle { copies: 2, grid: 9, max_angle: 24.0 }, "grid"),
        (Copies::BlockShuffle { copies: 2, grid: 2, max_angle: -1.0 }, "max_angle"),
        (Copies::BlockShuffle { copies: 2, grid: 2, max_angle: f64::NAN }, "max_angle"),
        (Copies::BlockShuffle { copies: 2, grid: 2, max_angle: 181.0 }, "max_angle"),
        (Copies::BlockTransform { copies: 0, grid: 3 }, "copies"),
        (Copies::BlockTransform { copies: 2, grid: 9 }, "grid"),
    ] {
        let ensemble = super::common::mlp_ensemble(1, 3 * 8 * 8, 4);
        let attack = bim(ThreatModel::linf(0.1), 1).with_gradient(GradientEstimator::default().with_copies(copies));
        match attack.run(&ensemble, x.clone(), &Objective::untargeted(vec![0])) {
            Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name, "{copies:?}"),
            other => panic!("{copies:?}: {:?}", other.map(|o| o.records.len())),
        }
    }
}

#[test]
fn a_decowa_warp_at_rest_is_the_identity_and_a_drawn_one_resamples_the_image() {
    let x = images(44, [2, 3, 7, 7], 0.1, 0.9);
    let originals: Vec<Vec<f32>> = values(x.clone()).chunks(147).map(<[f32]>::to_vec).collect();
    let at_rest = seen(Copies::Warp { copies: 3, mesh: 3, noise_scale: 0.0, step: 0.0 }, &x, 0);
    for (k, image) in at_rest.iter().enumerate() {
        assert_eq!(image, &originals[k % 2], "copy {k} at rest is not the image");
    }
    let drawn = seen(Copies::Warp { copies: 4, mesh: 3, noise_scale: 2.0, step: 0.0 }, &x, 1);
    let moved = drawn.iter().enumerate().filter(|(k, image)| *image != &originals[k % 2]).count();
    assert!(moved >= 6, "{moved} of {} copies moved", drawn.len());
    // Bilinear samples of pixels in [0.1, 0.9], or zero from outside the image.
    assert!(drawn.iter().flatten().all(|&v| (0.0..=0.9 + 1e-6).contains(&v)));
}

#[test]
fn decowa_steps_each_warp_toward_a_higher_objective() {
    use super::common::mlp;
    let x = images(45, [2, 3, 7, 7], 0.1, 0.9);
    let labels = vec![1, 2];
    let inputs = Arc::new(Mutex::new(Vec::new()));
    let recorder = inputs.clone();
    let network = mlp("mlp", 7, 3 * 7 * 7, 8, 4);
    let model = from_fn("recorder", move |images: Tensor<4>| {
        recorder.lock().unwrap().push(images.clone());
        network.forward(images)
    });
    let ensemble = Ensemble::new(vec![Box::new(model)]).unwrap();
    let objective = Objective::untargeted(labels.clone());
    let copies = Copies::Warp { copies: 12, mesh: 3, noise_scale: 2.0, step: 0.02 };
    bim(ThreatModel::linf(0.1), 1)
        .with_gradient(GradientEstimator::default().with_copies(copies))
        .run(&ensemble, x, &objective)
        .unwrap();
    let batches = inputs.lock().unwrap().clone();
    // The clean evaluation, then per copy the drawn warp and the stepped one, then the result.
    assert_eq!(batches.len(), 2 + 2 * 12);
    let loss = |batch: &Tensor<4>| -> Vec<f32> {
        let outputs = ensemble.members()[0].forward(batch.clone());
        let one_hot = Tensor::<2>::from_floats([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]], &super::common::device());
        let input = common_weakness::objective::LossInput {
            outputs: outputs.clone(),
            one_hot: Some(one_hot),
            reference_outputs: outputs,
        };
        values(objective.per_sample(input).unwrap())
    };
    let mut rose = 0;
    for pair in batches[1..batches.len() - 1].chunks(2) {
        let (drawn, stepped) = (loss(&pair[0]), loss(&pair[1]));
        rose += drawn.iter().zip(&stepped).filter(|(d, s)| s > d).count();
    }
    // One small step up the gradient raises the objective for (nearly) every image and copy.
    assert!(rose >= 22, "the objective rose for {rose} of 24 warped images");
}

#[test]
fn decowa_is_refused_with_bad_parameters_and_on_universal_runs() {
    use common_weakness::universal::{Batch, Universal, UniversalVariable};
    let x = images(46, [1, 3, 8, 8], 0.1, 0.9);
    let ensemble = super::common::mlp_ensemble(1, 3 * 8 * 8, 4);
    for (copies, name) in [
        (Copies::Warp { copies: 0, mesh: 3, noise_scale: 2.0, step: 0.01 }, "copies"),
        (Copies::Warp { copies: 2, mesh: 2, noise_scale: 2.0, step: 0.01 }, "mesh"),
        (Copies::Warp { copies: 2, mesh: 17, noise_scale: 2.0, step: 0.01 }, "mesh"),
        (Copies::Warp { copies: 2, mesh: 3, noise_scale: -1.0, step: 0.01 }, "noise_scale"),
        (Copies::Warp { copies: 2, mesh: 3, noise_scale: 2.0, step: f64::NAN }, "step"),
    ] {
        let attack = bim(ThreatModel::linf(0.1), 1).with_gradient(GradientEstimator::default().with_copies(copies));
        match attack.run(&ensemble, x.clone(), &Objective::untargeted(vec![0])) {
            Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name, "{copies:?}"),
            other => panic!("{copies:?}: {:?}", other.map(|o| o.records.len())),
        }
    }
    let attack =
        bim(ThreatModel::linf(0.1), 1).with_gradient(GradientEstimator::default().with_copies(Copies::decowa()));
    let batches = vec![Batch::labelled(x, vec![0])];
    let universal = Universal::new(UniversalVariable::Perturbation, 1);
    let labels = |b: &Batch| Objective::untargeted(b.labels.clone().unwrap());
    let refused = universal.train(&attack, &ensemble, &batches, &labels);
    assert!(
        matches!(refused, Err(Error::InvalidParameter { name: "copies", .. })),
        "{:?}",
        refused.map(|o| o.records.len())
    );
}

#[test]
fn anda_translates_every_image_over_a_grid_of_shifts_with_zero_fill() {
    let side = 6;
    let x = images(47, [1, 1, side, side], 0.1, 0.9);
    let original = values(x.clone());
    // A normalised shift of 2/3 is 2/3 · 6/2 = 2 pixels: the shifts are −2, 0 and 2.
    let copies = seen(Copies::Shifts { grid: 3, max_shift: 2.0 / 3.0 }, &x, 0);
    let shifted = |dy: i64, dx: i64| -> Vec<f32> {
        (0..side * side)
            .map(|p| {
                let (r, c) = ((p / side) as i64 + dy, (p % side) as i64 + dx);
                let inside = (0..side as i64).contains(&r) && (0..side as i64).contains(&c);
                if inside {
                    original[r as usize * side + c as usize]
                } else {
                    0.0
                }
            })
            .collect()
    };
    let mut found = std::collections::BTreeSet::new();
    for copy in &copies[1..] {
        let shift = [-2, 0, 2]
            .iter()
            .flat_map(|&dy| [-2, 0, 2].map(move |dx| (dy, dx)))
            .find(|&(dy, dx)| shifted(dy, dx).iter().zip(copy).all(|(a, b)| (a - b).abs() < 1e-6));
        found.insert(shift.expect("every copy is the image shifted by whole pixels"));
    }
    assert_eq!(found.len(), 9, "{found:?}");
    // One copy is the image itself.
    let one = seen(Copies::Shifts { grid: 1, max_shift: 0.3 }, &x, 0);
    assert!(one.iter().all(|copy| copy == &original));
}

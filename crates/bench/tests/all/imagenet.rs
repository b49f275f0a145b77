//! EfficientNet-Lite on the 20 foolbox photos. These tests need the assets of
//! `scripts/fetch-imagenet-assets.sh`, so they are `#[ignore]`d: `cargo test -- --ignored` runs
//! them (`.ci/run` does), and without the assets each fails saying how to fetch them.

use common_weakness::eval::predictions;
use common_weakness::prelude::*;
use common_weakness::surrogate::{check_batch_independence, Surrogate};
use common_weakness_bench::images;
use common_weakness_models::{EfficientNetLite, LiteVariant};
use common_weakness_models::{ImagenetAssets, LabelledPhoto};

use crate::common::{device, values};

/// The assets, or a panic whose message says how to fetch them.
fn require_assets() -> ImagenetAssets {
    ImagenetAssets::locate().unwrap_or_else(|e| panic!("{e}"))
}

fn photos(assets: &ImagenetAssets, count: usize) -> (Vec<LabelledPhoto>, Vec<usize>) {
    let photos: Vec<_> = assets.photos().unwrap().into_iter().take(count).collect();
    let labels = photos.iter().map(|p| p.label).collect();
    (photos, labels)
}

fn paths(photos: &[LabelledPhoto]) -> Vec<&std::path::Path> {
    photos.iter().map(|p| p.path.as_path()).collect()
}

#[test]
#[ignore = "needs the ImageNet assets: scripts/fetch-imagenet-assets.sh"]
fn clean_top1_matches_the_reference_implementation() {
    let assets = require_assets();
    let (photos, labels) = photos(&assets, 20);
    let device = Default::default();
    let batch = images::load(&paths(&photos), 224, 224, &device).unwrap();
    // Correct photos out of 20 with the reference PyTorch implementation at 224 x 224.
    for (variant, reference) in LiteVariant::ALL.into_iter().zip([17, 19, 18]) {
        let model = EfficientNetLite::load(variant, assets.weights(variant), &device).unwrap();
        let predicted = predictions(model.forward(batch.clone())).unwrap();
        let correct = predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
        eprintln!("{variant}: {correct}/20 correct (reference {reference}/20); predictions {predicted:?}");
        assert!(correct.abs_diff(reference) <= 1, "{variant}: {correct}/20 correct, reference {reference}/20");
    }
}

#[test]
#[ignore = "needs the ImageNet assets: scripts/fetch-imagenet-assets.sh"]
fn one_photo_alone_gives_the_logits_it_gets_in_a_batch_of_twenty() {
    let assets = require_assets();
    let (photos, _) = photos(&assets, 20);
    let batch = images::load(&paths(&photos), 224, 224, &device()).unwrap();
    let model = EfficientNetLite::load(LiteVariant::Lite0, assets.weights(LiteVariant::Lite0), &device())
        .unwrap()
        .into_surrogate();
    // Attack mode: the autodiff backend, where burn's own BatchNorm would use batch statistics.
    let batched = values(model.forward(batch.clone()));
    let alone = values(model.forward(batch.clone().slice(7..8)));
    let difference = alone.iter().zip(&batched[7 * 1000..8 * 1000]).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(difference < 1e-3, "photo 7 alone differs from its batched logits by {difference}");
    check_batch_independence(&model, batch.slice(0..4), 1e-3).unwrap();
}

#[test]
#[ignore = "needs the ImageNet assets: scripts/fetch-imagenet-assets.sh"]
fn a_short_attack_raises_the_surrogate_losses_and_survives_the_png_round_trip() {
    let assets = require_assets();
    let (photos, labels) = photos(&assets, 4);
    let clean = images::load(&paths(&photos), 224, 224, &device()).unwrap();
    let surrogates: Vec<Box<dyn Surrogate>> = [LiteVariant::Lite0, LiteVariant::Lite1]
        .into_iter()
        .map(|v| {
            let model = EfficientNetLite::load(v, assets.weights(v), &device()).unwrap();
            Box::new(model.into_surrogate()) as Box<dyn Surrogate>
        })
        .collect();
    let ensemble = Ensemble::new(surrogates).unwrap();
    let budget = 16.0 / 255.0;
    let config = CwaConfig { iterations: 2, ..CwaConfig::paper(budget) };
    let outcome = Cwa::mi_cwa(config).run(&ensemble, clean.clone(), &Objective::untargeted(labels)).unwrap();
    // The objective is minimised (untargeted: log p_y), so a successful attack lowers it.
    for (model, (before, after)) in outcome.initial_loss.iter().zip(&outcome.final_loss).enumerate() {
        assert!(after < before, "surrogate {model}: objective {before} -> {after}");
    }

    let folder = std::env::temp_dir().join(format!("common-weakness-png-{}", std::process::id()));
    let files: Vec<_> = (0..4).map(|i| folder.join(format!("adversarial_{i}.png"))).collect();
    for (i, file) in files.iter().enumerate() {
        images::save_png(&outcome.adversarial, i, file).unwrap();
    }
    let reloaded = images::load(&files, 224, 224, &device()).unwrap();
    std::fs::remove_dir_all(&folder).unwrap();
    assert_eq!(values(reloaded.clone()), values(images::quantize(outcome.adversarial)));
    let linf = values(reloaded - clean).into_iter().fold(0.0f32, |m, d| m.max(d.abs()));
    assert!(
        linf <= (budget + 1.0 / 255.0) as f32 + 1e-6,
        "after the PNG round trip ‖δ‖∞ = {linf} > budget + one grey level"
    );
}

#[test]
#[ignore = "needs the ImageNet assets: scripts/fetch-imagenet-assets.sh"]
fn encoders_embed_photos_batch_independently_and_matching_pulls_toward_the_target() {
    let assets = require_assets();
    let (photos, _) = photos(&assets, 3);
    let batch = images::load(&paths(&photos), 224, 224, &device()).unwrap();
    let load = |v: LiteVariant| EfficientNetLite::load(v, assets.weights(v), &device()).unwrap();
    let lite0 = load(LiteVariant::Lite0);
    let (direct, encoded) =
        (values(lite0.features(batch.clone())), values(lite0.clone().into_encoder().forward(batch.clone())));
    let difference = direct.iter().zip(&encoded).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(difference < 1e-4, "the encoder's outputs differ from `features` by {difference}");
    let encoders: Vec<Box<dyn Surrogate>> =
        vec![Box::new(lite0.into_encoder()), Box::new(load(LiteVariant::Lite1).into_encoder())];
    assert_eq!(encoders[0].name(), "efficientnet-lite0-encoder");
    assert_eq!(encoders[0].forward(batch.clone()).dims(), [3, 1280]);
    check_batch_independence(encoders[0].as_ref(), batch.clone(), 1e-3).unwrap();

    // Photo 0 pulled toward the embedding of photo 2, through random crops (five iterations:
    // two can end with one encoder slightly further away, depending on the crops drawn).
    let ensemble = Ensemble::new(encoders).unwrap();
    let objective = Objective::embedding_match(batch.clone().slice(2..3));
    let crops = GradientEstimator::default().with_diversity(InputDiversity::crop());
    let attack = Cwa::mi_cwa(CwaConfig { iterations: 5, ..CwaConfig::paper(16.0 / 255.0) })
        .with_combination(Combination::LossMean)
        .with_gradient(crops);
    let outcome = attack.run(&ensemble, batch.slice(0..1), &objective).unwrap();
    for (model, (before, after)) in outcome.initial_loss.iter().zip(&outcome.final_loss).enumerate() {
        assert!(after < before, "encoder {model}: cosine distance to the target {before} -> {after}");
    }
}

#[test]
#[ignore = "needs the ImageNet assets: scripts/fetch-imagenet-assets.sh"]
fn an_efficientnet_lite_ghost_erodes_its_identity_skips_and_without_range_is_the_model() {
    use common_weakness_models::ghost::{Ghost, Residual};

    let assets = require_assets();
    let (photos, _) = photos(&assets, 2);
    let batch = images::load(&paths(&photos), 224, 224, &device()).unwrap();
    let network = EfficientNetLite::load(LiteVariant::Lite0, assets.weights(LiteVariant::Lite0), &device()).unwrap();
    // Lite0's MBConv blocks with stride 1 and equal channels: 9 of 16.
    assert_eq!(network.residual_blocks(), 9);
    let plain = values(network.forward(batch.clone()));
    let still = Ghost::new("still", network.clone(), 0.0).unwrap();
    assert_eq!(values(still.forward_drawn(batch.clone(), 3)), plain);
    let ghost = Ghost::new("ghost", network, Ghost::<EfficientNetLite>::RANGE).unwrap();
    assert_eq!(values(ghost.forward(batch.clone())), plain);
    let drawn = values(ghost.forward_drawn(batch.clone(), 3));
    assert_eq!(drawn, values(ghost.forward_drawn(batch.clone(), 3)));
    assert!(drawn != plain && drawn != values(ghost.forward_drawn(batch, 4)));
}

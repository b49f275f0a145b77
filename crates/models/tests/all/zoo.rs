//! The Fashion-MNIST zoo: the im2col convolution, committed weights and their accuracy.

use burn::module::Param;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::Tensor;
use common_weakness::attack::AttackSpec;
use common_weakness::eval::{predictions, success_rate};
use common_weakness::prelude::*;
use common_weakness::surrogate::Surrogate;
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::zoo::{Conv, ZooModel};

use crate::common::{device, images, values};

#[test]
fn im2col_convolution_equals_burns_conv2d_with_its_gradient() {
    // (in, out, kernel, stride, depthwise) on odd and even sizes.
    for (input, output, kernel, stride, depthwise, size) in [
        (3, 5, 3, 1, false, 9),
        (2, 4, 5, 2, false, 10),
        (3, 2, 7, 2, false, 9),
        (4, 4, 3, 2, true, 11),
        (4, 4, 3, 1, true, 8),
    ] {
        let conv = if depthwise {
            Conv::depthwise(input, kernel, stride, &device())
        } else {
            Conv::new(input, output, kernel, stride, &device())
        };
        let x = images(1, [2, input, size, size], -1.0, 1.0).require_grad();
        let ours = conv.forward_im2col(x.clone());
        let groups = if depthwise { input } else { 1 };
        let options = ConvOptions::new([stride; 2], [kernel / 2; 2], [1, 1], groups);
        let reference = conv2d(x.clone(), conv.weight.val(), Some(conv.bias.val()), options);
        assert_eq!(ours.dims(), reference.dims());
        for (a, b) in values(ours.clone()).iter().zip(values(reference.clone())) {
            approx::assert_abs_diff_eq!(*a, b, epsilon = 1e-5);
        }
        // Gradients with respect to the input and the weight agree too.
        let weights = images(2, ours.dims(), -1.0, 1.0);
        let g1 = (ours * weights.clone()).sum().backward();
        let g2 = (reference * weights).sum().backward();
        let (x1, x2) = (x.grad(&g1).unwrap(), x.grad(&g2).unwrap());
        for (a, b) in
            x1.into_data().try_to_vec::<f32>().unwrap().iter().zip(x2.into_data().try_to_vec::<f32>().unwrap())
        {
            approx::assert_abs_diff_eq!(*a, b, epsilon = 1e-4);
        }
        let w: &Param<Tensor<4>> = &conv.weight;
        let (w1, w2) = (w.grad(&g1).unwrap(), w.grad(&g2).unwrap());
        for (a, b) in
            w1.into_data().try_to_vec::<f32>().unwrap().iter().zip(w2.into_data().try_to_vec::<f32>().unwrap())
        {
            approx::assert_abs_diff_eq!(*a, b, epsilon = 1e-3);
        }
    }
}

/// Clean accuracy of each committed model on the 1,000-image test slice, as `docs/zoo.md`
/// documents it.
const DOCUMENTED_ACCURACY: [(ZooModel, f64); 9] = [
    (ZooModel::Mlp, 0.889),
    (ZooModel::SmallCnn, 0.923),
    (ZooModel::WideCnn, 0.918),
    (ZooModel::ResNet, 0.914),
    (ZooModel::Separable, 0.917),
    (ZooModel::LargeKernel, 0.903),
    (ZooModel::Mixer, 0.894),
    (ZooModel::AdversarialCnn, 0.834),
    (ZooModel::AdversarialLargeKernel, 0.841),
];

/// White-box robust accuracy of the adversarially trained models on the slice under PGD-20
/// at L∞ 0.1 (steps of 0.0125, random start, seed 0), as `docs/zoo.md` documents it.
const DOCUMENTED_ROBUST_ACCURACY: [(ZooModel, f64); 2] =
    [(ZooModel::AdversarialCnn, 0.716), (ZooModel::AdversarialLargeKernel, 0.700)];

#[test]
fn committed_weights_reach_their_documented_accuracy() {
    let (images, labels) = FashionMnist::test_slice().unwrap().head(1000, &device());
    let fraction = |predicted: &[usize]| {
        predicted.iter().zip(&labels).filter(|(p, l)| p == l).count() as f64 / labels.len() as f64
    };
    let mut wrong = Vec::new();
    for (model, documented) in DOCUMENTED_ACCURACY {
        let surrogate = model.load(&device()).unwrap();
        let accuracy = fraction(&predictions(surrogate.forward(images.clone())).unwrap());
        eprintln!("{model}: clean accuracy {accuracy} on the slice (documented {documented})");
        if (accuracy - documented).abs() > 0.01 {
            wrong.push(format!("{model}: accuracy {accuracy}, documented {documented}"));
        }
    }
    for (model, documented) in DOCUMENTED_ROBUST_ACCURACY {
        let ensemble = Ensemble::new(vec![model.load(&device()).unwrap()]).unwrap();
        let attack = common_weakness::attack::pgd(ThreatModel::linf(0.1), 20, 0.0125, 0);
        let adversarial =
            attack.run(&ensemble, images.clone(), &Objective::untargeted(labels.clone())).unwrap().adversarial;
        let accuracy = fraction(&predictions(ensemble.members()[0].forward(adversarial)).unwrap());
        eprintln!("{model}: PGD-20 robust accuracy {accuracy} on the slice (documented {documented})");
        if (accuracy - documented).abs() > 0.01 {
            wrong.push(format!("{model}: robust accuracy {accuracy}, documented {documented}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:?}");
    assert!(matches!(
        ZooModel::Mlp.load_from(std::env::temp_dir().join("absent.safetensors"), &device()),
        Err(common_weakness_models::Error::MissingAssets { .. })
    ));
    // The MLP's weights do not fit the mixer.
    assert!(matches!(
        ZooModel::Mixer.load_from(ZooModel::Mlp.weights_path(), &device()),
        Err(common_weakness_models::Error::Weights { .. })
    ));
}

/// The transfer table, reduced: 2 methods, 1 target, 50 images, at the table's larger budget
/// (16/255 leaves about a third of Fashion-MNIST images unbroken even white-box).
#[test]
fn reduced_transfer_table() {
    let (images, labels) = FashionMnist::test_slice().unwrap().head(50, &device());
    let surrogates = [ZooModel::Mlp, ZooModel::SmallCnn, ZooModel::ResNet, ZooModel::Mixer]
        .iter()
        .map(|m| m.load(&device()))
        .collect::<common_weakness_models::Result<Vec<_>>>()
        .unwrap();
    let ensemble = Ensemble::new(surrogates).unwrap();
    let target = ZooModel::WideCnn.load(&device()).unwrap();
    let clean = predictions(target.forward(images.clone())).unwrap();
    let clean_error = clean.iter().zip(&labels).filter(|(p, l)| p != l).count() as f64 / 50.0;
    let objective = Objective::untargeted(labels.clone());
    let budget = 32.0 / 255.0;
    for attack in [
        AttackSpec::MiFgsm { threat: ThreatModel::linf(budget), iterations: 10, momentum: 1.0 },
        AttackSpec::MiCwa(CwaConfig::paper(budget)),
    ] {
        let adversarial = attack.build().run(&ensemble, images.clone(), &objective).unwrap().adversarial;
        let mut white_box = 0.0;
        for member in ensemble.members() {
            let predicted = predictions(member.forward(adversarial.clone())).unwrap();
            white_box += predicted.iter().zip(&labels).filter(|(p, l)| p != l).count() as f64 / 50.0 / 4.0;
        }
        let rate = success_rate(
            Goal::Untargeted,
            &labels,
            &labels,
            &clean,
            &predictions(target.forward(adversarial)).unwrap(),
        )
        .unwrap();
        assert_eq!((rate.images, rate.clean_correct), (50, clean.iter().zip(&labels).filter(|(p, l)| p == l).count()));
        eprintln!(
            "{}: white-box {white_box}, transfer {} (clean error {clean_error})",
            attack.build().name(),
            rate.over_all()
        );
        // White-box attacks at 32/255 break most images; some of that transfers to the held-out CNN.
        assert!(white_box > 0.7, "{attack:?}: white-box success {white_box}");
        assert!(
            rate.over_all() > clean_error + 0.05,
            "{attack:?}: transfer {} vs clean error {clean_error}",
            rate.over_all()
        );
    }
}

/// The committed ResNet as a network (for ghosts, snapshots and posteriors around it).
fn trained_resnet() -> common_weakness_models::zoo::ResNet {
    common_weakness_models::zoo::load_net(ZooModel::ResNet.weights_path(), &device()).unwrap()
}

/// The committed ResNet's logits for `images`.
fn resnet_logits(images: Tensor<4>) -> Vec<f32> {
    values(ZooModel::ResNet.load(&device()).unwrap().forward(images))
}

#[test]
fn a_ghost_resnet_draws_its_skips_from_the_key_and_without_range_is_the_resnet() {
    use common_weakness_models::ghost::Ghost;
    use common_weakness_models::zoo::ResNet;

    let images = images(3, [2, 1, 28, 28], 0.0, 1.0);
    let plain = resnet_logits(images.clone());
    let ghost_of = |range| Ghost::new("resnet-ghost", trained_resnet(), range);

    let still = ghost_of(0.0).unwrap();
    assert_eq!(still.skips(5), [1.0; 3]);
    assert_eq!(values(still.forward_drawn(images.clone(), 5)), plain);

    let ghost = ghost_of(Ghost::<ResNet>::RANGE).unwrap();
    assert_eq!(values(ghost.forward(images.clone())), plain);
    let (a, b) = (ghost.skips(1), ghost.skips(2));
    assert_eq!(a, ghost.skips(1));
    assert_ne!(a, b);
    assert!(a.iter().chain(&b).all(|s| (s - 1.0).abs() <= 0.16 + 1e-6));
    assert_ne!(values(ghost.forward_drawn(images, 1)), plain);

    let error = ghost_of(1.0).unwrap_err().to_string();
    assert!(error.contains("ghost range"), "{error}");

    // By name: the committed ResNet's ghost, and a refusal naming a model without skips.
    let loaded = ZooModel::ResNet.load_ghost(&device()).unwrap();
    assert_eq!(loaded.name(), "resnet-ghost");
    let fresh = crate::common::images(3, [2, 1, 28, 28], 0.0, 1.0);
    assert_eq!(values(loaded.forward_drawn(fresh.clone(), 1)), values(ghost.forward_drawn(fresh, 1)));
    let error = ZooModel::Mlp.load_ghost(&device()).err().expect("the MLP has no skips").to_string();
    assert!(error.contains("`mlp`") && error.contains("residual"), "{error}");
}

#[test]
fn lgv_draws_one_snapshot_per_draw_and_identical_snapshots_are_the_model() {
    use common_weakness_models::zoo::{Lgv, ResNet, ZooNet};

    let device = device();
    let images = images(4, [2, 1, 28, 28], 0.0, 1.0);
    let trained = trained_resnet;
    let plain = resnet_logits(images.clone());

    let copies = Lgv::new("copies", trained(), vec![trained(), trained(), trained()]).unwrap();
    for draw in [0, 1, 99] {
        assert_eq!(values(copies.forward_drawn(images.clone(), draw)), plain);
    }

    // A trained snapshot and a freshly initialised one: each draw picks one, the same again.
    let mixed = Lgv::new("mixed", trained(), vec![trained(), ResNet::init(&device)]).unwrap();
    let picks: Vec<usize> = (0..40).map(|draw| mixed.pick(draw)).collect();
    assert!(picks.contains(&0) && picks.contains(&1), "{picks:?}");
    for draw in 0..4 {
        let seen = values(mixed.forward_drawn(images.clone(), draw));
        assert_eq!(seen == plain, mixed.pick(draw) == 0, "draw {draw}");
    }
    assert_eq!(values(mixed.forward(images)), plain);

    let error = Lgv::<ResNet>::new("none", trained(), vec![]).unwrap_err().to_string();
    assert!(error.contains("LGV snapshots"), "{error}");
    let empty = std::env::temp_dir().join("common-weakness-no-lgv-snapshots");
    let error = ZooModel::ResNet.load_lgv(&empty, &device).err().expect("no snapshots").to_string();
    assert!(error.contains("resnet-lgv-01.safetensors") && error.contains("collect_lgv"), "{error}");
}

#[test]
fn an_mba_posterior_of_identical_snapshots_is_the_model_and_its_samples_follow_the_draw() {
    use common_weakness_models::zoo::{Posterior, ResNet, ZooNet};

    let device = device();
    let images = images(5, [2, 1, 28, 28], 0.0, 1.0);
    let trained = trained_resnet;
    let plain = resnet_logits(images.clone());

    // Zero variance: every sample is the model, bit for bit.
    let still = Posterior::fit("still", vec![trained(), trained(), trained()], Posterior::<ResNet>::SCALE).unwrap();
    for draw in [0, 7] {
        assert_eq!(values(still.forward_drawn(images.clone(), draw)), plain);
    }

    // The trained weights and a fresh initialisation: the mean is their average, each draw one
    // sample, the same again for the same draw.
    let fresh = ResNet::init(&device);
    let spread = Posterior::fit("spread", vec![trained(), fresh.clone()], 0.5).unwrap();
    let mean = values(spread.forward(images.clone()));
    let (a, b) = (values(spread.forward_drawn(images.clone(), 1)), values(spread.forward_drawn(images.clone(), 2)));
    assert_eq!(a, values(spread.forward_drawn(images.clone(), 1)));
    assert!(a != b && a != mean && mean != plain);
    // With the scale 0 every sample is the mean.
    let centred = Posterior::fit("centred", vec![trained(), fresh], 0.0).unwrap();
    assert_eq!(values(centred.forward_drawn(images, 3)), mean);

    let error = Posterior::<ResNet>::fit("none", vec![], 1.5).unwrap_err().to_string();
    assert!(error.contains("posterior snapshots"), "{error}");
    let error = Posterior::fit("bad", vec![trained()], -1.0).unwrap_err().to_string();
    assert!(error.contains("posterior scale"), "{error}");
}

//! Defended targets: each input transformation, randomized smoothing, determinism and errors.

use burn::tensor::Tensor;
use common_weakness::rng::AttackRng;
use common_weakness::surrogate::{from_fn, Surrogate};
use common_weakness::Error as AttackError;
use common_weakness_bench::defense::{BitDepth, Defended, Jpeg, Preprocessing, RandomizedSmoothing, ResizePad, Target};
use common_weakness_bench::Error;

use crate::common::{images, tensor4, values};

/// Class 1 when the image is brighter than 0.5 on average, else 0.
fn brightness() -> impl Surrogate + Clone {
    from_fn("brightness", |x: Tensor<4>| {
        let mean = x.flatten::<2>(1, 3).mean_dim(1);
        Tensor::cat(vec![mean.clone().neg().add_scalar(0.5), mean.sub_scalar(0.5)], 1)
    })
}

#[test]
fn bit_depth_rounds_to_its_levels() {
    let x = tensor4(vec![0.0, 0.1, 0.2, 0.49, 0.51, 0.8, 0.93, 1.0], [1, 2, 2, 2]);
    let out = values(BitDepth::new(1).unwrap().apply(x.clone(), &mut AttackRng::new(0)).unwrap());
    assert_eq!(out, vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    let out = values(BitDepth::new(2).unwrap().apply(x, &mut AttackRng::new(0)).unwrap());
    let third = 1.0 / 3.0;
    let expected = [0.0, 0.0, third, third, 2.0 * third, 2.0 * third, 1.0, 1.0];
    for (o, e) in out.iter().zip(expected) {
        approx::assert_abs_diff_eq!(*o, e, epsilon = 1e-6);
    }
    assert!(matches!(BitDepth::new(0), Err(Error::Attack(AttackError::InvalidParameter { .. }))));
    assert!(matches!(BitDepth::new(9), Err(Error::Attack(AttackError::InvalidParameter { .. }))));
}

#[test]
fn jpeg_keeps_flat_images_and_changes_noise() {
    let jpeg = Jpeg::new(75).unwrap();
    for channels in [1, 3] {
        let flat = Tensor::<4>::full([2, channels, 16, 16], 0.6, &Default::default());
        let out = values(jpeg.apply(flat, &mut AttackRng::new(0)).unwrap());
        assert!(out.iter().all(|&v| (v - 0.6).abs() <= 2.0 / 255.0), "a flat image survives JPEG");
        let noise = images(3, [2, channels, 16, 16], 0.0, 1.0);
        let out = jpeg.apply(noise.clone(), &mut AttackRng::new(0)).unwrap();
        assert_eq!(out.dims(), [2, channels, 16, 16]);
        let out = values(out);
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
        let change = out.iter().zip(values(noise)).map(|(a, b)| (a - b).abs()).sum::<f32>() / out.len() as f32;
        assert!(change > 0.02, "JPEG at q75 should visibly change noise, mean change {change}");
    }
    let two_channels = images(3, [1, 2, 8, 8], 0.0, 1.0);
    assert!(matches!(jpeg.apply(two_channels, &mut AttackRng::new(0)), Err(Error::Attack(AttackError::Shape { .. }))));
    assert!(matches!(Jpeg::new(0), Err(Error::Attack(AttackError::InvalidParameter { .. }))));
    assert!(matches!(Jpeg::new(101), Err(Error::Attack(AttackError::InvalidParameter { .. }))));
}

#[test]
fn resize_pad_is_seeded_and_stays_an_image() {
    let x = images(4, [3, 3, 28, 28], 0.2, 0.8);
    let rp = ResizePad::new();
    let a = values(rp.apply(x.clone(), &mut AttackRng::new(1)).unwrap());
    let b = values(rp.apply(x.clone(), &mut AttackRng::new(1)).unwrap());
    let c = values(rp.apply(x, &mut AttackRng::new(2)).unwrap());
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(matches!(ResizePad::with_rate(1.0), Err(Error::Attack(AttackError::InvalidParameter { .. }))));
}

#[test]
fn defended_targets_predict_deterministically() {
    let dark = Tensor::<4>::full([1, 1, 8, 8], 0.3, &Default::default());
    let bright = Tensor::<4>::full([1, 1, 8, 8], 0.7, &Default::default());
    let x = Tensor::cat(vec![dark, bright], 0);
    let targets: Vec<Box<dyn Target>> = vec![
        Box::new(Box::new(brightness()) as Box<dyn Surrogate>),
        Box::new(Defended::new(brightness(), BitDepth::new(3).unwrap(), 0)),
        Box::new(Defended::new(brightness(), ResizePad::new(), 0)),
        Box::new(Defended::new(brightness(), Jpeg::new(75).unwrap(), 0)),
        Box::new(RandomizedSmoothing::new(brightness(), 0.1, 15, 0).unwrap()),
    ];
    for target in &targets {
        // R&P's zero padding darkens the bright image but not below 0.5 on average.
        assert_eq!(target.predict(x.clone()).unwrap(), vec![0, 1], "{}", target.target_name());
        assert_eq!(target.predict(x.clone()).unwrap(), target.predict(x.clone()).unwrap());
    }
    assert_eq!(targets[4].target_name(), "brightness + smoothing σ=0.1");
    let nan = tensor4(vec![f32::NAN; 64], [1, 1, 8, 8]);
    for target in &targets {
        assert!(
            matches!(target.predict(nan.clone()), Err(Error::Attack(AttackError::InvalidPixels { .. }))),
            "{}",
            target.target_name()
        );
    }
    assert!(RandomizedSmoothing::new(brightness(), 0.0, 10, 0).is_err());
    assert!(RandomizedSmoothing::new(brightness(), 0.1, 0, 0).is_err());
}

#[test]
fn smoothing_takes_the_majority_vote() {
    // Near the decision boundary, large noise flips single draws but not the majority.
    let x = Tensor::<4>::full([1, 1, 4, 4], 0.52, &Default::default());
    let smoothed = RandomizedSmoothing::new(brightness(), 0.25, 101, 5).unwrap();
    assert_eq!(smoothed.predict(x).unwrap(), vec![1]);
}

/// Each image's randomised prediction depends on its index in the set, not on its batch:
/// shards and reversed batches predict what the whole batch does.
#[test]
fn randomised_defences_predict_each_image_the_same_in_any_shard_or_order() {
    let x = images(11, [8, 1, 8, 8], 0.47, 0.53);
    let smoothing = RandomizedSmoothing::new(brightness(), 0.5, 1, 3).unwrap();
    let resize_pad = Defended::new(brightness(), ResizePad::new(), 3);
    let targets: [&dyn Target; 2] = [&smoothing, &resize_pad];
    for target in targets {
        let whole = target.predict(x.clone()).unwrap();
        let mut sharded = target.predict_indexed(x.clone().narrow(0, 0, 3), &[0, 1, 2]).unwrap();
        sharded.extend(target.predict_indexed(x.clone().narrow(0, 3, 5), &[3, 4, 5, 6, 7]).unwrap());
        assert_eq!(whole, sharded, "{}", target.target_name());
        let reversed = x.clone().flip([0]);
        let mut backwards = target.predict_indexed(reversed, &[7, 6, 5, 4, 3, 2, 1, 0]).unwrap();
        backwards.reverse();
        assert_eq!(whole, backwards, "{}", target.target_name());
    }
    // The draws do depend on the index: other indices, other votes.
    let shifted = smoothing.predict_indexed(x.clone(), &[8, 9, 10, 11, 12, 13, 14, 15]).unwrap();
    assert_ne!(smoothing.predict(x.clone()).unwrap(), shifted);
    let e = smoothing.predict_indexed(x, &[0]).unwrap_err();
    assert!(matches!(e, Error::Attack(AttackError::IndexMismatch { images: 8, indices: 1 })), "{e}");
}

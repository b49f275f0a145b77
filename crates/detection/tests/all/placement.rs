//! Patches placed on the objects of generated scenes, through the attack library's
//! `Placement::OnBoxes`.

use burn::tensor::Device;
use burn::tensor::Tensor;
use common_weakness::rng::AttackRng;
use common_weakness::universal::{Patch, Placement, UniversalVariable};
use common_weakness_detection::dataset::SceneSet;
use common_weakness_detection::scene::{Items, SceneConfig};
use common_weakness_models::datasets::FashionMnist;

fn scenes() -> SceneSet {
    let items = Items::fashion_mnist(&FashionMnist::test_slice().unwrap()).unwrap();
    SceneSet::generate(&SceneConfig::default(), &items, 5, 0, 12).unwrap()
}

#[test]
fn batches_carry_every_scene_with_its_boxes_in_order() {
    let set = scenes();
    let batches = set.batches(5, &Device::flex()).unwrap();
    assert_eq!(batches.iter().map(|b| b.len()).collect::<Vec<_>>(), vec![5, 5, 2]);
    let boxes: Vec<_> = batches.iter().flat_map(|b| b.boxes.clone().unwrap()).collect();
    for (scene, regions) in set.scenes().iter().zip(&boxes) {
        let expected: Vec<_> = scene.objects.iter().map(|o| o.bbox.region()).collect();
        assert_eq!(regions, &expected);
    }
    assert!(set.batches(0, &Device::flex()).is_err());
}

#[test]
fn a_patch_on_boxes_covers_a_square_of_a_fifth_of_each_diagonal_at_each_centre() {
    let set = scenes();
    let device = Device::flex();
    let patch = Patch::new(8, 8, Placement::OnBoxes { relative_scale: 0.2 });
    let variable = UniversalVariable::Patch(patch);
    // A patch of −1 everywhere: every pixel it covers fully reads −1, which no scene holds.
    let value = Tensor::<4>::full([1, 3, 8, 8], -1.0, &device);
    for batch in set.batches(4, &device).unwrap() {
        let pasted = variable.apply_to(value.clone(), &batch, &mut AttackRng::new(0)).unwrap();
        let [n, _, h, w] = pasted.dims();
        let changed: Vec<f32> = (pasted - batch.images.clone()).abs().sum_dim(1).into_data().try_to_vec().unwrap();
        for (image, regions) in batch.boxes.as_ref().unwrap().iter().enumerate().take(n) {
            let squares: Vec<(f64, f64, f64)> = regions
                .iter()
                .map(|r| ((r.left + r.right) / 2.0, (r.top + r.bottom) / 2.0, 0.2 * r.diagonal()))
                .collect();
            for y in 0..h {
                for x in 0..w {
                    let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                    let distance = |&(cx, cy, side): &(f64, f64, f64)| {
                        ((px - cx).abs() - side / 2.0).max((py - cy).abs() - side / 2.0)
                    };
                    let nearest = squares.iter().map(distance).fold(f64::INFINITY, f64::min);
                    let moved = changed[(image * h + y) * w + x] > 1e-6;
                    // Inside a square by more than a pixel: covered. Outside by more than
                    // half a patch pixel (bilinear sampling blends the edge texels with the
                    // zero padding) and a pixel: untouched.
                    if nearest < -1.0 {
                        assert!(moved, "pixel ({x}, {y}) of image {image} inside a patch is unchanged");
                    } else if nearest > 1.0 + squares.iter().map(|s| s.2 / 16.0).fold(0.0, f64::max) {
                        assert!(!moved, "pixel ({x}, {y}) of image {image} outside every patch changed");
                    }
                }
            }
        }
    }
}

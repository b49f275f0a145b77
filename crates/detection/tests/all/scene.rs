//! Scenes composed from the committed Fashion-MNIST slice.

use common_weakness_detection::iou;
use common_weakness_detection::scene::{generate, Items, Scene, SceneConfig};
use common_weakness_models::datasets::FashionMnist;

fn items() -> Items {
    Items::fashion_mnist(&FashionMnist::test_slice().unwrap()).unwrap()
}

/// Scene `index` of `seed` holding one fully opaque 28 × 28 item of class `class`: its box is
/// the whole scaled square, and every pixel in it is the item's tint.
fn opaque_scene(class: usize, seed: u64, index: usize) -> Scene {
    let items = Items::new(vec![vec![255; 28 * 28]], vec![class]).unwrap();
    let config = SceneConfig { min_objects: 1, max_objects: 1, ..SceneConfig::default() };
    generate(&config, &items, seed, index).unwrap()
}

#[test]
fn boxes_lie_inside_the_image_and_follow_the_settings() {
    let (config, items) = (SceneConfig::default(), items());
    for index in 0..40 {
        let scene = generate(&config, &items, 3, index).unwrap();
        assert_eq!(scene.pixels.len(), 3 * 256 * 256);
        assert!(scene.pixels.iter().all(|p| (0.0..=1.0).contains(p)));
        assert!((config.min_objects..=config.max_objects).contains(&scene.objects.len()));
        for (i, object) in scene.objects.iter().enumerate() {
            assert!(object.bbox.is_inside(256, 256), "scene {index}: {:?}", object.bbox);
            assert!(object.class < 10);
            // The tight box of a visible item scaled to at least 64 pixels.
            assert!(object.bbox.width() >= 4.0 && object.bbox.height() >= 4.0, "{:?}", object.bbox);
            assert!(object.bbox.width() <= 128.0 && object.bbox.height() <= 128.0);
            for other in &scene.objects[i + 1..] {
                assert!(iou(&object.bbox, &other.bbox) <= config.max_overlap);
            }
        }
    }
}

#[test]
fn opaque_objects_stand_out_from_the_background() {
    // The opaque item's colour is its tint; the mean of the rows right above and below the box
    // approximates the background under it (a smooth texture). The generator keeps the tint
    // 0.4 from that background; with uniform random tints instead, scene 82 of these 200 comes
    // within 0.2 of it (checked).
    for index in 0..200 {
        let scene = opaque_scene(0, 1, index);
        let b = scene.objects[0].bbox;
        let (x0, x1, y0, y1) = (b.x_min as usize, b.x_max as usize, b.y_min as usize, b.y_max as usize);
        let rows: Vec<usize> = [y0.checked_sub(1), (y1 < scene.size).then_some(y1)].into_iter().flatten().collect();
        let ring = |c: usize| {
            let sum: f32 =
                rows.iter().flat_map(|&y| (x0..x1).map(move |x| (x, y))).map(|(x, y)| scene.pixel(c, x, y)).sum();
            sum / (rows.len() * (x1 - x0)) as f32
        };
        let distance = (0..3).map(|c| (scene.pixel(c, x0, y0) - ring(c)).powi(2)).sum::<f32>().sqrt();
        assert!(distance >= 0.2, "scene {index}: the object's colour is {distance} from the background around it");
    }
}

#[test]
fn a_scene_depends_on_its_seed_and_index_only() {
    let (config, items) = (SceneConfig::default(), items());
    let scene = generate(&config, &items, 11, 5).unwrap();
    assert_eq!(scene, generate(&config, &items, 11, 5).unwrap());
    assert_ne!(scene, generate(&config, &items, 11, 6).unwrap());
    assert_ne!(scene, generate(&config, &items, 12, 5).unwrap());
}

#[test]
fn an_opaque_item_fills_exactly_its_box_in_one_colour() {
    // The tight box of a fully opaque item is the whole scaled square, every pixel in it is the
    // item's tint, and the texture shows right outside it.
    for index in 0..5 {
        let scene = opaque_scene(4, 9, index);
        let [object] = scene.objects[..] else { panic!("one object expected") };
        let b = object.bbox;
        assert_eq!(object.class, 4);
        assert_eq!(b.width(), b.height());
        assert!((64.0..=128.0).contains(&b.width()), "{b:?}");
        let at = |c: usize, x: usize, y: usize| scene.pixel(c, x, y);
        let (x0, y0, x1, y1) = (b.x_min as usize, b.y_min as usize, b.x_max as usize, b.y_max as usize);
        let tint: Vec<f32> = (0..3).map(|c| at(c, x0, y0)).collect();
        for y in y0..y1 {
            for x in x0..x1 {
                assert!((0..3).all(|c| at(c, x, y) == tint[c]), "({x}, {y}) is not the item's colour");
            }
        }
        // The row above the box (or below, at the top edge) is background, not tint.
        let row = if y0 > 0 { y0 - 1 } else { y1 };
        assert!((x0..x1).any(|x| (0..3).any(|c| at(c, x, row) != tint[c])));
    }
}

#[test]
fn settings_that_cannot_work_are_errors_naming_the_setting() {
    let items = items();
    let bad = |config: SceneConfig, name: &str| {
        let error = generate(&config, &items, 0, 0).unwrap_err();
        assert!(error.to_string().contains(name), "{error}");
    };
    bad(SceneConfig { max_objects: 0, ..SceneConfig::default() }, "max_objects");
    bad(SceneConfig { max_item_side: 300, ..SceneConfig::default() }, "max_item_side");
    bad(SceneConfig { max_overlap: 1.5, ..SceneConfig::default() }, "max_overlap");
    // Four objects of 100–128 pixels in a 128-pixel scene without overlap cannot fit.
    let crowded = SceneConfig {
        size: 128,
        min_objects: 4,
        min_item_side: 100,
        max_item_side: 128,
        max_overlap: 0.0,
        ..SceneConfig::default()
    };
    bad(crowded, "max_overlap");
    assert!(Items::new(vec![vec![0; 28 * 28]], vec![0]).unwrap_err().to_string().contains("pixels"));
    assert!(Items::new(vec![vec![255; 28 * 28]], vec![]).is_err());
}

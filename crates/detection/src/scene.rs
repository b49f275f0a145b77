//! Detection scenes composed from real Fashion-MNIST items.
//!
//! Each scene is a square RGB image: a procedural texture (smooth value noise in a random
//! colour, plus a faint random grating) with 1–4 items pasted at random scales and positions,
//! each item's grey levels used as its opacity and tinted with a random colour that stands
//! out from the background under it. The boxes are
//! the tight boxes of the pasted items' visible pixels, the classes their Fashion-MNIST labels.
//! Scene `index` of seed `seed` depends on nothing else: any subset of scenes can be made
//! in any order, on any machine.
//!
//! ```
//! use common_weakness_detection::scene::{generate, Items, SceneConfig};
//!
//! // Two 28 × 28 items: a filled square (class 0) and a bar (class 1).
//! let square = vec![255u8; 28 * 28];
//! let bar: Vec<u8> = (0..28 * 28).map(|i| if (i / 28) % 28 < 6 { 255 } else { 0 }).collect();
//! let items = Items::new(vec![square, bar], vec![0, 1]).unwrap();
//! let scene = generate(&SceneConfig::default(), &items, 7, 0).unwrap();
//! assert_eq!(scene.pixels.len(), 3 * 256 * 256);
//! assert!(scene.objects.iter().all(|o| o.bbox.is_inside(256, 256)));
//! assert_eq!(scene, generate(&SceneConfig::default(), &items, 7, 0).unwrap()); // seeded
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::boxes::{iou, BoundingBox, GroundTruth};
use crate::error::{invalid, Result};

/// The side of an item, in pixels, before scaling.
pub const ITEM_SIDE: usize = 28;

/// How scenes are made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SceneConfig {
    /// Side of the square scene in pixels.
    pub size: usize,
    /// Fewest objects per scene.
    pub min_objects: usize,
    /// Most objects per scene.
    pub max_objects: usize,
    /// Smallest side of a pasted item (the 28 × 28 item scaled), in pixels.
    pub min_item_side: usize,
    /// Largest side of a pasted item, in pixels.
    pub max_item_side: usize,
    /// Largest IoU allowed between the boxes of two objects of a scene.
    pub max_overlap: f32,
}

impl Default for SceneConfig {
    /// 256 × 256 scenes with 1–4 objects of 64–128 pixels, overlapping by at most 0.1 IoU:
    /// objects large enough to carry a patch of a fifth of their diagonal, as persons do in
    /// INRIA.
    fn default() -> Self {
        Self { size: 256, min_objects: 1, max_objects: 4, min_item_side: 64, max_item_side: 128, max_overlap: 0.1 }
    }
}

impl SceneConfig {
    /// Checks every setting, naming the one at fault.
    pub fn validate(&self) -> Result<()> {
        if self.size < ITEM_SIDE {
            return Err(invalid("size", self.size, "scenes must be at least 28 pixels wide"));
        }
        if self.min_objects == 0 || self.max_objects < self.min_objects {
            return Err(invalid("max_objects", self.max_objects, "need 1 ≤ min_objects ≤ max_objects"));
        }
        if self.min_item_side == 0 || self.max_item_side < self.min_item_side || self.max_item_side > self.size {
            return Err(invalid("max_item_side", self.max_item_side, "need 1 ≤ min_item_side ≤ max_item_side ≤ size"));
        }
        if !(0.0..=1.0).contains(&self.max_overlap) {
            return Err(invalid("max_overlap", self.max_overlap, "must be within [0, 1]"));
        }
        Ok(())
    }
}

/// Items to paste: 28 × 28 grey images (0–255, row-major) with their classes.
#[derive(Clone, Debug)]
pub struct Items {
    pixels: Vec<Vec<u8>>,
    classes: Vec<usize>,
}

impl Items {
    /// Items from their pixels and classes; each must be 28 × 28 with a visible pixel.
    pub fn new(pixels: Vec<Vec<u8>>, classes: Vec<usize>) -> Result<Self> {
        if pixels.is_empty() || pixels.len() != classes.len() {
            return Err(invalid("classes", classes.len(), "one class per item, at least one item"));
        }
        if let Some(bad) = pixels.iter().position(|p| p.len() != ITEM_SIDE * ITEM_SIDE || p.iter().all(|&v| v < 26)) {
            return Err(invalid("pixels", bad, "each item must be 28 × 28 with a pixel of at least 26/255"));
        }
        Ok(Self { pixels, classes })
    }

    /// The items of a Fashion-MNIST split (blank images, if any, left out).
    pub fn fashion_mnist(data: &common_weakness_models::datasets::FashionMnist) -> Result<Self> {
        let visible = |p: &[u8]| p.iter().any(|&v| v >= 26);
        let (pixels, classes) = (0..data.len())
            .filter(|&i| visible(data.pixels(i)))
            .map(|i| (data.pixels(i).to_vec(), data.labels()[i]))
            .unzip();
        Self::new(pixels, classes)
    }

    /// How many items.
    pub fn len(&self) -> usize {
        self.pixels.len()
    }

    /// Whether there is none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }
}

/// A generated scene.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Side in pixels.
    pub size: usize,
    /// RGB pixels in `[0, 1]`, `[3, size, size]` row-major.
    pub pixels: Vec<f32>,
    /// The objects, with their boxes and classes.
    pub objects: Vec<GroundTruth>,
}

impl Scene {
    /// The value of `channel` (0 red, 1 green, 2 blue) at column `x`, row `y`.
    pub fn pixel(&self, channel: usize, x: usize, y: usize) -> f32 {
        self.pixels[(channel * self.size + y) * self.size + x]
    }
}

/// Scene `index` of the set made from `items` with `seed`.
pub fn generate(config: &SceneConfig, items: &Items, seed: u64, index: usize) -> Result<Scene> {
    config.validate()?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index as u64);
    let size = config.size;
    let mut pixels = background(size, &mut rng);
    let wanted = rng.random_range(config.min_objects..=config.max_objects);
    let mut objects: Vec<GroundTruth> = Vec::with_capacity(wanted);
    // Placements that overlap too much are drawn again; a scene that cannot hold its objects
    // (settings too tight) is an error rather than a loop.
    let mut attempts = 0;
    while objects.len() < wanted {
        attempts += 1;
        if attempts > 1000 {
            return Err(invalid(
                "max_overlap",
                config.max_overlap,
                "the objects do not fit: allow more overlap or smaller items",
            ));
        }
        let item = rng.random_range(0..items.len());
        let side = rng.random_range(config.min_item_side..=config.max_item_side);
        let (top, left) = (rng.random_range(0..=size - side), rng.random_range(0..=size - side));
        let alpha = scaled(&items.pixels[item], side);
        let Some(tight) = tight_box(&alpha, side) else { continue };
        let bbox = BoundingBox {
            x_min: (left + tight[0]) as f32,
            y_min: (top + tight[1]) as f32,
            x_max: (left + tight[2]) as f32,
            y_max: (top + tight[3]) as f32,
        };
        if objects.iter().any(|o| iou(&o.bbox, &bbox) > config.max_overlap) {
            continue;
        }
        let tint = contrasting_tint(&pixels, size, &bbox, &mut rng);
        for y in 0..side {
            for x in 0..side {
                let a = alpha[y * side + x];
                for (c, colour) in tint.iter().enumerate() {
                    let p = &mut pixels[(c * size + top + y) * size + left + x];
                    *p = (1.0 - a) * *p + a * colour;
                }
            }
        }
        objects.push(GroundTruth { class: items.classes[item], bbox });
    }
    Ok(Scene { size, pixels, objects })
}

/// A random colour at least 0.4 away (Euclidean, RGB in [0, 1]) from the mean colour of the
/// background inside `bbox`, so that no object blends into its surroundings; after 20 draws
/// the farthest one drawn.
fn contrasting_tint(pixels: &[f32], size: usize, bbox: &BoundingBox, rng: &mut ChaCha8Rng) -> [f32; 3] {
    let (x0, y0, x1, y1) = (bbox.x_min as usize, bbox.y_min as usize, bbox.x_max as usize, bbox.y_max as usize);
    let count = ((x1 - x0) * (y1 - y0)).max(1) as f32;
    let mean: [f32; 3] = std::array::from_fn(|c| {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (y, x)))
            .map(|(y, x)| pixels[(c * size + y) * size + x])
            .sum::<f32>()
            / count
    });
    let distance = |t: &[f32; 3]| t.iter().zip(&mean).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt();
    let mut draw = || -> [f32; 3] { std::array::from_fn(|_| rng.random_range(0.0..1.0f32)) };
    let mut best = draw();
    for _ in 1..20 {
        if distance(&best) >= 0.4 {
            break;
        }
        let tint = draw();
        if distance(&tint) > distance(&best) {
            best = tint;
        }
    }
    best
}

/// A smooth random texture: value noise on a coarse random grid in a random colour, with a
/// faint sinusoidal grating, in `[0, 1]`.
fn background(size: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let grid = rng.random_range(3..=8usize);
    let base: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.2..0.8f32));
    let (fx, fy, phase) =
        (rng.random_range(2.0..12.0f32), rng.random_range(2.0..12.0f32), rng.random_range(0.0..6.3f32));
    let mut pixels = vec![0.0; 3 * size * size];
    for (c, base) in base.iter().enumerate() {
        let knots: Vec<f32> = (0..grid * grid).map(|_| rng.random_range(-0.25..0.25f32)).collect();
        for y in 0..size {
            for x in 0..size {
                let (gy, gx) = (y as f32 / size as f32 * (grid - 1) as f32, x as f32 / size as f32 * (grid - 1) as f32);
                let noise = bilinear(&knots, grid, gy, gx);
                let grating =
                    0.05 * (std::f32::consts::TAU * (fx * x as f32 + fy * y as f32) / size as f32 + phase).sin();
                pixels[(c * size + y) * size + x] = (base + noise + grating).clamp(0.0, 1.0);
            }
        }
    }
    pixels
}

/// The value at `(y, x)` (in grid units) of a `side × side` grid, interpolated bilinearly
/// with edges clamped.
fn bilinear(grid: &[f32], side: usize, y: f32, x: f32) -> f32 {
    let (y0, x0) = ((y.floor() as usize).min(side - 1), (x.floor() as usize).min(side - 1));
    let (y1, x1) = ((y0 + 1).min(side - 1), (x0 + 1).min(side - 1));
    let (dy, dx) = (y - y0 as f32, x - x0 as f32);
    let at = |r: usize, c: usize| grid[r * side + c];
    (1.0 - dy) * ((1.0 - dx) * at(y0, x0) + dx * at(y0, x1)) + dy * ((1.0 - dx) * at(y1, x0) + dx * at(y1, x1))
}

/// A 28 × 28 item's opacity (grey level / 255) resized to `side × side` (bilinear, pixel
/// centres aligned).
fn scaled(item: &[u8], side: usize) -> Vec<f32> {
    let grid: Vec<f32> = item.iter().map(|&v| v as f32 / 255.0).collect();
    let ratio = ITEM_SIDE as f32 / side as f32;
    let source = |i: usize| ((i as f32 + 0.5) * ratio - 0.5).clamp(0.0, (ITEM_SIDE - 1) as f32);
    let mut alpha = Vec::with_capacity(side * side);
    for y in 0..side {
        for x in 0..side {
            alpha.push(bilinear(&grid, ITEM_SIDE, source(y), source(x)));
        }
    }
    alpha
}

/// `[x_min, y_min, x_max, y_max)` of the pixels with opacity ≥ 0.1, if any.
fn tight_box(alpha: &[f32], side: usize) -> Option<[usize; 4]> {
    let visible = |y: usize, x: usize| alpha[y * side + x] >= 0.1;
    let rows: Vec<usize> = (0..side).filter(|&y| (0..side).any(|x| visible(y, x))).collect();
    let columns: Vec<usize> = (0..side).filter(|&x| (0..side).any(|y| visible(y, x))).collect();
    Some([*columns.first()?, *rows.first()?, columns.last()? + 1, rows.last()? + 1])
}

//! DI: input diversity, a random differentiable transform of the input.

use burn::tensor::ops::PadMode;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::check::{non_negative, positive};
use crate::error::{Error, Result};
use crate::planar::resize_bilinear;
use crate::rng::AttackRng;

/// A random transform applied to the images before the models see them, inside the
/// differentiated graph, drawn independently for every image (from the attack's seed).
/// The output has the input's shape.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum InputDiversity {
    /// Xie et al. (CVPR 2019): with probability `probability`, resize the H×W image to
    /// r×r' with r uniform in [H, ⌊resize_rate·H⌋), zero-pad it at a random offset to
    /// ⌊resize_rate·H⌋×⌊resize_rate·W⌋, and resize back to H×W (bilinear).
    ResizePad {
        /// Chance of transforming an image (the paper: 0.5).
        #[serde(with = "crate::json_float")]
        probability: f64,
        /// Largest enlargement factor (> 1; TransferAttack's 1.1).
        #[serde(with = "crate::json_float")]
        resize_rate: f64,
    },
    /// The CWA authors' form: always zero-pad by `padding` pixels on every side and crop
    /// the original size at a random offset, i.e. a random translation by up to ±`padding`.
    Translate {
        /// Largest shift in pixels (the authors: 23 for 224×224 images).
        padding: usize,
    },
    /// A random resized crop, always applied: a square-proportioned window covering a
    /// fraction `s ~ U(min_scale, max_scale)` of the image's area (sides `√s·H × √s·W`), at a
    /// random offset, resized back to H×W (bilinear). The local crops of recent attacks on
    /// vision encoders (scale 0.5–0.9).
    Crop {
        /// Smallest area fraction (> 0).
        #[serde(with = "crate::json_float")]
        min_scale: f64,
        /// Largest area fraction (≤ 1, ≥ `min_scale`).
        #[serde(with = "crate::json_float")]
        max_scale: f64,
    },
}

/// The largest [`InputDiversity::Translate`] padding: beyond it the padded batch alone
/// would take gigabytes, and every shift already moves the image out of any real frame.
const MAX_TRANSLATE_PADDING: usize = 4096;

impl InputDiversity {
    /// Xie et al.'s DI with probability 0.5 and resize rate 1.1.
    pub fn resize_pad() -> Self {
        InputDiversity::ResizePad { probability: 0.5, resize_rate: 1.1 }
    }

    /// Random crops covering 50–90% of the image's area.
    pub fn crop() -> Self {
        InputDiversity::Crop { min_scale: 0.5, max_scale: 0.9 }
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        match *self {
            InputDiversity::ResizePad { probability, resize_rate } => {
                non_negative("probability", probability)?;
                if probability > 1.0 {
                    return Err(Error::InvalidParameter {
                        name: "probability",
                        value: probability,
                        requirement: "must be <= 1",
                    });
                }
                positive("resize_rate - 1", resize_rate - 1.0)
            }
            InputDiversity::Translate { padding } if padding > MAX_TRANSLATE_PADDING => Err(Error::InvalidParameter {
                name: "padding",
                value: padding as f64,
                requirement: "must be at most 4096 pixels (the padded images are held in memory)",
            }),
            InputDiversity::Translate { .. } => Ok(()),
            InputDiversity::Crop { min_scale, max_scale } => {
                positive("min_scale", min_scale)?;
                if max_scale > 1.0 || max_scale.is_nan() {
                    return Err(Error::InvalidParameter {
                        name: "max_scale",
                        value: max_scale,
                        requirement: "must be <= 1 (a crop cannot exceed the image)",
                    });
                }
                non_negative("max_scale - min_scale", max_scale - min_scale)
            }
        }
    }

    /// Applies a freshly drawn transform to each image (what the models see during an
    /// attack); the output has the input's shape.
    pub fn apply(&self, images: Tensor<4>, rng: &mut AttackRng) -> Tensor<4> {
        let placements = self.draw(images.dims(), rng);
        apply_all(&placements, images)
    }

    /// Draws one transform per image of a `[N, C, H, W]` batch, each from its image's stream.
    pub(crate) fn draw(&self, shape: [usize; 4], rng: &mut AttackRng) -> Vec<Placement> {
        let [n, _, h, w] = shape;
        (0..n)
            .map(|image| match *self {
                InputDiversity::ResizePad { probability, resize_rate } => {
                    let (big_h, big_w) = ((h as f64 * resize_rate) as usize, (w as f64 * resize_rate) as usize);
                    if (rng.unit_for(image) as f64) >= probability || big_h <= h {
                        return Placement::Identity;
                    }
                    let size_h = h + (rng.unit_for(image) * (big_h - h) as f32) as usize;
                    let size_w = (size_h * w).div_ceil(h).min(big_w);
                    let top = (rng.unit_for(image) * (big_h - size_h + 1) as f32) as usize;
                    let left = (rng.unit_for(image) * (big_w - size_w + 1) as f32) as usize;
                    Placement::ResizePad { size: [size_h, size_w], canvas: [big_h, big_w], offset: [top, left] }
                }
                InputDiversity::Translate { padding } => {
                    let span = (2 * padding + 1) as f32;
                    let dy = ((rng.unit_for(image) * span) as usize).min(2 * padding);
                    let dx = ((rng.unit_for(image) * span) as usize).min(2 * padding);
                    Placement::Translate { padding, offset: [dy, dx] }
                }
                InputDiversity::Crop { min_scale, max_scale } => {
                    let scale = min_scale + rng.unit_for(image) as f64 * (max_scale - min_scale);
                    let side = |length: usize| ((scale.sqrt() * length as f64).round() as usize).clamp(1, length);
                    let size = [side(h), side(w)];
                    let top = ((rng.unit_for(image) * (h - size[0] + 1) as f32) as usize).min(h - size[0]);
                    let left = ((rng.unit_for(image) * (w - size[1] + 1) as f32) as usize).min(w - size[1]);
                    Placement::Crop { size, offset: [top, left] }
                }
            })
            .collect()
    }
}

/// One image's drawn transform.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Placement {
    Identity,
    ResizePad { size: [usize; 2], canvas: [usize; 2], offset: [usize; 2] },
    Translate { padding: usize, offset: [usize; 2] },
    Crop { size: [usize; 2], offset: [usize; 2] },
}

impl Placement {
    fn apply(&self, image: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = image.dims();
        match *self {
            Placement::Identity => image,
            Placement::ResizePad { size, canvas, offset: [top, left] } => {
                let resized = resize_bilinear(image, size);
                let padding = (left, canvas[1] - size[1] - left, top, canvas[0] - size[0] - top);
                resize_bilinear(resized.pad(padding, PadMode::Constant(0.0)), [h, w])
            }
            Placement::Translate { padding: p, offset: [dy, dx] } => {
                image.pad((p, p, p, p), PadMode::Constant(0.0)).narrow(2, dy, h).narrow(3, dx, w)
            }
            Placement::Crop { size: [crop_h, crop_w], offset: [top, left] } => {
                resize_bilinear(image.narrow(2, top, crop_h).narrow(3, left, crop_w), [h, w])
            }
        }
    }
}

/// Applies each image's placement and reassembles the batch.
pub(crate) fn apply_all(placements: &[Placement], images: Tensor<4>) -> Tensor<4> {
    if placements.iter().all(|p| *p == Placement::Identity) {
        return images;
    }
    let parts = placements.iter().enumerate().map(|(i, p)| p.apply(images.clone().narrow(0, i, 1))).collect();
    Tensor::cat(parts, 0)
}

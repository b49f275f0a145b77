//! The patch applier: where a patch goes in each image, the random transformations drawn for
//! every paste (expectation over transformation, EOT) and the differentiable pasting.
//!
//! Every paste is an affine map from image pixels to patch coordinates (scale, rotation,
//! position) sampled bilinearly with `grid_sample_2d`, so the pasted images are
//! differentiable with respect to the patch, and a patch pasted at its own size, unrotated, at
//! a whole-pixel position is copied exactly: each covered pixel's gradient goes to one patch
//! pixel.

use burn::tensor::ops::{GridSampleOptions, PadMode};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::batch::{Batch, Region};
use crate::check::{non_negative, positive};
use crate::error::{Error, Result};
use crate::rng::AttackRng;

/// Where a patch goes in each image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Placement {
    /// The patch's top-left corner at (`top`, `left`) pixels, at its own size (EOT scales and
    /// rotates it about its centre).
    Fixed {
        /// Row of the top edge.
        top: usize,
        /// Column of the left edge.
        left: usize,
    },
    /// A uniformly random position, drawn per image, with the patch inside the image.
    Random,
    /// Centred on every object of the batch's boxes, its longer side `relative_scale` times
    /// the box's diagonal (the detection protocol; T-SEA uses 0.2).
    OnBoxes {
        /// The patch's longer side over the box diagonal.
        #[serde(with = "crate::json_float")]
        relative_scale: f64,
    },
}

/// Expectation over transformation: the random changes drawn, independently, for every
/// paste. [`Eot::none`] pastes the patch as it is; the default is a mild mix in the spirit of
/// T-SEA's (scale, rotation, brightness, contrast, noise).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eot {
    /// Range of the size factor, `[low, high]`.
    pub scale: [f64; 2],
    /// Largest rotation, in degrees (uniform in `±rotation`).
    #[serde(with = "crate::json_float")]
    pub rotation: f64,
    /// Largest brightness shift (uniform in `±brightness`, added to every pixel).
    #[serde(with = "crate::json_float")]
    pub brightness: f64,
    /// Range of the contrast factor, `[low, high]`.
    pub contrast: [f64; 2],
    /// Largest pixel noise (uniform in `±noise`, per pixel).
    #[serde(with = "crate::json_float")]
    pub noise: f64,
}

impl Default for Eot {
    fn default() -> Self {
        Self { scale: [0.9, 1.1], rotation: 15.0, brightness: 0.1, contrast: [0.8, 1.2], noise: 0.05 }
    }
}

impl Eot {
    /// No transformation: the patch is pasted as it is.
    pub fn none() -> Self {
        Self { scale: [1.0, 1.0], rotation: 0.0, brightness: 0.0, contrast: [1.0, 1.0], noise: 0.0 }
    }

    fn validate(&self) -> Result<()> {
        for (name, [low, high]) in [("eot.scale", self.scale), ("eot.contrast", self.contrast)] {
            positive(name, low)?;
            if !(high >= low && high.is_finite()) {
                return Err(Error::InvalidParameter { name, value: high, requirement: "must be finite and >= low" });
            }
        }
        non_negative("eot.rotation", self.rotation)?;
        non_negative("eot.brightness", self.brightness)?;
        non_negative("eot.noise", self.noise)
    }

    /// True when every draw is the identity (no clamp or noise is applied then).
    fn is_identity(&self) -> bool {
        *self == Self::none()
    }
}

/// A universal adversarial patch: `[C, height, width]` in `[0, 1]`, pasted into every image.
///
/// ```
/// use common_weakness::universal::{Eot, Patch, Placement};
///
/// // A 32 × 32 patch at a random position in each image, with the default EOT and a
/// // total-variation penalty.
/// let patch = Patch::new(32, 32, Placement::Random).with_eot(Eot::default()).with_tv_weight(2.5);
/// assert!(patch.validate().is_ok());
/// assert!(Patch::new(0, 32, Placement::Random).validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// Patch height in pixels (at scale 1).
    pub height: usize,
    /// Patch width in pixels (at scale 1).
    pub width: usize,
    /// Where it goes.
    pub placement: Placement,
    /// The random transformations of every paste.
    pub eot: Eot,
    /// Weight of the total-variation penalty added to every model's objective (batch mean
    /// of the per-image loss `+ tv_weight · TV(patch)`, TV the mean absolute difference of
    /// neighbouring pixels); 0 turns it off.
    #[serde(with = "crate::json_float")]
    pub tv_weight: f64,
}

/// The draws of one batch: for every paste (layer `l`, image `n`), the square window of the
/// image it can touch, the sampling grid and coverage inside that window, and its jitter.
/// Rendering only the windows (a few percent of the image for patches on objects) keeps the
/// bilinear sampling and its backward pass proportional to the patch's footprint.
pub(crate) struct Pastes {
    /// `[L·N, S_h, S_w, 2]`: for each paste, where each pixel of its window reads the patch.
    grid: Tensor<4>,
    /// `[L·N, 1, H, W]`: how much of each pixel the paste covers.
    coverage: Tensor<4>,
    /// `[L·N, 1, 1, 1]` contrast and brightness, and `[L·N, C, h, w]` noise, when EOT draws them.
    jitter: Option<(Tensor<4>, Tensor<4>, Tensor<4>)>,
    /// Each paste's window: its top-left corner; every window is `S_h × S_w`.
    windows: Vec<(usize, usize)>,
    /// The image's height and width.
    image: (usize, usize),
    layers: usize,
}

/// One paste: the patch's centre, size in pixels, rotation and colour jitter.
struct Paste {
    centre: (f64, f64),
    size: (f64, f64),
    angle: f64,
    contrast: f64,
    brightness: f64,
}

impl Patch {
    /// A `height × width` patch placed by `placement`, without EOT or penalty.
    pub fn new(height: usize, width: usize, placement: Placement) -> Self {
        Self { height, width, placement, eot: Eot::none(), tv_weight: 0.0 }
    }

    /// Draws `eot` for every paste.
    pub fn with_eot(mut self, eot: Eot) -> Self {
        self.eot = eot;
        self
    }

    /// Adds the total-variation penalty with weight `tv_weight`.
    pub fn with_tv_weight(mut self, tv_weight: f64) -> Self {
        self.tv_weight = tv_weight;
        self
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<()> {
        crate::check::at_least_one("patch height", self.height)?;
        crate::check::at_least_one("patch width", self.width)?;
        self.eot.validate()?;
        non_negative("tv_weight", self.tv_weight)?;
        if let Placement::OnBoxes { relative_scale } = self.placement {
            positive("relative_scale", relative_scale)?;
        }
        Ok(())
    }

    /// Checks that batch `index` can carry the patch (size, boxes).
    pub(crate) fn check_batch(&self, batch: &Batch, index: usize) -> Result<()> {
        let [_, _, h, w] = batch.images.dims();
        let fits = |top: usize, left: usize| {
            top.checked_add(self.height).is_some_and(|bottom| bottom <= h)
                && left.checked_add(self.width).is_some_and(|right| right <= w)
        };
        let problem = match self.placement {
            Placement::Fixed { top, left } if !fits(top, left) => Some(format!(
                "a {}x{} patch at ({top}, {left}) does not fit in {h}x{w} images",
                self.height, self.width
            )),
            Placement::Random if !fits(0, 0) => {
                Some(format!("a {}x{} patch does not fit in {h}x{w} images", self.height, self.width))
            }
            Placement::OnBoxes { .. } if batch.boxes.is_none() => {
                Some("patches placed on boxes need the batch's boxes (`Batch::with_boxes`)".to_string())
            }
            _ => None,
        };
        match problem {
            Some(reason) => Err(Error::InvalidDataset { batch: index, reason }),
            None => Ok(()),
        }
    }

    /// Draws every paste of `batch` (positions, sizes, rotations, jitter, noise).
    pub(crate) fn draw(&self, batch: &Batch, channels: usize, rng: &mut AttackRng) -> Pastes {
        let [n, _, h, w] = batch.images.dims();
        let device = batch.images.device();
        let (ph, pw) = (self.height as f64, self.width as f64);
        let mut per_image: Vec<Vec<Paste>> = Vec::with_capacity(n);
        for image in 0..n {
            let spots: Vec<((f64, f64), (f64, f64))> = match self.placement {
                Placement::Fixed { top, left } => vec![((top as f64 + ph / 2.0, left as f64 + pw / 2.0), (ph, pw))],
                Placement::Random => {
                    let top = (rng.unit() as f64 * (h as f64 - ph + 1.0)).floor().min(h as f64 - ph);
                    let left = (rng.unit() as f64 * (w as f64 - pw + 1.0)).floor().min(w as f64 - pw);
                    vec![((top + ph / 2.0, left + pw / 2.0), (ph, pw))]
                }
                Placement::OnBoxes { relative_scale } => {
                    let boxes = batch.boxes.as_ref().map_or(&[][..], |b| &b[image][..]);
                    boxes.iter().map(|r| on_box(r, relative_scale, ph, pw)).collect()
                }
            };
            let pastes = spots
                .into_iter()
                .map(|(centre, (sh, sw))| {
                    let e = &self.eot;
                    let scale = uniform(rng, e.scale[0], e.scale[1]);
                    Paste {
                        centre,
                        size: (sh * scale, sw * scale),
                        angle: uniform(rng, -e.rotation, e.rotation).to_radians(),
                        contrast: uniform(rng, e.contrast[0], e.contrast[1]),
                        brightness: uniform(rng, -e.brightness, e.brightness),
                    }
                })
                .collect();
            per_image.push(pastes);
        }
        let layers = per_image.iter().map(Vec::len).max().unwrap_or(0).max(1);
        // One window size for all: the widest footprint (with a texel of bilinear fringe and
        // a pixel of rounding on each side), at most the image.
        let texel = (self.height as f64).recip().max((self.width as f64).recip());
        let widest =
            per_image.iter().flatten().map(|p| 2.0 * p.reach(texel) + 2.0).fold(1.0f64, f64::max).ceil() as usize;
        let window = (widest.min(h), widest.min(w));
        let mut grid = Vec::with_capacity(layers * n * window.0 * window.1 * 2);
        let mut windows = Vec::with_capacity(layers * n);
        let mut contrast = Vec::with_capacity(layers * n);
        let mut brightness = Vec::with_capacity(layers * n);
        for layer in 0..layers {
            for pastes in &per_image {
                match pastes.get(layer) {
                    Some(paste) => {
                        let corner = |centre: f64, side: usize, extent: usize| {
                            ((centre - side as f64 / 2.0).floor().max(0.0) as usize).min(extent - side)
                        };
                        let corner = (corner(paste.centre.0, window.0, h), corner(paste.centre.1, window.1, w));
                        paste.grid(corner, window, &mut grid);
                        windows.push(corner);
                        contrast.push(paste.contrast as f32);
                        brightness.push(paste.brightness as f32);
                    }
                    None => {
                        // Far outside the patch: reads zeros, covers nothing.
                        grid.extend(std::iter::repeat_n(4.0f32, window.0 * window.1 * 2));
                        windows.push((0, 0));
                        contrast.push(1.0);
                        brightness.push(0.0);
                    }
                }
            }
        }
        let count = layers * n;
        let grid = crate::host::tensor::<4>(grid, [count, window.0, window.1, 2], &device);
        let image = (h, w);
        let coverage = place(
            Tensor::<4>::ones([count, 1, self.height, self.width], &device).grid_sample_2d(grid.clone(), options()),
            &windows,
            image,
        );
        let jitter = (!self.eot.is_identity()).then(|| {
            let noise = self.eot.noise as f32;
            (
                crate::host::tensor::<4>(contrast, [count, 1, 1, 1], &device),
                crate::host::tensor::<4>(brightness, [count, 1, 1, 1], &device),
                rng.uniform([count, channels, self.height, self.width], -noise, noise, &device),
            )
        });
        Pastes { grid, coverage, jitter, windows, image, layers }
    }

    /// `images` with the patch `patch` (`[1, C, h, w]`) pasted as drawn in `pastes`;
    /// differentiable in `patch`.
    pub(crate) fn apply(&self, patch: Tensor<4>, images: Tensor<4>, pastes: &Pastes) -> Tensor<4> {
        let n = images.dims()[0];
        let count = pastes.layers * n;
        let mut patches = patch.repeat_dim(0, count);
        if let Some((contrast, brightness, noise)) = &pastes.jitter {
            patches = (patches * contrast.clone() + brightness.clone() + noise.clone()).clamp(0.0, 1.0);
        }
        let rendered = place(patches.grid_sample_2d(pastes.grid.clone(), options()), &pastes.windows, pastes.image);
        let coverage = pastes.coverage.clone();
        let mut out = images;
        for layer in 0..pastes.layers {
            let rows = layer * n..(layer + 1) * n;
            let covered = coverage.clone().slice([rows.clone()]);
            out = out * covered.neg().add_scalar(1.0) + rendered.clone().slice([rows]);
        }
        out
    }

    /// The gradient of `tv_weight · TV(patch)` with respect to `patch`, times `images` (the
    /// crate sums per-image losses, so the penalty is counted once per image).
    pub(crate) fn tv_gradient(&self, patch: &Tensor<4>, images: usize) -> Tensor<4> {
        let leaf = Tensor::<4>::from_inner(patch.clone()).require_grad();
        let penalty = total_variation(leaf.clone()).mul_scalar(self.tv_weight * images as f64);
        crate::gradient::gradient_of(&leaf, penalty)
    }
}

/// Total variation of `[1, C, h, w]`: the mean absolute difference of vertical neighbours
/// plus that of horizontal neighbours (0 for a 1-pixel side).
pub fn total_variation(patch: Tensor<4>) -> Tensor<1> {
    let [_, c, h, w] = patch.dims();
    let mut tv = Tensor::<1>::zeros([1], &patch.device());
    if h > 1 {
        let d = patch.clone().slice([0..1, 0..c, 1..h]) - patch.clone().slice([0..1, 0..c, 0..h - 1]);
        tv = tv + d.abs().mean().reshape([1]);
    }
    if w > 1 {
        let d = patch.clone().slice([0..1, 0..c, 0..h, 1..w]) - patch.slice([0..1, 0..c, 0..h, 0..w - 1]);
        tv = tv + d.abs().mean().reshape([1]);
    }
    tv
}

/// Windows `[count, C, S_h, S_w]` put in place in `[count, C, H, W]` images of zeros, window
/// `k` with its top-left corner at `corners[k]`.
fn place(windows: Tensor<4>, corners: &[(usize, usize)], (h, w): (usize, usize)) -> Tensor<4> {
    let [_, _, side_h, side_w] = windows.dims();
    let placed = corners
        .iter()
        .enumerate()
        .map(|(k, &(top, left))| {
            let padding = [(top, h - top - side_h), (left, w - left - side_w)];
            windows.clone().narrow(0, k, 1).pad(padding, PadMode::Constant(0.0))
        })
        .collect();
    Tensor::cat(placed, 0)
}

/// Bilinear, zeros outside, pixel-centre convention (PyTorch's `align_corners=False`).
fn options() -> GridSampleOptions {
    GridSampleOptions::default()
}

fn uniform(rng: &mut AttackRng, low: f64, high: f64) -> f64 {
    if high > low {
        low + (high - low) * rng.unit() as f64
    } else {
        low
    }
}

/// The centre and size of a patch on box `r`: centred, its longer side `relative_scale` times
/// the diagonal.
fn on_box(r: &Region, relative_scale: f64, ph: f64, pw: f64) -> ((f64, f64), (f64, f64)) {
    let side = relative_scale * r.diagonal();
    let factor = side / ph.max(pw);
    (((r.top + r.bottom) / 2.0, (r.left + r.right) / 2.0), (ph * factor, pw * factor))
}

impl Paste {
    /// How far from its centre the paste can change a pixel: half the diagonal of its
    /// rotated footprint, plus one patch texel (`texel` of its side) of bilinear fringe.
    fn reach(&self, texel: f64) -> f64 {
        let (sin, cos) = self.angle.sin_cos();
        let (half_h, half_w) = (self.size.0 / 2.0, self.size.1 / 2.0);
        let fringe = texel * self.size.0.max(self.size.1);
        (cos.abs() * half_w + sin.abs() * half_h).max(sin.abs() * half_w + cos.abs() * half_h) + fringe
    }

    /// Appends, for every pixel of the `height × width` window whose top-left corner is
    /// `(top, left)`, the patch coordinates it reads (`grid_sample_2d`'s `[x, y]` in
    /// `[−1, 1]` over the patch).
    fn grid(&self, (top, left): (usize, usize), (height, width): (usize, usize), out: &mut Vec<f32>) {
        let (cy, cx) = self.centre;
        let (half_h, half_w) = (self.size.0 / 2.0, self.size.1 / 2.0);
        let (sin, cos) = self.angle.sin_cos();
        for i in top..top + height {
            let dy = i as f64 + 0.5 - cy;
            for j in left..left + width {
                let dx = j as f64 + 0.5 - cx;
                // Rotate the image offset back into the patch's frame.
                let u = cos * dx + sin * dy;
                let v = -sin * dx + cos * dy;
                out.push((u / half_w) as f32);
                out.push((v / half_h) as f32);
            }
        }
    }
}

//! Transformed copies: the gradient averaged over several copies of the input, each seen by
//! the models through its own differentiable transform (SIM, MaskBlock, BSR, SIA).

use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::blocks::{shuffle_and_rotate, structure_invariant};
use super::pixel_map::{resampled, PixelMap};
use crate::check::{at_least_one, at_most, non_negative};
use crate::error::{Error, Result};
use crate::objective::Objective;
use crate::rng::AttackRng;

/// The batch the models see: its shape `[N, C, H, W]`, the objective, whose labels and mixing
/// pool Admix reads, and whether the iterate is the images themselves (a per-image attack)
/// rather than a universal variable applied to them.
#[derive(Clone, Copy)]
pub(crate) struct Inputs<'a> {
    pub shape: [usize; 4],
    pub objective: &'a Objective,
    pub per_image: bool,
}

/// Copies of the input whose gradients an estimate averages, each taken through its transform
/// (inside the differentiated graph, so the gradient is the input's). A copy is one more
/// forward and backward pass per gradient; copies compose with input diversity (applied to
/// each copy) and with sampling (every sampled point is copied).
///
/// ```
/// use common_weakness::gradient::{Copies, GradientEstimator};
///
/// // SI-MI-FGSM's gradient: the mean over x, x/2, x/4, x/8, x/16.
/// let sim = GradientEstimator::default().with_copies(Copies::sim());
/// assert_eq!(Copies::sim().count(), 5);
/// assert_eq!(Copies::mask_block().count(), 16);
/// assert!(sim.validate().is_ok());
///
/// // BSR's and SIA's 20 copies are drawn at random, per image, from the attack's seed.
/// assert!(Copies::bsr().is_random() && Copies::sia().is_random());
/// assert_eq!(Copies::bsr().count(), 20);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Copies {
    /// SIM, the scale-invariance method of Lin et al., *Nesterov Accelerated Gradient and
    /// Scale Invariance for Adversarial Attacks*, ICLR 2020: the copies `x / 2^i` for
    /// `i = 0 … scales − 1` (the paper: 5), whose gradients `2^{−i}·∇L(x/2^i)` are averaged.
    Scale {
        /// Number of copies m (≥ 1; 1 is the plain gradient).
        scales: usize,
    },
    /// MaskBlock, Fan et al., *MaskBlock: Transferable Adversarial Examples with Bayes
    /// Approach*, 2022: the image cut into a `grid × grid` grid of blocks, one copy per
    /// block with that block set to 0 (TransferAttack's 56-pixel blocks on 224-pixel images:
    /// a 4 × 4 grid, 16 copies). Block edges are at `⌊k·H/grid⌋`, so every pixel is in one
    /// block whatever the image size.
    MaskBlock {
        /// Blocks per side (≥ 1, at most the image side).
        grid: usize,
    },
    /// BSR, Wang et al., *Boosting Adversarial Transferability by Block Shuffle and Rotation*,
    /// CVPR 2024: each copy cuts every image into a `grid × grid` grid of equal blocks,
    /// shuffles them (a uniform permutation) and turns each about its centre by an angle
    /// uniform in `±max_angle` degrees (bilinear; what turns out of the block is zero). The
    /// paper: 20 copies, a 2 × 2 grid, 24°. TransferAttack's code differs: 3 strips of random
    /// lengths per side and no rotation.
    BlockShuffle {
        /// Number of copies N (≥ 1).
        copies: usize,
        /// Blocks per side (≥ 1, at most the image side; 1 with no rotation is the identity).
        grid: usize,
        /// Largest rotation in degrees (≥ 0; 0 shuffles only).
        #[serde(with = "crate::json_float")]
        max_angle: f64,
    },
    /// SIA, Wang et al., *Structure Invariant Transformation for better Adversarial
    /// Transferability*, ICCV 2023: each copy cuts every image at `grid − 1` random rows and
    /// columns and applies to each block one operation drawn uniformly from seven: a cyclic
    /// vertical or horizontal shift, a vertical or horizontal flip, a rotation by 180°,
    /// scaling by a factor uniform in [0, 1), or uniform noise in ±16/255 (clipped to
    /// [0, 1]). The paper and TransferAttack: 20 copies, a 3 × 3 grid, these seven
    /// operations (the paper's study also tries resizing, DCT and dropout, which its default
    /// leaves out). TransferAttack draws one transform for the whole batch; here every image
    /// gets its own.
    BlockTransform {
        /// Number of copies N (≥ 1).
        copies: usize,
        /// Blocks per side (≥ 1, at most the image side).
        grid: usize,
    },
    /// ANDA's translations, Fang et al., *Strong Transferable Adversarial Attacks via
    /// Ensembled Asymptotically Normal Distribution Learning*, CVPR 2024: `grid × grid` copies,
    /// each image translated by `(a, b)`, `a` and `b` evenly spaced in `[−max_shift, max_shift]`
    /// (normalised units: the image spans [−1, 1], so 0.3 is 15% of its side; one copy: no
    /// shift), bilinear and zero outside. The same for every image (nothing is drawn). The
    /// paper and TransferAttack: 25 copies (a 5 × 5 grid), 0.3.
    Shifts {
        /// Shifts per axis (≥ 1).
        grid: usize,
        /// The largest shift, in normalised units (≥ 0, at most 2).
        #[serde(with = "crate::json_float")]
        max_shift: f64,
    },
    /// DeCoWA, Lin et al., *Boosting Adversarial Transferability across Model Genus by
    /// Deformation-Constrained Warping*, AAAI 2024: each copy warps every image by a
    /// thin-plate spline through a `mesh × mesh` grid of control points spanning it, the
    /// border points fixed and the inner ones moved by offsets uniform in `±noise_scale/2`
    /// (normalised units: an image spans [−1, 1]), then one step of `step` up the gradient of
    /// the attack's objective with respect to the offsets (the warp that most resists the
    /// attack; one more forward and backward pass), drawn and stepped per image. Sampling is
    /// bilinear, zero outside the image. The paper and TransferAttack: 20 copies, a 3 × 3
    /// mesh, noise scale 2, step 0.01. TransferAttack draws one warp for the whole batch and
    /// maps its pixel grid `linspace(−1, 1)` with `align_corners = false`, a slight zoom even
    /// at rest; here each image gets its own warp and the warp at rest is the identity.
    /// Per-image attacks only (the step needs the warped images' gradient).
    Warp {
        /// Number of copies N (≥ 1).
        copies: usize,
        /// Control points per side (3 to 16; 3 moves one inner point).
        mesh: usize,
        /// Width of the offsets' uniform distribution, in normalised units (≥ 0).
        #[serde(with = "crate::json_float")]
        noise_scale: f64,
        /// The step on the offsets up the objective's gradient (≥ 0; 0 keeps the drawn warp).
        #[serde(with = "crate::json_float")]
        step: f64,
    },
    /// Admix, Wang et al., *Admix: Enhancing the Transferability of Adversarial Attacks*,
    /// ICCV 2021: `scales × mixes` copies `(x + strength·x')/2^i`, `i < scales`, each `x'` an
    /// image of the objective's [mixing pool](crate::objective::Objective::with_mixing_pool)
    /// whose class differs from the image's label, drawn per image and copy (a constant: the
    /// gradient flows through `x` only). The paper: 5 scales, 3 mixes, strength 0.2.
    /// TransferAttack mixes in images of the same batch (so an image's example depends on its
    /// batch) and reuses each mix across the scales; a pool keeps every image's example its
    /// own.
    Admix {
        /// Scaled copies of each mix m₁ (≥ 1).
        scales: usize,
        /// Mixes m₂ (≥ 1).
        mixes: usize,
        /// The weight η of the mixed-in image (≥ 0).
        #[serde(with = "crate::json_float")]
        strength: f64,
    },
}

/// The most control points per side of a DeCoWA mesh: the spline solves a dense system of
/// `mesh² + 3` unknowns.
const MAX_MESH: usize = 16;

/// One drawn copy: a transform of the batch, the same at every call.
// A Burn 0.22 tensor is as large as the largest enabled backend's; a copy lives for one
// gradient, so boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(crate) enum DrawnCopy {
    /// Multiply by a number.
    Scale(f32),
    /// Multiply by a mask.
    Mask(Tensor<4>),
    /// Move, turn or change pixels.
    Pixels(PixelMap),
    /// Add mixed-in images, then multiply by a number.
    Mix { partners: Tensor<4>, strength: f32, scale: f32 },
}

impl DrawnCopy {
    /// The copy of `images`: differentiable, the same shape.
    pub(crate) fn apply(&self, images: Tensor<4>) -> Tensor<4> {
        match self {
            DrawnCopy::Scale(factor) => images.mul_scalar(*factor),
            DrawnCopy::Mask(mask) => images * mask.clone(),
            DrawnCopy::Pixels(map) => map.apply(images),
            DrawnCopy::Mix { partners, strength, scale } => {
                (images + partners.clone().mul_scalar(*strength)).mul_scalar(*scale)
            }
        }
    }
}

impl Copies {
    /// SIM with the paper's 5 scales.
    pub fn sim() -> Self {
        Copies::Scale { scales: 5 }
    }

    /// MaskBlock with a 4 × 4 grid (TransferAttack's 56-pixel blocks on 224-pixel images).
    pub fn mask_block() -> Self {
        Copies::MaskBlock { grid: 4 }
    }

    /// BSR with the paper's 20 copies, 2 × 2 blocks and rotations up to 24°.
    pub fn bsr() -> Self {
        Copies::BlockShuffle { copies: 20, grid: 2, max_angle: 24.0 }
    }

    /// SIA with the paper's 20 copies and 3 × 3 blocks.
    pub fn sia() -> Self {
        Copies::BlockTransform { copies: 20, grid: 3 }
    }

    /// Admix with the paper's 5 scales of 3 mixes at strength 0.2.
    pub fn admix() -> Self {
        Copies::Admix { scales: 5, mixes: 3, strength: 0.2 }
    }

    /// ANDA's 5 × 5 translations of up to 0.3 (15% of the side).
    pub fn anda() -> Self {
        Copies::Shifts { grid: 5, max_shift: 0.3 }
    }

    /// DeCoWA with the paper's 20 copies, 3 × 3 mesh, noise scale 2 and step 0.01.
    pub fn decowa() -> Self {
        Copies::Warp { copies: 20, mesh: 3, noise_scale: 2.0, step: 0.01 }
    }

    /// True when the copies are drawn at random (BSR, SIA, DeCoWA, Admix), so that the
    /// attack's seed changes them.
    pub fn is_random(&self) -> bool {
        !matches!(self, Copies::Scale { .. } | Copies::MaskBlock { .. } | Copies::Shifts { .. })
    }

    /// Checks the parameters that do not depend on the images.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Copies::Scale { scales } => {
                at_least_one("scales", scales)?;
                // 2^-149 is the smallest f32: beyond it every further copy is all zeros.
                at_most("scales", scales as f64, 128.0, "must be at most 128 (x / 2^128 is zero in f32)")
            }
            Copies::MaskBlock { grid } => at_least_one("grid", grid),
            Copies::BlockShuffle { copies, grid, max_angle } => {
                at_least_one("copies", copies)?;
                at_least_one("grid", grid)?;
                non_negative("max_angle", max_angle)?;
                at_most("max_angle", max_angle, 180.0, "must be at most 180 degrees")
            }
            Copies::BlockTransform { copies, grid } => {
                at_least_one("copies", copies)?;
                at_least_one("grid", grid)
            }
            Copies::Shifts { grid, max_shift } => {
                at_least_one("grid", grid)?;
                non_negative("max_shift", max_shift)?;
                at_most("max_shift", max_shift, 2.0, "must be at most 2 (a shift of the whole image)")
            }
            Copies::Warp { copies, mesh, noise_scale, step } => {
                at_least_one("copies", copies)?;
                non_negative("noise_scale", noise_scale)?;
                non_negative("step", step)?;
                let requirement = "must be 3 to 16 (control points per side: 3 moves one inner point)";
                match mesh >= 3 {
                    true => at_most("mesh", mesh as f64, MAX_MESH as f64, requirement),
                    false => Err(Error::InvalidParameter { name: "mesh", value: mesh as f64, requirement }),
                }
            }
            Copies::Admix { scales, mixes, strength } => {
                Copies::Scale { scales }.validate()?;
                at_least_one("mixes", mixes)?;
                non_negative("strength", strength)
            }
        }
    }

    /// Checks the parameters against the batch the models see.
    pub(crate) fn check(&self, inputs: Inputs<'_>) -> Result<()> {
        let [_, c, h, w] = inputs.shape;
        match *self {
            Copies::Admix { .. } => {
                let Some(pool) = inputs.objective.mixing_pool() else {
                    return Err(Error::InvalidObjective("Admix needs a mixing pool (Objective::with_mixing_pool)"));
                };
                let [_, pool_c, pool_h, pool_w] = pool.images.dims();
                match [pool_c, pool_h, pool_w] == [c, h, w] {
                    true => Ok(()),
                    false => Err(Error::Shape {
                        what: "mixing pool",
                        expected: format!("[M, {c}, {h}, {w}] (images shaped like the attacked ones)"),
                        actual: pool.images.dims().to_vec(),
                    }),
                }
            }
            Copies::MaskBlock { grid } | Copies::BlockShuffle { grid, .. } | Copies::BlockTransform { grid, .. }
                if grid > h.min(w) =>
            {
                Err(Error::InvalidParameter {
                    name: "grid",
                    value: grid as f64,
                    requirement: "must be at most the image's smaller side (every block holds a pixel)",
                })
            }
            _ => Ok(()),
        }
    }

    /// The number of copies: forward and backward passes per gradient.
    pub fn count(&self) -> usize {
        match *self {
            Copies::Scale { scales } => scales,
            Copies::MaskBlock { grid } | Copies::Shifts { grid, .. } => grid * grid,
            Copies::BlockShuffle { copies, .. }
            | Copies::BlockTransform { copies, .. }
            | Copies::Warp { copies, .. } => copies,
            Copies::Admix { scales, mixes, .. } => scales * mixes,
        }
    }

    /// Draws copy `index` (`< count`) for the batch `inputs`, each image's random choices from
    /// its own stream (the parameters checked with [`check`](Self::check)). DeCoWA's warps
    /// are drawn by the estimator, which has the models their step needs.
    pub(crate) fn draw(
        &self,
        index: usize,
        inputs: Inputs<'_>,
        rng: &mut AttackRng,
        device: &Device,
    ) -> Result<DrawnCopy> {
        let images = inputs.shape;
        let [_, _, h, w] = images;
        Ok(match *self {
            Copies::Scale { .. } => DrawnCopy::Scale(0.5f32.powi(index as i32)),
            Copies::MaskBlock { grid } => {
                let (row, column) = (index / grid, index % grid);
                let edge = |k: usize, side: usize| k * side / grid;
                let (top, bottom) = (edge(row, h), edge(row + 1, h));
                let (left, right) = (edge(column, w), edge(column + 1, w));
                let mask = Tensor::<4>::ones([1, 1, h, w], device).slice_assign(
                    [0..1, 0..1, top..bottom, left..right],
                    Tensor::zeros([1, 1, bottom - top, right - left], device),
                );
                DrawnCopy::Mask(mask)
            }
            Copies::BlockShuffle { grid, max_angle, .. } => {
                DrawnCopy::Pixels(shuffle_and_rotate(images, grid, max_angle, rng, device))
            }
            Copies::BlockTransform { grid, .. } => DrawnCopy::Pixels(structure_invariant(images, grid, rng, device)),
            Copies::Shifts { grid, max_shift } => {
                let at = |k: usize| match grid {
                    1 => 0.0,
                    _ => max_shift * (2.0 * k as f64 / (grid - 1) as f64 - 1.0),
                };
                // A normalised shift a moves the sampling position by a·side/2 pixels.
                let shift = [at(index % grid) * h as f64 / 2.0, at(index / grid) * w as f64 / 2.0];
                DrawnCopy::Pixels(resampled(images, device, |_, row, column| {
                    [row as f64 + shift[0], column as f64 + shift[1]]
                }))
            }
            Copies::Warp { .. } => unreachable!("the estimator draws DeCoWA's warps, which need the models"),
            Copies::Admix { mixes, strength, .. } => DrawnCopy::Mix {
                partners: partners(inputs, rng, device)?,
                strength: strength as f32,
                scale: 0.5f32.powi((index / mixes) as i32),
            },
        })
    }
}

/// Per image of `inputs`, an image of the mixing pool whose class differs from the image's
/// label (any pool image for an unlabelled objective), drawn from the image's stream.
fn partners(inputs: Inputs<'_>, rng: &mut AttackRng, device: &Device) -> Result<Tensor<4>> {
    let pool = inputs.objective.mixing_pool().ok_or(Error::InvalidObjective("Admix needs a mixing pool"))?;
    let labels = inputs.objective.labels();
    let mut chosen = Vec::with_capacity(inputs.shape[0]);
    for image in 0..inputs.shape[0] {
        let label = labels.and_then(|labels| labels.get(image));
        let others: Vec<usize> = (0..pool.labels.len()).filter(|&k| Some(&pool.labels[k]) != label).collect();
        if others.is_empty() {
            return Err(Error::InvalidObjective(
                "the mixing pool holds no image of another class than an attacked image",
            ));
        }
        let pick = ((rng.unit_for(image) * others.len() as f32) as usize).min(others.len() - 1);
        chosen.push(others[pick] as i64);
    }
    let chosen = Tensor::<1, Int>::from_data(TensorData::new(chosen, [inputs.shape[0]]), device);
    Ok(pool.images.clone().inner().select(0, chosen))
}

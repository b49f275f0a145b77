//! Seeded randomness for attacks.
//!
//! Random numbers are drawn on the host from ChaCha8 streams and uploaded, so a seed gives
//! the same noise on every backend (ndarray, wgpu, CUDA) and on every run.
//!
//! A per-image attack draws each image's noise (random start, input diversity, VMI and SSA
//! samples) from a stream of its own, keyed by the run's seed and the image's index in the
//! whole image set ([`AttackRng::per_image`]), and the choices shared by the batch (the
//! order in which models are visited) from the seed alone. An image therefore gets the same
//! adversarial example whatever batch, order or shard it is attacked in.

use burn::tensor::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::host;

/// Seeded random streams owned by one attack run: one for choices shared by the batch and,
/// for per-image attacks, one per image.
///
/// ```
/// use common_weakness::rng::AttackRng;
///
/// let device = Default::default();
/// // Images 3 and 4 of a set, attacked in one batch of two ...
/// let pair = AttackRng::per_image(7, &[3, 4]).uniform([2, 1, 2, 2], 0.0, 1.0, &device);
/// // ... get the same noise as image 4 attacked alone.
/// let alone = AttackRng::per_image(7, &[4]).uniform([1, 1, 2, 2], 0.0, 1.0, &device);
/// assert_eq!(pair.narrow(0, 1, 1).into_data(), alone.into_data());
/// ```
#[derive(Clone, Debug)]
pub struct AttackRng {
    /// Choices shared by the batch; every draw when there are no image streams.
    shared: ChaCha8Rng,
    /// One stream per image of the batch, in batch order (empty: one stream for everything).
    images: Vec<ChaCha8Rng>,
}

/// The stream `stream` of the ChaCha8 generator keyed by `seed`.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

impl AttackRng {
    /// One stream determined entirely by `seed`, from which every draw comes (universal
    /// perturbations, landscape probes, defences).
    pub fn new(seed: u64) -> Self {
        Self { shared: stream(seed, 0), images: Vec::new() }
    }

    /// The streams of a per-image attack on a batch whose image `i` is image
    /// `image_indices[i]` of the whole set: image `k` of the set draws from stream `k + 1`
    /// of the generator keyed by `seed`, the batch's shared choices from stream 0 (the
    /// stream of [`AttackRng::new`]).
    pub fn per_image(seed: u64, image_indices: &[usize]) -> Self {
        let images = image_indices.iter().map(|&k| stream(seed, (k as u64).wrapping_add(1))).collect();
        Self { shared: stream(seed, 0), images }
    }

    /// The stream image `image` of the batch draws from.
    fn image(&mut self, image: usize) -> &mut ChaCha8Rng {
        match self.images.len() {
            0 => &mut self.shared,
            count => {
                debug_assert!(image < count, "a per-image draw for image {image} of a batch of {count}");
                &mut self.images[image % count]
            }
        }
    }

    /// One number uniform in `[0, 1)`, from the stream shared by the batch.
    pub fn unit(&mut self) -> f32 {
        self.shared.random::<f32>()
    }

    /// One number uniform in `[0, 1)`, from image `image`'s stream.
    pub fn unit_for(&mut self, image: usize) -> f32 {
        self.image(image).random::<f32>()
    }

    /// A tensor of i.i.d. values uniform in `[low, high)`; image `i` of the batch (the first
    /// dimension) from image `i`'s stream.
    pub fn uniform(&mut self, shape: [usize; 4], low: f32, high: f32, device: &Device) -> Tensor<4> {
        let per_image: usize = shape[1..].iter().product();
        let mut values = Vec::with_capacity(shape[0] * per_image);
        for image in 0..shape[0] {
            let stream = self.image(image);
            values.extend((0..per_image).map(|_| low + (high - low) * stream.random::<f32>()));
        }
        host::tensor(values, shape, device)
    }

    /// A tensor of i.i.d. standard normal values (Box–Muller); image `i` of the batch from
    /// image `i`'s stream.
    pub fn normal(&mut self, shape: [usize; 4], device: &Device) -> Tensor<4> {
        let per_image: usize = shape[1..].iter().product();
        let mut values = Vec::with_capacity(shape[0] * per_image + 1);
        for image in 0..shape[0] {
            let stream = self.image(image);
            let end = values.len() + per_image;
            while values.len() < end {
                let u1 = 1.0 - stream.random::<f32>(); // in (0, 1]: ln is finite
                let u2 = stream.random::<f32>();
                let radius = (-2.0 * u1.ln()).sqrt();
                let angle = 2.0 * std::f32::consts::PI * u2;
                values.push(radius * angle.cos());
                values.push(radius * angle.sin());
            }
            values.truncate(end);
        }
        host::tensor(values, shape, device)
    }

    /// A uniformly random permutation of `0..n` (Fisher–Yates), from the shared stream.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.shared.random_range(0..=i);
            order.swap(i, j);
        }
        order
    }

    /// The number of streams: the shared one and one per image.
    pub(crate) fn streams(&self) -> usize {
        1 + self.images.len()
    }

    /// Every stream's key, stream number and position: 56 bytes each, the shared stream
    /// first.
    pub(crate) fn save(&self) -> crate::snapshot::Saved {
        let mut bytes = Vec::with_capacity(STREAM_BYTES * (1 + self.images.len()));
        for rng in std::iter::once(&self.shared).chain(&self.images) {
            bytes.extend(rng.get_seed());
            bytes.extend(rng.get_stream().to_le_bytes());
            bytes.extend(rng.get_word_pos().to_le_bytes());
        }
        crate::snapshot::Saved::Bytes(bytes)
    }

    /// The streams saved by [`AttackRng::save`], at the same positions.
    pub(crate) fn load(saved: &crate::snapshot::Saved) -> crate::error::Result<Self> {
        match saved {
            crate::snapshot::Saved::Bytes(bytes) if !bytes.is_empty() && bytes.len() % STREAM_BYTES == 0 => {
                let mut streams = bytes.chunks_exact(STREAM_BYTES).map(|chunk| {
                    let (seed, rest) = chunk.split_at(32);
                    let (number, position) = rest.split_at(8);
                    let mut rng = ChaCha8Rng::from_seed(seed.try_into().expect("32 bytes"));
                    rng.set_stream(u64::from_le_bytes(number.try_into().expect("8 bytes")));
                    rng.set_word_pos(u128::from_le_bytes(position.try_into().expect("16 bytes")));
                    rng
                });
                let shared = streams.next().expect("at least one stream");
                Ok(Self { shared, images: streams.collect() })
            }
            _ => Err(crate::snapshot::mismatch("random streams (56 bytes each)")),
        }
    }
}

/// Bytes of one saved stream: 32 of key, 8 of stream number, 16 of word position.
const STREAM_BYTES: usize = 56;

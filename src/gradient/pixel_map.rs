//! Pixel maps: transforms that move pixels, drawn on the host and applied inside the graph by
//! gathering, so the gradient flows back to the pixels each output pixel came from (BSR, SIA,
//! ANDA, DeCoWA).

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use crate::host;

/// A drawn transform of a `[N, C, H, W]` batch: output pixel `p` of image `n`, channel `c`, is
/// `Σ_k weight_k[n, p] · x[n, c, source_k[n, p]]`, plus `noise[n, c, p]` and clipped to
/// [0, 1] where noise was drawn.
pub(crate) struct PixelMap {
    /// Per tap: the source indices (shaped `[N, C, H·W]`) and the weights (`[N, 1, H·W]`).
    taps: Vec<(Tensor<3, Int>, Tensor<3>)>,
    /// The noise (`[N, C, H, W]`) and where it was added (`[N, 1, H, W]`), if anywhere.
    noise: Option<(Tensor<4>, Tensor<4, Bool>)>,
}

impl PixelMap {
    /// The transformed batch: differentiable, the input's shape.
    pub(crate) fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let flat = x.reshape([n, c, h * w]);
        let gathered = self
            .taps
            .iter()
            .map(|(source, weight)| flat.clone().gather(2, source.clone()) * weight.clone())
            .reduce(|sum, tap| sum + tap)
            .expect("a pixel map has a tap")
            .reshape([n, c, h, w]);
        match &self.noise {
            None => gathered,
            Some((noise, noisy)) => {
                let added = gathered + noise.clone();
                let clipped = added.clone().clamp(0.0, 1.0);
                added.mask_where(noisy.clone().expand([n, c, h, w]), clipped)
            }
        }
    }
}

/// A [`PixelMap`] under construction on the host.
pub(crate) struct Builder {
    shape: [usize; 4],
    /// Per tap, per image, per output pixel: the source pixel and its weight (0: no source).
    source: Vec<Vec<i64>>,
    weight: Vec<Vec<f32>>,
    /// Per image, channel and pixel: the noise added (0 where none).
    pub noise: Vec<f32>,
    /// Per image and pixel: whether noise was added there.
    pub noisy: Vec<bool>,
}

impl Builder {
    pub fn new(shape: [usize; 4], taps: usize) -> Self {
        let [n, c, h, w] = shape;
        let pixels = n * h * w;
        Self {
            shape,
            source: vec![vec![0; pixels]; taps],
            weight: vec![vec![0.0; pixels]; taps],
            noise: vec![0.0; n * c * h * w],
            noisy: vec![false; pixels],
        }
    }

    /// Output pixel `(row, column)` of `image` reads `source` with `weight` in tap `tap`.
    pub fn read(&mut self, tap: usize, image: usize, [row, column]: [usize; 2], source: [usize; 2], weight: f32) {
        let [_, _, h, w] = self.shape;
        let at = (image * h + row) * w + column;
        self.source[tap][at] = (source[0] * w + source[1]) as i64;
        self.weight[tap][at] = weight;
    }

    pub fn build(self, device: &Device) -> PixelMap {
        let [n, c, h, w] = self.shape;
        let hw = h * w;
        let taps = self
            .source
            .into_iter()
            .zip(self.weight)
            .map(|(source, weight)| {
                let per_channel: Vec<i64> = (0..n)
                    .flat_map(|image| (0..c).flat_map(move |_| image * hw..(image + 1) * hw))
                    .map(|i| source[i])
                    .collect();
                let source = Tensor::<3, Int>::from_data(TensorData::new(per_channel, [n, c, hw]), device);
                (source, host::tensor(weight, [n, 1, hw], device))
            })
            .collect();
        let noise = self.noisy.iter().any(|&noisy| noisy).then(|| {
            let noisy = Tensor::<4, Bool>::from_data(TensorData::new(self.noisy, [n, 1, h, w]), device);
            (host::tensor(self.noise, [n, c, h, w], device), noisy)
        });
        PixelMap { taps, noise }
    }
}

/// The four bilinear taps of position `[y, x]` (pixels) on `[h, w]` images: each source pixel
/// with its weight, `None` outside the image (zero padding) or at weight 0.
pub(crate) fn bilinear_taps([y, x]: [f64; 2], [h, w]: [usize; 2]) -> impl Iterator<Item = (Option<[usize; 2]>, f64)> {
    let (y0, x0) = (y.floor(), x.floor());
    let (fy, fx) = (y - y0, x - x0);
    [(0.0, 0.0, (1.0 - fy) * (1.0 - fx)), (0.0, 1.0, (1.0 - fy) * fx), (1.0, 0.0, fy * (1.0 - fx)), (1.0, 1.0, fy * fx)]
        .into_iter()
        .map(move |(dy, dx, weight)| {
            let (r, s) = (y0 + dy, x0 + dx);
            let inside = weight > 0.0 && r >= 0.0 && s >= 0.0 && (r as usize) < h && (s as usize) < w;
            (inside.then_some([r as usize, s as usize]), weight)
        })
}

/// The map of a `shape` batch in which output pixel `(row, column)` of image `n` reads input
/// position `position(n, row, column)` (pixels; bilinear, zero outside).
pub(crate) fn resampled(
    shape: [usize; 4],
    device: &Device,
    position: impl Fn(usize, usize, usize) -> [f64; 2],
) -> PixelMap {
    let [n, _, h, w] = shape;
    let mut builder = Builder::new(shape, 4);
    for image in 0..n {
        for row in 0..h {
            for column in 0..w {
                for (tap, (source, weight)) in bilinear_taps(position(image, row, column), [h, w]).enumerate() {
                    if let Some(source) = source {
                        builder.read(tap, image, [row, column], source, weight as f32);
                    }
                }
            }
        }
    }
    builder.build(device)
}

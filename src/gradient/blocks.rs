//! Block transforms (BSR, SIA): each image cut into blocks that are moved, turned or changed
//! at random. A transform is drawn per image on the host, from that image's stream, as a map
//! from output pixels to input pixels, and applied inside the graph by gathering, so the
//! gradient flows back to the pixels each output pixel came from.

use std::f64::consts::PI;

use burn::tensor::Device;

use super::pixel_map::{Builder, PixelMap};
use crate::rng::AttackRng;

/// The half-width of SIA's "add noise" operation, in pixel units (the authors' 16/255).
const SIA_NOISE: f32 = 16.0 / 255.0;

/// The number of SIA's block operations (vertical and horizontal shift, vertical and
/// horizontal flip, rotation by 180°, scaling, noise).
const SIA_OPERATIONS: usize = 7;

/// One number uniform in `[0, count)` from `image`'s stream.
fn index_below(rng: &mut AttackRng, image: usize, count: usize) -> usize {
    ((rng.unit_for(image) * count as f32) as usize).min(count - 1)
}

/// The edges `⌊k·side/blocks⌋`, `k = 0 … blocks`: equal blocks covering every pixel.
fn even_edges(side: usize, blocks: usize) -> Vec<usize> {
    (0..=blocks).map(|k| k * side / blocks).collect()
}

/// BSR: per image, the `grid × grid` blocks shuffled (a uniform permutation) and each turned
/// about its centre by an angle uniform in `±max_angle` degrees (bilinear; what turns out of
/// the block is zero). A block placed where a larger one was is aligned on its top-left
/// corner, the rest zero.
pub(crate) fn shuffle_and_rotate(
    shape: [usize; 4],
    grid: usize,
    max_angle: f64,
    rng: &mut AttackRng,
    device: &Device,
) -> PixelMap {
    let [n, _, h, w] = shape;
    let (rows, columns) = (even_edges(h, grid), even_edges(w, grid));
    let bounds = |block: usize| {
        let (r, c) = (block / grid, block % grid);
        [rows[r], rows[r + 1], columns[c], columns[c + 1]]
    };
    let taps = if max_angle > 0.0 { 4 } else { 1 };
    let mut builder = Builder::new(shape, taps);
    for image in 0..n {
        let blocks = grid * grid;
        let mut order: Vec<usize> = (0..blocks).collect();
        for i in (1..blocks).rev() {
            order.swap(i, index_below(rng, image, i + 1));
        }
        for (place, &block) in order.iter().enumerate() {
            let angle = match max_angle > 0.0 {
                true => (2.0 * rng.unit_for(image) as f64 - 1.0) * max_angle * PI / 180.0,
                false => 0.0,
            };
            let (sin, cos) = angle.sin_cos();
            let [top, bottom, left, right] = bounds(place);
            let [source_top, source_bottom, source_left, source_right] = bounds(block);
            // The turn is about the centre of a place-sized window at the source's corner.
            let centre = [(top + bottom) as f64 / 2.0, (left + right) as f64 / 2.0];
            let source_centre =
                [source_top as f64 + (bottom - top) as f64 / 2.0, source_left as f64 + (right - left) as f64 / 2.0];
            for row in top..bottom {
                for column in left..right {
                    let (u, v) = (row as f64 + 0.5 - centre[0], column as f64 + 0.5 - centre[1]);
                    let y = source_centre[0] + cos * u - sin * v - 0.5;
                    let x = source_centre[1] + sin * u + cos * v - 0.5;
                    let (y0, x0) = (y.floor(), x.floor());
                    let (fy, fx) = (y - y0, x - x0);
                    let corners = [
                        (y0, x0, (1.0 - fy) * (1.0 - fx)),
                        (y0, x0 + 1.0, (1.0 - fy) * fx),
                        (y0 + 1.0, x0, fy * (1.0 - fx)),
                        (y0 + 1.0, x0 + 1.0, fy * fx),
                    ];
                    for (tap, (sy, sx, weight)) in corners.into_iter().take(taps).enumerate() {
                        let inside = sy >= source_top as f64
                            && sy < source_bottom as f64
                            && sx >= source_left as f64
                            && sx < source_right as f64;
                        if inside && weight > 0.0 {
                            builder.read(tap, image, [row, column], [sy as usize, sx as usize], weight as f32);
                        }
                    }
                }
            }
        }
    }
    builder.build(device)
}

/// SIA: per image, cuts at `grid − 1` distinct random rows and columns (so `grid × grid`
/// blocks of random sizes), and on each block one operation drawn uniformly from: a cyclic
/// vertical shift, a cyclic horizontal shift (each by a uniform number of pixels below the
/// block's side), a vertical flip, a horizontal flip, a rotation by 180°, scaling by a
/// factor uniform in [0, 1), and noise uniform in ±16/255 per value, clipped to [0, 1].
pub(crate) fn structure_invariant(shape: [usize; 4], grid: usize, rng: &mut AttackRng, device: &Device) -> PixelMap {
    let [n, c, h, w] = shape;
    let mut builder = Builder::new(shape, 1);
    for image in 0..n {
        let rows = random_edges(h, grid, image, rng);
        let columns = random_edges(w, grid, image, rng);
        for band in rows.windows(2) {
            for strip in columns.windows(2) {
                let ([top, bottom], [left, right]) = ([band[0], band[1]], [strip[0], strip[1]]);
                let (height, width) = (bottom - top, right - left);
                let operation = index_below(rng, image, SIA_OPERATIONS);
                let shift = match operation {
                    0 => index_below(rng, image, height),
                    1 => index_below(rng, image, width),
                    _ => 0,
                };
                let gain = if operation == 5 { rng.unit_for(image) } else { 1.0 };
                for row in top..bottom {
                    for column in left..right {
                        let (i, j) = (row - top, column - left);
                        let (flip_i, flip_j) = (height - 1 - i, width - 1 - j);
                        let [si, sj] = match operation {
                            0 => [(i + height - shift) % height, j],
                            1 => [i, (j + width - shift) % width],
                            2 => [flip_i, j],
                            3 => [i, flip_j],
                            4 => [flip_i, flip_j],
                            _ => [i, j],
                        };
                        builder.read(0, image, [row, column], [top + si, left + sj], gain);
                        if operation == 6 {
                            builder.noisy[(image * h + row) * w + column] = true;
                            for channel in 0..c {
                                let noise = SIA_NOISE * (2.0 * rng.unit_for(image) - 1.0);
                                builder.noise[((image * c + channel) * h + row) * w + column] = noise;
                            }
                        }
                    }
                }
            }
        }
    }
    builder.build(device)
}

/// `0`, then `blocks − 1` distinct cuts drawn uniformly from `1 … side − 1`, sorted, then
/// `side` (needs `blocks ≤ side`).
fn random_edges(side: usize, blocks: usize, image: usize, rng: &mut AttackRng) -> Vec<usize> {
    let mut candidates: Vec<usize> = (1..side).collect();
    for k in 0..blocks - 1 {
        let pick = k + index_below(rng, image, candidates.len() - k);
        candidates.swap(k, pick);
    }
    let mut edges: Vec<usize> = candidates[..blocks - 1].to_vec();
    edges.sort_unstable();
    std::iter::once(0).chain(edges).chain(std::iter::once(side)).collect()
}

//! DeCoWA's warps: a thin-plate spline through a square mesh of control points whose inner
//! points are moved, sampled bilinearly (zero outside the image).

use burn::tensor::Device;

use super::pixel_map::{resampled, PixelMap};
use crate::rng::AttackRng;

/// A thin-plate spline on images of one size, through a `mesh × mesh` grid of control points
/// spanning the image, the border points fixed. A pixel's warped position is its own plus
/// `Σ_i weight[p][i]·offset_i` over the inner points `i` (the spline is linear in the control
/// points' positions and reproduces the identity when no point moves).
pub(crate) struct Spline {
    size: [usize; 2],
    inner: usize,
    /// Per pixel (row-major), the weight of each inner point's offset.
    weights: Vec<f64>,
}

/// The thin-plate kernel of a squared distance, `r²·ln r²` (0 at 0).
fn kernel(squared: f64) -> f64 {
    if squared <= 0.0 {
        0.0
    } else {
        squared * squared.ln()
    }
}

impl Spline {
    /// The spline of `mesh × mesh` control points (≥ 3) on `[height, width]` images, in the
    /// normalised coordinates [−1, 1] of each side.
    pub fn new(mesh: usize, size: [usize; 2]) -> Self {
        let [h, w] = size;
        let at = |k: usize| -1.0 + 2.0 * k as f64 / (mesh - 1) as f64;
        let points: Vec<[f64; 2]> = (0..mesh * mesh).map(|k| [at(k / mesh), at(k % mesh)]).collect();
        let count = points.len();
        // L = [[K, P], [Pᵀ, 0]], K_ab = U(|X_a − X_b|²), P_a = [1, X_a].
        let mut system = vec![vec![0.0; count + 3]; count + 3];
        for (a, pa) in points.iter().enumerate() {
            for (b, pb) in points.iter().enumerate() {
                system[a][b] = kernel((pa[0] - pb[0]).powi(2) + (pa[1] - pb[1]).powi(2));
            }
            for (j, value) in [1.0, pa[0], pa[1]].into_iter().enumerate() {
                system[a][count + j] = value;
                system[count + j][a] = value;
            }
        }
        let inverse = invert(system);
        let inner: Vec<usize> = (0..count)
            .filter(|&k| (1..mesh - 1).contains(&(k / mesh)) && (1..mesh - 1).contains(&(k % mesh)))
            .collect();
        let mut weights = Vec::with_capacity(h * w * inner.len());
        for row in 0..h {
            for column in 0..w {
                let q = [2.0 * (row as f64 + 0.5) / h as f64 - 1.0, 2.0 * (column as f64 + 0.5) / w as f64 - 1.0];
                let basis: Vec<f64> = points
                    .iter()
                    .map(|x| kernel((q[0] - x[0]).powi(2) + (q[1] - x[1]).powi(2)))
                    .chain([1.0, q[0], q[1]])
                    .collect();
                // The warped position is basis · L⁻¹ · [Y; 0]: point i's weight is column i.
                weights.extend(inner.iter().map(|&i| basis.iter().zip(&inverse).map(|(b, r)| b * r[i]).sum::<f64>()));
            }
        }
        Self { size, inner: inner.len(), weights }
    }

    /// Per image of `n`, offsets of the inner points (row, column; normalised units) uniform
    /// in `±scale/2`, from each image's stream.
    pub fn draw(&self, n: usize, scale: f64, rng: &mut AttackRng) -> Vec<f64> {
        (0..n)
            .flat_map(|image| {
                (0..2 * self.inner).map(|_| (rng.unit_for(image) as f64 - 0.5) * scale).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Pixel `(row, column)`'s warped position in pixels under one image's `offsets`.
    fn position(&self, offsets: &[f64], row: usize, column: usize) -> [f64; 2] {
        let [h, w] = self.size;
        let weights = &self.weights[(row * w + column) * self.inner..][..self.inner];
        let moved = |d: usize| weights.iter().enumerate().map(|(i, g)| g * offsets[2 * i + d]).sum::<f64>();
        [row as f64 + moved(0) * h as f64 / 2.0, column as f64 + moved(1) * w as f64 / 2.0]
    }

    /// The warp of a `shape` batch, image `n` by `offsets[n]` (bilinear, zero outside).
    pub fn map(&self, shape: [usize; 4], offsets: &[f64], device: &Device) -> PixelMap {
        let per_image = 2 * self.inner;
        resampled(shape, device, |image, row, column| {
            self.position(&offsets[image * per_image..][..per_image], row, column)
        })
    }

    /// The gradient of an objective with respect to the offsets, from the warped batch's
    /// gradient `gradient` and the batch `pixels` (both `shape`, row-major): the chain rule
    /// through bilinear sampling, `Σ_p Σ_c g[c, p]·∂s[c, p]/∂position(p)·∂position(p)/∂offset`.
    pub fn offset_gradient(&self, shape: [usize; 4], offsets: &[f64], pixels: &[f32], gradient: &[f32]) -> Vec<f64> {
        let [n, c, h, w] = shape;
        let mut result = vec![0.0; offsets.len()];
        for image in 0..n {
            let own = &offsets[image * 2 * self.inner..][..2 * self.inner];
            let out = &mut result[image * 2 * self.inner..][..2 * self.inner];
            for row in 0..h {
                for column in 0..w {
                    let [y, x] = self.position(own, row, column);
                    let (y0, x0) = (y.floor(), x.floor());
                    let (fy, fx) = (y - y0, x - x0);
                    let mut slope = [0.0; 2];
                    for channel in 0..c {
                        let plane = &pixels[(image * c + channel) * h * w..][..h * w];
                        let value = |dy: f64, dx: f64| -> f64 {
                            let (r, s) = (y0 + dy, x0 + dx);
                            match r >= 0.0 && s >= 0.0 && (r as usize) < h && (s as usize) < w {
                                true => plane[r as usize * w + s as usize] as f64,
                                false => 0.0,
                            }
                        };
                        let along_rows =
                            (1.0 - fx) * (value(1.0, 0.0) - value(0.0, 0.0)) + fx * (value(1.0, 1.0) - value(0.0, 1.0));
                        let along_columns =
                            (1.0 - fy) * (value(0.0, 1.0) - value(0.0, 0.0)) + fy * (value(1.0, 1.0) - value(1.0, 0.0));
                        let g = gradient[((image * c + channel) * h + row) * w + column] as f64;
                        slope[0] += g * along_rows;
                        slope[1] += g * along_columns;
                    }
                    let weights = &self.weights[(row * w + column) * self.inner..][..self.inner];
                    for (i, weight) in weights.iter().enumerate() {
                        out[2 * i] += slope[0] * weight * h as f64 / 2.0;
                        out[2 * i + 1] += slope[1] * weight * w as f64 / 2.0;
                    }
                }
            }
        }
        result
    }
}

/// The inverse of a square, invertible matrix (Gauss–Jordan with partial pivoting).
fn invert(mut matrix: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let n = matrix.len();
    let mut inverse: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| f64::from(i == j)).collect()).collect();
    for column in 0..n {
        let pivot = (column..n)
            .max_by(|&a, &b| matrix[a][column].abs().total_cmp(&matrix[b][column].abs()))
            .expect("a non-empty column");
        matrix.swap(column, pivot);
        inverse.swap(column, pivot);
        let scale = matrix[column][column];
        for j in 0..n {
            matrix[column][j] /= scale;
            inverse[column][j] /= scale;
        }
        for row in 0..n {
            if row != column {
                let factor = matrix[row][column];
                if factor != 0.0 {
                    for j in 0..n {
                        matrix[row][j] -= factor * matrix[column][j];
                        inverse[row][j] -= factor * inverse[column][j];
                    }
                }
            }
        }
    }
    inverse
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradient::pixel_map::bilinear_taps;

    /// A 7 × 5 image's value at position `[y, x]`, bilinear with zero outside, and the sum of
    /// `weights`-weighted samples at every pixel's warped position.
    fn sampled(spline: &Spline, offsets: &[f64], pixels: &[f32], weights: &[f32]) -> f64 {
        let [h, w] = spline.size;
        let mut total = 0.0;
        for row in 0..h {
            for column in 0..w {
                let value: f64 = bilinear_taps(spline.position(offsets, row, column), [h, w])
                    .map(|(source, weight)| source.map_or(0.0, |[r, s]| weight * pixels[r * w + s] as f64))
                    .sum();
                total += weights[row * w + column] as f64 * value;
            }
        }
        total
    }

    #[test]
    fn the_spline_is_the_identity_at_rest_and_moves_a_control_point_by_its_offset() {
        let spline = Spline::new(3, [5, 5]);
        assert_eq!(spline.inner, 1);
        for (row, column) in [(0, 0), (2, 3), (4, 4)] {
            assert_eq!(spline.position(&[0.0, 0.0], row, column), [row as f64, column as f64]);
        }
        // Pixel (2, 2) of a 5 × 5 image sits on the centre point (0, 0): it moves by exactly
        // the offset (0.4 normalised = 1 pixel down, −0.2 = half a pixel left).
        let [y, x] = spline.position(&[0.4, -0.2], 2, 2);
        assert!((y - 3.0).abs() < 1e-9 && (x - 1.5).abs() < 1e-9, "{y}, {x}");
        // The influence falls off toward the fixed border, symmetrically.
        let weight = |row: usize, column: usize| spline.weights[row * 5 + column];
        assert!((weight(2, 2) - 1.0).abs() < 1e-9 && weight(1, 2) < 1.0 && weight(0, 2) < weight(1, 2));
        assert!((weight(1, 2) - weight(3, 2)).abs() < 1e-9 && (weight(2, 1) - weight(2, 3)).abs() < 1e-9);
    }

    #[test]
    fn the_offset_gradient_matches_finite_differences() {
        let spline = Spline::new(3, [7, 5]);
        let pixels: Vec<f32> = (0..35).map(|k| ((k * 37) % 11) as f32 / 10.0).collect();
        let weights: Vec<f32> = (0..35).map(|k| ((k * 13) % 7) as f32 / 7.0 - 0.4).collect();
        let offsets = [0.13, -0.21];
        let analytic = spline.offset_gradient([1, 1, 7, 5], &offsets, &pixels, &weights);
        for d in 0..2 {
            let h = 1e-6;
            let mut up = offsets;
            up[d] += h;
            let mut down = offsets;
            down[d] -= h;
            let numeric =
                (sampled(&spline, &up, &pixels, &weights) - sampled(&spline, &down, &pixels, &weights)) / (2.0 * h);
            assert!(
                (numeric - analytic[d]).abs() < 1e-4 * (1.0 + numeric.abs()),
                "d {d}: {numeric} against {}",
                analytic[d]
            );
        }
    }
}

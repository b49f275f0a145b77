//! Separable linear maps of image planes as matrix products: bilinear resizing and the
//! 2-D DCT. Matrix products have a backward pass on every Burn backend, unlike bilinear
//! `interpolate` (burn-ndarray 0.21 panics on its backward).

use burn::tensor::{Device, Tensor};

/// `rows · x · colsᵀ` on every `[H, W]` plane: `x` `[N, C, H, W]`, `rows` `[H', H]`,
/// `cols` `[W', W]`, result `[N, C, H', W']`.
pub(crate) fn separable(rows: Tensor<2>, x: Tensor<4>, cols: Tensor<2>) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let [out_h, _] = rows.dims();
    let [out_w, _] = cols.dims();
    let rows = rows.reshape([1, 1, out_h, h]).expand([n, c, out_h, h]);
    let cols = cols.transpose().reshape([1, 1, w, out_w]).expand([n, c, w, out_w]);
    rows.matmul(x).matmul(cols)
}

/// The `[output, input]` matrix of 1-D bilinear interpolation with half-pixel centres
/// (PyTorch's `align_corners=False`, torchvision's `Resize` without antialiasing).
pub fn bilinear_matrix(output: usize, input: usize, device: &Device) -> Tensor<2> {
    let mut weights = vec![0.0f32; output * input];
    let scale = input as f64 / output as f64;
    for i in 0..output {
        let source = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (input - 1) as f64);
        let low = source.floor() as usize;
        let high = (low + 1).min(input - 1);
        let fraction = (source - low as f64) as f32;
        weights[i * input + low] += 1.0 - fraction;
        weights[i * input + high] += fraction;
    }
    crate::host::tensor(weights, [output, input], device)
}

/// Bilinear resizing of `[N, C, H, W]` images to `[height, width]`, differentiable on every
/// backend.
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::planar::resize_bilinear;
///
/// let x = Tensor::<4>::from_floats([[[[0.0, 1.0], [2.0, 3.0]]]], &Default::default());
/// let up = resize_bilinear(x, [4, 4]);
/// assert_eq!(up.dims(), [1, 1, 4, 4]);
/// let values = up.into_data().try_to_vec::<f32>().unwrap();
/// assert_eq!((values[0], values[1], values[15]), (0.0, 0.25, 3.0));
/// ```
pub fn resize_bilinear(x: Tensor<4>, [height, width]: [usize; 2]) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if [h, w] == [height, width] {
        return x;
    }
    let device = x.device();
    separable(bilinear_matrix(height, h, &device), x, bilinear_matrix(width, w, &device))
}

//! Operations that surrogate models run often, made fast for attacks: Burn's backend-extension
//! mechanism adds them to every backend, with a backward pass on Burn's autodiff backend that
//! computes only what an attack needs, the gradient with respect to the input.
//!
//! - [`frozen_conv2d`]: a convolution with constant weights. Burn's generic backward of
//!   `conv2d` computes the input gradient with `conv_transpose2d`, which on the CPU backends is
//!   a single-threaded GEMM + scatter per (image, group); for the depthwise convolutions of
//!   EfficientNet-Lite (one group per channel) it was the largest cost of an attack iteration.
//!   For a stride-1 convolution the input gradient is, exactly, a convolution of the output
//!   gradient with the spatially flipped kernel whose input and output channels are swapped
//!   within each group, and every backend has a fast forward convolution, depthwise included.
//!   Each backend also picks its fastest forward kernel (burn-ndarray runs 1×1 convolutions as
//!   matrix products).
//! - [`hardtanh`]: `clamp(x, min, max)` as an activation (ReLU6 is `hardtanh(x, 0, 6)`). Burn's
//!   autodiff `clamp` is two masked fills forward and two backward; this is one clamp forward
//!   and one pass backward (`docs/performance.md` has the measurements).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::FloatTensor;
use burn::backend::{backend_extension, Backend, Dispatch, TensorMetadata};
// `FloatTensorOps` is needed by the implementations for burn-flex and burn-ndarray only.
#[cfg_attr(not(any(feature = "flex", feature = "ndarray")), allow(unused_imports))]
use burn::backend::ops::{FloatTensorOps, ModuleOps};
use burn::tensor::ops::{ConvOptions, ConvTransposeOptions};
use burn::tensor::Tensor;

/// The operations of this module, on one backend. Every method has a default built from
/// Burn's own operations; a backend overrides what it can do faster. Implemented for every
/// backend of this crate's features and for Burn's autodiff backend over any of them; the
/// `Tensor` functions [`frozen_conv2d`] and [`hardtanh`] dispatch to the tensor's backend.
#[backend_extension(
    Flex: cfg(feature = "flex"),
    NdArray: cfg(feature = "ndarray"),
    LibTorch: cfg(feature = "tch"),
    Cube: cfg(any(feature = "wgpu", feature = "cuda")),
    Remote: cfg(feature = "remote"),
    Autodiff,
)]
pub trait SurrogateOps: Backend {
    /// Whether Burn's autodiff backend over this backend computes the input gradient of
    /// [`frozen_conv2d`](Self::frozen_conv2d) this module's way (true) or with Burn's own
    /// `conv2d` backward (false: LibTorch's transposed convolution is already oneDNN's fast
    /// backward-data kernel).
    const SPECIALISED_CONV_BACKWARD: bool = true;

    /// `conv2d(x, weight, bias, options)` for a `weight` and `bias` that need no gradient (a
    /// layer without bias passes zeros: the kernels add it in the same pass). Under autodiff,
    /// falls back to Burn's `conv2d` when they do need one, or when the options are outside
    /// what the specialised backward handles (dilation other than 1, uneven padding of a
    /// strided convolution).
    fn frozen_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv2d(x, weight, Some(bias), options)
    }

    /// `conv_transpose2d(x, weight, options)` without bias for a constant `weight`: the input
    /// gradient of a strided `frozen_conv2d` under autodiff.
    fn frozen_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self> {
        Self::conv_transpose2d(x, weight, None, options)
    }

    /// `x` clamped to `[min, max]`.
    fn hardtanh(x: FloatTensor<Self>, min: f32, max: f32) -> FloatTensor<Self> {
        Self::float_clamp(x, min.into(), max.into())
    }

    /// The input gradient of [`hardtanh`](Self::hardtanh) from its `output`: `grad` where
    /// `min < output < max`, zero elsewhere.
    fn hardtanh_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>, min: f32, max: f32) -> FloatTensor<Self> {
        let above_min = Self::float_sub_scalar(output.clone(), min.into());
        let below_max = Self::float_neg(Self::float_sub_scalar(output, max.into()));
        Self::relu_backward(below_max, Self::relu_backward(above_min, grad))
    }
}

/// `conv2d` on constant weights, through [`SurrogateOps`]: use it in a surrogate's forward
/// pass for convolutions whose weights are frozen (every attack's case).
pub fn frozen_conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, options: ConvOptions<2>) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    Tensor::from_dispatch(<Dispatch as SurrogateOps>::frozen_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options,
    ))
}

/// `x` clamped to `[min, max]` as an activation (ReLU6: `hardtanh(x, 0.0, 6.0)`), through
/// [`SurrogateOps`]. Its gradient is zero at and beyond the bounds.
pub fn hardtanh<const D: usize>(x: Tensor<D>, min: f32, max: f32) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as SurrogateOps>::hardtanh(x.into_dispatch(), min, max))
}

/// The weight of the input-gradient convolution: per group, input and output channels swapped,
/// kernel flipped in both spatial dimensions. `[out, in / g, kh, kw]` → `[in, out / g, kh, kw]`.
fn input_gradient_weight<B: Backend>(weight: FloatTensor<B>, groups: usize) -> FloatTensor<B> {
    let [out_channels, in_per_group, kh, kw] = weight.shape().dims();
    let out_per_group = out_channels / groups;
    let weight = B::float_reshape(weight, [groups, out_per_group, in_per_group, kh * kw].into());
    let weight = B::float_swap_dims(weight, 1, 2);
    let weight = B::float_reshape(weight, [groups * in_per_group, out_per_group, kh, kw].into());
    B::float_flip(weight, &[2, 3])
}

#[derive(Debug)]
struct FrozenConv2dBackward;

/// How [`FrozenConv2dBackward`] computes the input gradient.
#[derive(Debug, Clone)]
enum InputGradient<B: Backend> {
    /// Stride 1: a convolution with the input-gradient weight, padded `kernel − 1 − padding`.
    Convolution { gradient_weight: FloatTensor<B>, options: ConvOptions<2> },
    /// Strided: the transposed convolution, sized to the input.
    Transposed { weight: FloatTensor<B>, options: ConvTransposeOptions<2> },
}

impl<B: SurrogateOps> Backward<B, 1> for FrozenConv2dBackward {
    type State = InputGradient<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [Some(node_x)] = ops.parents else { return };
        let grad = grads.consume::<B>(&ops.node);
        let x_grad = match ops.state {
            InputGradient::Convolution { gradient_weight, options } => {
                let channels = gradient_weight.shape()[0];
                let zeros = B::float_zeros([channels].into(), &grad.device(), grad.dtype().into());
                B::frozen_conv2d(grad, gradient_weight, zeros, options)
            }
            InputGradient::Transposed { weight, options } => B::frozen_conv_transpose2d(grad, weight, options),
        };
        grads.register::<B>(node_x.id, x_grad);
    }
}

#[derive(Debug)]
struct HardtanhBackward;

impl<B: SurrogateOps> Backward<B, 1> for HardtanhBackward {
    /// The forward output and the bounds.
    type State = (FloatTensor<B>, f32, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [Some(node_x)] = ops.parents else { return };
        let grad = grads.consume::<B>(&ops.node);
        let (output, min, max) = ops.state;
        grads.register::<B>(node_x.id, B::hardtanh_backward(output, grad, min, max));
    }
}

impl<B: SurrogateOps, C: CheckpointStrategy> SurrogateOps for Autodiff<B, C> {
    fn frozen_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let constant = !weight.is_tracked() && !bias.is_tracked();
        let (x_shape, w_shape) = (x.primitive().shape(), weight.primitive().shape());
        let [kh, kw] = [w_shape[2], w_shape[3]];
        let [(top, bottom), (left, right)] = options.padding;
        // Stride 1 with each padding below the kernel: a convolution; strided and evenly
        // padded: the transposed convolution; anything else takes Burn's backward.
        let by_convolution = options.stride == [1, 1] && top.max(bottom) < kh && left.max(right) < kw;
        let by_transposed = top == bottom && left == right;
        if !B::SPECIALISED_CONV_BACKWARD
            || !constant
            || options.dilation != [1, 1]
            || !(by_convolution || by_transposed)
        {
            return Self::conv2d(x, weight, Some(bias), options);
        }
        let x_node = x.node();
        let weight = weight.into_primitive();
        let output = B::frozen_conv2d(x.into_primitive(), weight.clone(), bias.into_primitive(), options.clone());
        match FrozenConv2dBackward.prepare::<C>([x_node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let state = if by_convolution {
                    InputGradient::Convolution {
                        gradient_weight: input_gradient_weight::<B>(weight, options.groups),
                        options: ConvOptions {
                            stride: [1, 1],
                            padding: [(kh - 1 - top, kh - 1 - bottom), (kw - 1 - left, kw - 1 - right)],
                            dilation: [1, 1],
                            groups: options.groups,
                        },
                    }
                } else {
                    let output_shape = output.shape();
                    let padding = [top, left];
                    let padding_out = |d: usize, k: usize| {
                        let covered = (output_shape[d + 2] - 1) * options.stride[d] + k;
                        (x_shape[d + 2] + 2 * padding[d]).saturating_sub(covered)
                    };
                    InputGradient::Transposed {
                        weight,
                        options: ConvTransposeOptions::new(
                            options.stride,
                            padding,
                            [padding_out(0, kh), padding_out(1, kw)],
                            [1, 1],
                            options.groups,
                        ),
                    }
                };
                prep.finish(state, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }

    fn hardtanh(x: FloatTensor<Self>, min: f32, max: f32) -> FloatTensor<Self> {
        let x_node = x.node();
        let output = B::hardtanh(x.into_primitive(), min, max);
        match HardtanhBackward.prepare::<C>([x_node]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((output.clone(), min, max), output),
            OpsKind::UnTracked(prep) => prep.finish(output),
        }
    }
}

/// burn-ndarray's GEMM is much faster than its convolution loop: 1×1 convolutions (stride 1,
/// no padding, one group) run as a batched matrix product.
#[cfg(feature = "ndarray")]
#[allow(deprecated)] // burn-ndarray stays the reference of the backend-agreement tests
impl SurrogateOps for burn::backend::NdArray {
    fn frozen_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let [out_channels, in_channels, kh, kw] = weight.shape().dims();
        if [kh, kw] != [1, 1] || options.stride != [1, 1] || options.padding != [(0, 0); 2] || options.groups != 1 {
            return Self::conv2d(x, weight, Some(bias), options);
        }
        let [n, _, h, w] = x.shape().dims();
        let x = Self::float_reshape(x, [n, in_channels, h * w].into());
        let weight = Self::float_reshape(weight, [1, out_channels, in_channels].into());
        let y = Self::float_add(Self::float_matmul(weight, x), Self::float_reshape(bias, [1, out_channels, 1].into()));
        Self::float_reshape(y, [n, out_channels, h, w].into())
    }
}

/// burn-flex: its transposed convolution and element-wise operations run on one core; these
/// split the work over the cores. Its `clamp` is `f32::clamp` element by element, which the
/// compiler does not vectorise (9% of an attack iteration's profile); the hardtanh here is a
/// comparison-and-select that it does. The hardtanh backward also reads a gradient that is a
/// row-contiguous view (as the backward of a padding leaves it) row by row instead of through
/// burn-flex's element-by-element strided copy.
#[cfg(feature = "flex")]
impl SurrogateOps for burn::backend::Flex {
    fn hardtanh(x: FloatTensor<Self>, min: f32, max: f32) -> FloatTensor<Self> {
        flex::hardtanh(x, min, max)
    }

    fn frozen_conv_transpose2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        options: ConvTransposeOptions<2>,
    ) -> FloatTensor<Self> {
        let x = x.to_contiguous();
        let chunks = flex::batch_chunks(&x);
        if chunks.len() < 2 {
            return Self::conv_transpose2d(x, weight, None, options);
        }
        let parts = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| {
                    let (weight, options) = (weight.clone(), options.clone());
                    scope.spawn(move || Self::conv_transpose2d(chunk, weight, None, options))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a conv_transpose2d thread panicked")).collect()
        });
        Self::float_cat(parts, 0)
    }

    fn hardtanh_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>, min: f32, max: f32) -> FloatTensor<Self> {
        flex::hardtanh_backward(&output, &grad, min, max).unwrap_or_else(|| {
            let (min64, max64) = (f64::from(min), f64::from(max));
            burn::backend::flex::ops::binary::binary_op(
                grad,
                output,
                move |g: f32, o| if o > min && o < max { g } else { 0.0 },
                move |g: f64, o| if o > min64 && o < max64 { g } else { 0.0 },
                None,
            )
        })
    }
}

#[cfg(feature = "flex")]
mod flex {
    use burn::backend::flex::{FlexTensor, Layout};
    use burn::tensor::{Bytes, DType, Shape};

    /// One copy per core of consecutive images of a contiguous f32 `[N, ...]` tensor (empty
    /// when it is not worth splitting or not f32).
    pub fn batch_chunks(x: &FlexTensor) -> Vec<FlexTensor> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let dims = x.layout().shape().to_vec();
        if threads < 2 || dims[0] < 2 || x.dtype() != DType::F32 {
            return Vec::new();
        }
        let per_image: usize = dims[1..].iter().product();
        let data = &x.storage::<f32>()[..dims[0] * per_image];
        let images_per_chunk = dims[0].div_ceil(threads);
        data.chunks(images_per_chunk * per_image)
            .map(|chunk| {
                let mut shape = dims.clone();
                shape[0] = chunk.len() / per_image;
                FlexTensor::new(Bytes::from_elems(chunk.to_vec()), Layout::contiguous(Shape::from(shape)), DType::F32)
            })
            .collect()
    }

    /// `x` clamped to `[min, max]`, NaN kept: in place when `x` is an unshared contiguous f32
    /// tensor, one slice per core.
    pub fn hardtanh(mut x: FlexTensor, min: f32, max: f32) -> FlexTensor {
        let clamp = move |v: f32| clamp_keeping_nan(v, min, max);
        let in_place = x.dtype() == DType::F32 && x.is_unique() && x.is_contiguous();
        if !in_place {
            let (min64, max64) = (f64::from(min), f64::from(max));
            return burn::backend::flex::ops::unary::unary_op(x, clamp, move |v: f64| {
                clamp_keeping_nan(v, min64, max64)
            });
        }
        let (start, count) = (x.layout().start_offset(), x.layout().num_elements());
        let values = &mut x.storage_mut::<f32>()[start..start + count];
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = count.div_ceil(threads).max(1 << 14);
        std::thread::scope(|scope| {
            for chunk in values.chunks_mut(per_thread) {
                scope.spawn(move || chunk.iter_mut().for_each(|v| *v = clamp(*v)));
            }
        });
        x
    }

    /// `v` clamped to `[min, max]` as a comparison-and-select the compiler vectorises; NaN
    /// fails both comparisons and stays NaN.
    fn clamp_keeping_nan<T: PartialOrd>(v: T, min: T, max: T) -> T {
        if v < min {
            min
        } else if v > max {
            max
        } else {
            v
        }
    }

    /// `grad` where `min < output < max`, for a contiguous f32 `output` and an f32 `grad` whose
    /// rows (last dimension) are contiguous, one batch slice per core; `None` when the tensors
    /// do not fit that pattern.
    pub fn hardtanh_backward(output: &FlexTensor, grad: &FlexTensor, min: f32, max: f32) -> Option<FlexTensor> {
        let (out_layout, grad_layout) = (output.layout(), grad.layout());
        let fits = grad.dtype() == DType::F32
            && output.dtype() == DType::F32
            && out_layout.shape() == grad_layout.shape()
            && out_layout.is_contiguous()
            && grad_layout.shape().num_dims() == 4
            && grad_layout.strides()[3] == 1
            && grad_layout.strides()[..3].iter().all(|&s| s >= 0);
        if !fits {
            return None;
        }
        let dims = grad_layout.shape().dims::<4>();
        let strides: [usize; 3] = std::array::from_fn(|d| grad_layout.strides()[d] as usize);
        let (start, width, per_image) = (grad_layout.start_offset(), dims[3], dims[1] * dims[2] * dims[3]);
        let (o, g) = (&output.storage::<f32>()[out_layout.start_offset()..], grad.storage::<f32>());
        let mut result = vec![0.0f32; dims[0] * per_image];
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(dims[0]).max(1);
        let images_per_chunk = dims[0].div_ceil(threads);
        std::thread::scope(|scope| {
            for (chunk_index, chunk) in result.chunks_mut(images_per_chunk * per_image).enumerate() {
                scope.spawn(move || {
                    let first = chunk_index * images_per_chunk;
                    for (i, image) in chunk.chunks_mut(per_image).enumerate() {
                        let n = first + i;
                        for (r, out_row) in image.chunks_mut(width).enumerate() {
                            let (c, h) = (r / dims[2], r % dims[2]);
                            let row = start + n * strides[0] + c * strides[1] + h * strides[2];
                            let o_row = &o[n * per_image + r * width..][..width];
                            for ((dst, &g), &o) in out_row.iter_mut().zip(&g[row..row + width]).zip(o_row) {
                                *dst = if o > min && o < max { g } else { 0.0 };
                            }
                        }
                    }
                });
            }
        });
        Some(FlexTensor::new(Bytes::from_elems(result), Layout::contiguous(grad_layout.shape().clone()), DType::F32))
    }
}

/// LibTorch: Burn's own convolution backward calls PyTorch's kernels, which measured faster
/// than the specialised one here; `hardtanh` runs backward as PyTorch's own `hardtanh_backward`
/// (Burn's autodiff `clamp` was a third of an attack iteration in masked fills and
/// comparisons, `docs/performance.md`).
#[cfg(feature = "tch")]
impl SurrogateOps for burn::backend::LibTorch {
    const SPECIALISED_CONV_BACKWARD: bool = false;

    fn hardtanh_backward(output: FloatTensor<Self>, grad: FloatTensor<Self>, min: f32, max: f32) -> FloatTensor<Self> {
        burn::backend::libtorch::TchTensor::new(output.tensor.hardtanh_backward(
            &grad.tensor,
            f64::from(min),
            f64::from(max),
        ))
    }
}

/// The GPU backends and the remote one run Burn's own operations, their fastest kernels already.
#[cfg(any(feature = "wgpu", feature = "cuda"))]
impl SurrogateOps for burn::backend::Cube {}
#[cfg(feature = "remote")]
impl SurrogateOps for burn::backend::Remote {}

#[cfg(all(test, feature = "ndarray"))]
mod tests {
    use super::*;
    use burn::tensor::module::conv2d;
    use burn::tensor::Device;
    use burn::tensor::Distribution;

    /// The specialised backward equals Burn's, for the strides, paddings and groupings of
    /// EfficientNet-Lite and a few more (odd sizes leave rows past the last window).
    #[test]
    fn input_gradient_equals_burns_conv2d_backward() {
        let device = Device::ndarray().autodiff();
        for (groups, in_c, out_c, kernel, stride, padding, size) in [
            (4, 4, 4, 3, 1, 1, 7),
            (4, 4, 4, 5, 2, 2, 9),
            (4, 4, 4, 3, 2, 0, 8),
            (1, 3, 5, 3, 2, 1, 10),
            (2, 4, 6, 3, 1, 2, 6),
            (3, 3, 3, 5, 2, 1, 11),
        ] {
            let x = Tensor::<4>::random([2, in_c, size, size], Distribution::Normal(0.0, 1.0), &device);
            let w =
                Tensor::<4>::random([out_c, in_c / groups, kernel, kernel], Distribution::Normal(0.0, 1.0), &device);
            let bias = Tensor::<1>::random([out_c], Distribution::Normal(0.0, 1.0), &device);
            let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], groups);
            let upstream = |y: &Tensor<4>| Tensor::<4>::random(y.dims(), Distribution::Default, &device);

            let x1 = x.clone().require_grad();
            let y1 = conv2d(x1.clone(), w.clone(), Some(bias.clone()), options.clone());
            let r = upstream(&y1);
            let g1 = x1.grad(&(y1.clone() * r.clone()).sum().backward()).unwrap();

            let x2 = x.require_grad();
            let y2 = frozen_conv2d(x2.clone(), w, Some(bias), options);
            let g2 = x2.grad(&(y2.clone() * r).sum().backward()).unwrap();

            let case = format!("groups {groups}, kernel {kernel}, stride {stride}, padding {padding}");
            y2.into_data().assert_approx_eq::<f32>(&y1.inner().into_data(), Default::default());
            assert_eq!(g1.dims(), g2.dims(), "{case}");
            g2.into_data().assert_approx_eq::<f32>(&g1.into_data(), Default::default());
        }
    }
}

#[cfg(all(test, feature = "flex"))]
mod flex_tests {
    use burn::tensor::{Device, Tensor, TensorData};

    /// burn-flex's hardtanh clamps in place and keeps NaN (a clamp that turned NaN into a
    /// bound would hide a broken model from the finiteness checks).
    #[test]
    fn flex_hardtanh_clamps_and_keeps_nan() {
        let values = [f32::NAN, -1.0, 0.0, 3.0, 6.0, 7.0, f32::INFINITY, f32::NEG_INFINITY];
        let tensor = || Tensor::<1>::from_data(TensorData::new(values.to_vec(), [8]), &Device::flex());
        let shared = tensor();
        for input in [tensor(), shared.clone()] {
            let y = super::hardtanh(input, 0.0, 6.0).into_data().try_to_vec::<f32>().unwrap();
            assert!(y[0].is_nan());
            assert_eq!(&y[1..], &[0.0, 0.0, 3.0, 6.0, 6.0, 6.0, 0.0]);
        }
        // The shared input was not modified in place.
        assert_eq!(shared.into_data().try_to_vec::<f32>().unwrap()[5], 7.0);
    }
}

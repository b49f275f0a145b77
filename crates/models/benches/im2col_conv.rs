//! Forward + backward (input and weight gradients) of the zoo's im2col convolution against
//! Burn's `conv2d` on every CPU backend of the build (flex, ndarray), for the layer shapes of
//! the Fashion-MNIST zoo, batch 128. Prints median times of 5 runs each, interleaved, and
//! their ratio (above 1: im2col is faster).
//!
//! ```text
//! cargo bench --bench im2col_conv
//! ```

use std::time::{Duration, Instant};

use burn::module::Param;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use common_weakness::backend::BackendKind;
use common_weakness_models::zoo::Conv;

fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    times[times.len() / 2].as_secs_f64() * 1e3
}

fn main() {
    for kind in [BackendKind::Flex, BackendKind::Ndarray].into_iter().filter(|k| k.enabled()) {
        println!("{kind}");
        layers(&kind.device().expect("an enabled backend"));
    }
}

fn layers(device: &Device) {
    println!("{:<34} {:>12} {:>12} {:>7}", "layer (batch 128)", "burn (ms)", "im2col (ms)", "ratio");
    for (input, output, size, kernel, stride, depthwise) in [
        (1, 16, 28, 5, 1, false),
        (16, 32, 14, 5, 1, false),
        (32, 64, 28, 3, 2, false),
        (16, 16, 28, 3, 1, false),
        (32, 32, 28, 3, 2, true),
    ] {
        let conv = if depthwise {
            Conv::depthwise(input, kernel, stride, device)
        } else {
            Conv::new(input, output, kernel, stride, device)
        };
        let weight: &Param<Tensor<4>> = &conv.weight;
        let x = Tensor::<4>::random([128, input, size, size], Distribution::Default, device).require_grad();
        let groups = if depthwise { input } else { 1 };
        let options = ConvOptions::new([stride; 2], [kernel / 2; 2], [1, 1], groups);
        let (mut burn, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let t = Instant::now();
            let grads = conv2d(x.clone(), weight.val(), Some(conv.bias.val()), options.clone()).sum().backward();
            let _ = (x.grad(&grads).unwrap().into_data(), weight.grad(&grads).unwrap().into_data());
            burn.push(t.elapsed());
            let t = Instant::now();
            let grads = conv.forward_im2col(x.clone()).sum().backward();
            let _ = (x.grad(&grads).unwrap().into_data(), weight.grad(&grads).unwrap().into_data());
            ours.push(t.elapsed());
        }
        let (burn, ours) = (median(burn), median(ours));
        let layer =
            format!("{input}->{output} {kernel}x{kernel} s{stride} @{size}{}", if depthwise { " dw" } else { "" });
        println!("{layer:<34} {burn:>12.1} {ours:>12.1} {:>7.2}", burn / ours);
    }
}

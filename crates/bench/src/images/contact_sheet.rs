//! A contact sheet: originals, amplified perturbations and adversarial images side by side.

use std::path::Path;

use burn::tensor::Tensor;
use image::RgbImage;

use super::{to_rgb8, write_png};
use common_weakness::Error as AttackError;

use crate::error::Result;

/// Writes a PNG with one row per image and three columns: the original, the perturbation
/// `0.5 + amplify·(adversarial − original)` (grey is zero), and the adversarial image.
/// `originals` and `adversarials` are `[N, 3, H, W]` of finite pixels in `[0, 1]`
/// ([`InvalidPixels`](common_weakness::Error::InvalidPixels) otherwise).
pub fn contact_sheet(
    originals: &Tensor<4>,
    adversarials: &Tensor<4>,
    amplify: f32,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let [n, channels, height, width] = originals.dims();
    if adversarials.dims() != originals.dims() || channels != 3 {
        return Err(AttackError::Shape {
            what: "adversarial images for the contact sheet",
            expected: format!("{:?} with 3 channels", originals.dims()),
            actual: adversarials.dims().to_vec(),
        }
        .into());
    }
    common_weakness::check::positive("amplify", amplify.into())?;
    common_weakness::attack::check_images(originals)?;
    common_weakness::attack::check_images(adversarials)?;
    let original = crate::to_vec(originals.clone());
    let adversarial = crate::to_vec(adversarials.clone());
    let perturbation: Vec<f32> = original.iter().zip(&adversarial).map(|(&x, &a)| 0.5 + amplify * (a - x)).collect();
    let size = 3 * height * width;
    let mut sheet = RgbImage::new(3 * width as u32, (n * height) as u32);
    for i in 0..n {
        for (column, pixels) in [&original, &perturbation, &adversarial].into_iter().enumerate() {
            let tile = to_rgb8(&pixels[i * size..(i + 1) * size], height, width);
            image::imageops::replace(&mut sheet, &tile, (column * width) as i64, (i * height) as i64);
        }
    }
    write_png(&image::DynamicImage::ImageRgb8(sheet), path)
}

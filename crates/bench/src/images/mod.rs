//! Image files in and out: JPEG/PNG files to `[N, 3, H, W]` tensors in `[0, 1]`, tensors to
//! lossless 8-bit PNG files, and the 8-bit quantisation those files impose.
//!
//! An adversarial example only exists as a file once its pixels are rounded to 1/255 steps, so
//! evaluate it after [`quantize`] (or after saving and loading) to see the success that
//! survives; `examples/imagenet_transfer.rs` of this crate reports both.

mod contact_sheet;
mod grid;

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, GrayImage, ImageBuffer, Luma, Rgb, RgbImage};

pub use contact_sheet::contact_sheet;
pub use grid::comparison_grid;

use common_weakness::Error as AttackError;

use crate::error::{Error, Result};

/// Creates the folders above `path`, if any.
fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    Ok(())
}

/// Writes an 8-bit image as PNG, creating parent folders.
fn write_png(image: &DynamicImage, path: &Path) -> Result<()> {
    create_parent(path)?;
    image
        .save_with_format(path, image::ImageFormat::Png)
        .map_err(|source| Error::Image { path: path.to_path_buf(), source })
}

/// The largest image side [`read_rgb`] and [`load`] accept.
pub const MAX_SIDE: usize = 16_384;

/// Checks that an image side is in `1..=MAX_SIDE`, before anything is allocated for it.
fn check_side(name: &'static str, side: usize) -> Result<()> {
    common_weakness::check::at_least_one(name, side)?;
    if side > MAX_SIDE {
        return Err(common_weakness::Error::InvalidParameter {
            name,
            value: side as f64,
            requirement: "must be at most 16384 (images::MAX_SIDE)",
        }
        .into());
    }
    Ok(())
}

/// Reads an image file (JPEG or PNG; grey and alpha are converted to RGB) and resizes it to
/// `height × width` with a bicubic (Catmull-Rom) filter whose support widens when shrinking,
/// as PIL's `Image.resize` does. The aspect ratio is not kept, as in foolbox's samples.
/// Returns the pixels `[3, height, width]`, channel-major, in `[0, 1]`.
pub fn read_rgb(path: impl AsRef<Path>, height: usize, width: usize) -> Result<Vec<f32>> {
    read_image(path, 3, height, width)
}

/// [`read_rgb`] for `channels` 3, and for `channels` 1 the image in grey (RGB to luma with
/// the ITU-R 601 weights, as PIL's `convert("L")`); `[channels, height, width]`.
pub fn read_image(path: impl AsRef<Path>, channels: usize, height: usize, width: usize) -> Result<Vec<f32>> {
    let path = path.as_ref();
    check_channels(channels)?;
    check_side("height", height)?;
    check_side("width", width)?;
    let image = image::open(path).map_err(|source| Error::Image { path: path.to_path_buf(), source })?;
    let image = if image.dimensions() == (width as u32, height as u32) {
        image
    } else {
        image.resize_exact(width as u32, height as u32, FilterType::CatmullRom)
    };
    let plane = height * width;
    let mut pixels = vec![0.0; channels * plane];
    if channels == 1 {
        for (i, pixel) in image.to_luma8().pixels().enumerate() {
            pixels[i] = f32::from(pixel.0[0]) / 255.0;
        }
    } else {
        for (i, pixel) in image.to_rgb8().pixels().enumerate() {
            for (c, &value) in pixel.0.iter().enumerate() {
                pixels[c * plane + i] = f32::from(value) / 255.0;
            }
        }
    }
    Ok(pixels)
}

/// Grey (1) or RGB (3): the channel counts image files hold here.
fn check_channels(channels: usize) -> Result<()> {
    if channels != 1 && channels != 3 {
        return Err(common_weakness::Error::InvalidParameter {
            name: "channels",
            value: channels as f64,
            requirement: "image files are read and written as grey (1) or RGB (3)",
        }
        .into());
    }
    Ok(())
}

/// Loads image files as one batch `[N, 3, height, width]` in `[0, 1]` (see [`read_rgb`]).
///
/// ```no_run
/// use common_weakness_bench::images;
///
/// # fn main() -> common_weakness_bench::Result<()> {
/// let batch = images::load(&["cat.jpg", "dog.png"], 224, 224, &Default::default())?;
/// assert_eq!(batch.dims(), [2, 3, 224, 224]);
/// # Ok(()) }
/// ```
pub fn load<P: AsRef<Path>>(paths: &[P], height: usize, width: usize, device: &Device) -> Result<Tensor<4>> {
    load_as(paths, [3, height, width], device)
}

/// [`load`] as `[N, channels, height, width]`, grey for one channel ([`read_image`]).
pub fn load_as<P: AsRef<Path>>(
    paths: &[P],
    [channels, height, width]: [usize; 3],
    device: &Device,
) -> Result<Tensor<4>> {
    common_weakness::check::at_least_one("number of image files", paths.len())?;
    check_channels(channels)?;
    check_side("height", height)?;
    check_side("width", width)?;
    // Within usize: at most 3·16384² per image (checked above), times the number of files.
    let total = paths.len().checked_mul(channels * height * width).ok_or(common_weakness::Error::InvalidParameter {
        name: "number of image files",
        value: paths.len() as f64,
        requirement: "times 3·height·width must fit in memory's address space",
    })?;
    let mut pixels = Vec::with_capacity(total);
    for path in paths {
        pixels.extend(read_image(path, channels, height, width)?);
    }
    Ok(Tensor::from_data(TensorData::new(pixels, [paths.len(), channels, height, width]), device))
}

/// Rounds pixels to the nearest of the 256 levels an 8-bit file can hold (and clips to
/// `[0, 1]`): exactly what [`save_png`] followed by [`load`] gives.
pub fn quantize(images: Tensor<4>) -> Tensor<4> {
    images.clamp(0.0, 1.0).mul_scalar(255.0).round().div_scalar(255.0)
}

/// Saves image `index` of a batch `[N, 3, H, W]` in `[0, 1]` as an 8-bit RGB PNG, or of a batch
/// `[N, 1, H, W]` as a grey one (lossless: loading it gives [`quantize`]d pixels back). Parent folders are created. NaN, infinite or
/// out-of-range pixels are an [`InvalidPixels`](common_weakness::Error::InvalidPixels), not black or clipped pixels.
pub fn save_png(images: &Tensor<4>, index: usize, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let [n, channels, height, width] = images.dims();
    if !(channels == 1 || channels == 3) || index >= n {
        return Err(AttackError::Shape {
            what: "images to save",
            expected: format!("[N > {index}, 1 or 3, H, W]"),
            actual: images.dims().to_vec(),
        }
        .into());
    }
    let image = images.clone().slice(index..index + 1);
    common_weakness::attack::check_images(&image)?;
    let pixels = crate::to_vec(image);
    let image = match channels {
        1 => DynamicImage::ImageLuma8(to_grey8(&pixels, height, width)),
        _ => DynamicImage::ImageRgb8(to_rgb8(&pixels, height, width)),
    };
    write_png(&image, path)
}

/// `[1, H, W]` pixels in `[0, 1]` to an 8-bit grey image, rounding to nearest.
fn to_grey8(pixels: &[f32], height: usize, width: usize) -> GrayImage {
    ImageBuffer::from_fn(width as u32, height as u32, |x, y| {
        Luma([(pixels[y as usize * width + x as usize].clamp(0.0, 1.0) * 255.0).round() as u8])
    })
}

/// `[3, H, W]` pixels in `[0, 1]` (channel-major) to an 8-bit RGB image, rounding to nearest.
fn to_rgb8(pixels: &[f32], height: usize, width: usize) -> RgbImage {
    let plane = height * width;
    ImageBuffer::from_fn(width as u32, height as u32, |x, y| {
        let i = y as usize * width + x as usize;
        Rgb(std::array::from_fn(|c| (pixels[c * plane + i].clamp(0.0, 1.0) * 255.0).round() as u8))
    })
}

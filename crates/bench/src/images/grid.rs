//! A comparison grid: several versions of the same images side by side, small enough for a
//! document.

use std::path::Path;

use burn::tensor::Tensor;
use image::imageops::FilterType;
use image::RgbImage;

use super::{create_parent, to_rgb8};
use common_weakness::Error as AttackError;

use crate::error::{Error, Result};

/// Writes a JPEG (quality 90) with one row per image (the first `rows`) and one column per
/// entry of `columns` (all `[N, 3, H, W]` in `[0, 1]`, e.g. the originals and each method's
/// adversarial images), every tile resized to `tile × tile` pixels. Lossy and small: for
/// pictures in documents, where the lossless contact sheets are too large.
pub fn comparison_grid(columns: &[&Tensor<4>], rows: usize, tile: u32, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let Some(first) = columns.first() else {
        return Err(AttackError::Shape {
            what: "comparison grid columns",
            expected: "at least one".into(),
            actual: vec![0],
        }
        .into());
    };
    let [n, channels, height, width] = first.dims();
    if let Some(other) = columns.iter().find(|c| c.dims() != first.dims() || channels != 3) {
        return Err(AttackError::Shape {
            what: "comparison grid column",
            expected: format!("{:?} with 3 channels (the first column's shape)", first.dims()),
            actual: other.dims().to_vec(),
        }
        .into());
    }
    common_weakness::check::at_least_one("tile", tile as usize)?;
    let rows = rows.min(n);
    let size = 3 * height * width;
    let mut grid = RgbImage::new(tile * columns.len() as u32, tile * rows as u32);
    for (column, images) in columns.iter().enumerate() {
        let part = (*images).clone().slice(0..rows);
        common_weakness::attack::check_images(&part)?;
        let pixels = crate::to_vec(part);
        for row in 0..rows {
            let full = to_rgb8(&pixels[row * size..(row + 1) * size], height, width);
            let small = image::imageops::resize(&full, tile, tile, FilterType::CatmullRom);
            image::imageops::replace(&mut grid, &small, (column as u32 * tile).into(), (row as u32 * tile).into());
        }
    }
    create_parent(path)?;
    let file = std::fs::File::create(path)?;
    image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(file), 90)
        .encode_image(&grid)
        .map_err(|source| Error::Image { path: path.to_path_buf(), source })
}

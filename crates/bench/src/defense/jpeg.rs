//! JPEG compression (Guo et al., "Countering Adversarial Images using Input
//! Transformations", ICLR 2018; Dziugaite et al. 2016).

use burn::tensor::{Tensor, TensorData};
use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageDecoder};

use super::Preprocessing;
use common_weakness::Error as AttackError;

use crate::error::{Error, Result};
use common_weakness::rng::AttackRng;

/// Encodes every image as an 8-bit JPEG at `quality` and decodes it again (grey images as
/// one-channel JPEG, colour as RGB), with the `image` crate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Jpeg {
    quality: u8,
}

impl Jpeg {
    /// `quality` in 1..=100 (the usual defence setting is 75).
    pub fn new(quality: u8) -> Result<Self> {
        if (1..=100).contains(&quality) {
            Ok(Self { quality })
        } else {
            Err(AttackError::InvalidParameter {
                name: "quality",
                value: quality.into(),
                requirement: "must be in 1..=100",
            }
            .into())
        }
    }

    fn round_trip(&self, pixels: &[u8], width: u32, height: u32, colour: ExtendedColorType) -> Result<Vec<u8>> {
        let mut encoded = Vec::new();
        let in_memory = std::path::PathBuf::from("<in-memory JPEG>");
        let error = |source| Error::Image { path: in_memory.clone(), source };
        JpegEncoder::new_with_quality(&mut encoded, self.quality)
            .encode(pixels, width, height, colour)
            .map_err(error)?;
        let decoder = image::codecs::jpeg::JpegDecoder::new(std::io::Cursor::new(encoded)).map_err(error)?;
        let mut decoded = vec![0; decoder.total_bytes() as usize];
        decoder.read_image(&mut decoded).map_err(error)?;
        Ok(decoded)
    }
}

impl Preprocessing for Jpeg {
    fn describe(&self) -> String {
        format!("JPEG q{}", self.quality)
    }

    fn apply(&self, images: Tensor<4>, _rng: &mut AttackRng) -> Result<Tensor<4>> {
        let shape = images.dims();
        let [n, channels, height, width] = shape;
        let colour = match channels {
            1 => ExtendedColorType::L8,
            3 => ExtendedColorType::Rgb8,
            _ => {
                return Err(AttackError::Shape {
                    what: "images to JPEG-compress",
                    expected: "[N, 1 or 3, H, W]".into(),
                    actual: shape.to_vec(),
                }
                .into())
            }
        };
        let device = images.device();
        let values = crate::to_vec(images);
        let plane = height * width;
        let mut output = Vec::with_capacity(values.len());
        for image in values.chunks(channels * plane) {
            // Channel-major floats to interleaved bytes and back.
            let bytes: Vec<u8> = (0..plane * channels)
                .map(|i| (image[(i % channels) * plane + i / channels].clamp(0.0, 1.0) * 255.0).round() as u8)
                .collect();
            let decoded = self.round_trip(&bytes, width as u32, height as u32, colour)?;
            output
                .extend((0..plane * channels).map(|i| f32::from(decoded[(i % plane) * channels + i / plane]) / 255.0));
        }
        Ok(Tensor::from_data(TensorData::new(output, [n, channels, height, width]), &device))
    }
}

//! Checks of the images an attack is given, and a checked constructor for them.

use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};

/// Builds an image batch from raw data, checking what a `Tensor<4>` cannot: that the
/// data has rank 4 (`[N, C, H, W]`), no empty dimension, and finite pixels in `[0, 1]`.
///
/// ```
/// use burn::tensor::TensorData;
/// use common_weakness::Error;
/// use common_weakness::attack::images_from_data;
///
/// let device = Default::default();
/// let ok = images_from_data(TensorData::new(vec![0.5f32; 12], [1, 3, 2, 2]), &device);
/// assert_eq!(ok.unwrap().dims(), [1, 3, 2, 2]);
/// let flat = images_from_data(TensorData::new(vec![0.5f32; 12], [3, 4]), &device);
/// assert!(matches!(flat, Err(Error::Shape { .. })));
/// ```
pub fn images_from_data(data: TensorData, device: &Device) -> Result<Tensor<4>> {
    let shape: Vec<usize> = data.shape().iter().copied().collect();
    if shape.len() != 4 {
        return Err(Error::Shape { what: "images", expected: "[N, C, H, W] (rank 4)".into(), actual: shape });
    }
    let images = Tensor::<4>::from_data(data.convert::<f32>(), device);
    check_images(&images)?;
    Ok(images)
}

/// Checks that images are a non-empty `[N, C, H, W]` batch of finite pixels in `[0, 1]`,
/// as every attack does before it starts ([`Error::EmptyBatch`], [`Error::InvalidPixels`]).
///
/// ```
/// use burn::tensor::Tensor;
/// use common_weakness::attack::check_images;
///
/// let device = Default::default();
/// assert!(check_images(&Tensor::<4>::full([1, 3, 2, 2], 0.5, &device)).is_ok());
/// assert!(check_images(&Tensor::<4>::full([1, 3, 2, 2], 1.5, &device)).is_err());
/// ```
pub fn check_images(images: &Tensor<4>) -> Result<()> {
    let shape = images.dims();
    if shape.contains(&0) {
        return Err(Error::EmptyBatch { shape: shape.to_vec() });
    }
    let values = crate::host::to_vec(images.clone());
    let non_finite = values.iter().filter(|v| !v.is_finite()).count();
    if non_finite > 0 {
        return Err(Error::InvalidPixels { count: non_finite, problem: "NaN or infinite" });
    }
    let outside = values.iter().filter(|v| !(0.0..=1.0).contains(*v)).count();
    if outside > 0 {
        return Err(Error::InvalidPixels { count: outside, problem: "outside [0, 1]" });
    }
    Ok(())
}

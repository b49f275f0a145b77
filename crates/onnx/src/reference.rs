//! PyTorch's own outputs for the imported models, written by `scripts/export_onnx.py`.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};

use crate::{onnx_dir, Architecture, Error, Result};

/// The reference batch and one model's PyTorch logits and input gradient on it, for parity
/// checks: `inputs` `[N, 3, 224, 224]` in `[0, 1]` (N foolbox photos), `labels`, `logits`
/// `[N, 1000]`, penultimate `features`, and `gradient` of the summed cross-entropy with
/// respect to `inputs`, computed in
/// float32 and, as the precise reference, in float64 (`gradient64`).
#[derive(Clone, Debug)]
pub struct Reference {
    /// Input shape `[N, 3, H, W]`.
    pub shape: [usize; 4],
    /// The pixels, row-major.
    pub inputs: Vec<f32>,
    /// ImageNet labels of the photos.
    pub labels: Vec<usize>,
    /// PyTorch's logits, `[N, 1000]` row-major.
    pub logits: Vec<f32>,
    /// PyTorch's penultimate features (the classifier's input), `[N, width]` row-major.
    pub features: Vec<f32>,
    /// PyTorch's input gradient, shaped like `inputs`.
    pub gradient: Vec<f32>,
    /// PyTorch's input gradient computed in float64 (rounded to f32).
    pub gradient64: Vec<f32>,
}

impl Reference {
    /// Reads `model`'s reference from [`onnx_dir`].
    pub fn load(model: Architecture) -> Result<Self> {
        Self::load_from(&onnx_dir(), model)
    }

    /// Reads `model`'s reference from `dir`.
    pub fn load_from(dir: &Path, model: Architecture) -> Result<Self> {
        let manifest_path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&manifest_path).map_err(|e| file_error(&manifest_path, e))?;
        let manifest: serde_json::Value = serde_json::from_str(&text).map_err(|e| file_error(&manifest_path, e))?;
        let dims: Vec<usize> =
            serde_json::from_value(manifest["inputs"].clone()).map_err(|e| file_error(&manifest_path, e))?;
        let labels: Vec<usize> =
            serde_json::from_value(manifest["labels"].clone()).map_err(|e| file_error(&manifest_path, e))?;
        let shape: [usize; 4] =
            dims.try_into().map_err(|d| file_error(&manifest_path, format!("inputs shape {d:?} is not 4-d")))?;
        let pixels: usize = shape.iter().product();
        let name = model.name();
        let width: usize = serde_json::from_value(manifest["models"][name]["features"].clone())
            .map_err(|e| file_error(&manifest_path, format!("models.{name}.features: {e}")))?;
        Ok(Self {
            features: floats(dir.join(format!("{name}.features.f32")), shape[0] * width)?,
            inputs: floats(dir.join("inputs.f32"), pixels)?,
            logits: floats(dir.join(format!("{name}.logits.f32")), shape[0] * 1000)?,
            gradient: floats(dir.join(format!("{name}.gradient.f32")), pixels)?,
            gradient64: floats(dir.join(format!("{name}.gradient64.f32")), pixels)?,
            shape,
            labels,
        })
    }

    /// The inputs as a tensor on `device`.
    pub fn images(&self, device: &Device) -> Tensor<4> {
        Tensor::from_data(TensorData::new(self.inputs.clone(), self.shape), device)
    }
}

fn file_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::File { path: path.to_path_buf(), problem: e.to_string() }
}

/// A little-endian f32 file of exactly `len` values.
fn floats(path: PathBuf, len: usize) -> Result<Vec<f32>> {
    let bytes = std::fs::read(&path).map_err(|e| file_error(&path, e))?;
    if bytes.len() != len * 4 {
        return Err(file_error(&path, format!("{} bytes, expected {} f32 values", bytes.len(), len)));
    }
    Ok(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

//! Writes iteration records as JSON lines or CSV.

use std::io::Write;

use super::{Control, IterationRecord, Observer, RunInfo};
use crate::error::Result;

/// The file format of a [`RecordWriter`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordFormat {
    /// One JSON object per line: first the [`RunInfo`], then one [`IterationRecord`] each.
    JsonLines,
    /// A header row, then one row per iteration; one `loss_<model>` column per model, and at
    /// the end one `weight_<model>` column per model (empty unless a weighting set them).
    Csv,
}

/// Streams records to any writer (a file, a buffer). The first write error is kept and
/// returned by [`RecordWriter::finish`]; later records are skipped.
///
/// ```
/// use common_weakness::observe::{IterationRecord, Observer, RecordFormat, RecordWriter, RunInfo};
///
/// let mut writer = RecordWriter::new(Vec::new(), RecordFormat::Csv);
/// let info = RunInfo { attack: "MI-CWA".into(), config: serde_json::Value::Null, seed: 0,
///     backend: "ndarray".into(), models: vec!["a".into()], images: 1, image_indices: vec![0], iterations: 1 };
/// writer.start(&info);
/// writer.observe(&IterationRecord { iteration: 1, loss_per_model: vec![-0.5], gradient_cosine: None,
///     model_weights: None, perturbation_linf: 0.06, perturbation_l2: 1.0, seconds: 0.01 });
/// let csv = String::from_utf8(writer.finish().unwrap()).unwrap();
/// assert!(csv.starts_with("iteration,loss_a,gradient_cosine"));
/// assert_eq!(csv.lines().count(), 2);
/// ```
#[derive(Debug)]
pub struct RecordWriter<W: Write> {
    out: W,
    format: RecordFormat,
    error: Option<std::io::Error>,
}

impl<W: Write> RecordWriter<W> {
    /// A writer in `format` onto `out`.
    pub fn new(out: W, format: RecordFormat) -> Self {
        Self { out, format, error: None }
    }

    /// Flushes and returns the underlying writer, or the first error met.
    pub fn finish(mut self) -> Result<W> {
        if let Some(error) = self.error.take() {
            return Err(error.into());
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn write_line(&mut self, line: std::result::Result<String, serde_json::Error>) {
        if self.error.is_some() {
            return;
        }
        let result = line.map_err(std::io::Error::other).and_then(|line| writeln!(self.out, "{line}"));
        if let Err(error) = result {
            self.error = Some(error);
        }
    }
}

impl<W: Write> Observer for RecordWriter<W> {
    fn start(&mut self, info: &RunInfo) {
        let line = match self.format {
            RecordFormat::JsonLines => serde_json::to_string(info),
            RecordFormat::Csv => {
                let column = |prefix: &str| -> Vec<String> {
                    info.models.iter().map(|m| format!("{prefix}_{}", m.replace(',', "_"))).collect()
                };
                Ok(format!(
                    "iteration,{},gradient_cosine,perturbation_linf,perturbation_l2,seconds,{}",
                    column("loss").join(","),
                    column("weight").join(",")
                ))
            }
        };
        self.write_line(line);
    }

    fn observe(&mut self, record: &IterationRecord) -> Control {
        let line = match self.format {
            RecordFormat::JsonLines => serde_json::to_string(record),
            RecordFormat::Csv => {
                let losses: Vec<String> = record.loss_per_model.iter().map(f64::to_string).collect();
                let cosine = record.gradient_cosine.map(|c| c.to_string()).unwrap_or_default();
                let weights: Vec<String> = match &record.model_weights {
                    Some(weights) => weights.iter().map(f64::to_string).collect(),
                    None => vec![String::new(); losses.len()],
                };
                Ok(format!(
                    "{},{},{},{},{},{},{}",
                    record.iteration,
                    losses.join(","),
                    cosine,
                    record.perturbation_linf,
                    record.perturbation_l2,
                    record.seconds,
                    weights.join(",")
                ))
            }
        };
        self.write_line(line);
        Control::Continue
    }
}

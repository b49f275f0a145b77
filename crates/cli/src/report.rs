//! What `attack` writes beside the PNG files: a JSON report (the run, every image's success on
//! every surrogate, the run record) and the same per image as CSV.

use std::path::Path;

use common_weakness::attack::AttackOutcome;
use common_weakness::observe::{IterationRecord, RunInfo, StopReason};
use serde::{Deserialize, Serialize};

use crate::error::{file, Result};
use crate::score::Success;

/// The report of one `attack` run (one shard).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    /// The program and its version.
    pub program: String,
    /// The command line.
    pub command: Vec<String>,
    /// The attack's name.
    pub attack: String,
    /// Its spec with every default written out (`attack --spec` runs it again).
    pub spec: serde_json::Value,
    /// The backend it ran on.
    pub backend: String,
    /// The surrogates, in order.
    pub models: Vec<String>,
    /// `[channels, height, width]` of the images.
    pub input: [usize; 3],
    /// Whether `label` is a target.
    pub targeted: bool,
    /// The shard `k/N` of the image files.
    pub shard: String,
    /// Seconds from start to report, loading included.
    pub seconds: f64,
    /// Each surrogate's success over the images, after 8-bit rounding.
    pub success: Vec<Success>,
    /// Every image.
    pub images: Vec<ImageResult>,
    /// The run record of every batch.
    pub runs: Vec<BatchRecord>,
}

/// One image of a [`Report`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImageResult {
    /// The input file.
    pub source: String,
    /// The PNG file written, in the output folder.
    pub output: String,
    /// Its index among all the image files (keys its random draws).
    pub index: usize,
    /// Its true class, or its target.
    pub label: usize,
    /// Where the label came from: `labels file`, `target` or `predicted`.
    pub label_source: String,
    /// Whether each surrogate is fooled by the PNG file's pixels.
    pub fooled: Vec<bool>,
    /// The largest pixel change, in [0, 1] units.
    pub linf: f64,
    /// The Euclidean length of the change.
    pub l2: f64,
}

/// What the attack recorded for one batch.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchRecord {
    /// The run: attack, configuration, seed, backend, models, image indices.
    pub info: RunInfo,
    /// Every iteration's objective per model, gradient similarity and perturbation norms.
    pub records: Vec<IterationRecord>,
    /// Why it stopped.
    pub stop: StopReason,
}

impl BatchRecord {
    /// The record of one batch's outcome.
    pub fn of(outcome: &AttackOutcome) -> Self {
        Self { info: outcome.info.clone(), records: outcome.records.clone(), stop: outcome.stop }
    }
}

impl Report {
    /// Writes the report to `path` and the per-image table beside it (`.csv`).
    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).expect("a report is JSON");
        std::fs::write(path, json + "\n").map_err(|e| file(path, e))?;
        let mut csv = String::from("source,output,index,label,label_source,linf,l2");
        for model in &self.models {
            csv += &format!(",fooled_{model}");
        }
        csv.push('\n');
        for image in &self.images {
            csv += &format!(
                "{},{},{},{},{},{:.6},{:.6}",
                image.source, image.output, image.index, image.label, image.label_source, image.linf, image.l2
            );
            for fooled in &image.fooled {
                csv += if *fooled { ",1" } else { ",0" };
            }
            csv.push('\n');
        }
        let csv_path = path.with_extension("csv");
        std::fs::write(&csv_path, csv).map_err(|e| file(&csv_path, e))
    }

    /// Reads a report written by [`write`](Self::write).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| file(path, e))?;
        serde_json::from_str(&text).map_err(|e| file(path, format!("not a report of `common-weakness attack`: {e}")))
    }
}

//! A progress line on standard error.

use std::io::Write;

use super::{Control, IterationRecord, Observer, RunInfo, StopReason};

/// Prints one line per iteration (or universal step) to standard error: iteration, mean
/// objective per model, gradient similarity, perturbation size, time and the time left at the
/// mean pace so far.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    label: String,
    models: Vec<String>,
    iterations: usize,
    /// Seconds spent in the iterations seen so far.
    elapsed: f64,
}

impl Progress {
    /// A progress printer; `label` prefixes each line (e.g. the batch being attacked).
    pub fn new(label: impl Into<String>) -> Self {
        Self { label: label.into(), ..Self::default() }
    }

    /// The line printed for `record`, `elapsed` seconds into the run.
    pub fn line(&self, record: &IterationRecord, elapsed: f64) -> String {
        let left = elapsed / record.iteration.max(1) as f64 * self.iterations.saturating_sub(record.iteration) as f64;
        let losses: Vec<String> =
            self.models.iter().zip(&record.loss_per_model).map(|(name, loss)| format!("{name}={loss:.4}")).collect();
        let cosine = record.gradient_cosine.map(|c| format!(" cos={c:.3}")).unwrap_or_default();
        format!(
            "{}[{:>3}/{}] loss {}{} |δ|∞={:.4} |δ|₂={:.4} {:.0} ms, ~{:.0} s left",
            self.label,
            record.iteration,
            self.iterations,
            losses.join(" "),
            cosine,
            record.perturbation_linf,
            record.perturbation_l2,
            record.seconds * 1e3,
            left
        )
    }
}

impl Observer for Progress {
    fn start(&mut self, info: &RunInfo) {
        self.models = info.models.clone();
        self.iterations = info.iterations;
        self.elapsed = 0.0;
        eprintln!(
            "{}{} on {} images, {} models, {}",
            self.label,
            info.attack,
            info.images,
            info.models.len(),
            info.backend
        );
    }

    fn observe(&mut self, record: &IterationRecord) -> Control {
        self.elapsed += record.seconds;
        eprintln!("{}", self.line(record, self.elapsed));
        Control::Continue
    }

    fn finish(&mut self, stop: &StopReason) {
        eprintln!("{}done: {stop:?}", self.label);
        let _ = std::io::stderr().flush();
    }
}

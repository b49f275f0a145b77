//! A progress line on standard error.

use std::io::Write;

use super::{Control, IterationRecord, Observer, RunInfo, StopReason};

/// Prints one line per iteration to standard error: iteration, mean objective per model,
/// gradient similarity, perturbation size and time.
#[derive(Clone, Debug, Default)]
pub struct Progress {
    label: String,
    models: Vec<String>,
    iterations: usize,
}

impl Progress {
    /// A progress printer; `label` prefixes each line (e.g. the batch being attacked).
    pub fn new(label: impl Into<String>) -> Self {
        Self { label: label.into(), ..Self::default() }
    }

    /// The line printed for `record`.
    pub fn line(&self, record: &IterationRecord) -> String {
        let losses: Vec<String> =
            self.models.iter().zip(&record.loss_per_model).map(|(name, loss)| format!("{name}={loss:.4}")).collect();
        let cosine = record.gradient_cosine.map(|c| format!(" cos={c:.3}")).unwrap_or_default();
        format!(
            "{}[{:>3}/{}] loss {}{} |δ|∞={:.4} |δ|₂={:.4} {:.0} ms",
            self.label,
            record.iteration,
            self.iterations,
            losses.join(" "),
            cosine,
            record.perturbation_linf,
            record.perturbation_l2,
            record.seconds * 1e3
        )
    }
}

impl Observer for Progress {
    fn start(&mut self, info: &RunInfo) {
        self.models = info.models.clone();
        self.iterations = info.iterations;
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
        eprintln!("{}", self.line(record));
        Control::Continue
    }

    fn finish(&mut self, stop: &StopReason) {
        eprintln!("{}done: {stop:?}", self.label);
        let _ = std::io::stderr().flush();
    }
}

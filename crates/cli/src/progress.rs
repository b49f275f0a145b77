//! A progress bar over a run's iterations (indicatif), as an observer of the attack.

use common_weakness::observe::{Control, IterationRecord, Observer, RunInfo};
use indicatif::{ProgressBar, ProgressStyle};

/// One bar for the whole run: every batch's iterations, the batch and its mean objective.
pub struct Bar {
    bar: ProgressBar,
    batch: usize,
    batches: usize,
    /// The index of the run's first image, images per batch and iterations per batch: where
    /// a batch's bar starts (a resumed run skips the batches it had finished).
    first: usize,
    batch_size: usize,
    iterations: usize,
}

impl Bar {
    /// A bar of `batches × iterations` steps on standard error (hidden when it is not a
    /// terminal, or when `quiet`), for batches of `batch_size` images from image `first`.
    pub fn new(batches: usize, iterations: usize, first: usize, batch_size: usize, quiet: bool) -> Self {
        let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new((batches * iterations) as u64) };
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} iterations, eta {eta} {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        Self { bar, batch: 0, batches, first, batch_size, iterations }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for Bar {
    fn start(&mut self, info: &RunInfo) {
        let first = info.image_indices.first().copied().unwrap_or(self.first);
        self.batch = (first - self.first) / self.batch_size.max(1) + 1;
        self.bar.set_position(((self.batch - 1) * self.iterations) as u64);
    }

    fn observe(&mut self, record: &IterationRecord) -> Control {
        let loss = record.loss_per_model.iter().sum::<f64>() / record.loss_per_model.len().max(1) as f64;
        self.bar.set_message(format!("batch {}/{}, objective {loss:.4}", self.batch, self.batches));
        self.bar.inc(1);
        Control::Continue
    }
}

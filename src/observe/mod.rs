//! Observers: per-iteration records, progress and logs.
//!
//! An attack calls its observer once at the start ([`Observer::start`]), once per iteration
//! with an [`IterationRecord`] ([`Observer::observe`], which may stop the run), and once at
//! the end ([`Observer::finish`]). Observers compose: a tuple `(a, b)` calls both.

mod early_stop;
mod progress;
mod record;
mod writer;

pub use early_stop::EarlyStop;
pub use progress::Progress;
pub use record::{IterationRecord, RunInfo, StopReason};
pub use writer::{RecordFormat, RecordWriter};

/// Whether the attack should go on after an iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Run the next iteration.
    Continue,
    /// Stop now and return the current images.
    Stop,
}

/// Receives the progress of an attack run.
pub trait Observer {
    /// Called once before the first iteration.
    fn start(&mut self, _info: &RunInfo) {}
    /// Called after every iteration.
    fn observe(&mut self, record: &IterationRecord) -> Control;
    /// Called once after the last iteration.
    fn finish(&mut self, _stop: &StopReason) {}
}

/// The default observer: records nothing, never stops.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {
    fn observe(&mut self, _record: &IterationRecord) -> Control {
        Control::Continue
    }
}

impl<O: Observer + ?Sized> Observer for &mut O {
    fn start(&mut self, info: &RunInfo) {
        (**self).start(info)
    }
    fn observe(&mut self, record: &IterationRecord) -> Control {
        (**self).observe(record)
    }
    fn finish(&mut self, stop: &StopReason) {
        (**self).finish(stop)
    }
}

impl<A: Observer, B: Observer> Observer for (A, B) {
    fn start(&mut self, info: &RunInfo) {
        self.0.start(info);
        self.1.start(info);
    }
    fn observe(&mut self, record: &IterationRecord) -> Control {
        let first = self.0.observe(record);
        let second = self.1.observe(record);
        if first == Control::Stop || second == Control::Stop {
            Control::Stop
        } else {
            Control::Continue
        }
    }
    fn finish(&mut self, stop: &StopReason) {
        self.0.finish(stop);
        self.1.finish(stop);
    }
}

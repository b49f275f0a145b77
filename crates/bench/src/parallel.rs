//! Attacks on several batches at once, on threads sharing one ensemble.
//!
//! Every random draw of a per-image attack is keyed by the image's index in the whole set
//! ([`Attack::run_indexed`]), so splitting a set into batches and attacking them on any number
//! of threads gives each image the adversarial example a single run gives it.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::tensor::Tensor;
use common_weakness::attack::Attack;
use common_weakness::backend::BackendKind;
use common_weakness::ensemble::Ensemble;
use common_weakness::objective::Objective;
use common_weakness::observe::Silent;

use crate::Result;

/// Images with their labels and their indices in the whole set.
#[derive(Clone, Debug)]
pub struct IndexedBatch {
    /// `[N, C, H, W]` images in `[0, 1]`.
    pub images: Tensor<4>,
    /// True classes, one per image.
    pub labels: Vec<usize>,
    /// Each image's index in the whole set.
    pub indices: Vec<usize>,
}

impl IndexedBatch {
    /// `images` and `labels` split into `parts` consecutive batches of nearly equal size (as
    /// many as there are images at most), with `indices` (the images' indices in the set).
    pub fn split(images: Tensor<4>, labels: &[usize], indices: &[usize], parts: usize) -> Vec<Self> {
        let n = labels.len();
        let parts = parts.clamp(1, n.max(1));
        (0..parts)
            .map(|k| (k * n / parts, (k + 1) * n / parts))
            .filter(|(start, end)| end > start)
            .map(|(start, end)| IndexedBatch {
                images: images.clone().narrow(0, start, end - start),
                labels: labels[start..end].to_vec(),
                indices: indices[start..end].to_vec(),
            })
            .collect()
    }
}

/// The adversarial examples of every batch for the objective `objective(batch)` (e.g.
/// [`untargeted`]), attacked by `threads` threads taking batches in turn; in batch order.
pub fn attack_batches(
    attack: &dyn Attack,
    ensemble: &Ensemble,
    batches: &[IndexedBatch],
    threads: usize,
    objective: &(dyn Fn(&IndexedBatch) -> Objective + Sync),
) -> Result<Vec<Tensor<4>>> {
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, Tensor<4>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads.max(1))
            .map(|_| {
                scope.spawn(|| -> Result<Vec<(usize, Tensor<4>)>> {
                    let mut mine = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(batch) = batches.get(index) else { return Ok(mine) };
                        let outcome = attack.run_indexed(
                            ensemble,
                            batch.images.clone(),
                            &objective(batch),
                            &batch.indices,
                            &mut Silent,
                        )?;
                        mine.push((index, outcome.adversarial));
                    }
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("an attack thread panicked")).collect::<Result<Vec<_>>>()
    })?
    .into_iter()
    .flatten()
    .collect();
    done.sort_by_key(|(index, _)| *index);
    Ok(done.into_iter().map(|(_, x)| x).collect())
}

/// The untargeted cross-entropy objective of a batch: away from its true labels.
pub fn untargeted(batch: &IndexedBatch) -> Objective {
    Objective::untargeted(batch.labels.clone())
}

/// Prepares `backend` for `threads` threads each running attacks of their own: LibTorch then
/// splits each operation over its share of the cores (one each, on a machine with as many
/// cores as threads) instead of over all of them. Its operations on these batches are too
/// short to split well, and every thread splitting over every core oversubscribes them. On
/// 2 cores and 2 threads, 20 images of the transfer table's MI-FGSM, MI-CWA and VMI-FGSM took
/// 23 s on `tch` without this and 18–21 s with it (44 s on `flex`).
/// The other backends need nothing.
#[cfg_attr(not(feature = "tch"), allow(unused_variables))]
pub fn share_cores(backend: BackendKind, threads: usize) {
    #[cfg(feature = "tch")]
    if backend == BackendKind::Tch && threads > 1 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        tch::set_num_threads((cores / threads).max(1) as i32);
    }
}

//! A fixed set of generated scenes held in memory, served as tensors for training, attacks
//! and evaluation.

use burn::tensor::{Device, Tensor, TensorData};
use common_weakness::universal::Batch;

use crate::boxes::{Detection, GroundTruth};
use crate::error::{invalid, Result};
use crate::metrics::mean_average_precision;
use crate::scene::{generate, Items, Scene, SceneConfig};

/// Scenes `first..first + count` of a seed, generated once (on every core) and kept.
///
/// ```
/// use common_weakness_detection::dataset::SceneSet;
/// use common_weakness_detection::scene::{Items, SceneConfig};
///
/// let items = Items::new(vec![vec![255u8; 28 * 28]], vec![4]).unwrap();
/// let set = SceneSet::generate(&SceneConfig::default(), &items, 3, 10, 5).unwrap();
/// let (images, truth) = set.batch(&[0, 4], &Default::default());
/// assert_eq!(images.dims(), [2, 3, 256, 256]);
/// assert_eq!(truth[1], set.scenes()[4].objects);
/// ```
#[derive(Clone, Debug)]
pub struct SceneSet {
    scenes: Vec<Scene>,
}

impl SceneSet {
    /// Generates scenes `first..first + count` of `seed` from `items`.
    pub fn generate(config: &SceneConfig, items: &Items, seed: u64, first: usize, count: usize) -> Result<Self> {
        if count == 0 {
            return Err(invalid("count", count, "a scene set needs at least one scene"));
        }
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).min(count);
        let chunk = count.div_ceil(workers);
        let parts: Vec<Result<Vec<Scene>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let range = first + w * chunk..first + ((w + 1) * chunk).min(count);
                    scope.spawn(move || range.map(|i| generate(config, items, seed, i)).collect())
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("scene generation does not panic")).collect()
        });
        let mut scenes = Vec::with_capacity(count);
        for part in parts {
            scenes.extend(part?);
        }
        Ok(Self { scenes })
    }

    /// The scenes, in index order.
    pub fn scenes(&self) -> &[Scene] {
        &self.scenes
    }

    /// How many scenes.
    pub fn len(&self) -> usize {
        self.scenes.len()
    }

    /// Whether the set is empty (never, once generated).
    pub fn is_empty(&self) -> bool {
        self.scenes.is_empty()
    }

    /// Every scene's objects, in index order.
    pub fn ground_truth(&self) -> Vec<Vec<GroundTruth>> {
        self.scenes.iter().map(|s| s.objects.clone()).collect()
    }

    /// The images `[n, 3, size, size]` of the scenes at `indices`, with their objects.
    /// Panics on an index out of range, like slice indexing.
    pub fn batch(&self, indices: &[usize], device: &Device) -> (Tensor<4>, Vec<Vec<GroundTruth>>) {
        let size = self.scenes[0].size;
        let mut pixels = Vec::with_capacity(indices.len() * 3 * size * size);
        let mut truth = Vec::with_capacity(indices.len());
        for &i in indices {
            pixels.extend_from_slice(&self.scenes[i].pixels);
            truth.push(self.scenes[i].objects.clone());
        }
        let images = Tensor::from_data(TensorData::new(pixels, [indices.len(), 3, size, size]), device);
        (images, truth)
    }

    /// The whole set as mini-batches of `batch_size` scenes in index order (the last may be
    /// smaller), each with its objects' boxes, for universal patches placed on objects
    /// ([`Placement::OnBoxes`](common_weakness::universal::Placement::OnBoxes)).
    pub fn batches(&self, batch_size: usize, device: &Device) -> Result<Vec<Batch>> {
        if batch_size == 0 {
            return Err(invalid("batch_size", batch_size, "must be at least 1"));
        }
        let indices: Vec<usize> = (0..self.len()).collect();
        Ok(indices
            .chunks(batch_size)
            .map(|chunk| {
                let (images, truth) = self.batch(chunk, device);
                let boxes = truth.iter().map(|objects| objects.iter().map(|o| o.bbox.region()).collect()).collect();
                Batch::with_boxes(images, boxes)
            })
            .collect())
    }

    /// The mAP at IoU 0.5 of the detections `detect` makes on the set's images, fed in
    /// batches of 25 scenes.
    pub fn mean_average_precision(
        &self,
        device: &Device,
        mut detect: impl FnMut(Tensor<4>) -> Result<Vec<Vec<Detection>>>,
    ) -> Result<f64> {
        let mut detections = Vec::with_capacity(self.len());
        for indices in (0..self.len()).collect::<Vec<_>>().chunks(25) {
            detections.extend(detect(self.batch(indices, device).0)?);
        }
        mean_average_precision(&self.ground_truth(), &detections, 0.5)
    }
}

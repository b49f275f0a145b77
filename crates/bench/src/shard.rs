//! Image sets split across processes or machines.
//!
//! Shard `k/N` of a run over `n` images attacks images `⌊(k−1)·n/N⌋ .. ⌊k·n/N⌋`, passing
//! their indices in the whole set to the attack
//! ([`Attack::run_indexed`](common_weakness::attack::Attack::run_indexed)) and to the
//! randomised defences ([`Target::predict_indexed`](crate::defense::Target::predict_indexed)),
//! so every image gets the adversarial example and the predictions it gets in a single run.
//! Each shard writes its counts to a [`ShardFile`]; [`merge`] adds them up. Runs of
//! different attacks over the same images go side by side with [`combine`], so one table
//! can grow by the attacks a later run adds.
//!
//! ```
//! use common_weakness_bench::shard::Shard;
//!
//! let shard: Shard = "2/3".parse().unwrap();
//! assert_eq!(shard.range(10), 3..6);
//! assert_eq!(Shard::WHOLE.range(10), 0..10);
//! assert!("0/3".parse::<Shard>().is_err() && "4/3".parse::<Shard>().is_err());
//! ```

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Shard `index` (1-based) of `count` equal parts of an image set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which part, from 1 to `count`.
    pub index: usize,
    /// How many parts.
    pub count: usize,
}

impl Shard {
    /// The whole set as one shard.
    pub const WHOLE: Shard = Shard { index: 1, count: 1 };

    /// The images of this shard in a set of `total`: consecutive, and the shards `1..=count`
    /// cover `0..total` once.
    pub fn range(&self, total: usize) -> Range<usize> {
        let bound = |k: usize| k * total / self.count;
        bound(self.index - 1)..bound(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `k/N` with `1 ≤ k ≤ N`.
    fn from_str(value: &str) -> Result<Self, String> {
        let invalid = || format!("invalid shard `{value}`: expected k/N with 1 <= k <= N, e.g. 2/4");
        let (index, count) = value.split_once('/').ok_or_else(invalid)?;
        let (index, count): (usize, usize) =
            (index.trim().parse().map_err(|_| invalid())?, count.trim().parse().map_err(|_| invalid())?);
        match (1..=count).contains(&index) {
            true => Ok(Shard { index, count }),
            false => Err(invalid()),
        }
    }
}

/// A result that adds up across shards: a count of successes, a time.
pub trait Mergeable {
    /// What identifies the result (the same in every shard), e.g. budget, attack and target.
    fn key(&self) -> String;
    /// Adds another shard's result for the same key.
    fn absorb(&mut self, other: Self);
}

/// A result that runs of different attacks over the same images can share.
pub trait Combinable: Mergeable {
    /// On how many images another run's result for the same key has another outcome, its
    /// time aside (0: the same result). The attacks are seeded, so with the same options, code
    /// and machine a result in two runs repeats exactly.
    fn differing_images(&self, other: &Self) -> usize;
}

/// What [`combine`] does with a result that two runs hold with different outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Differing {
    /// Refuse the runs with [`MergeError::Disagree`] (the default).
    #[default]
    Refuse,
    /// Keep the first run's result and list it in [`Combined::differing`]: for runs made on
    /// machines whose kernels round differently (LibTorch picks its kernels by CPU), where a
    /// result may differ on a few images.
    KeepFirst,
}

/// Runs side by side ([`combine`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Combined<T> {
    /// Every result of every run, once.
    pub file: ShardFile<T>,
    /// With [`Differing::KeepFirst`]: each result that a later run holds with another
    /// outcome, once per such run; the first run's is kept.
    pub differing: Vec<Difference>,
}

/// A result that a later run of [`combine`] holds with another outcome than the kept one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The later run: its position among the runs given, counting from 0.
    pub run: usize,
    /// The result's key ([`Mergeable::key`]).
    pub key: String,
    /// On how many images the two differ ([`Combinable::differing_images`]).
    pub images: usize,
}

/// What one shard of a benchmark run writes: which shard, of how many images, and its
/// results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardFile<T> {
    /// The shard.
    pub shard: Shard,
    /// Images in the whole set (not in the shard).
    pub images: usize,
    /// The shard's results, in the order they were produced.
    pub results: Vec<T>,
}

/// Why shard files cannot be merged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MergeError {
    /// No file was given.
    #[error("no shard files to merge")]
    Empty,
    /// The files do not split one set into the same number of shards, each once.
    #[error("the shards do not cover the set once: expected shards 1..={count} of {images} images, got {got}")]
    Coverage {
        /// Shards in the first file's split.
        count: usize,
        /// Images in the first file's set.
        images: usize,
        /// The shards found, as `k/N of n`.
        got: String,
    },
    /// A result of one shard has no counterpart in another.
    #[error(
        "shard {shard} has no result `{key}`, which shard 1 has (or the reverse): were they run with the same options?"
    )]
    Unmatched {
        /// The shard lacking it (or holding an extra one).
        shard: Shard,
        /// The result's key.
        key: String,
    },
    /// Runs to combine cover different images.
    #[error("the runs cover different images: {first} and {other}; combine runs of the same images and shard")]
    Images {
        /// The first run's shard and image count, as `k/N of n`.
        first: String,
        /// The differing run's, likewise.
        other: String,
    },
    /// A result in two runs differs.
    #[error(
        "result `{key}` differs between the runs: were they run with the same options, code and machine? \
         (runs from machines that round differently combine with the first run's result kept)"
    )]
    Disagree {
        /// The result's key.
        key: String,
    },
}

/// The results of a whole run from the files of all its shards (in any order): each result
/// absorbs its counterparts from the other shards, in the first shard's order.
pub fn merge<T: Mergeable>(mut files: Vec<ShardFile<T>>) -> Result<Vec<T>, MergeError> {
    files.sort_by_key(|f| f.shard.index);
    let first = files.first().ok_or(MergeError::Empty)?;
    let (count, images) = (first.shard.count, first.images);
    let covered = files.len() == count
        && files.iter().enumerate().all(|(i, f)| f.shard == Shard { index: i + 1, count } && f.images == images);
    if !covered {
        let got = files.iter().map(|f| format!("{} of {}", f.shard, f.images)).collect::<Vec<_>>().join(", ");
        return Err(MergeError::Coverage { count, images, got });
    }
    let mut files = files.into_iter();
    let mut merged = files.next().expect("checked above").results;
    for file in files {
        if file.results.len() != merged.len() {
            let key = merged.first().map(Mergeable::key).unwrap_or_default();
            return Err(MergeError::Unmatched { shard: file.shard, key });
        }
        for result in file.results {
            let key = result.key();
            match merged.iter_mut().find(|m| m.key() == key) {
                Some(m) => m.absorb(result),
                None => return Err(MergeError::Unmatched { shard: file.shard, key }),
            }
        }
    }
    Ok(merged)
}

/// Runs of different attacks over the same images (the same shard of the same set) side by
/// side: every result of every run, once, in the order the runs list them; the first run's
/// copy of a result in several runs is kept. A result that a later run holds with another
/// outcome ([`Combinable::differing_images`]) is refused or listed, as `differing` says.
pub fn combine<T: Combinable>(runs: Vec<ShardFile<T>>, differing: Differing) -> Result<Combined<T>, MergeError> {
    let mut runs = runs.into_iter();
    let mut file = runs.next().ok_or(MergeError::Empty)?;
    let mut listed = Vec::new();
    for (index, run) in runs.enumerate() {
        file.check_same_images(&run)?;
        for result in run.results {
            let Some(kept) = file.results.iter().find(|c| c.key() == result.key()) else {
                file.results.push(result);
                continue;
            };
            match (kept.differing_images(&result), differing) {
                (0, _) => {}
                (_, Differing::Refuse) => return Err(MergeError::Disagree { key: result.key() }),
                (images, Differing::KeepFirst) => listed.push(Difference { run: index + 1, key: result.key(), images }),
            }
        }
    }
    Ok(Combined { file, differing: listed })
}

/// The file a shard's results are written to in its output folder, and read from by
/// [`merge_folders`].
pub const RESULTS_FILE: &str = "results.json";

impl<T> ShardFile<T> {
    /// Whether `other` covers the same images (the same shard of a set of the same size), as
    /// [`combine`] and a paired comparison of two runs need.
    pub fn check_same_images<U>(&self, other: &ShardFile<U>) -> Result<(), MergeError> {
        match (self.shard, self.images) == (other.shard, other.images) {
            true => Ok(()),
            false => Err(MergeError::Images {
                first: format!("{} of {}", self.shard, self.images),
                other: format!("{} of {}", other.shard, other.images),
            }),
        }
    }
}

impl<T: DeserializeOwned> ShardFile<T> {
    /// The [`RESULTS_FILE`] in `folder` ([`ShardFile::save`] writes it), an error naming the
    /// file if it is missing or malformed.
    pub fn load(folder: &Path) -> crate::Result<Self> {
        let path = folder.join(RESULTS_FILE);
        let problem = |p: String| crate::Error::ResultsFile { path: path.clone(), problem: p };
        let text = std::fs::read_to_string(&path).map_err(|e| problem(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| problem(e.to_string()))
    }
}

impl<T: Serialize> ShardFile<T> {
    /// Writes this file as [`RESULTS_FILE`] in `folder` (created if needed), for
    /// [`merge_folders`].
    pub fn save(&self, folder: &Path) -> crate::Result<()> {
        std::fs::create_dir_all(folder)?;
        std::fs::write(folder.join(RESULTS_FILE), serde_json::to_string_pretty(self)?)?;
        Ok(())
    }
}

/// `--merge` of the benchmark programs: the whole run from its shards' output folders, each
/// holding the [`RESULTS_FILE`] a shard writes ([`ShardFile::save`]).
pub fn merge_folders<T: Mergeable + DeserializeOwned>(folders: &[PathBuf]) -> crate::Result<ShardFile<T>> {
    let files = folders.iter().map(|f| ShardFile::load(f)).collect::<crate::Result<Vec<ShardFile<T>>>>()?;
    let images = files.first().map_or(0, |f| f.images);
    Ok(ShardFile { shard: Shard::WHOLE, images, results: merge(files)? })
}

/// `--combine` of the benchmark programs: the output folders of runs of different attacks
/// over the same images, as one ([`combine`]).
pub fn combine_folders<T: Combinable + DeserializeOwned>(
    folders: &[PathBuf],
    differing: Differing,
) -> crate::Result<Combined<T>> {
    Ok(combine(folders.iter().map(|f| ShardFile::load(f)).collect::<crate::Result<Vec<_>>>()?, differing)?)
}

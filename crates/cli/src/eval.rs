//! `common-weakness eval`: how many images fool each of a set of models.

use std::path::PathBuf;

use common_weakness::backend::BackendKind;
use common_weakness_bench::images;
use serde::Serialize;

use crate::error::{argument, file, Result};
use crate::files::collect;
use crate::models::{self, ModelSpec};
use crate::report::Report;
use crate::score::{fooled, Success, HEADER};

/// Scores image files on models: the share of images each model misclassifies (or classifies
/// as their target), with 95% Wilson intervals.
#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Image files or folders of them; without any, the PNG files the reports name.
    pub images: Vec<PathBuf>,
    /// The models to score on, comma-separated (as `attack --models`).
    #[arg(long, short)]
    pub models: String,
    /// Reports written by `attack` (comma-separated or repeated, e.g. one per shard): each
    /// image's label or target.
    #[arg(long, short, value_delimiter = ',')]
    pub report: Vec<PathBuf>,
    /// A CSV of `file,label` lines instead of reports.
    #[arg(long, conflicts_with = "report")]
    pub labels: Option<PathBuf>,
    /// Makes the classes of --labels targets.
    #[arg(long, requires = "labels")]
    pub targeted: bool,
    /// The backend: flex, ndarray, tch, tch-cuda, wgpu or cuda (those of this build).
    #[arg(long, default_value_t = BackendKind::default().name().to_string())]
    pub backend: String,
    /// Images scored together.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Also write the table as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// What `eval --json` writes.
#[derive(Serialize)]
struct Evaluation<'a> {
    targeted: bool,
    images: Vec<String>,
    success: &'a [Success],
}

/// Runs `eval`.
pub fn run(args: &EvalArgs) -> Result<Vec<Success>> {
    common_weakness::check::at_least_one("batch", args.batch).map_err(|e| argument("batch", e.to_string()))?;
    let (files, labels, targeted) = images_and_labels(args)?;
    let (_, device) = crate::attack::device(&args.backend)?;
    let specs = ModelSpec::parse_list(&args.models)?;
    let (ensemble, input) = models::ensemble(&specs, &device)?;
    let mut per_model = vec![Vec::with_capacity(files.len()); ensemble.len()];
    for (chunk, chunk_labels) in files.chunks(args.batch).zip(labels.chunks(args.batch)) {
        let batch = images::load_as(chunk, input, &device)?;
        for (all, part) in per_model.iter_mut().zip(fooled(&ensemble, &batch, chunk_labels, targeted)?) {
            all.extend(part);
        }
    }
    let success =
        ensemble.names().iter().zip(&per_model).map(|(m, f)| Success::tally(m, f)).collect::<Result<Vec<_>>>()?;
    let goal = if targeted { "classified as their target" } else { "misclassified" };
    println!("{} image(s), the share {goal}:", files.len());
    println!("{HEADER}");
    for s in &success {
        println!("{}", s.line());
    }
    if let Some(path) = &args.json {
        let images = files.iter().map(|f| f.display().to_string()).collect();
        let json = serde_json::to_string_pretty(&Evaluation { targeted, images, success: &success }).expect("JSON");
        std::fs::write(path, json + "\n").map_err(|e| file(path, e))?;
    }
    Ok(success)
}

/// The files to score, their labels, and whether the labels are targets.
fn images_and_labels(args: &EvalArgs) -> Result<(Vec<PathBuf>, Vec<usize>, bool)> {
    if let Some(path) = &args.labels {
        if args.images.is_empty() {
            return Err(argument("labels", "name the images to score"));
        }
        let files = collect(&args.images)?;
        let labels = crate::labels::read(path, &files, "labels")?;
        return Ok((files, labels, args.targeted));
    }
    if args.report.is_empty() {
        return Err(argument("report", "give the reports of `attack` (or --labels) for the images' labels"));
    }
    let mut known = Vec::new();
    let mut targeted = None;
    for path in &args.report {
        let report = Report::read(path)?;
        if targeted.is_some_and(|t| t != report.targeted) {
            return Err(argument("report", "the reports mix targeted and untargeted runs"));
        }
        targeted = Some(report.targeted);
        let folder = path.parent().map(PathBuf::from).unwrap_or_default();
        known.extend(report.images.into_iter().map(|i| (folder.join(&i.output), i.label)));
    }
    let targeted = targeted.unwrap_or(false);
    if args.images.is_empty() {
        let (files, labels) = known.into_iter().unzip();
        return Ok((files, labels, targeted));
    }
    let files = collect(&args.images)?;
    let labels = files
        .iter()
        .map(|f| {
            known
                .iter()
                .find(|(k, _)| k.file_name() == f.file_name())
                .map(|(_, l)| *l)
                .ok_or_else(|| argument("report", format!("no report names {}", f.display())))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((files, labels, targeted))
}

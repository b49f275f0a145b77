//! `common-weakness attack`: adversarial examples for a set of image files.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use burn::tensor::{Tensor, TensorData};
use common_weakness::attack::{catalogue_at, registry_at, AttackSpec, Checkpoints, Executor};
use common_weakness::backend::BackendKind;
use common_weakness::ensemble::Ensemble;
use common_weakness::eval::predictions;
use common_weakness::objective::Objective;
use common_weakness::observe::StopReason;
use common_weakness::threat::ThreatModel;
use common_weakness::universal::Batch;
use common_weakness_bench::images;
use common_weakness_bench::shard::Shard;

use crate::error::{argument, file, Result};
use crate::files::{collect, output_names, quantize_within};
use crate::models::{self, ModelSpec};
use crate::progress::Bar;
use crate::report::{BatchRecord, ImageResult, Report};
use crate::score::{fooled, Success, HEADER};

/// Attacks image files with an ensemble and writes the adversarial examples as PNG files, with
/// a report of each image's success on every surrogate.
#[derive(Debug, clap::Args)]
pub struct AttackArgs {
    /// Image files or folders of them (PNG, JPEG), resized to the models' input.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    /// The surrogates, comma-separated: zoo or EfficientNet-Lite names, ONNX models compiled
    /// in, TorchScript files (`common-weakness list` names them).
    #[arg(long, short)]
    pub models: String,
    /// The attack, by name (`common-weakness list`), with its defaults at --budget.
    #[arg(long, short, default_value = "MI-CWA", conflicts_with = "spec")]
    pub attack: String,
    /// An attack spec as JSON (what `list --json` prints, or a report's `spec`), instead of
    /// --attack, --budget and --norm.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// The perturbation budget, in [0, 1] pixel units: a number or a fraction such as 16/255.
    #[arg(long, short, default_value = "16/255", conflicts_with = "spec")]
    pub budget: String,
    /// The norm of the budget: linf or l2.
    #[arg(long, default_value = "linf", value_parser = ["linf", "l2"], conflicts_with = "spec")]
    pub norm: String,
    /// Iterations, instead of the attack's default.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// The seed of the attack's random draws (each image's are keyed by its index too).
    #[arg(long)]
    pub seed: Option<u64>,
    /// A CSV of `file,label` lines: each image's true class (or target, with --targeted).
    /// Without it, each image's label is the class the surrogates predict (their mean logits).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Makes the classes of --labels targets: an image succeeds when it is classified as its
    /// target.
    #[arg(long, requires = "labels")]
    pub targeted: bool,
    /// One target class for every image (a targeted attack).
    #[arg(long, conflicts_with_all = ["labels", "targeted"])]
    pub target: Option<usize>,
    /// The backend: flex, ndarray, tch, tch-cuda, wgpu or cuda (those of this build).
    #[arg(long, default_value_t = BackendKind::default().name().to_string())]
    pub backend: String,
    /// Images attacked together (the results do not depend on it).
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// This process's part k/N of the image files: shards of one command give each image the
    /// example a single run gives it.
    #[arg(long, default_value = "1/1")]
    pub shard: String,
    /// The folder of the adversarial PNG files and the report.
    #[arg(long, short)]
    pub out: PathBuf,
    /// Save a checkpoint every this many batches; the same command resumes from it.
    #[arg(long, default_value_t = 1)]
    pub checkpoint_every: usize,
    /// Stop after this many minutes (checkpointed; the same command resumes).
    #[arg(long)]
    pub time_limit: Option<f64>,
    /// Attack again even if --out holds this shard's finished report.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// How a run ended.
pub enum Ended {
    /// The report is written.
    Finished,
    /// Stopped by --time-limit; the checkpoint holds the progress.
    Paused,
}

/// A number or a fraction `a/b`, named `flag` in errors.
pub fn parse_number(text: &str, flag: &'static str) -> Result<f64> {
    let invalid = || argument(flag, format!("`{text}` is not a number or a fraction such as 16/255"));
    let value = match text.split_once('/') {
        Some((a, b)) => {
            let (a, b): (f64, f64) =
                (a.trim().parse().map_err(|_| invalid())?, b.trim().parse().map_err(|_| invalid())?);
            a / b
        }
        None => text.trim().parse().map_err(|_| invalid())?,
    };
    if !value.is_finite() {
        return Err(invalid());
    }
    Ok(value)
}

/// The threat model of `--budget` and `--norm` (`linf` or `l2`), checked.
pub fn threat(budget: &str, norm: &str) -> Result<ThreatModel> {
    let budget = parse_number(budget, "budget")?;
    let threat = if norm == "l2" { ThreatModel::l2(budget) } else { ThreatModel::linf(budget) };
    threat.validate().map_err(|e| argument("budget", e.to_string()))?;
    Ok(threat)
}

/// The backend of `--backend` and its autodiff device.
pub fn device(backend: &str) -> Result<(BackendKind, burn::tensor::Device)> {
    let kind: BackendKind = backend.parse().map_err(|e: common_weakness::Error| argument("backend", e.to_string()))?;
    let device = kind.device().map_err(|e| argument("backend", e.to_string()))?;
    Ok((kind, device))
}

/// The attack's spec: from --spec, or the registry entry of --attack at --budget and --norm,
/// with --iterations and --seed applied.
pub fn spec(args: &AttackArgs) -> Result<serde_json::Value> {
    let mut value = match &args.spec {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| file(path, e))?;
            serde_json::from_str(&text).map_err(|e| file(path, format!("not a JSON attack spec: {e}")))?
        }
        None => {
            let threat = threat(&args.budget, &args.norm)?;
            let name = args.attack.trim();
            let entry = registry_at(threat).into_iter().chain(catalogue_at(threat)).find(|e| {
                e.name.eq_ignore_ascii_case(name)
                    || serde_json::to_value(&e.defaults).ok().and_then(|v| v["attack"].as_str().map(|t| t == name))
                        == Some(true)
            });
            let entry = entry.ok_or_else(|| {
                argument("attack", format!("unknown attack `{name}`: `common-weakness list` names them"))
            })?;
            serde_json::to_value(&entry.defaults).expect("a spec is JSON")
        }
    };
    for (flag, key, given) in [
        ("iterations", "iterations", args.iterations.map(serde_json::Value::from)),
        ("seed", "seed", args.seed.map(serde_json::Value::from)),
    ] {
        if let Some(given) = given {
            let fields = value.as_object_mut().ok_or_else(|| argument("spec", "an attack spec is a JSON object"))?;
            if !fields.contains_key(key) {
                let attack = fields["attack"].as_str().unwrap_or("?");
                return Err(argument(flag, format!("the attack `{attack}` has no {key}")));
            }
            fields.insert(key.to_string(), given);
        }
    }
    let parsed: AttackSpec = serde_json::from_value(value.clone()).map_err(|e| match &args.spec {
        Some(path) => file(path, format!("not an attack spec: {e}")),
        None => argument("attack", e.to_string()),
    })?;
    // The spec with every default written out: what the report records.
    Ok(serde_json::to_value(parsed).expect("a spec is JSON"))
}

/// Runs `attack`.
pub fn run(args: &AttackArgs, command: Vec<String>) -> Result<Ended> {
    let started = Instant::now();
    let spec_json = spec(args)?;
    let spec: AttackSpec = serde_json::from_value(spec_json.clone()).expect("checked by spec()");
    let shard: Shard = args.shard.parse().map_err(|e: String| argument("shard", e))?;
    common_weakness::check::at_least_one("batch", args.batch).map_err(|e| argument("batch", e.to_string()))?;
    common_weakness::check::at_least_one("checkpoint-every", args.checkpoint_every)
        .map_err(|e| argument("checkpoint-every", e.to_string()))?;
    let time_limit = match args.time_limit {
        Some(m) if !(m > 0.0 && m.is_finite()) => {
            return Err(argument("time-limit", format!("{m} is not a positive number of minutes")))
        }
        m => m.map(|m| Duration::from_secs_f64(m * 60.0)),
    };
    let (backend, device) = device(&args.backend)?;

    let all_files = collect(&args.images)?;
    let names = output_names(&all_files)?;
    let range = shard.range(all_files.len());
    if range.is_empty() {
        return Err(argument("shard", format!("shard {shard} of {} images is empty", all_files.len())));
    }
    let (files, names) = (&all_files[range.clone()], &names[range.clone()]);
    let suffix = if shard == Shard::WHOLE { String::new() } else { format!("-{}-of-{}", shard.index, shard.count) };
    let report_path = args.out.join(format!("report{suffix}.json"));
    let checkpoint = args.out.join(format!("checkpoint{suffix}.json"));
    if report_path.exists() && !args.overwrite {
        return Err(argument(
            "out",
            format!(
                "{} holds a finished run ({}): pass --overwrite to attack again",
                args.out.display(),
                report_path.display()
            ),
        ));
    }
    if args.overwrite {
        let _ = std::fs::remove_file(&checkpoint);
    }
    std::fs::create_dir_all(&args.out).map_err(|e| file(&args.out, e))?;

    let specs = ModelSpec::parse_list(&args.models)?;
    let (ensemble, input) = models::ensemble(&specs, &device)?;
    // The clean images as 8-bit files hold them at the models' size: what the examples are
    // measured from.
    let clean = images::quantize(images::load_as(files, input, &device)?);
    let (labels, label_source) = labels(args, files, &ensemble, &clean)?;
    let targeted = args.target.is_some() || args.targeted;
    let objective = move |b: &Batch| {
        let labels = b.labels.clone().expect("labelled batches");
        if targeted {
            Objective::targeted(labels)
        } else {
            Objective::untargeted(labels)
        }
    };
    let batches: Vec<Batch> = (0..files.len())
        .step_by(args.batch)
        .map(|start| {
            let end = (start + args.batch).min(files.len());
            Batch::labelled(clean.clone().narrow(0, start, end - start), labels[start..end].to_vec())
        })
        .collect();

    let iterations = spec_json.get("iterations").and_then(|v| v.as_u64()).unwrap_or(1) as usize;
    let mut bar = Bar::new(batches.len(), iterations, range.start, args.batch, args.quiet);
    let mut executor = Executor::observed(&mut bar)
        .with_first_index(range.start)
        .with_checkpoints(Checkpoints { path: checkpoint.clone(), every: args.checkpoint_every });
    if let Some(limit) = time_limit {
        executor = executor.with_time_limit(limit);
    }
    let attack = spec.build();
    let outcome = attack.run_dataset(executor, &ensemble, &batches, &objective)?;
    bar.finish();
    if let StopReason::TimeLimit { .. } = outcome.stop {
        eprintln!(
            "stopped by --time-limit after {} of {} batches; run the same command again to resume from {}",
            outcome.batches.len().saturating_sub(1),
            batches.len(),
            checkpoint.display()
        );
        return Ok(Ended::Paused);
    }

    // The examples as the PNG files will hold them, within the budget.
    let threat = serde_json::from_value(spec_json["threat"].clone()).expect("every spec has a threat");
    let [c, h, w] = input;
    let per_image = c * h * w;
    let clean_values = values(clean.clone());
    let saved = quantize_within(&clean_values, &values(outcome.adversarial()), threat, per_image);
    let adversarial = Tensor::<4>::from_data(TensorData::new(saved.clone(), [files.len(), c, h, w]), &device);
    for (i, name) in names.iter().enumerate() {
        images::save_png(&adversarial, i, args.out.join(name))?;
    }
    let fooled = fooled(&ensemble, &adversarial, &labels, targeted)?;
    let model_names: Vec<String> = ensemble.names().into_iter().map(String::from).collect();
    let results = (0..files.len())
        .map(|i| {
            let delta: Vec<f64> = saved[i * per_image..(i + 1) * per_image]
                .iter()
                .zip(&clean_values[i * per_image..(i + 1) * per_image])
                .map(|(a, x)| f64::from(a - x))
                .collect();
            ImageResult {
                source: files[i].display().to_string(),
                output: names[i].clone(),
                index: range.start + i,
                label: labels[i],
                label_source: label_source.to_string(),
                fooled: fooled.iter().map(|per_model| per_model[i]).collect(),
                linf: delta.iter().fold(0.0, |m, d| m.max(d.abs())),
                l2: delta.iter().map(|d| d * d).sum::<f64>().sqrt(),
            }
        })
        .collect();
    let success = model_names.iter().zip(&fooled).map(|(m, f)| Success::tally(m, f)).collect::<Result<Vec<_>>>()?;
    let report = Report {
        program: format!("common-weakness {}", env!("CARGO_PKG_VERSION")),
        command,
        attack: attack.name().to_string(),
        spec: spec_json,
        backend: backend.name().to_string(),
        models: model_names,
        input,
        targeted,
        shard: shard.to_string(),
        seconds: started.elapsed().as_secs_f64(),
        success,
        images: results,
        runs: outcome.batches.iter().map(BatchRecord::of).collect(),
    };
    report.write(&report_path)?;
    let _ = std::fs::remove_file(&checkpoint);
    println!(
        "{} on {} image(s), {:.1} s; success on the surrogates (after 8-bit rounding):",
        report.attack,
        files.len(),
        report.seconds
    );
    println!("{HEADER}");
    for s in &report.success {
        println!("{}", s.line());
    }
    println!(
        "wrote {} PNG file(s) and {} to {}",
        files.len(),
        report_path.file_name().unwrap().to_string_lossy(),
        args.out.display()
    );
    Ok(Ended::Finished)
}

/// Each image's label and where it came from: --target, --labels, or the surrogates' mean
/// prediction on the clean image.
fn labels(
    args: &AttackArgs,
    files: &[PathBuf],
    ensemble: &Ensemble,
    clean: &Tensor<4>,
) -> Result<(Vec<usize>, &'static str)> {
    if let Some(target) = args.target {
        return Ok((vec![target; files.len()], "target"));
    }
    if let Some(path) = &args.labels {
        let source = if args.targeted { "target" } else { "labels file" };
        return Ok((crate::labels::read(path, files, "labels")?, source));
    }
    let outputs: Vec<Tensor<2>> = (0..ensemble.len()).map(|m| ensemble.forward(m, clean.clone()).detach()).collect();
    let widths: Vec<usize> = outputs.iter().map(|o| o.dims()[1]).collect();
    if widths.iter().any(|&k| k != widths[0]) {
        return Err(argument(
            "labels",
            format!("the models output different numbers of classes ({widths:?}): give the labels as a file"),
        ));
    }
    let mean = outputs.into_iter().reduce(|a, b| a + b).expect("at least one model").div_scalar(ensemble.len() as f64);
    Ok((predictions(mean)?, "predicted"))
}

fn values(x: Tensor<4>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_to_vec::<f32>().expect("f32 pixels")
}

//! Transfer attacks on real pretrained ImageNet models and real photos.
//!
//! Surrogates EfficientNet-Lite0 + Lite1, target Lite2 (then every other leave-one-out split
//! with `--splits all`), untargeted, L∞ budget 16/255 (`--budget`), 10 iterations, on the 20 labelled
//! photos of foolbox 3.3.4 at 224 × 224. For every attack it prints white-box success on each
//! surrogate, transfer success on the held-out model (over all photos and over the photos the
//! target gets right when clean), the same after the adversarial images are saved as 8-bit PNG
//! and read back, and the time per iteration. It writes the adversarial PNGs, a contact sheet
//! per attack (original | perturbation × 10 | adversarial) and `results.json` / `results.csv`
//! to the output folder, and `tables.md`: every rate with its 95% Wilson interval, per split
//! and pooled over the splits, and each method's transfer against its base (MI-CWA for a
//! composition with CWA, MI-FGSM otherwise), paired by photo-split with McNemar's exact
//! test. The files are rewritten after every split, so a stopped run
//! keeps the splits it finished. `--backend tch` (built with `--features tch`) runs on
//! LibTorch, the fastest CPU backend on these models (`docs/performance.md`).
//!
//! ```text
//! scripts/fetch-imagenet-assets.sh       # once: 62 MB of wheels from PyPI
//! cargo run --release --example imagenet_transfer -- [--attacks all|NAME,NAME] [--splits main|others|all|lite0|lite1|lite2] [--ghost]
//!                                                     [--photos N] [--budget B] [--backend KIND] [--out FOLDER]
//! # The same run in two processes (or on two machines), then merged: the same counts.
//! cargo run --release --example imagenet_transfer -- --shard 1/2 --out shard-1
//! cargo run --release --example imagenet_transfer -- --shard 2/2 --out shard-2
//! cargo run --release --example imagenet_transfer -- --merge shard-1,shard-2 --out merged
//! ```
//!
//! The default attacks are MI-FGSM, MI-CWA and Adam-CWA; `--attacks all` runs every attack of
//! `attack::registry()`; any name of the registry or `attack::catalogue()` (as
//! `examples/list_attacks.rs` prints them, case-insensitive) runs one, e.g. `--attacks PGN-CWA,AdaEA`.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use common_weakness::attack::{catalogue, catalogue_at, registry, registry_at, AttackSpec, RapConfig, RegistryEntry};
use common_weakness::backend::BackendKind;
use common_weakness::eval::{predictions, success_rate, SuccessRate};
use common_weakness::prelude::*;
use common_weakness::surrogate::Surrogate;
use common_weakness_bench::images;
use common_weakness_bench::shard::{merge_folders, Mergeable, Shard, ShardFile};
use common_weakness_bench::splits::LiteSplits;
use common_weakness_bench::statistics::{mcnemar, wilson_interval};
use common_weakness_bench::Result;
use common_weakness_models::ghost::Ghost;
use common_weakness_models::ImagenetAssets;
use common_weakness_models::{EfficientNetLite, EfficientNetLiteSurrogate, LiteVariant};

/// Transfer attacks on pretrained EfficientNet-Lite models and real photos.
#[derive(clap::Parser, Debug)]
struct Options {
    /// The attacks: `all` (the registry: the paper's table) or a comma-separated list of names
    /// from the registry or the catalogue (case-insensitive).
    #[arg(long, default_value = "MI-FGSM,MI-CWA,Adam-CWA", value_parser = parse_attacks)]
    attacks: Attacks,
    /// The leave-one-out splits: `main` holds Lite2 out, `others` Lite1 then Lite0, `all` all
    /// three, `lite0`/`lite1`/`lite2` that model alone.
    #[arg(long, default_value_t = LiteSplits::Main)]
    splits: LiteSplits,
    /// How many of the 20 photos to attack.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(1..=20))]
    photos: u16,
    /// The L∞ budget in 1/255 steps. Below the default 16 the transfer rates leave the
    /// ceiling these three related models reach at 16/255, so that methods can differ; the
    /// split names then carry the budget.
    #[arg(long, default_value_t = DEFAULT_BUDGET, value_parser = clap::value_parser!(u16).range(1..=255))]
    budget: u16,
    /// The backend: `flex` (default), `ndarray`, `tch` (LibTorch, built with `--features tch`
    /// after `scripts/setup-libtorch.sh`; the fastest on a CPU), `tch-cuda`, `wgpu`, `cuda`.
    #[arg(long, default_value_t = BackendKind::default())]
    backend: BackendKind,
    /// The output folder.
    #[arg(long, default_value = "imagenet-transfer")]
    out: PathBuf,
    /// Attack ghost networks of the surrogates (Ghost, Li et al., AAAI 2020): their skip
    /// connections scaled by up to ±16%, drawn anew every iteration from the seed. The
    /// held-out model and every score use the networks as trained.
    #[arg(long)]
    ghost: bool,
    /// Attack only shard k of N equal parts of the photos (e.g. `2/4`); merge the shards'
    /// output folders with `--merge`.
    #[arg(long, default_value = "1/1")]
    shard: Shard,
    /// Merge the output folders of the shards of one run (comma-separated) into `--out`,
    /// instead of attacking.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["attacks", "splits", "photos", "budget", "shard"])]
    merge: Vec<PathBuf>,
}

/// The L∞ budget of the registry's defaults, in 1/255 steps.
const DEFAULT_BUDGET: u16 = 16;

/// The attacks of `--attacks`: their names as the registry or the catalogue spells them.
#[derive(Clone, Debug)]
struct Attacks(Vec<String>);

fn parse_attacks(value: &str) -> std::result::Result<Attacks, String> {
    let every = || registry().into_iter().chain(catalogue()).map(|e| e.name.to_string());
    let names: Vec<String> = match value {
        "all" => registry().iter().map(|e| e.name.to_string()).collect(),
        list => list.split(',').map(|s| s.trim().to_string()).collect(),
    };
    let known = || every().collect::<Vec<_>>().join(", ");
    let spelled = |name: &String| {
        every()
            .find(|e| e.eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("unknown attack `{name}`; known: {}", known()))
    };
    Ok(Attacks(names.iter().map(spelled).collect::<std::result::Result<_, _>>()?))
}

impl Attacks {
    /// Their specs at the registry's and the catalogue's defaults under the L∞ budget
    /// `budget` (step sizes derived from it follow it; 10 iterations, RAP too rather than its
    /// paper's 400), with their names.
    fn at(&self, budget: f64) -> Vec<(String, AttackSpec)> {
        let threat = ThreatModel::linf(budget);
        let entries: Vec<_> = registry_at(threat).into_iter().chain(catalogue_at(threat)).collect();
        let spec = |entry: &RegistryEntry| match entry.defaults.clone() {
            AttackSpec::Rap(config) => AttackSpec::Rap(RapConfig { iterations: 10, ..config }),
            spec => spec,
        };
        // Every name was taken from these lists when parsed.
        self.0
            .iter()
            .filter_map(|name| entries.iter().find(|e| e.name == name.as_str()))
            .map(|e| (e.name.to_string(), spec(e)))
            .collect()
    }
}

fn slug(name: &str) -> String {
    name.to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect()
}

/// One model's result on one attack's images.
#[derive(serde::Serialize, serde::Deserialize)]
struct Row {
    split: String,
    attack: String,
    model: String,
    role: String,
    success: SuccessRate,
    success_after_png: SuccessRate,
    seconds_per_iteration: f64,
    /// Per photo, in the order of the photos: whether the model misclassifies the adversarial
    /// image (`success` over all photos, one photo at a time, for the paired tests). Empty in
    /// files written before it was recorded.
    #[serde(default)]
    fooled: Vec<bool>,
}

/// The rows of the shards add up: success counts, and the seconds per iteration (summed: the
/// time one process would take for all the photos).
impl Mergeable for Row {
    fn key(&self) -> String {
        format!("{} {} {}", self.split, self.attack, self.model)
    }

    fn absorb(&mut self, other: Self) {
        self.success = self.success + other.success;
        self.success_after_png = self.success_after_png + other.success_after_png;
        self.seconds_per_iteration += other.seconds_per_iteration;
        self.fooled.extend(other.fooled);
    }
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    if !options.merge.is_empty() {
        let merged = merge_folders::<Row>(&options.merge)?;
        write_results(&options.out, &merged)?;
        for row in merged.results.iter().filter(|r| r.role == "target") {
            let rate = &row.success;
            println!("{}  {:<12} transfer {}/{} photos", row.split, row.attack, rate.successes, rate.images);
        }
        println!("merged {} shards into {}", options.merge.len(), options.out.display());
        return Ok(());
    }
    let backend = options.backend;
    run(options, backend.device()?)
}

/// Every attack on every chosen split, on one backend.
fn run(options: Options, device: Device) -> Result<()> {
    let attacks = options.attacks.at(f64::from(options.budget) / 255.0);
    let budget_label = match options.budget {
        DEFAULT_BUDGET => String::new(),
        budget => format!(", L∞ {budget}/255"),
    };
    let assets = ImagenetAssets::locate()?;
    let mut every_photo = assets.photos()?;
    let all_photos = every_photo.len().min(options.photos.into());
    let range = options.shard.range(all_photos);
    if range.is_empty() {
        eprintln!("shard {} of {all_photos} photos holds no photo: use fewer shards", options.shard);
        std::process::exit(2);
    }
    let photos: Vec<_> = every_photo.drain(range.clone()).collect();
    let indices: Vec<usize> = range.collect();
    let labels: Vec<usize> = photos.iter().map(|p| p.label).collect();
    let paths: Vec<_> = photos.iter().map(|p| p.path.clone()).collect();
    let clean: Tensor<4> = images::load(&paths, 224, 224, &device)?;

    let networks: Vec<EfficientNetLite> = LiteVariant::ALL
        .into_iter()
        .map(|v| Ok(EfficientNetLite::load(v, assets.weights(v), &device)?))
        .collect::<Result<_>>()?;
    let models: Vec<EfficientNetLiteSurrogate> = networks.iter().map(|n| n.clone().into_surrogate()).collect();
    println!(
        "{} photos at 224 x 224 (shard {}), backend {}; clean top-1:",
        labels.len(),
        options.shard,
        options.backend
    );
    let clean_predictions: Vec<Vec<usize>> =
        models.iter().map(|m| predictions(m.forward(clean.clone()))).collect::<common_weakness::Result<_>>()?;
    for (model, predicted) in models.iter().zip(&clean_predictions) {
        let correct = predicted.iter().zip(&labels).filter(|(p, l)| p == l).count();
        println!("  {:<20} {correct}/{}", model.name(), labels.len());
    }

    let targets = options.splits.held_out();
    let objective = Objective::untargeted(labels.clone());
    let mut file = ShardFile { shard: options.shard, images: all_photos, results: Vec::new() };
    for &target in targets {
        let surrogates: Vec<usize> = (0..models.len()).filter(|&i| i != target).collect();
        let split = format!(
            "{}{} -> {}{budget_label}",
            surrogates.iter().map(|&i| models[i].name()).collect::<Vec<_>>().join(" + "),
            if options.ghost { " (ghosts)" } else { "" },
            models[target].name()
        );
        let members: Vec<Box<dyn Surrogate>> = surrogates
            .iter()
            .map(|&i| -> Result<Box<dyn Surrogate>> {
                Ok(match options.ghost {
                    true => {
                        let name = format!("{}-ghost", models[i].name());
                        Box::new(Ghost::new(name, networks[i].clone(), Ghost::<EfficientNetLite>::RANGE)?)
                    }
                    false => Box::new(models[i].clone()),
                })
            })
            .collect::<Result<_>>()?;
        let ensemble = Ensemble::new(members)?;
        println!(
            "\n{split}: untargeted, L∞ {}/255, 10 iterations; success rate % (all photos / clean-correct)",
            options.budget
        );
        println!(
            "{:<12} {:>13} {:>13} {:>15} {:>19} {:>8}",
            "attack", "white-box S1", "white-box S2", "transfer", "transfer after PNG", "s/iter"
        );
        for (name, spec) in &attacks {
            let attack = spec.build();
            let started = Instant::now();
            let outcome = attack.run_indexed(&ensemble, clean.clone(), &objective, &indices, &mut Silent)?;
            let seconds_per_iteration = started.elapsed().as_secs_f64() / outcome.records.len().max(1) as f64;
            let quantized = images::quantize(outcome.adversarial.clone());
            let mut cells = Vec::new();
            for (index, model) in models.iter().enumerate() {
                let predict = |x: &Tensor<4>| predictions(model.forward(x.clone()));
                let score = |predicted: &[usize]| {
                    success_rate(Goal::Untargeted, &labels, &labels, &clean_predictions[index], predicted)
                };
                let predicted = predict(&outcome.adversarial)?;
                let row = Row {
                    split: split.clone(),
                    attack: name.clone(),
                    model: model.name().to_string(),
                    role: if index == target { "target" } else { "surrogate" }.to_string(),
                    success: score(&predicted)?,
                    success_after_png: score(&predict(&quantized)?)?,
                    seconds_per_iteration,
                    fooled: predicted.iter().zip(&labels).map(|(p, l)| p != l).collect(),
                };
                cells.push(row);
            }
            let pct = |r: &SuccessRate| format!("{:.0}/{:.0}", 100.0 * r.over_all(), 100.0 * r.over_clean_correct());
            let white_box: Vec<String> = surrogates.iter().map(|&i| pct(&cells[i].success)).collect();
            println!(
                "{:<12} {:>13} {:>13} {:>15} {:>19} {:>8.2}",
                name,
                white_box[0],
                white_box[1],
                pct(&cells[target].success),
                pct(&cells[target].success_after_png),
                seconds_per_iteration
            );
            if target == targets[0] {
                let folder = options.out.join(slug(name));
                for (i, photo) in photos.iter().enumerate() {
                    let stem = photo.path.file_stem().and_then(|s| s.to_str()).unwrap_or("photo");
                    images::save_png(&outcome.adversarial, i, folder.join(format!("{stem}.png")))?;
                }
                images::contact_sheet(&clean, &outcome.adversarial, 10.0, folder.join("contact_sheet.png"))?;
            }
            file.results.extend(cells);
        }
        // After every split, so that a stopped run keeps the splits it finished.
        write_results(&options.out, &file)?;
    }
    println!("\nadversarial PNGs, contact sheets and results.json/csv in {}", options.out.display());
    Ok(())
}

/// Writes `results.json` (the rows with their shard) and `results.csv` to `out`.
fn write_results(out: &std::path::Path, file: &ShardFile<Row>) -> Result<()> {
    file.save(out)?;
    let mut csv = std::fs::File::create(out.join("results.csv"))?;
    writeln!(csv, "split,attack,model,role,success_all,success_clean_correct,success_all_after_png,success_clean_correct_after_png,seconds_per_iteration")?;
    for r in &file.results {
        writeln!(
            csv,
            "{},{},{},{},{:.4},{:.4},{:.4},{:.4},{:.3}",
            r.split,
            r.attack,
            r.model,
            r.role,
            r.success.over_all(),
            r.success.over_clean_correct(),
            r.success_after_png.over_all(),
            r.success_after_png.over_clean_correct(),
            r.seconds_per_iteration
        )?;
    }
    std::fs::write(out.join("tables.md"), markdown(&file.results)?)?;
    Ok(())
}

/// `rate% [low–high]`: the success rate over all photos with its 95% Wilson interval.
fn with_interval(rate: &SuccessRate) -> Result<String> {
    let [low, high] = wilson_interval(rate.successes, rate.images)?;
    Ok(format!("{:.0} [{:.0}–{:.0}]", 100.0 * rate.over_all(), 100.0 * low, 100.0 * high))
}

/// One table per split (white-box on each surrogate, transfer to the held-out model, before
/// and after 8-bit rounding) and one of transfer pooled over the splits, every rate with its
/// 95% Wilson interval.
fn markdown(rows: &[Row]) -> Result<String> {
    let mut splits: Vec<&str> = Vec::new();
    let mut attacks: Vec<&str> = Vec::new();
    for row in rows {
        if !splits.contains(&row.split.as_str()) {
            splits.push(&row.split);
        }
        if !attacks.contains(&row.attack.as_str()) {
            attacks.push(&row.attack);
        }
    }
    let mut out = String::new();
    for split in &splits {
        out += &format!(
            "\n### {split}: success rate % over all photos [95% Wilson interval]\n\n\
             | attack | white-box (first) | white-box (second) | transfer | transfer after PNG | s/iteration |\n\
             |---|---:|---:|---:|---:|---:|\n"
        );
        for attack in &attacks {
            let of: Vec<&Row> = rows.iter().filter(|r| r.split == *split && r.attack == *attack).collect();
            let Some(target) = of.iter().find(|r| r.role == "target") else { continue };
            out += &format!("| {attack} |");
            for surrogate in of.iter().filter(|r| r.role == "surrogate") {
                out += &format!(" {} |", with_interval(&surrogate.success)?);
            }
            out += &format!(
                " {} | {} | {:.2} |\n",
                with_interval(&target.success)?,
                with_interval(&target.success_after_png)?,
                target.seconds_per_iteration
            );
        }
    }
    if splits.len() > 1 {
        out += &format!(
            "\n### Transfer to the held-out model, pooled over the {} splits (photo-splits; the same photos \
             recur, so the interval is optimistic)\n\n| attack | transfer | after PNG |\n|---|---:|---:|\n",
            splits.len()
        );
        for attack in &attacks {
            let targets = rows.iter().filter(|r| r.attack == *attack && r.role == "target");
            let pooled: SuccessRate = targets.clone().map(|r| r.success).sum();
            let after: SuccessRate = targets.map(|r| r.success_after_png).sum();
            out += &format!("| {attack} | {} | {} |\n", with_interval(&pooled)?, with_interval(&after)?);
        }
    }
    out += &paired_with_bases(rows, &attacks)?;
    Ok(out)
}

/// Each attack's transfer against its base's (MI-CWA for a name ending in `-CWA`, MI-FGSM
/// otherwise), paired by photo-split over all splits with McNemar's exact test. Empty when
/// the run lacks the bases or the rows hold no per-photo outcomes.
fn paired_with_bases(rows: &[Row], attacks: &[&str]) -> Result<String> {
    // The held-out model's outcomes of one attack, split after split.
    let transfer = |attack: &str| -> Vec<bool> {
        rows.iter()
            .filter(|r| r.attack == attack && r.role == "target")
            .flat_map(|r| r.fooled.iter().copied())
            .collect()
    };
    let mut lines = String::new();
    for attack in attacks.iter().filter(|a| !["MI-FGSM", "MI-CWA"].contains(*a)) {
        let base = if attack.ends_with("-CWA") { "MI-CWA" } else { "MI-FGSM" };
        let (ours, theirs) = (transfer(attack), transfer(base));
        if ours.is_empty() || ours.len() != theirs.len() {
            continue;
        }
        let test = mcnemar(&ours, &theirs)?;
        // The concordant photo-splits cancel: the difference of the rates is the discordant ones'.
        let difference = 100.0 * (test.only_first as f64 - test.only_second as f64) / ours.len() as f64;
        lines += &format!(
            "| {attack} | {base} | {difference:+.1}{} | {}/{} | {:.3} |\n",
            if test.p_value < 0.05 { "*" } else { "" },
            test.only_first,
            test.only_second,
            test.p_value
        );
    }
    if lines.is_empty() {
        return Ok(String::new());
    }
    Ok(format!(
        "\n### Transfer against the base, paired by photo-split over every split\n\n\
         Δ: the attack minus its base (MI-CWA for a composition with CWA, MI-FGSM otherwise), in points; \
         `a/b`: photo-splits only the attack / only the base broke; p: McNemar's exact test, * where p < 0.05 \
         (the same photos recur across splits, so p is optimistic there too).\n\n\
         | attack | against | Δ | a/b | p |\n|---|---|---:|---:|---:|\n{lines}"
    ))
}

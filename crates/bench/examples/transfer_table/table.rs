//! The table's cells, their summaries over seeds with 95% Wilson intervals, the paired
//! (McNemar) tests and the margins of MI-CWA over MI-FGSM, as CSV and markdown.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use common_weakness::attack::registry;
use common_weakness::eval::SuccessRate;
use common_weakness_bench::shard::{Combinable, Difference, Mergeable};
use common_weakness_bench::statistics::{mcnemar, mean_interval, wilson_interval};
use common_weakness_bench::Result;
use serde::{Deserialize, Serialize};

/// What a row of the table attacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RowKind {
    /// The surrogates themselves, pooled.
    WhiteBox,
    /// A normally trained held-out model.
    Normal,
    /// An adversarially trained held-out model.
    Robust,
    /// A held-out model behind an input defence.
    Defended,
}

/// One (budget, attack, seed, row) cell of the table.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cell {
    pub budget: String,
    pub attack: String,
    pub seed: u64,
    pub row: String,
    pub kind: RowKind,
    pub success: SuccessRate,
    /// Per image, `1` where the attack succeeded, in image order (the white-box row: each
    /// shard's surrogates one after the other).
    pub outcomes: String,
    pub seconds: f64,
}

/// The cells of the shards add up: counts and seconds add, outcomes follow each other.
impl Mergeable for Cell {
    fn key(&self) -> String {
        format!("{} {} {} {}", self.budget, self.attack, self.seed, self.row)
    }

    fn absorb(&mut self, other: Self) {
        self.success = self.success + other.success;
        self.outcomes += &other.outcomes;
        self.seconds += other.seconds;
    }
}

/// A held-out row differs on the images whose outcomes differ. The white-box row lists each
/// shard's surrogates one after the other, so its order depends on the number of shards: it
/// differs by its success counts (at least that many images).
impl Combinable for Cell {
    fn differing_images(&self, other: &Self) -> usize {
        let (a, b) = (&self.success, &other.success);
        match self.kind {
            RowKind::WhiteBox => a
                .successes
                .abs_diff(b.successes)
                .max(a.successes_on_clean_correct.abs_diff(b.successes_on_clean_correct)),
            _ => {
                let changed = self.outcomes.chars().zip(other.outcomes.chars()).filter(|(x, y)| x != y).count();
                changed + self.outcomes.len().abs_diff(other.outcomes.len())
            }
        }
    }
}

/// `--combine --keep-first`: the results that a later run (of `runs`, the folders given)
/// holds with other outcomes than the first run that has them, with on how many images;
/// nothing when there are none.
pub fn differing(results: &[Difference], runs: &[PathBuf]) -> String {
    if results.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n### Results that differ between the combined runs\n\n\
         The tables show the first run's; a later run holds these with other per-image outcomes \
         (a white-box row differs at least by its success counts).\n\n\
         | later run | budget, attack, seed, row | images that differ |\n|---|---|---:|\n",
    );
    for Difference { run, key, images } in results {
        out += &format!("| {} | {key} | {images} |\n", runs[*run].display());
    }
    out
}

/// Per-image outcomes as text.
pub fn outcome_string(successes: impl IntoIterator<Item = bool>) -> String {
    successes.into_iter().map(|s| if s { '1' } else { '0' }).collect()
}

fn outcome_bits(outcomes: &str) -> Vec<bool> {
    outcomes.chars().map(|c| c == '1').collect()
}

/// One (budget, attack, row) of the table: its cells over the seeds.
pub struct Summary<'a> {
    pub attack: &'a str,
    pub row: &'a str,
    pub kind: RowKind,
    /// The counts of every seed added up.
    pub pooled: SuccessRate,
    pub seeds: usize,
    /// Seed 0's cell: its per-image outcomes pair with another attack's.
    pub first: &'a Cell,
    pub seconds: f64,
}

impl Summary<'_> {
    /// The success rate over all images, the mean over seeds.
    pub fn rate(&self) -> f64 {
        self.pooled.over_all()
    }

    /// The 95% Wilson interval of the success rate over all images: at the images of one
    /// seed, with the seeds' mean count of successes.
    pub fn interval(&self) -> Result<[f64; 2]> {
        let images = self.pooled.images / self.seeds;
        let successes = (self.pooled.successes as f64 / self.seeds as f64).round() as usize;
        Ok(wilson_interval(successes, images)?)
    }
}

/// The summaries of one budget's cells, in the order the cells were produced.
pub fn summarise<'a>(cells: &[&'a Cell]) -> Vec<Summary<'a>> {
    let mut summaries: Vec<Summary> = Vec::new();
    for cell in cells {
        match summaries.iter_mut().find(|s| s.attack == cell.attack && s.row == cell.row) {
            Some(s) => {
                s.pooled = s.pooled + cell.success;
                s.seeds += 1;
                s.seconds += cell.seconds;
                if cell.seed < s.first.seed {
                    s.first = cell;
                }
            }
            None => summaries.push(Summary {
                attack: &cell.attack,
                row: &cell.row,
                kind: cell.kind,
                pooled: cell.success,
                seeds: 1,
                first: cell,
                seconds: cell.seconds,
            }),
        }
    }
    summaries
}

/// Items in first-seen order.
fn ordered<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// Every cell, one line per seed.
pub fn write_csv(path: &Path, cells: &[&Cell]) -> Result<()> {
    let mut csv =
        String::from("budget,attack,seed,row,kind,success_all,success_clean_correct,images,clean_correct,seconds\n");
    for c in cells {
        writeln!(
            csv,
            "{},{},{},\"{}\",{:?},{:.4},{:.4},{},{},{:.2}",
            c.budget,
            c.attack,
            c.seed,
            c.row,
            c.kind,
            c.success.over_all(),
            c.success.over_clean_correct(),
            c.success.images,
            c.success.clean_correct,
            c.seconds
        )
        .expect("writing to a String");
    }
    Ok(std::fs::write(path, csv)?)
}

/// Rows = attacks, columns = targets; cells "rate [low–high]" in % over all images.
pub fn success_table(budget: &str, summaries: &[Summary]) -> Result<String> {
    let attacks = ordered(summaries.iter().map(|s| s.attack));
    let rows = ordered(summaries.iter().map(|s| s.row));
    let mut out = format!(
        "\n### L∞ {budget}: success rate % over all images [95% Wilson interval]\n\n\
         Attacks that draw random numbers: the mean over their seeds (seeds in brackets after the name).\n\n| attack |"
    );
    for row in &rows {
        out += &format!(" {row} |");
    }
    out += " seconds |\n|---|";
    out += &"---:|".repeat(rows.len() + 1);
    out += "\n";
    for attack in &attacks {
        let of_attack: Vec<&Summary> = summaries.iter().filter(|s| s.attack == *attack).collect();
        let seeds = of_attack[0].seeds;
        out += &match seeds {
            1 => format!("| {attack} |"),
            _ => format!("| {attack} ({seeds}) |"),
        };
        for row in &rows {
            let s = of_attack.iter().find(|s| s.row == *row).expect("every cell was computed");
            let [low, high] = s.interval()?;
            out += &format!(" {:.0} [{:.0}–{:.0}] |", 100.0 * s.rate(), 100.0 * low, 100.0 * high);
        }
        out += &format!(" {:.0} |\n", of_attack[0].seconds);
    }
    Ok(out)
}

/// The paper's own methods (CWA and its ablations), which "the best other method" excludes.
fn is_paper_method(attack: &str) -> bool {
    registry().iter().any(|e| e.name == attack && e.reference.starts_with("Chen et al."))
}

/// `a` against `b` on one row: rates, difference, discordant counts and the McNemar p-value
/// (seed 0's outcomes where an attack has several seeds).
fn paired_cells(a: &Summary, b: &Summary) -> Result<String> {
    let test = mcnemar(&outcome_bits(&a.first.outcomes), &outcome_bits(&b.first.outcomes))?;
    Ok(format!(
        "{:.1} | {:+.1} | {}/{} | {:.3} |",
        100.0 * b.rate(),
        100.0 * (a.rate() - b.rate()),
        test.only_first,
        test.only_second,
        test.p_value
    ))
}

/// Per held-out row: MI-CWA against MI-FGSM and against the best method not from the paper.
pub fn paired_tests(budget: &str, summaries: &[Summary]) -> Result<String> {
    let find = |attack: &str, row: &str| summaries.iter().find(|s| s.attack == attack && s.row == row);
    let mut out = format!(
        "\n### L∞ {budget}: MI-CWA against MI-FGSM and against the best other method, paired by image\n\n\
         Δ: MI-CWA minus the other, in points; `a/b`: images only MI-CWA / only the other broke; p: McNemar's \
         exact test (seed 0 where an attack has several).\n\n\
         | target | MI-CWA % | MI-FGSM % | Δ | a/b | p | best other | its % | Δ | a/b | p |\n\
         |---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|\n"
    );
    for row in held_out_rows(summaries) {
        let (Some(cwa), Some(mi)) = (find("MI-CWA", row), find("MI-FGSM", row)) else {
            continue;
        };
        let best = summaries
            .iter()
            .filter(|s| s.row == row && !is_paper_method(s.attack))
            .max_by(|a, b| a.rate().total_cmp(&b.rate()))
            .expect("MI-FGSM is one");
        out += &format!(
            "| {row} | {:.1} | {} {} | {}\n",
            100.0 * cwa.rate(),
            paired_cells(cwa, mi)?,
            best.attack,
            paired_cells(cwa, best)?
        );
    }
    Ok(out)
}

/// Every other attack against its base method, paired by image on each held-out row: a
/// composition with CWA (a name ending in `-CWA`) against MI-CWA, the rest against MI-FGSM.
/// Empty when the run lacks the bases or has no other attack.
pub fn base_tests(budget: &str, summaries: &[Summary]) -> Result<String> {
    const BASES: [&str; 2] = ["MI-FGSM", "MI-CWA"];
    let attacks = ordered(summaries.iter().map(|s| s.attack).filter(|a| !BASES.contains(a)));
    let lines = difference_lines(summaries, &attacks, |attack, row| {
        let base = if attack.ends_with("-CWA") { BASES[1] } else { BASES[0] };
        summaries.iter().find(|s| s.attack == base && s.row == row).map(|s| (base.to_string(), s))
    })?;
    Ok(difference_table(
        &format!("L∞ {budget}: each method against its base"),
        "the method minus its base (MI-CWA for a composition with CWA, MI-FGSM otherwise)",
        summaries,
        &lines,
    ))
}

/// Every composition with CWA against its method alone, paired by image on each held-out
/// row: `X-CWA` against `X`, or else the one attack whose name without dashes begins with `X`
/// without dashes (`SIM-CWA` against `SI-MI-FGSM`, `EMI-CWA` against `EMI-FGSM`). Empty when
/// the run has no such pair.
pub fn composition_tests(budget: &str, summaries: &[Summary]) -> Result<String> {
    let attacks = ordered(summaries.iter().map(|s| s.attack));
    let alone = |composition: &str| method_alone(&attacks, composition);
    let compositions: Vec<&str> = attacks.iter().copied().filter(|a| a != &"MI-CWA" && alone(a).is_some()).collect();
    let lines = difference_lines(summaries, &compositions, |attack, row| {
        let method = alone(attack)?;
        summaries.iter().find(|s| s.attack == method && s.row == row).map(|s| (method.to_string(), s))
    })?;
    Ok(difference_table(
        &format!("L∞ {budget}: each composition with CWA against its method alone"),
        "the composition minus the method alone",
        summaries,
        &lines,
    ))
}

/// The method alone of the composition `X-CWA` among `attacks`: `X`, or else the one attack
/// not composed with CWA whose name without dashes begins with `X` without dashes.
fn method_alone<'a>(attacks: &[&'a str], composition: &str) -> Option<&'a str> {
    let stem = composition.strip_suffix("-CWA")?;
    if let Some(exact) = attacks.iter().find(|a| **a == stem) {
        return Some(exact);
    }
    let undashed = |name: &str| name.replace('-', "").to_lowercase();
    let mut matches = attacks.iter().filter(|a| !a.ends_with("-CWA") && undashed(a).starts_with(&undashed(stem)));
    match (matches.next(), matches.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}

/// Every attack against the same attack in another run over the same images (`other`, the
/// run `run` at the budget `run_label`: e.g. a run with LGV snapshots against the plain
/// ensemble's), paired by image on each held-out row.
pub fn against_tests(
    label: &str,
    summaries: &[Summary],
    run: &str,
    run_label: &str,
    other: &[Summary],
) -> Result<String> {
    let attacks = ordered(summaries.iter().map(|s| s.attack));
    let lines = difference_lines(summaries, &attacks, |attack, row| {
        other.iter().find(|s| s.attack == attack && s.row == row).map(|s| (run.to_string(), s))
    })?;
    Ok(difference_table(
        &format!("L∞ {label}: each attack against the same attack in {run} at L∞ {run_label}"),
        "this run minus the other",
        summaries,
        &lines,
    ))
}

/// One line per attack: its difference from `reference(attack, row)` (a label and a summary)
/// on each held-out row, with McNemar's p; an attack lacking a reference on a row is left out.
fn difference_lines<'r, 'c: 'r>(
    summaries: &[Summary],
    attacks: &[&str],
    reference: impl Fn(&str, &str) -> Option<(String, &'r Summary<'c>)>,
) -> Result<String> {
    let rows = held_out_rows(summaries);
    let mut lines = String::new();
    for attack in attacks {
        let mut cells = Vec::with_capacity(rows.len());
        let mut label = String::new();
        for row in &rows {
            let method = summaries.iter().find(|s| s.attack == *attack && s.row == *row);
            let (Some(method), Some((name, base))) = (method, reference(attack, row)) else {
                break;
            };
            let test = mcnemar(&outcome_bits(&method.first.outcomes), &outcome_bits(&base.first.outcomes))?;
            let marker = if test.p_value < 0.05 { "*" } else { "" };
            cells.push(format!("{:+.1}{marker} ({:.3})", 100.0 * (method.rate() - base.rate()), test.p_value));
            label = name;
        }
        if !rows.is_empty() && cells.len() == rows.len() {
            lines += &format!("| {attack} | {label} | {} |\n", cells.join(" | "));
        }
    }
    Ok(lines)
}

/// The table around [`difference_lines`]: empty when there are none.
fn difference_table(heading: &str, difference: &str, summaries: &[Summary], lines: &str) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let rows = held_out_rows(summaries);
    format!(
        "\n### {heading}, paired by image\n\n\
         Δ: {difference}, in points, with McNemar's exact p in brackets; * where p < 0.05 (seed 0 \
         where an attack has several).\n\n\
         | attack | against | {} |\n|---|---|{}\n{lines}",
        rows.join(" | "),
        "---:|".repeat(rows.len())
    )
}

fn held_out_rows<'a>(summaries: &[Summary<'a>]) -> Vec<&'a str> {
    ordered(summaries.iter().filter(|s| s.kind != RowKind::WhiteBox).map(|s| s.row))
}

/// MI-CWA minus MI-FGSM, averaged over the held-out rows of `kind`, per image, with the
/// interval of the per-image mean; `None` when the run lacks either attack or such a row.
pub fn margin(summaries: &[Summary], kind: RowKind) -> Result<Option<(usize, [f64; 3])>> {
    let rows: Vec<&str> = ordered(summaries.iter().filter(|s| s.kind == kind).map(|s| s.row));
    let outcomes = |attack: &str, row: &str| {
        summaries.iter().find(|s| s.attack == attack && s.row == row).map(|s| outcome_bits(&s.first.outcomes))
    };
    let mut per_image: Vec<f64> = Vec::new();
    for row in &rows {
        let (Some(cwa), Some(mi)) = (outcomes("MI-CWA", row), outcomes("MI-FGSM", row)) else {
            return Ok(None);
        };
        per_image.resize(cwa.len(), 0.0);
        for (i, (c, m)) in cwa.iter().zip(&mi).enumerate() {
            per_image[i] += (*c as u8 as f64 - *m as u8 as f64) / rows.len() as f64;
        }
    }
    if per_image.len() < 2 {
        return Ok(None);
    }
    let estimate = mean_interval(&per_image)?;
    Ok(Some((rows.len(), [estimate.mean, estimate.low, estimate.high].map(|v| 100.0 * v))))
}

/// The margins of MI-CWA over MI-FGSM on normal and on adversarially trained held-out
/// models, beside the paper's (ImageNet, 16/255, Table 1).
pub fn margins(budget: &str, summaries: &[Summary]) -> Result<String> {
    let mut out = format!(
        "\n### L∞ {budget}: MI-CWA minus MI-FGSM, mean over held-out models [95% interval over images]\n\n\
         | held-out models | this run | the paper (ImageNet, 16/255) |\n|---|---:|---:|\n"
    );
    for (kind, label, paper) in
        [(RowKind::Normal, "normally trained", "+14"), (RowKind::Robust, "adversarially trained", "+38")]
    {
        if let Some((count, [mean, low, high])) = margin(summaries, kind)? {
            out += &format!("| {label} ({count}) | {mean:+.1} [{low:+.1}, {high:+.1}] | {paper} |\n");
        }
    }
    Ok(out)
}

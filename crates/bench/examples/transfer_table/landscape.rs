//! Closeness and flatness around the adversarial examples of MI-FGSM, MI-SAM, MI-CSE, MI-CWA,
//! per image: means with 95% intervals, and each method's paired difference from MI-FGSM.

use std::fmt::Write as _;
use std::path::Path;

use burn::tensor::Tensor;
use common_weakness::ensemble::{Combination, Ensemble};
use common_weakness::landscape::{offsets, Landscape, Scope};
use common_weakness::objective::Objective;
use common_weakness_bench::statistics::mean_interval;
use common_weakness_bench::Result;

use super::chart;

/// The methods measured, MI-FGSM first: the others are compared with it.
pub const METHODS: [&str; 4] = ["MI-FGSM", "MI-SAM", "MI-CSE", "MI-CWA"];

/// Images per measurement batch (bounds memory; every measurement is per image).
const CHUNK: usize = 100;

/// The measurements, with a header for the tables and whether lower is better.
const MEASURES: [(&str, bool); 5] = [
    ("surrogate gradient cosine", false),
    ("L2 distance to held-out optima", true),
    ("held-out loss drop to optimum", true),
    ("ensemble sharpness (r = 4/255)", true),
    ("ensemble top Hessian eigenvalue", true),
];

/// One method's measurements, one vector per entry of [`MEASURES`], one value per image.
type Measured = [Vec<f64>; 5];

/// Measures every image, prints markdown tables, and draws `landscape.svg` (curves averaged
/// over the first batch of images).
pub fn report(
    surrogates: &Ensemble,
    targets: &Ensemble,
    labels: &[usize],
    clean: &Tensor<4>,
    adversarials: &[(String, Tensor<4>)],
    out: &Path,
) -> Result<String> {
    let n = labels.len();
    let radius = 16.0 / 255.0;
    let ts = offsets(radius, 33);
    let mut results: Vec<(String, Measured)> = Vec::new();
    let mut panels = Vec::new();
    for (method, adversarial) in adversarials {
        eprintln!("landscape: {method}");
        let mut measured: Measured = Default::default();
        for start in (0..n).step_by(CHUNK) {
            let size = CHUNK.min(n - start);
            let objective = Objective::untargeted(labels[start..start + size].to_vec());
            let clean = clean.clone().narrow(0, start, size);
            let x = adversarial.clone().narrow(0, start, size);
            let on_surrogates = Landscape::new(surrogates, &objective, Combination::LogitMean, &clean)?;
            let on_targets = Landscape::new(targets, &objective, Combination::LogitMean, &clean)?;
            let cosine = on_surrogates.gradient_cosine(&x)?.unwrap_or_else(|| vec![f64::NAN; size]);
            measured[0].extend(cosine);
            let (mut distance, mut drop, mut curves) = (vec![0.0; size], vec![0.0; size], Vec::new());
            for (index, target) in targets.members().iter().enumerate() {
                let optimum = on_targets.nearby_optimum(Scope::Model(index), &x, 10, 1.6 / 255.0, radius)?;
                for i in 0..size {
                    distance[i] += optimum.l2_distance[i] / targets.len() as f64;
                    drop[i] += (optimum.loss_at_start[i] - optimum.loss_at_optimum[i]) / targets.len() as f64;
                }
                if start == 0 {
                    let direction = optimum.point - x.clone();
                    curves
                        .push((target.name().to_string(), on_targets.curve(Scope::Model(index), &x, &direction, &ts)?));
                }
            }
            measured[1].extend(distance);
            measured[2].extend(drop);
            measured[3].extend(on_surrogates.sharpness(Scope::Ensemble, &x, 4.0 / 255.0, 10, 0)?);
            measured[4].extend(on_surrogates.top_hessian_eigenvalue(Scope::Ensemble, &x, 10, 1e-2, 0)?);
            if start == 0 {
                panels.push((method.clone(), curves));
            }
        }
        results.push((method.clone(), measured));
    }
    chart::curves(&out.join("landscape.svg"), &ts, &panels)?;
    tables(&results, n)
}

/// The means table and the paired-difference table.
fn tables(results: &[(String, Measured)], n: usize) -> Result<String> {
    let header = |title: &str| {
        let mut h = format!("\n### {title}\n\n| method |");
        for (name, lower_is_better) in MEASURES {
            h += &format!(" {name} {} |", if lower_is_better { "↓" } else { "↑" });
        }
        h + "\n|---|" + &"---:|".repeat(MEASURES.len()) + "\n"
    };
    let mut means =
        header(&format!("Closeness and flatness at L∞ 16/255 ({n} images): mean [95% interval over images]"));
    for (method, measured) in results {
        means += &format!("| {method} |");
        for values in measured {
            let e = mean_interval(values)?;
            means += &format!(" {:.3} [{:.3}, {:.3}] |", e.mean, e.low, e.high);
        }
        means += "\n";
    }
    let Some((reference, base)) = results.iter().find(|(m, _)| m == METHODS[0]) else {
        return Ok(means);
    };
    let mut paired = header(&format!(
        "Paired by image: each method minus {reference} (mean difference [95% interval]; * where the interval excludes 0)"
    ));
    for (method, measured) in results.iter().filter(|(m, _)| m != reference) {
        paired += &format!("| {method} |");
        for (values, base) in measured.iter().zip(base) {
            let differences: Vec<f64> = values.iter().zip(base).map(|(v, b)| v - b).collect();
            let e = mean_interval(&differences)?;
            let star = if e.low > 0.0 || e.high < 0.0 { "*" } else { "" };
            paired += &format!(" {:+.3} [{:+.3}, {:+.3}]{star} |", e.mean, e.low, e.high);
        }
        writeln!(paired).expect("writing to a String");
    }
    Ok(means + &paired)
}

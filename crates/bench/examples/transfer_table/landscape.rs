//! Closeness and flatness around the adversarial examples of MI-FGSM, MI-SAM, MI-CSE, MI-CWA.

use std::fmt::Write as _;
use std::path::Path;

use burn::tensor::Tensor;
use common_weakness::ensemble::{Combination, Ensemble};
use common_weakness::landscape::{offsets, Landscape, Scope};
use common_weakness::objective::Objective;
use common_weakness_bench::Result;

use super::{chart, B};

/// Images used for the landscape measurements (each measurement is a mean over them).
const IMAGES: usize = 32;

/// Measures, prints a markdown table, and draws `landscape.svg`.
pub fn report(
    surrogates: &Ensemble<B>,
    targets: &Ensemble<B>,
    objective: &Objective<B>,
    clean: &Tensor<B, 4>,
    adversarials: &[(String, Tensor<B, 4>)],
    out: &Path,
) -> Result<String> {
    let n = clean.dims()[0].min(IMAGES);
    let clean = clean.clone().narrow(0, 0, n);
    let labels = objective.labels().expect("the benchmark objective has labels")[..n].to_vec();
    let objective = Objective::untargeted(labels);
    let on_surrogates = Landscape::new(surrogates, &objective, Combination::LogitMean, &clean)?;
    let on_targets = Landscape::new(targets, &objective, Combination::LogitMean, &clean)?;
    let radius = 16.0 / 255.0;
    let ts = offsets(radius, 33);
    let mut table = format!(
        "\n### Closeness and flatness at L∞ 16/255 ({n} images; means over images)\n\n\
         | method | surrogate gradient cosine ↑ | distance to target optima, L2 ↓ | target loss drop to optimum ↓ | ensemble sharpness (r = 4/255) ↓ | ensemble top Hessian eigenvalue ↓ |\n\
         |---|---:|---:|---:|---:|---:|\n"
    );
    let mut panels = Vec::new();
    for (method, adversarial) in adversarials {
        eprintln!("landscape: {method}");
        let x = adversarial.clone().narrow(0, 0, n);
        let cosine = on_surrogates.gradient_cosine(&x)?.unwrap_or(f64::NAN);
        let sharpness = on_surrogates.sharpness(Scope::Ensemble, &x, 4.0 / 255.0, 10, 0)?;
        let eigenvalues = on_surrogates.top_hessian_eigenvalue(Scope::Ensemble, &x, 10, 1e-2, 0)?;
        let eigenvalue = eigenvalues.iter().sum::<f64>() / eigenvalues.len() as f64;
        let (mut distance, mut drop, mut curves) = (0.0, 0.0, Vec::new());
        for (index, target) in targets.members().iter().enumerate() {
            let optimum = on_targets.nearby_optimum(Scope::Model(index), &x, 10, 1.6 / 255.0, radius)?;
            distance += optimum.l2_distance / targets.len() as f64;
            drop += (optimum.loss_at_start - optimum.loss_at_optimum) / targets.len() as f64;
            let direction = optimum.point - x.clone();
            curves.push((target.name().to_string(), on_targets.curve(Scope::Model(index), &x, &direction, &ts)?));
        }
        writeln!(table, "| {method} | {cosine:.3} | {distance:.3} | {drop:.3} | {sharpness:.3} | {eigenvalue:.2} |")
            .expect("writing to a String");
        panels.push((method.clone(), curves));
    }
    chart::curves(&out.join("landscape.svg"), &ts, &panels)?;
    Ok(table)
}

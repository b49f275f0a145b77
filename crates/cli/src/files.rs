//! Image files in and out: the inputs a command names, the names of its outputs, and the 8-bit
//! rounding that keeps a saved example within its budget.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common_weakness::threat::{Norm, ThreatModel};

use crate::error::{argument, Result};

/// The image files of `inputs`: files as given, folders as their PNG and JPEG files (not
/// recursive), in name order.
pub fn collect(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let is_image = |p: &Path| {
        p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
    };
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let entries =
                std::fs::read_dir(input).map_err(|e| argument("images", format!("{}: {e}", input.display())))?;
            let mut found: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_image(p)).collect();
            found.sort();
            files.extend(found);
        } else if input.is_file() {
            files.push(input.clone());
        } else {
            return Err(argument("images", format!("{}: no such file or folder", input.display())));
        }
    }
    if files.is_empty() {
        return Err(argument("images", "no PNG or JPEG file among the images given"));
    }
    Ok(files)
}

/// The PNG name each input gets in the output folder: its file stem; two inputs of the same
/// stem are an error naming both.
pub fn output_names(files: &[PathBuf]) -> Result<Vec<String>> {
    let mut seen: BTreeMap<String, &Path> = BTreeMap::new();
    files
        .iter()
        .map(|file| {
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if let Some(other) = seen.insert(stem.clone(), file) {
                return Err(argument(
                    "images",
                    format!("{} and {} would both be saved as {stem}.png: rename one", other.display(), file.display()),
                ));
            }
            Ok(format!("{stem}.png"))
        })
        .collect()
}

/// `adversarial` rounded to the 256 levels of an 8-bit file without leaving the budget around
/// `clean` (whose pixels are on those levels): each perturbation value is rounded to the
/// nearest level, clipped to the largest level within an L∞ budget; under L2, an image whose
/// rounded perturbation is over budget has it rounded toward zero instead, which never grows
/// a value. One image of `per_image` values after another.
pub fn quantize_within(clean: &[f32], adversarial: &[f32], threat: ThreatModel, per_image: usize) -> Vec<f32> {
    let levels = |d: f32| d * 255.0;
    let mut out = Vec::with_capacity(clean.len());
    for (x, a) in clean.chunks(per_image).zip(adversarial.chunks(per_image)) {
        let nearest: Vec<f32> = x.iter().zip(a).map(|(x, a)| levels(a - x).round()).collect();
        let delta: Vec<f32> = match threat.norm {
            Norm::Linf => {
                let most = (threat.budget * 255.0 + 1e-6).floor() as f32;
                nearest.iter().map(|d| d.clamp(-most, most)).collect()
            }
            Norm::L2 => {
                let norm = nearest.iter().map(|d| f64::from(*d / 255.0).powi(2)).sum::<f64>().sqrt();
                if norm <= threat.budget + 1e-9 {
                    nearest
                } else {
                    x.iter().zip(a).map(|(x, a)| levels(a - x).trunc()).collect()
                }
            }
        };
        out.extend(x.iter().zip(delta).map(|(x, d)| ((x * 255.0).round() + d).clamp(0.0, 255.0) / 255.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_stays_within_the_budget_and_in_range() {
        let clean = [0.0, 100.0 / 255.0, 1.0, 50.0 / 255.0];
        let adversarial = [0.04, 100.0 / 255.0 - 0.033, 0.97, 50.0 / 255.0 + 0.0311];
        let linf = quantize_within(&clean, &adversarial, ThreatModel::linf(0.0314), 4);
        for (q, x) in linf.iter().zip(clean) {
            assert!((q - x).abs() <= 0.0314 + 1e-7 && (0.0..=1.0).contains(q), "{q} {x}");
            assert_eq!((q * 255.0).round(), q * 255.0);
        }
        assert_eq!(linf[0], 8.0 / 255.0, "clipped to the largest level within 0.0314 = 8.0/255");
        let within: Vec<f32> = clean.iter().zip([0.03, -0.03, -0.02, 0.01]).map(|(x, d)| x + d).collect();
        let l2 = quantize_within(&clean, &within, ThreatModel::l2(0.05), 4);
        let norm = l2.iter().zip(clean).map(|(q, x)| (q - x).powi(2)).sum::<f32>().sqrt();
        assert!(norm <= 0.05, "{norm}");
    }
}

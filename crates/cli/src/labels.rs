//! Labels files: `file,label` per line (a header line is allowed), keyed by file name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{argument, file, Result};

/// The label of each of `files` from the CSV at `path` (by file name, so the CSV may name the
/// files with or without their folder); `flag` names the argument in errors.
pub fn read(path: &Path, files: &[PathBuf], flag: &'static str) -> Result<Vec<usize>> {
    let text = std::fs::read_to_string(path).map_err(|e| file(path, e))?;
    let mut labels = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (name, label) = line
            .rsplit_once(',')
            .ok_or_else(|| file(path, format!("line {}: expected `file,label`, got `{line}`", number + 1)))?;
        match label.trim().parse::<usize>() {
            Ok(label) => {
                labels.insert(file_name(Path::new(name.trim())), label);
            }
            Err(_) if number == 0 => {} // a header
            Err(_) => return Err(file(path, format!("line {}: `{}` is not a class number", number + 1, label.trim()))),
        }
    }
    files
        .iter()
        .map(|f| {
            labels
                .get(&file_name(f))
                .copied()
                .ok_or_else(|| argument(flag, format!("{} has no label for {}", path.display(), f.display())))
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

//! The documentation against the repository and the code: the README's table of examples
//! against the examples that exist, and the counts and defaults the docs state against the
//! values the code has. A change to either side that forgets the other fails here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common_weakness::attack::{registry, CwaConfig};
use common_weakness_models::zoo::ZooModel;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(file: &str) -> String {
    std::fs::read_to_string(repository().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Every example of the workspace, by name, with the folder of the crate it lives in (`.` for
/// the library): a file `examples/NAME.rs` or a folder `examples/NAME/` with a `main.rs`.
fn examples() -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    for krate in [".", "crates/bench", "crates/detection", "crates/models", "crates/onnx"] {
        let Ok(entries) = std::fs::read_dir(repository().join(krate).join("examples")) else { continue };
        for entry in entries.map(Result::unwrap) {
            let path = entry.path();
            let name = if path.is_dir() && path.join("main.rs").exists() {
                path.file_name().unwrap().to_string_lossy().into_owned()
            } else if path.extension().is_some_and(|e| e == "rs") {
                path.file_stem().unwrap().to_string_lossy().into_owned()
            } else {
                continue;
            };
            assert!(found.insert(name.clone(), krate.to_string()).is_none(), "two examples named {name}");
        }
    }
    found
}

/// The rows of the README's "Examples" table: each backticked name of the first column with
/// the second column (`crates/…`, or "the library").
fn readme_examples() -> BTreeMap<String, String> {
    let readme = read("README.md");
    let table = readme.split("### Examples").nth(1).expect("README.md has an \"### Examples\" section");
    let mut listed = BTreeMap::new();
    for row in table.lines().take_while(|l| !l.starts_with('#')).filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let krate = match cells[2] {
            "the library" => ".".to_string(),
            other => other.trim_matches('`').to_string(),
        };
        for name in cells[1].split(',').map(|n| n.trim().trim_matches('`')) {
            assert!(listed.insert(name.to_string(), krate.clone()).is_none(), "README lists {name} twice");
        }
    }
    listed
}

#[test]
fn the_readme_lists_every_example_with_its_crate() {
    assert_eq!(readme_examples(), examples());
}

#[test]
fn documented_counts_are_the_codes() {
    // The README's prose wraps anywhere: compare with its words joined by single spaces.
    let readme = read("README.md").split_whitespace().collect::<Vec<_>>().join(" ");
    let attacks = registry().len();
    assert!(readme.contains(&format!("any of the {attacks} attacks read from JSON")), "README: {attacks} attacks");
    let zoo = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"][ZooModel::ALL.len() - 1];
    assert!(readme.contains(&format!("zoo of {zoo} trained models")), "README: a zoo of {zoo}");
}

/// A row `| name | paper | reference |` of the CWA defaults table in docs/algorithms.md.
fn algorithms_row(name: &str) -> (String, String) {
    let doc = read("docs/algorithms.md");
    let row = doc
        .lines()
        .find(|l| l.starts_with(&format!("| {name} |")))
        .unwrap_or_else(|| panic!("docs/algorithms.md has no defaults row {name}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    (cells[2].to_string(), cells[3].to_string())
}

#[test]
fn documented_cwa_defaults_are_the_codes() {
    let (paper, reference) = (CwaConfig::paper(16.0 / 255.0), CwaConfig::reference(16.0 / 255.0));
    let number = |cell: &str| cell.parse::<f64>().unwrap_or_else(|_| panic!("{cell:?} is not a number"));
    let (t_paper, t_reference) = algorithms_row("T");
    assert_eq!((number(&t_paper), number(&t_reference)), (paper.iterations as f64, reference.iterations as f64));
    let (beta_paper, beta_reference) = algorithms_row("β");
    assert_eq!((number(&beta_paper), number(&beta_reference)), (paper.inner_step_size, reference.inner_step_size));
    let (mu_paper, mu_reference) = algorithms_row("μ");
    assert_eq!((number(&mu_paper), number(&mu_reference)), (paper.momentum, reference.momentum));
    // α = ε/5 and r = ε/15 in the paper flavour; the reference's are fixed at 16/255/5 and /15.
    assert_eq!(algorithms_row("α").0, "ε/5");
    assert_eq!(algorithms_row("r"), ("ε/15".to_string(), "16/255/15".to_string()));
    let budget = 8.0 / 255.0;
    assert_eq!(CwaConfig::paper(budget).step_size, budget / 5.0);
    assert_eq!(CwaConfig::paper(budget).reverse_step_size, budget / 15.0);
    assert_eq!(CwaConfig::reference(budget).step_size, 16.0 / 255.0 / 5.0);
    assert_eq!(CwaConfig::reference(budget).reverse_step_size, 16.0 / 255.0 / 15.0);
}

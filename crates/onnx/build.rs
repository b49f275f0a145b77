//! Generates a Burn model from each ONNX file that scripts/export-onnx-models.sh made, with
//! burn-onnx, and swaps burn's `BatchNorm` for the inference-mode `FrozenBatchNorm` (Burn's
//! `BatchNorm` uses batch statistics on an autodiff device unless frozen, so an attacked CNN would run in
//! training mode). A model whose ONNX file is absent is left out (`cfg(onnx_<name>)` unset); so
//! is every model when the crate is built without its `import` feature, which brings burn-onnx.
use std::path::PathBuf;

#[cfg(feature = "import")]
#[path = "src/freeze.rs"]
mod freeze;

/// The models `src/architecture.rs` knows, by file stem.
const MODELS: [&str; 10] = [
    "resnet18",
    "vgg11",
    "densenet121",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_b_16",
    "efficientnet_lite0",
    "efficientnet_lite1",
    "efficientnet_lite2",
];

fn main() {
    println!("cargo::rerun-if-env-changed=COMMON_WEAKNESS_ONNX");
    println!("cargo::rerun-if-env-changed=HOME");
    let dir = match std::env::var_os("COMMON_WEAKNESS_ONNX") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/common-weakness/onnx"),
    };
    println!("cargo::rerun-if-changed={}", dir.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::create_dir_all(out.join("onnx")).expect("create OUT_DIR/onnx");
    let mut failures = String::new();
    for name in MODELS {
        println!("cargo::rustc-check-cfg=cfg(onnx_{name})");
        let onnx = dir.join(format!("{name}.onnx"));
        println!("cargo::rerun-if-changed={}", onnx.display());
        if !onnx.exists() {
            continue;
        }
        if let Err(reason) = generate(&onnx, &out, name) {
            println!("cargo::warning={name} not generated: {reason}");
            failures.push_str(&format!("    ({name:?}, {reason:?}),\n"));
            continue;
        }
        println!("cargo::rustc-cfg=onnx_{name}");
    }
    let failures = format!("/// Models whose ONNX file was there but gave no code: burn-onnx's message, or the missing feature.\npub(crate) const IMPORT_FAILURES: &[(&str, &str)] = &[\n{failures}];\n");
    std::fs::write(out.join("onnx/import_failures.rs"), failures).expect("write import_failures.rs");
    println!("cargo::rustc-env=COMMON_WEAKNESS_ONNX_DIR={}", dir.display());
}

/// Generates `OUT_DIR/onnx/{name}.rs` from `onnx` with burn-onnx and freezes its batch norms.
#[cfg(feature = "import")]
fn generate(onnx: &std::path::Path, out: &std::path::Path, name: &str) -> Result<(), String> {
    // burn-onnx panics on what it cannot import (an unsupported operator, a graph its type
    // inference rejects). That is a finding about the model, not a reason to fail the build:
    // `load` reports it, and the other models are generated.
    let generate =
        || burn_onnx::ModelGen::new().input(onnx.to_str().expect("UTF-8 path")).out_dir("onnx/").run_from_script();
    std::panic::catch_unwind(generate).map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .map(|message| format!("burn-onnx could not import it: {message}"))
            .unwrap_or_else(|| "burn-onnx panicked".into())
    })?;
    let generated = out.join(format!("onnx/{name}.rs"));
    let source = std::fs::read_to_string(&generated).expect("burn-onnx wrote the model");
    std::fs::write(&generated, freeze::freeze_generated_batch_norm(&source)).expect("rewrite the generated model");
    Ok(())
}

/// Without the `import` feature burn-onnx is not built, so nothing is generated.
#[cfg(not(feature = "import"))]
fn generate(_onnx: &std::path::Path, _out: &std::path::Path, _name: &str) -> Result<(), String> {
    Err("common-weakness-onnx was built without its `import` feature (--features common-weakness-onnx/import)".into())
}

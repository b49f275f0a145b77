//! TorchScript surrogates on LibTorch (feature `tch`): the small models that
//! `scripts/export-torchscript-models.sh` writes to `<torchscript dir>/tiny` (ignored without
//! them, with the reason), and the errors that need no file.

use std::path::PathBuf;

use approx::assert_relative_eq;
use burn::tensor::{Device, Tensor, TensorData};
use common_weakness::backend::BackendKind;
use common_weakness::prelude::*;
use common_weakness::surrogate::{check_batch_independence, load_torchscript, load_torchscript_with, TorchScriptSpec};

fn libtorch() -> Device {
    BackendKind::Tch.device().unwrap()
}

/// A test model written by the export script, or a panic saying how to make it.
fn tiny(name: &str) -> PathBuf {
    let dir = std::env::var_os("COMMON_WEAKNESS_TORCHSCRIPT").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/common-weakness/torchscript")
    });
    let path = dir.join("tiny").join(format!("{name}.pt"));
    assert!(path.is_file(), "{} is missing: run scripts/export-torchscript-models.sh", path.display());
    path
}

/// The weights of the script's `linear` model: logits W·x + b of the four pixels.
const W: [[f32; 4]; 3] = [[1.0, 2.0, 3.0, 4.0], [-1.0, 0.0, 0.5, 2.0], [0.0, 0.0, 0.0, 1.0]];
const B: [f32; 3] = [0.1, 0.0, -0.1];

fn pixels(device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(vec![0.1, 0.7, 0.4, 0.9, 0.3, 0.2, 0.8, 0.5], [2, 1, 2, 2]), device)
}

fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Logits and the input gradient of Σ logits·weights, against W·x + b and Wᵀ·weights; with the
/// sidecar's normalisation (mean 0.5, std 0.25), x is (pixels − 0.5)/0.25 and the gradient
/// gains the factor 1/0.25.
#[test]
#[ignore = "needs the TorchScript test models: scripts/export-torchscript-models.sh"]
fn logits_and_input_gradients_match_the_closed_form() {
    let device = libtorch();
    for (name, mean, std) in [("linear", 0.0f32, 1.0f32), ("linear_normalised", 0.5, 0.25)] {
        let model = load_torchscript(tiny(name), &device).unwrap();
        assert_eq!(model.name(), name);
        let images = pixels(&device).require_grad();
        let logits = model.forward(images.clone());
        let upstream = [0.5f32, -2.0, 1.5];
        let weights = Tensor::<2>::from_data(TensorData::new([upstream, upstream].concat(), [2, 3]), &device);
        let gradient = images.grad(&(logits.clone() * weights).sum().backward()).unwrap();
        let x = values(pixels(&device));
        let got = values(logits);
        for n in 0..2 {
            for k in 0..3 {
                let expected: f32 = (0..4).map(|i| W[k][i] * (x[n * 4 + i] - mean) / std).sum::<f32>() + B[k];
                assert_relative_eq!(got[n * 3 + k], expected, epsilon = 1e-5);
            }
        }
        let got = values(gradient);
        for n in 0..2 {
            for i in 0..4 {
                let expected: f32 = (0..3).map(|k| W[k][i] * upstream[k]).sum::<f32>() / std;
                assert_relative_eq!(got[n * 4 + i], expected, epsilon = 1e-5);
            }
        }
    }
}

/// A TorchScript model is a surrogate like any other: MI-CWA lowers its objective on it, in budget and in
/// [0, 1], the same seed gives the same images, and each image's logits are the same alone.
#[test]
#[ignore = "needs the TorchScript test models: scripts/export-torchscript-models.sh"]
fn attacks_run_on_torchscript_surrogates() {
    let device = libtorch();
    let load = |name| load_torchscript(tiny(name), &device).unwrap();
    check_batch_independence(load("linear").as_ref(), pixels(&device), 1e-6).unwrap();
    let ensemble = Ensemble::new(vec![load("linear"), load("linear_normalised")]).unwrap();
    let attack = Cwa::mi_cwa(CwaConfig::paper(8.0 / 255.0).with_iterations(5));
    let run = || attack.run(&ensemble, pixels(&device), &Objective::untargeted(vec![0, 0])).unwrap();
    let (first, second) = (run(), run());
    assert!(first.final_loss[0] < first.initial_loss[0], "{:?} -> {:?}", first.initial_loss, first.final_loss);
    let adversarial = values(first.adversarial.clone());
    assert_eq!(adversarial, values(second.adversarial));
    for (a, x) in adversarial.iter().zip(values(pixels(&device))) {
        assert!((a - x).abs() <= 8.0 / 255.0 + 1e-6 && (0.0..=1.0).contains(a));
    }
}

/// Images of another backend reach LibTorch and their gradients come back: a TorchScript model
/// gives the same logits and gradients for flex images as for LibTorch's.
#[test]
#[ignore = "needs the TorchScript test models: scripts/export-torchscript-models.sh"]
fn images_of_another_backend_cross_to_libtorch_and_back() {
    let model = load_torchscript(tiny("linear"), &libtorch()).unwrap();
    let outputs = |device: &Device| {
        let images = pixels(device).require_grad();
        let logits = model.forward(images.clone());
        assert_eq!(logits.device(), *device);
        let gradient = images.grad(&logits.clone().sum().backward()).unwrap();
        (values(logits), values(gradient))
    };
    assert_eq!(outputs(&libtorch()), outputs(&Device::flex().autodiff()));
}

fn error_of(name: &str) -> String {
    match load_torchscript(tiny(name), &libtorch()) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => e.to_string(),
    }
}

#[test]
#[ignore = "needs the TorchScript test models: scripts/export-torchscript-models.sh"]
fn models_saved_in_training_mode_are_refused_naming_the_symptom() {
    let dropout = error_of("dropout_training");
    assert!(dropout.contains("training mode") && dropout.contains("two forward passes"), "{dropout}");
    let batch_norm = error_of("batch_norm_training");
    assert!(batch_norm.contains("training mode") && batch_norm.contains("alone differs"), "{batch_norm}");
    assert!(batch_norm.contains("model.eval()"), "{batch_norm}");
}

#[test]
#[ignore = "needs the TorchScript test models: scripts/export-torchscript-models.sh"]
fn models_of_the_wrong_output_shape_are_refused() {
    let image = error_of("image_output");
    assert!(image.contains("image_output") && image.contains("[3, 1, 2, 2]"), "{image}");
    let classes = error_of("wrong_classes");
    assert!(classes.contains("[3, 3]"), "{classes}");
    let tuple = error_of("two_outputs");
    assert!(tuple.contains("two_outputs.pt") && tuple.contains("forward pass fails"), "{tuple}");
}

#[test]
#[ignore = "needs the TorchScript test models: scripts/export-torchscript-models.sh"]
fn images_of_another_size_are_refused_before_the_attack() {
    let model = load_torchscript(tiny("linear"), &libtorch()).unwrap();
    let ensemble = Ensemble::new(vec![model]).unwrap();
    let images = Tensor::<4>::full([1, 1, 3, 3], 0.5, &libtorch());
    let error =
        Cwa::mi_cwa(CwaConfig::paper(0.03)).run(&ensemble, images, &Objective::untargeted(vec![0])).unwrap_err();
    assert!(error.to_string().contains("[N, 1, 2, 2]"), "{error}");
}

#[test]
fn missing_files_bad_files_and_other_backends_are_errors_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("common-weakness-torchscript-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = load_torchscript(dir.join("absent.pt"), &libtorch()).err().unwrap().to_string();
    assert!(missing.contains("absent.pt") && missing.contains("no such file"), "{missing}");

    let garbage = dir.join("garbage.pt");
    std::fs::write(&garbage, b"not a TorchScript archive").unwrap();
    let no_sidecar = load_torchscript(&garbage, &libtorch()).err().unwrap().to_string();
    assert!(no_sidecar.contains("garbage.json") && no_sidecar.contains("no sidecar"), "{no_sidecar}");
    std::fs::write(dir.join("garbage.json"), br#"{"input": [3, 224]}"#).unwrap();
    let bad_sidecar = load_torchscript(&garbage, &libtorch()).err().unwrap().to_string();
    assert!(bad_sidecar.contains("does not parse"), "{bad_sidecar}");
    let spec = TorchScriptSpec::imagenet(224, 1000);
    let not_torchscript = load_torchscript_with(&garbage, spec.clone(), &libtorch()).err().unwrap().to_string();
    assert!(not_torchscript.contains("garbage.pt") && not_torchscript.contains("does not load"), "{not_torchscript}");
    let flex = load_torchscript_with(&garbage, spec, &Device::flex().autodiff()).err().unwrap().to_string();
    assert!(flex.contains("runs on LibTorch"), "{flex}");
    std::fs::remove_dir_all(dir).unwrap();
}

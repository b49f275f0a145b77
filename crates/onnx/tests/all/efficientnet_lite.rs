//! EfficientNet-Lite0/1/2 through ONNX against the crate's own implementation, on the real
//! ImageNet weights and the foolbox photos.

use burn::tensor::{Device, Tensor};
use common_weakness::attack::{mi_fgsm, Attack};
use common_weakness::backend::BackendKind;
use common_weakness::ensemble::Ensemble;
use common_weakness::eval::predictions;
use common_weakness::objective::Objective;
use common_weakness::surrogate::Surrogate;
use common_weakness::threat::ThreatModel;
use common_weakness_bench::images;
use common_weakness_models::{EfficientNetLite, ImagenetAssets, LiteVariant};
use common_weakness_onnx::{load, relative_error, relative_l2_error, Architecture};

use crate::{require_assets, require_generated};

fn values<const D: usize>(x: Tensor<D>) -> Vec<f32> {
    x.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// The test device: flex, the default backend, with autodiff.
fn flex() -> Device {
    Device::flex().autodiff()
}

fn own(assets: &ImagenetAssets, variant: LiteVariant, device: &Device) -> Box<dyn Surrogate> {
    Box::new(EfficientNetLite::load(variant, assets.weights(variant), device).unwrap().into_surrogate())
}

/// The first `count` photos at 224 × 224 and their labels.
fn photos(assets: &ImagenetAssets, count: usize, device: &Device) -> (Tensor<4>, Vec<usize>) {
    let photos: Vec<_> = assets.photos().unwrap().into_iter().take(count).collect();
    let paths: Vec<_> = photos.iter().map(|p| p.path.as_path()).collect();
    (images::load(&paths, 224, 224, device).unwrap(), photos.iter().map(|p| p.label).collect())
}

/// The perturbation `x_adv − x` of MI-FGSM with L2 steps (ε = 2, μ = 1) on four photos, with
/// `model` as the only surrogate.
fn perturbation(assets: &ImagenetAssets, model: Box<dyn Surrogate>, iterations: usize, device: &Device) -> Vec<f32> {
    let (clean, labels) = photos(assets, 4, device);
    let ensemble = Ensemble::new(vec![model]).unwrap();
    let attack = mi_fgsm(ThreatModel::l2(2.0), iterations, 1.0);
    values(attack.run(&ensemble, clean.clone(), &Objective::untargeted(labels)).unwrap().adversarial - clean)
}

/// Same top-1 class on all 20 photos, logits within 1e-3 (relative), and the first attack step
/// (which depends on the input gradient alone) within 5e-3 relative L2 with either
/// implementation as the surrogate.
fn same_as_the_crates_own(variant: LiteVariant, imported: Architecture) {
    let assets = require_assets();
    require_generated(imported);
    let device = flex();
    let (batch, _) = photos(&assets, 20, &device);
    let onnx = || load(imported, &device).unwrap();
    let (own_logits, onnx_logits) = (own(&assets, variant, &device).forward(batch.clone()), onnx().forward(batch));
    assert_eq!(predictions(onnx_logits.clone()).unwrap(), predictions(own_logits.clone()).unwrap());
    let logits_error = relative_error(&values(onnx_logits), &values(own_logits));
    let step = relative_l2_error(
        &perturbation(&assets, onnx(), 1, &device),
        &perturbation(&assets, own(&assets, variant, &device), 1, &device),
    );
    eprintln!("{variant}: logits differ by {logits_error:.1e}, first attack steps by {step:.1e}");
    assert!(logits_error <= 1e-3, "{variant}: logits differ by {logits_error:.1e} (relative)");
    assert!(step <= 5e-3, "{variant}: first MI-FGSM steps differ by {step:.1e} (relative L2)");
}

#[test]
#[ignore = "needs the ImageNet assets and the ONNX exports: scripts/fetch-imagenet-assets.sh, scripts/export-onnx-models.sh"]
fn efficientnet_lite0_through_onnx_is_the_crates_own() {
    same_as_the_crates_own(LiteVariant::Lite0, Architecture::EfficientNetLite0);
}

#[test]
#[ignore = "needs the ImageNet assets and the ONNX exports: scripts/fetch-imagenet-assets.sh, scripts/export-onnx-models.sh"]
fn efficientnet_lite1_through_onnx_is_the_crates_own() {
    same_as_the_crates_own(LiteVariant::Lite1, Architecture::EfficientNetLite1);
}

#[test]
#[ignore = "needs the ImageNet assets and the ONNX exports: scripts/fetch-imagenet-assets.sh, scripts/export-onnx-models.sh"]
fn efficientnet_lite2_through_onnx_is_the_crates_own() {
    same_as_the_crates_own(LiteVariant::Lite2, Architecture::EfficientNetLite2);
}

/// Over ten iterations float32 rounding compounds (a unit crossing a ReLU6 kink changes the next
/// gradients), so no two implementations give bit-equal examples. The imported model's
/// examples must be as close to the crate's own as the crate's own are across two backends
/// (flex and ndarray).
#[test]
#[ignore = "needs the ImageNet assets and the ONNX exports: scripts/fetch-imagenet-assets.sh, scripts/export-onnx-models.sh"]
fn ten_iterations_on_the_imported_lite0_stay_within_the_spread_between_backends() {
    let assets = require_assets();
    require_generated(Architecture::EfficientNetLite0);
    let variant = LiteVariant::Lite0;
    let (flex, ndarray) = (flex(), BackendKind::Ndarray.device().unwrap());
    let on_flex = perturbation(&assets, own(&assets, variant, &flex), 10, &flex);
    let on_ndarray = perturbation(&assets, own(&assets, variant, &ndarray), 10, &ndarray);
    let imported = perturbation(&assets, load(Architecture::EfficientNetLite0, &flex).unwrap(), 10, &flex);
    let (backends, onnx) = (relative_l2_error(&on_ndarray, &on_flex), relative_l2_error(&imported, &on_flex));
    eprintln!("ten iterations: flex vs ndarray {backends:.1e}; imported vs own on flex {onnx:.1e}");
    assert!(onnx <= backends.max(1e-3), "imported {onnx:.1e} vs the backends' spread {backends:.1e}");
}

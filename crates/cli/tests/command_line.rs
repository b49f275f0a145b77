//! The `common-weakness` program end to end: three Fashion-MNIST images attacked on the zoo
//! (flex), shards and a resumed run equal to one run, the report against `eval`, clear errors;
//! and TorchScript models on LibTorch (feature `tch`, with the exports of
//! scripts/export-torchscript-models.sh).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::Device;
use common_weakness_bench::images;
use common_weakness_models::datasets::FashionMnist;

/// A fresh folder for one test.
fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("common-weakness-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn program(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_common-weakness")).args(args).output().unwrap()
}

/// Runs the program, which must succeed; its standard output.
fn succeed(args: &[&str]) -> String {
    let output = program(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

/// Runs the program, which must fail with exit code 2; its error message.
fn fail(args: &[&str]) -> String {
    let output = program(args);
    assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stdout));
    String::from_utf8(output.stderr).unwrap()
}

/// Three Fashion-MNIST test images as grey PNG files, and their labels as a CSV.
fn fashion_images(dir: &Path) -> (PathBuf, PathBuf) {
    let images_dir = dir.join("images");
    let (batch, labels) = FashionMnist::test_slice().unwrap().head(3, &Device::flex());
    let mut csv = String::from("file,label\n");
    for (i, label) in labels.iter().enumerate() {
        images::save_png(&batch, i, images_dir.join(format!("item{i}.png"))).unwrap();
        csv += &format!("item{i}.png,{label}\n");
    }
    let labels_file = dir.join("labels.csv");
    std::fs::write(&labels_file, csv).unwrap();
    (images_dir, labels_file)
}

fn report(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn pixels(files: &[PathBuf], input: [usize; 3]) -> Vec<f32> {
    let batch = images::load_as(files, input, &Device::flex()).unwrap();
    batch.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn pngs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    files.sort();
    files
}

/// The largest pixel change of each saved example from its clean image, in 1/255 levels.
fn largest_changes(clean: &[PathBuf], adversarial: &[PathBuf], input: [usize; 3]) -> Vec<f32> {
    let per_image: usize = input.iter().product();
    let (x, a) = (pixels(clean, input), pixels(adversarial, input));
    x.chunks(per_image)
        .zip(a.chunks(per_image))
        .map(|(x, a)| x.iter().zip(a).fold(0.0f32, |m, (x, a)| m.max(((a - x).abs() * 255.0).round())))
        .collect()
}

#[test]
fn attack_writes_examples_within_budget_whose_report_matches_eval() {
    let dir = folder("attack");
    let (images_dir, labels) = fashion_images(&dir);
    let out = dir.join("out");
    let common = ["--models", "cnn-small,mlp", "--iterations", "5", "--quiet"];
    let attack = [
        &["attack", images_dir.to_str().unwrap(), "--labels", labels.to_str().unwrap(), "--out", out.to_str().unwrap()]
            [..],
        &common,
    ]
    .concat();
    let printed = succeed(&attack);
    assert!(printed.contains("MI-CWA on 3 image(s)"), "{printed}");

    let clean: Vec<PathBuf> = (0..3).map(|i| images_dir.join(format!("item{i}.png"))).collect();
    let saved = pngs(&out);
    assert_eq!(
        saved.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect::<Vec<_>>(),
        ["item0.png", "item1.png", "item2.png"]
    );
    let changes = largest_changes(&clean, &saved, [1, 28, 28]);
    assert!(changes.iter().all(|c| (1.0..=16.0).contains(c)), "largest changes in 1/255 levels: {changes:?}");

    let report = report(&out.join("report.json"));
    assert_eq!(report["models"], serde_json::json!(["cnn-small", "mlp"]));
    assert_eq!(report["spec"]["iterations"], 5);
    assert_eq!(report["runs"][0]["records"].as_array().unwrap().len(), 5);
    let csv = std::fs::read_to_string(out.join("report.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.starts_with("source,output,index,label,label_source,linf,l2,fooled_cnn-small,fooled_mlp"), "{csv}");

    let scores = dir.join("eval.json");
    succeed(&[
        "eval",
        "--models",
        "cnn-small,mlp",
        "--report",
        out.join("report.json").to_str().unwrap(),
        "--json",
        scores.to_str().unwrap(),
    ]);
    let evaluated = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(scores).unwrap()).unwrap();
    assert_eq!(evaluated["success"], report["success"], "the report's success is eval's on the PNG files");
    // Scoring the folder with the labels file gives the same.
    let again =
        succeed(&["eval", out.to_str().unwrap(), "--models", "cnn-small,mlp", "--labels", labels.to_str().unwrap()]);
    let fooled = report["success"][0]["fooled"].as_u64().unwrap();
    assert!(again.contains(&format!("{fooled:>5}/3")), "{again}");

    // A second run into the same folder is refused, naming --out.
    let refused = fail(&attack);
    assert!(refused.contains("--out") && refused.contains("--overwrite"), "{refused}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn shards_and_a_resumed_run_give_the_images_of_one_run_with_a_ghost_surrogate() {
    let dir = folder("shards");
    let (images_dir, _) = fashion_images(&dir);
    let run = |out: &str, extra: &[&str]| {
        let out = dir.join(out);
        let args = [
            &["attack", images_dir.to_str().unwrap(), "--models", "cnn-wide,resnet@ghost", "--attack", "SI-TI-DI-CWA"]
                [..],
            &["--iterations", "3", "--batch", "2", "--quiet", "--out", out.to_str().unwrap()],
            extra,
        ]
        .concat();
        (program(&args), out)
    };
    let (whole, whole_dir) = run("whole", &[]);
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));
    // The ghost ResNet draws its skips anew every iteration, from the run's seed.
    assert_eq!(report(&whole_dir.join("report.json"))["models"], serde_json::json!(["cnn-wide", "resnet-ghost"]));
    for shard in ["1/2", "2/2"] {
        let (output, _) = run("shards", &["--shard", shard]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let shards_dir = dir.join("shards");
    assert!(shards_dir.join("report-1-of-2.json").is_file() && shards_dir.join("report-2-of-2.json").is_file());
    let read = |files: Vec<PathBuf>| files.iter().map(|f| std::fs::read(f).unwrap()).collect::<Vec<_>>();
    assert_eq!(read(pngs(&shards_dir)), read(pngs(&whole_dir)), "shards write the PNG files of one run");

    // A time limit that passes at once stops after the first iteration (exit code 3, with a
    // checkpoint); the same command then finishes the run, as one run would have.
    let (paused, paused_dir) = run("paused", &["--time-limit", "0.000001"]);
    assert_eq!(paused.status.code(), Some(3), "{}", String::from_utf8_lossy(&paused.stderr));
    assert!(String::from_utf8_lossy(&paused.stderr).contains("resume"));
    assert!(paused_dir.join("checkpoint.json").is_file());
    let (resumed, _) = run("paused", &[]);
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    assert!(!paused_dir.join("checkpoint.json").exists(), "the finished run removes its checkpoint");
    assert_eq!(read(pngs(&paused_dir)), read(pngs(&whole_dir)), "a resumed run writes the PNG files of one run");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_arguments_are_errors_naming_them() {
    let dir = folder("errors");
    let (images_dir, labels) = fashion_images(&dir);
    let images = images_dir.to_str().unwrap();
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let attack = |extra: &[&str]| fail(&[&["attack", images, "--out", out, "--quiet"][..], extra].concat());
    for (extra, expected) in [
        (&["--models", "resnet-9000"][..], "--models: unknown model `resnet-9000`"),
        (&["--models", "mlp", "--attack", "XYZ"], "--attack: unknown attack `XYZ`"),
        (&["--models", "mlp", "--budget", "lots"], "--budget: `lots` is not a number"),
        (&["--models", "mlp", "--budget=-0.1"], "--budget"),
        (
            &["--models", "mlp", "--attack", "FGSM", "--iterations", "3"],
            "--iterations: the attack `fgsm` has no iterations",
        ),
        (&["--models", "mlp", "--shard", "3/2"], "--shard: invalid shard `3/2`"),
        (&["--models", "mlp", "--batch", "0"], "--batch"),
        (&["--models", "mlp", "--backend", "quantum"], "--backend: unknown backend `quantum`"),
        (&["--models", "mlp", "--labels", "/no/such/labels.csv"], "/no/such/labels.csv"),
        (&["--models", "mlp,efficientnet-lite0"], "--models: the models take different images"),
        (&["--models", "model.pt"], "--models"),
        (&["--models", "mlp@ghost"], "--models: `mlp@ghost`: @ghost needs residual blocks"),
        (&["--models", "resnet@dropout"], "--models: unknown `@dropout`"),
        (&["--models", "efficientnet-lite0@lgv=/tmp"], "--models: `efficientnet-lite0@lgv=/tmp`"),
        (&["--models", "resnet@lgv=/no/such/snapshots"], "/no/such/snapshots/resnet-lgv-01.safetensors"),
    ] {
        let error = attack(extra);
        assert!(error.contains(expected), "{extra:?}: expected `{expected}` in: {error}");
    }
    let missing = fail(&["attack", "/no/such/folder", "--models", "mlp", "--out", out]);
    assert!(missing.contains("--images: /no/such/folder"), "{missing}");
    std::fs::write(dir.join("partial.csv"), "item0.png,3\n").unwrap();
    let partial = attack(&["--models", "mlp", "--labels", dir.join("partial.csv").to_str().unwrap()]);
    assert!(partial.contains("--labels") && partial.contains("item1.png"), "{partial}");
    let no_labels = fail(&["eval", images, "--models", "mlp"]);
    assert!(no_labels.contains("--report"), "{no_labels}");
    let _ = labels;
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn list_names_the_attacks_and_models_and_prints_specs_that_attack_takes() {
    let listed = succeed(&["list"]);
    for name in ["MI-CWA", "SSA-CWA", "BSR-CWA", "AdaEA", "cnn-small-adv", "efficientnet-lite0", "PATH.pt"] {
        assert!(listed.contains(name), "{name} missing from: {listed}");
    }
    let specs = succeed(&["list", "--json", "--budget", "8/255"]);
    let first: serde_json::Value = serde_json::from_str(specs.lines().next().unwrap()).unwrap();
    assert_eq!(first["threat"]["budget"].as_f64().unwrap(), 8.0 / 255.0);
}

/// Two TorchScript files of scripts/export-torchscript-models.sh attack three ImageNet photos
/// on LibTorch; the PNG files stay within the budget and the report agrees with `eval`.
#[cfg(feature = "tch")]
#[test]
#[ignore = "needs the TorchScript exports (scripts/export-torchscript-models.sh) and the ImageNet assets"]
fn torchscript_models_attack_photos_on_libtorch() {
    let models_dir = std::env::var_os("COMMON_WEAKNESS_TORCHSCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/common-weakness/torchscript"));
    let models =
        ["resnet18", "mobilenet_v3_small"].map(|m| models_dir.join(format!("{m}.pt")).display().to_string()).join(",");
    let assets = common_weakness_models::ImagenetAssets::locate().unwrap();
    let dir = folder("torchscript");
    let photos_dir = dir.join("photos");
    std::fs::create_dir_all(&photos_dir).unwrap();
    let photos: Vec<PathBuf> = assets.photos().unwrap().into_iter().take(3).map(|p| p.path).collect();
    for photo in &photos {
        std::fs::copy(photo, photos_dir.join(photo.file_name().unwrap())).unwrap();
    }
    let out = dir.join("out");
    let printed = succeed(&[
        "attack",
        photos_dir.to_str().unwrap(),
        "--models",
        &models,
        "--backend",
        "tch",
        "--iterations",
        "3",
        "--budget",
        "8/255",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(printed.contains("3 image(s)"), "{printed}");
    let saved = pngs(&out);
    assert_eq!(saved.len(), 3);
    let mut clean: Vec<PathBuf> = std::fs::read_dir(&photos_dir).unwrap().map(|e| e.unwrap().path()).collect();
    clean.sort();
    // The clean images are the photos resized to 224 × 224 and rounded to 8 bits, as the
    // program measured them.
    let resized: Vec<PathBuf> = (0..3).map(|i| dir.join(format!("clean{i}.png"))).collect();
    let batch = images::quantize(images::load_as(&clean, [3, 224, 224], &Device::flex()).unwrap());
    for (i, path) in resized.iter().enumerate() {
        images::save_png(&batch, i, path).unwrap();
    }
    let changes = largest_changes(&resized, &saved, [3, 224, 224]);
    assert!(changes.iter().all(|&c| c <= 8.0), "{changes:?}");
    let report = report(&out.join("report.json"));
    assert_eq!(report["images"][0]["label_source"], "predicted");
    let scores = dir.join("eval.json");
    succeed(&[
        "eval",
        "--models",
        &models,
        "--backend",
        "tch",
        "--report",
        out.join("report.json").to_str().unwrap(),
        "--json",
        scores.to_str().unwrap(),
    ]);
    let evaluated = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(scores).unwrap()).unwrap();
    assert_eq!(evaluated["success"], report["success"]);
    std::fs::remove_dir_all(dir).unwrap();
}

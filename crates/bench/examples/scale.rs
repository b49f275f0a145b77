//! Throughput of one ensemble shared by several threads: MI-CWA on the Fashion-MNIST zoo's
//! four surrogates, the images split into batches that `--threads` threads attack at once,
//! each batch with its images' indices in the set (so every thread count gives the same
//! adversarial examples, which the program checks).
//!
//! ```text
//! cargo run --release --features common-weakness-bench/remote --example scale -- --images 64 --batch 16 --threads 1,2
//! ```
//!
//! Prints, per thread count, the wall time, images per second and the speed-up over the
//! first thread count.
//!
//! `--remote` also times the attack on one batch with the four surrogates on a server of
//! Burn's remote backend on this machine (flex behind it, on a free loopback port), then
//! split over two such servers, against the same attack run locally, each with the ensemble
//! gradient joint and model by model (`GradientMode`): the median time per iteration and the
//! bytes the loopback interface carried per iteration (`/proc/net/dev`, everything on the
//! machine's loopback during the run).

use std::time::Instant;

use burn::remote::RemoteHost;
use burn::tensor::{Device, Tensor};
use common_weakness::backend::BackendKind;
use common_weakness::prelude::*;
use common_weakness_bench::parallel::{attack_batches, untargeted, IndexedBatch};
use common_weakness_bench::remote::LoopbackServers;
use common_weakness_bench::Result;
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::zoo::ZooModel;

const SURROGATES: [ZooModel; 4] = [ZooModel::Mlp, ZooModel::SmallCnn, ZooModel::ResNet, ZooModel::Mixer];

/// Throughput of attacks on several threads sharing one ensemble.
#[derive(clap::Parser, Debug)]
struct Options {
    /// Images of the committed test slice to attack.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..=1000))]
    images: u16,
    /// Images per batch (one attack run).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..))]
    batch: u16,
    /// The thread counts to time, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Attack iterations.
    #[arg(long, default_value_t = 10)]
    iterations: usize,
    /// Also time one batch on a local server of Burn's remote backend.
    #[arg(long)]
    remote: bool,
}

fn main() -> Result<()> {
    let options = <Options as clap::Parser>::parse();
    let device = BackendKind::default().device()?;
    let data = FashionMnist::test_slice()?;
    let total = usize::from(options.images);
    let batches: Vec<IndexedBatch> = (0..total)
        .step_by(options.batch.into())
        .map(|start| {
            let indices: Vec<usize> = (start..(start + usize::from(options.batch)).min(total)).collect();
            let (images, labels) = data.batch(&indices, &device)?;
            Ok(IndexedBatch { images, labels, indices })
        })
        .collect::<Result<_>>()?;
    let surrogates: Vec<Box<dyn Surrogate>> =
        SURROGATES.iter().map(|m| m.load(&device)).collect::<common_weakness_models::Result<_>>()?;
    let ensemble = Ensemble::new(surrogates)?;
    let attack = Cwa::mi_cwa(CwaConfig::paper(16.0 / 255.0).with_iterations(options.iterations));
    println!(
        "MI-CWA, {} iterations, 4 surrogates, {total} images in {} batches of up to {}, backend {}",
        options.iterations,
        batches.len(),
        options.batch,
        BackendKind::name_of(&device),
    );
    let mut first: Option<(f64, Vec<f32>)> = None;
    for &threads in &options.threads {
        let started = Instant::now();
        let adversarial = attack_batches(&attack, &ensemble, &batches, threads, &untargeted)?;
        let seconds = started.elapsed().as_secs_f64();
        let pixels: Vec<f32> =
            Tensor::cat(adversarial, 0).into_data().convert::<f32>().try_to_vec().expect("f32 pixels");
        let (speedup, same) = match &first {
            None => (1.0, "reference".to_string()),
            Some((base, reference)) => {
                let worst = max_difference(reference, &pixels);
                (base / seconds, format!("max |Δ| {worst:.1e} from the first"))
            }
        };
        println!(
            "  {threads} thread(s): {seconds:7.2} s  {:7.2} images/s  speed-up {speedup:.2}x  ({same})",
            total as f64 / seconds
        );
        first.get_or_insert((seconds, pixels));
    }
    if options.remote {
        remote(&data, &batches[0].indices, options.iterations)?;
    }
    Ok(())
}

/// The largest difference between two runs' pixels.
fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max)
}

/// Bytes received on the loopback interface so far (`/proc/net/dev`).
fn loopback_bytes() -> Result<u64> {
    let table = std::fs::read_to_string("/proc/net/dev")?;
    let line = table.lines().find(|l| l.trim_start().starts_with("lo:"));
    Ok(line.and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// MI-CWA on the images `indices`, on `home`, with surrogate `i` loaded on `devices[i]` (all
/// on `home` without `devices`) and the ensemble gradient computed in `mode`: the median
/// seconds per iteration, the loopback bytes of the run, and the adversarial pixels.
fn timed_attack(
    data: &FashionMnist,
    indices: &[usize],
    iterations: usize,
    home: &Device,
    devices: Option<Vec<Device>>,
    mode: GradientMode,
) -> Result<(f64, u64, Vec<f32>)> {
    let (images, labels) = data.batch(indices, home)?;
    let placed = devices.clone().unwrap_or_else(|| vec![home.clone(); SURROGATES.len()]);
    let surrogates: Vec<Box<dyn Surrogate>> =
        SURROGATES.iter().zip(&placed).map(|(m, d)| m.load(d)).collect::<common_weakness_models::Result<_>>()?;
    let mut ensemble = Ensemble::new(surrogates)?.with_gradient_mode(mode);
    if let Some(devices) = devices {
        ensemble = ensemble.with_devices(devices)?;
    }
    let attack = Cwa::mi_cwa(CwaConfig::paper(16.0 / 255.0).with_iterations(iterations));
    let before = loopback_bytes()?;
    let outcome = attack.run_indexed(&ensemble, images, &Objective::untargeted(labels), indices, &mut Silent)?;
    let bytes = loopback_bytes()? - before;
    let mut seconds: Vec<f64> = outcome.records.iter().map(|r| r.seconds).collect();
    seconds.sort_by(f64::total_cmp);
    let pixels = outcome.adversarial.into_data().convert::<f32>().try_to_vec().expect("f32 pixels");
    Ok((seconds[seconds.len() / 2], bytes, pixels))
}

/// The remote measurement: two servers of Burn's remote backend on loopback ports (a token
/// required, as `surrogate_server` requires one); the ensemble on the first, then split over
/// both (surrogates 1 and 3 on the second).
fn remote(data: &FashionMnist, indices: &[usize], iterations: usize) -> Result<()> {
    let token = "scale example";
    let servers = LoopbackServers::start(2, token)?;
    let urls = &servers.urls;
    let connect = |url: &String| {
        Device::remote_options(&RemoteHost::websocket(url).with_credential(token))
            .init()
            .map(Device::autodiff)
            .map_err(|e| std::io::Error::other(format!("connecting to {url}: {e}")))
    };
    let (a, b) = (connect(&urls[0])?, connect(&urls[1])?);
    let local_device = Device::flex().autodiff();
    let run = |home: &Device, devices: Option<Vec<Device>>, mode| {
        timed_attack(data, indices, iterations, home, devices, mode)
    };
    let (local, _, local_pixels) = run(&local_device, None, GradientMode::Joint)?;
    println!("remote backend, one batch of {}: {local:.3} s per iteration locally (joint)", indices.len());
    let split = vec![a.clone(), b.clone(), a.clone(), b];
    let placements = [
        ("locally", &local_device, None),
        ("one loopback server", &a, Some(vec![a.clone(); SURROGATES.len()])),
        ("two loopback servers (models 1, 3 on the second)", &a, Some(split)),
    ];
    for (what, home, devices) in placements {
        for mode in [GradientMode::Joint, GradientMode::PerModel] {
            let (seconds, bytes, pixels) = run(home, devices.clone(), mode)?;
            let worst = max_difference(&local_pixels, &pixels);
            println!(
                "  {what}, {mode:?}: {seconds:.3} s per iteration ({:.2}x local joint); loopback traffic {:.2} MB per iteration; max |Δ| {worst:.1e} from local joint",
                seconds / local,
                bytes as f64 / iterations as f64 / 1e6
            );
        }
    }
    // The servers live until the process exits: stopping them first would break the
    // client's open connections, on which burn-remote's client panics.
    std::mem::forget(servers);
    Ok(())
}

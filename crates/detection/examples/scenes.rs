//! Writes a gallery of generated detection scenes with their boxes drawn, as one PNG.
//!
//! ```text
//! cargo run --release -p common-weakness-detection --example scenes -- --out docs/results/detection/scenes.png
//! ```
use std::path::PathBuf;

use clap::Parser;
use common_weakness_detection::scene::{generate, Items, SceneConfig};
use common_weakness_models::datasets::{FashionMnist, CLASSES};

#[derive(Parser)]
#[command(about = "A gallery of generated detection scenes with their boxes")]
struct Args {
    /// Scenes per row and rows.
    #[arg(long, default_value_t = 4)]
    columns: usize,
    #[arg(long, default_value_t = 2)]
    rows: usize,
    /// The generator's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The PNG to write.
    #[arg(long, default_value = "scenes.png")]
    out: PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let config = SceneConfig::default();
    let items = Items::fashion_mnist(&FashionMnist::test_slice()?)?;
    let (size, gap) = (config.size as u32, 4u32);
    let (columns, rows) = (args.columns as u32, args.rows as u32);
    let mut gallery =
        image::RgbImage::from_pixel(columns * (size + gap) - gap, rows * (size + gap) - gap, image::Rgb([255; 3]));
    for index in 0..args.columns * args.rows {
        let scene = generate(&config, &items, args.seed, index)?;
        let (left, top) = ((index as u32 % columns) * (size + gap), (index as u32 / columns) * (size + gap));
        for y in 0..size {
            for x in 0..size {
                let rgb = [0, 1, 2].map(|c| (scene.pixel(c, x as usize, y as usize) * 255.0).round() as u8);
                gallery.put_pixel(left + x, top + y, image::Rgb(rgb));
            }
        }
        for object in &scene.objects {
            for (x, y) in object.bbox.outline(config.size, config.size) {
                gallery.put_pixel(left + x as u32, top + y as u32, image::Rgb([255, 0, 0]));
            }
        }
        let names: Vec<_> = scene.objects.iter().map(|o| CLASSES[o.class]).collect();
        println!("scene {index}: {}", names.join(", "));
    }
    if let Some(folder) = args.out.parent() {
        std::fs::create_dir_all(folder)?;
    }
    gallery.save(&args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

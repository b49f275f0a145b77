//! Image files in and out, and the errors of the file-backed parts (no downloads needed).

use burn::tensor::Tensor;
use common_weakness::Error as AttackError;
use common_weakness_bench::images;
use common_weakness_bench::Error;

use crate::common::{device, images as random_images, values};

fn scratch(name: &str) -> std::path::PathBuf {
    let folder = std::env::temp_dir().join(format!("common-weakness-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    folder
}

#[test]
fn png_round_trip_gives_the_quantized_pixels() {
    let folder = scratch("round-trip");
    let batch = random_images(5, [2, 3, 5, 7], 0.0, 1.0);
    let files = [folder.join("a.png"), folder.join("nested/b.png")];
    for (i, file) in files.iter().enumerate() {
        images::save_png(&batch, i, file).unwrap();
    }
    let reloaded = images::load(&files, 5, 7, &device()).unwrap();
    let quantized = images::quantize(batch.clone());
    assert_eq!(values(reloaded.clone()), values(quantized.clone()));
    // Quantisation moves every pixel by at most half a grey level, onto the 256 levels.
    for (q, x) in values(quantized).into_iter().zip(values(batch)) {
        assert!((q - x).abs() <= 0.5 / 255.0 + 1e-6);
        assert!(((q * 255.0).round() - q * 255.0).abs() < 1e-3);
    }
    let adversarial = random_images(6, [2, 3, 5, 7], 0.0, 1.0);
    images::contact_sheet(&reloaded, &adversarial, 10.0, folder.join("sheet.png")).unwrap();
    let sheet = images::read_rgb(folder.join("sheet.png"), 10, 21).unwrap();
    assert_eq!(sheet.len(), 3 * 10 * 21);
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn resizing_gives_the_requested_size_and_keeps_a_flat_colour() {
    let folder = scratch("resize");
    let grey = Tensor::<4>::full([1, 3, 30, 40], 0.4, &device());
    images::save_png(&grey, 0, folder.join("grey.png")).unwrap();
    let pixels = images::read_rgb(folder.join("grey.png"), 12, 9).unwrap();
    assert_eq!(pixels.len(), 3 * 12 * 9);
    let level = (0.4f32 * 255.0).round() / 255.0;
    assert!(pixels.iter().all(|&p| (p - level).abs() < 1e-6), "a flat image stays flat after resizing");
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn bad_files_and_arguments_are_clear_errors() {
    let folder = scratch("errors");
    let text = folder.join("not-an-image.jpg");
    std::fs::write(&text, "hello").unwrap();
    assert!(matches!(images::load(&[&text], 4, 4, &device()), Err(Error::Image { .. })));
    assert!(matches!(images::load(&[folder.join("absent.png")], 4, 4, &device()), Err(Error::Image { .. })));
    assert!(matches!(images::read_rgb(&text, 0, 4), Err(Error::Attack(AttackError::InvalidParameter { .. }))));
    let empty: [&str; 0] = [];
    assert!(matches!(images::load(&empty, 4, 4, &device()), Err(Error::Attack(AttackError::InvalidParameter { .. }))));

    let batch = random_images(1, [1, 3, 4, 4], 0.0, 1.0);
    assert!(matches!(images::save_png(&batch, 1, folder.join("x.png")), Err(Error::Attack(AttackError::Shape { .. }))));
    let two_channels = random_images(1, [1, 2, 4, 4], 0.0, 1.0);
    assert!(matches!(
        images::save_png(&two_channels, 0, folder.join("x.png")),
        Err(Error::Attack(AttackError::Shape { .. }))
    ));
    assert!(matches!(
        images::load_as(&[&text], [2, 4, 4], &device()),
        Err(Error::Attack(AttackError::InvalidParameter { name: "channels", .. }))
    ));
    let other = random_images(2, [1, 3, 4, 5], 0.0, 1.0);
    assert!(matches!(
        images::contact_sheet(&batch, &other, 10.0, folder.join("s.png")),
        Err(Error::Attack(AttackError::Shape { .. }))
    ));

    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn nan_pixels_are_refused_instead_of_written_black() {
    let file = std::env::temp_dir().join("common-weakness-hostile-nan.png");
    let mut rgb = vec![0.5f32; 12];
    rgb[5] = f32::NAN;
    let e = images::save_png(&crate::common::tensor4(rgb, [1, 3, 2, 2]), 0, &file).unwrap_err();
    assert!(matches!(e, Error::Attack(AttackError::InvalidPixels { count: 1, .. })), "{e}");
    assert!(!file.exists());
}

#[test]
fn a_comparison_grid_has_one_tile_per_column_and_row_and_refuses_mismatched_columns() {
    let folder = scratch("grid");
    let (a, b) = (random_images(7, [4, 3, 10, 12], 0.0, 1.0), Tensor::<4>::full([4, 3, 10, 12], 0.4, &device()));
    images::comparison_grid(&[&a, &b], 3, 16, folder.join("grid.jpg")).unwrap();
    let decoded = image::open(folder.join("grid.jpg")).unwrap().to_rgb8();
    assert_eq!(decoded.dimensions(), (2 * 16, 3 * 16));
    // The flat grey column survives the resize and the JPEG round trip within a few levels.
    let grey = (0.4f32 * 255.0).round();
    assert!(decoded.enumerate_pixels().filter(|(x, _, _)| *x >= 20).all(|(_, _, p)| (p[0] as f32 - grey).abs() <= 4.0));
    let other = random_images(8, [4, 3, 10, 10], 0.0, 1.0);
    assert!(matches!(
        images::comparison_grid(&[&a, &other], 3, 16, folder.join("bad.jpg")),
        Err(Error::Attack(AttackError::Shape { .. }))
    ));
    assert!(matches!(
        images::comparison_grid(&[], 3, 16, folder.join("empty.jpg")),
        Err(Error::Attack(AttackError::Shape { .. }))
    ));
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn image_sizes_are_bounded_before_anything_is_allocated() {
    let folder = scratch("sizes");
    let file = folder.join("small.png");
    images::save_png(&random_images(3, [1, 3, 4, 4], 0.0, 1.0), 0, &file).unwrap();
    let huge = images::MAX_SIDE + 1;
    for (height, width, name) in [(huge, 4, "height"), (4, huge, "width"), (usize::MAX, usize::MAX, "height")] {
        let refused = |result: Result<_, Error>| matches!(result, Err(Error::Attack(AttackError::InvalidParameter { name: n, .. })) if n == name);
        assert!(refused(images::read_rgb(&file, height, width).map(|_| ())), "{height}x{width}");
        assert!(refused(images::load(&[&file], height, width, &device()).map(|_| ())), "{height}x{width}");
    }
    // The largest side is accepted.
    assert_eq!(images::read_rgb(&file, 1, images::MAX_SIDE).unwrap().len(), 3 * images::MAX_SIDE);
}

/// A grey image saved as PNG loads back as its 8-bit quantisation, grey or as three equal
/// channels.
#[test]
fn grey_images_round_trip_through_png() {
    let folder = scratch("grey");
    let grey = random_images(3, [1, 1, 5, 4], 0.0, 1.0);
    images::save_png(&grey, 0, folder.join("grey.png")).unwrap();
    let expected = values(images::quantize(grey));
    assert_eq!(values(images::load_as(&[folder.join("grey.png")], [1, 5, 4], &device()).unwrap()), expected);
    let rgb = values(images::load_as(&[folder.join("grey.png")], [3, 5, 4], &device()).unwrap());
    assert_eq!(rgb, [expected.clone(), expected.clone(), expected].concat());
    std::fs::remove_dir_all(&folder).unwrap();
}

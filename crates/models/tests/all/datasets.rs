//! The IDX reader and the committed Fashion-MNIST slice.

use common_weakness_models::datasets::idx::{parse_idx, read_idx, write_idx, IdxArray};
use common_weakness_models::datasets::FashionMnist;
use common_weakness_models::Error;

use crate::common::{device, values};

#[test]
fn the_committed_slice_has_its_documented_contents() {
    let slice = FashionMnist::test_slice().unwrap();
    assert_eq!(slice.len(), 1000);
    let mut counts = [0; 10];
    for &label in slice.labels() {
        counts[label] += 1;
    }
    // data/fashion-mnist/README.md
    assert_eq!(counts, [107, 105, 111, 93, 115, 87, 97, 95, 95, 95]);
    assert_eq!(&slice.labels()[..5], &[9, 2, 1, 1, 6]);
    let all: Vec<u8> = (0..slice.len()).flat_map(|i| slice.pixels(i).to_vec()).collect();
    assert_eq!((all.iter().min(), all.iter().max()), (Some(&0), Some(&255)));
    let (images, labels) = slice.head(10, &device());
    assert_eq!(images.dims(), [10, 1, 28, 28]);
    assert_eq!(labels, slice.labels()[..10]);
    let pixels = values(images);
    assert!(pixels.iter().all(|p| (0.0..=1.0).contains(p)));
    assert_eq!(pixels[..784].iter().map(|p| (p * 255.0).round() as u8).collect::<Vec<_>>(), slice.pixels(0));
}

#[test]
fn idx_round_trips_and_rejects_corrupted_files() {
    let folder = std::env::temp_dir().join(format!("common-weakness-idx-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let array = IdxArray { shape: vec![2, 3, 4], data: (0..24).collect() };
    for name in ["a.idx", "a.idx.gz"] {
        write_idx(folder.join(name), &array).unwrap();
        assert_eq!(read_idx(folder.join(name)).unwrap(), array);
    }
    // Truncated data, a wrong magic number, a non-byte element type, an empty file.
    let mut bytes = vec![0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3];
    assert!(parse_idx(&bytes).unwrap_err().contains("needs 5 data bytes, the file has 3"));
    bytes[0] = 7;
    assert!(parse_idx(&bytes).unwrap_err().contains("magic"));
    assert!(parse_idx(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap_err().contains("0x0d"));
    assert!(parse_idx(&[]).is_err());
    // Through files: a corrupted gzip stream and a truncated slice are clear errors.
    let images = std::fs::read(FashionMnist::test_slice_dir().join("t10k-first1000-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(folder.join("cut-images-idx3-ubyte.gz"), &images[..images.len() / 2]).unwrap();
    std::fs::copy(
        FashionMnist::test_slice_dir().join("t10k-first1000-labels-idx1-ubyte.gz"),
        folder.join("cut-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    match FashionMnist::split(&folder, "cut") {
        Err(Error::Dataset { path, problem }) => {
            assert!(path.ends_with("cut-images-idx3-ubyte.gz"), "{path:?}");
            assert!(!problem.is_empty());
        }
        other => panic!("expected a dataset error, got {other:?}"),
    }
    // Labels that disagree with the images in count.
    write_idx(folder.join("few-images-idx3-ubyte.gz"), &IdxArray { shape: vec![2, 28, 28], data: vec![0; 2 * 784] })
        .unwrap();
    write_idx(folder.join("few-labels-idx1-ubyte.gz"), &IdxArray { shape: vec![3], data: vec![0, 1, 2] }).unwrap();
    assert!(matches!(FashionMnist::split(&folder, "few"), Err(Error::Dataset { .. })));
    assert!(matches!(FashionMnist::split(&folder, "absent"), Err(Error::MissingAssets { .. })));
    std::fs::remove_dir_all(&folder).unwrap();
}

#[test]
fn misuse_of_datasets_is_an_error_naming_the_file_or_index() {
    let missing = std::env::temp_dir().join("common-weakness-no-such-file.idx");
    let e = read_idx(&missing).unwrap_err();
    assert!(e.to_string().contains("common-weakness-no-such-file.idx"), "{e}");
    let data = FashionMnist::test_slice().unwrap();
    let e = data.batch(&[0, data.len()], &device()).unwrap_err();
    assert!(matches!(e, Error::Attack(common_weakness::Error::InvalidParameter { name: "index", .. })), "{e}");
}

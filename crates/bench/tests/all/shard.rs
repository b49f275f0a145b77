//! Shards of an image set: their ranges, parsing, and merging their results.

use common_weakness_bench::shard::{
    combine, combine_folders, merge, merge_folders, Combinable, Difference, Differing, MergeError, Mergeable, Shard,
    ShardFile,
};

#[test]
fn shards_cover_the_set_once_in_order() {
    for total in 0..40 {
        for count in 1..9 {
            let ranges: Vec<_> = (1..=count).map(|index| Shard { index, count }.range(total)).collect();
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges[count - 1].end, total);
            assert!(ranges.windows(2).all(|w| w[0].end == w[1].start), "{total} images, {count} shards");
            assert!(ranges.iter().all(|r| r.len() <= total.div_ceil(count)));
        }
    }
}

#[test]
fn shards_parse_from_k_of_n() {
    assert_eq!("3/4".parse::<Shard>(), Ok(Shard { index: 3, count: 4 }));
    assert_eq!(Shard { index: 3, count: 4 }.to_string(), "3/4");
    for bad in ["", "3", "0/4", "5/4", "1/0", "a/4", "-1/4"] {
        let e = bad.parse::<Shard>().unwrap_err();
        assert!(e.contains("expected k/N"), "{bad}: {e}");
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Count {
    name: &'static str,
    successes: usize,
}

impl Mergeable for Count {
    fn key(&self) -> String {
        self.name.into()
    }
    fn absorb(&mut self, other: Self) {
        self.successes += other.successes;
    }
}

fn file(index: usize, count: usize, results: Vec<Count>) -> ShardFile<Count> {
    ShardFile { shard: Shard { index, count }, images: 10, results }
}

#[test]
fn merging_adds_counts_of_every_shard_in_any_order() {
    let a = |n| Count { name: "a", successes: n };
    let b = |n| Count { name: "b", successes: n };
    let merged = merge(vec![file(2, 2, vec![b(4), a(1)]), file(1, 2, vec![a(2), b(3)])]).unwrap();
    assert_eq!(merged, vec![a(3), b(7)]);
    assert_eq!(merge(vec![file(1, 1, vec![a(5)])]).unwrap(), vec![a(5)]);
}

#[test]
fn merging_refuses_missing_duplicate_or_mismatched_shards() {
    let a = || Count { name: "a", successes: 1 };
    assert_eq!(merge::<Count>(vec![]), Err(MergeError::Empty));
    for files in [
        vec![file(1, 3, vec![a()]), file(2, 3, vec![a()])],
        vec![file(1, 2, vec![a()]), file(1, 2, vec![a()])],
        vec![file(1, 2, vec![a()]), ShardFile { images: 11, ..file(2, 2, vec![a()]) }],
    ] {
        assert!(matches!(merge(files), Err(MergeError::Coverage { .. })));
    }
    let other = Count { name: "other", successes: 1 };
    let e = merge(vec![file(1, 2, vec![a()]), file(2, 2, vec![other])]).unwrap_err();
    assert_eq!(e, MergeError::Unmatched { shard: Shard { index: 2, count: 2 }, key: "other".into() });
    assert!(e.to_string().contains("same options"));
    let e = merge(vec![file(1, 2, vec![a()]), file(2, 2, vec![])]).unwrap_err();
    assert!(matches!(e, MergeError::Unmatched { .. }));
}

impl Combinable for Count {
    fn differing_images(&self, other: &Self) -> usize {
        self.successes.abs_diff(other.successes)
    }
}

#[test]
fn combining_puts_runs_side_by_side_and_keeps_a_shared_result_once() {
    let count = |name, successes| Count { name, successes };
    let first = file(2, 4, vec![count("MI-FGSM", 3), count("MI-CWA", 5)]);
    let later = file(2, 4, vec![count("MI-FGSM", 3), count("PGN", 6)]);
    let combined = combine(vec![first.clone(), later], Differing::Refuse).unwrap();
    assert_eq!(combined.file, file(2, 4, vec![count("MI-FGSM", 3), count("MI-CWA", 5), count("PGN", 6)]));
    assert!(combined.differing.is_empty());
    assert_eq!(combine(vec![first.clone()], Differing::Refuse).unwrap().file, first);
}

#[test]
fn combining_refuses_other_images_and_a_result_that_differs() {
    let a = |successes| Count { name: "a", successes };
    for differing in [Differing::Refuse, Differing::KeepFirst] {
        assert_eq!(combine::<Count>(vec![], differing), Err(MergeError::Empty));
        for other in [file(1, 4, vec![]), ShardFile { images: 11, ..file(2, 4, vec![]) }] {
            let e = combine(vec![file(2, 4, vec![a(1)]), other], differing).unwrap_err();
            assert!(matches!(e, MergeError::Images { .. }), "{e}");
            assert!(e.to_string().contains("2/4 of 10"), "{e}");
        }
    }
    let e = combine(vec![file(2, 4, vec![a(1)]), file(2, 4, vec![a(2)])], Differing::Refuse).unwrap_err();
    assert_eq!(e, MergeError::Disagree { key: "a".into() });
    assert!(e.to_string().contains("same options, code and machine"), "{e}");
}

#[test]
fn combining_runs_from_other_machines_keeps_the_first_result_and_lists_the_differences() {
    let count = |name, successes| Count { name, successes };
    let first = file(2, 4, vec![count("MI-FGSM", 3), count("MI-CWA", 5)]);
    let other_machine = file(2, 4, vec![count("MI-FGSM", 3), count("MI-CWA", 7), count("PGN", 6)]);
    let third_machine = file(2, 4, vec![count("MI-CWA", 4), count("GRA", 2)]);
    let combined = combine(vec![first, other_machine, third_machine], Differing::KeepFirst).unwrap();
    let kept = vec![count("MI-FGSM", 3), count("MI-CWA", 5), count("PGN", 6), count("GRA", 2)];
    assert_eq!(combined.file, file(2, 4, kept));
    let difference = |run, images| Difference { run, key: "MI-CWA".into(), images };
    assert_eq!(combined.differing, vec![difference(1, 2), difference(2, 1)]);
}

/// A result read from a file (the reading fails before any is merged).
#[derive(Debug, serde::Deserialize)]
struct Stored;

impl Mergeable for Stored {
    fn key(&self) -> String {
        String::new()
    }
    fn absorb(&mut self, _: Self) {}
}

impl Combinable for Stored {
    fn differing_images(&self, _: &Self) -> usize {
        0
    }
}

#[test]
fn a_missing_or_malformed_results_file_is_named() {
    let folder = std::env::temp_dir().join(format!("cw-shard-files-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let e = combine_folders::<Stored>(std::slice::from_ref(&folder), Differing::Refuse).unwrap_err().to_string();
    assert!(e.contains("results.json") && e.contains("cw-shard-files"), "{e}");
    std::fs::write(folder.join("results.json"), "{ not json").unwrap();
    let e = merge_folders::<Stored>(std::slice::from_ref(&folder)).unwrap_err().to_string();
    assert!(e.contains("results.json") && e.contains("line 1"), "{e}");
    std::fs::remove_dir_all(&folder).unwrap();
}

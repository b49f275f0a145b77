//! Built-in observers: progress lines, JSON lines and CSV logs.

use common_weakness::attack::CwaConfig;
use common_weakness::observe::{IterationRecord, Progress, RecordFormat, RecordWriter, RunInfo};
use common_weakness::prelude::*;

use super::common::{images, mlp_ensemble};

#[test]
fn json_lines_and_csv_writers_log_every_iteration() {
    let ensemble = mlp_ensemble(2, 12, 4);
    let x = images(1, [2, 3, 2, 2], 0.0, 1.0);
    let objective = Objective::untargeted(vec![0, 1]);
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1).with_iterations(4));

    let mut both =
        (RecordWriter::new(Vec::new(), RecordFormat::JsonLines), RecordWriter::new(Vec::new(), RecordFormat::Csv));
    let outcome = attack.run_observed(&ensemble, x, &objective, &mut both).unwrap();
    let json = String::from_utf8(both.0.finish().unwrap()).unwrap();
    let csv = String::from_utf8(both.1.finish().unwrap()).unwrap();

    let mut lines = json.lines();
    let info: RunInfo = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(info, outcome.info);
    let records: Vec<IterationRecord> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records, outcome.records);

    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "iteration,loss_mlp0,loss_mlp1,gradient_cosine,perturbation_linf,perturbation_l2,seconds,weight_mlp0,weight_mlp1"
    );
    assert_eq!(rows.len(), 5);
    assert!(rows[4].starts_with("4,"));
}

#[test]
fn progress_lines_name_models_and_measurements() {
    let mut progress = Progress::new("batch 1: ");
    let info = RunInfo {
        attack: "MI-CWA".into(),
        config: serde_json::Value::Null,
        seed: 0,
        backend: "ndarray".into(),
        models: vec!["a".into(), "b".into()],
        images: 2,
        image_indices: vec![0, 1],
        iterations: 10,
    };
    progress.start(&info);
    let record = IterationRecord {
        iteration: 3,
        loss_per_model: vec![-1.5, -0.25],
        gradient_cosine: Some(0.125),
        model_weights: None,
        perturbation_linf: 0.0627,
        perturbation_l2: 1.5,
        seconds: 0.012,
    };
    // 0.036 s for 3 of 10 iterations: 0.084 s left.
    let line = progress.line(&record, 0.036);
    assert_eq!(line, "batch 1: [  3/10] loss a=-1.5000 b=-0.2500 cos=0.125 |δ|∞=0.0627 |δ|₂=1.5000 12 ms, ~0 s left");
}

#[test]
fn a_failing_writer_reports_its_error() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let ensemble = mlp_ensemble(1, 12, 4);
    let mut writer = RecordWriter::new(Broken, RecordFormat::Csv);
    let attack = Cwa::mi_cwa(CwaConfig::paper(0.1).with_iterations(2));
    attack
        .run_observed(&ensemble, images(1, [1, 3, 2, 2], 0.0, 1.0), &Objective::untargeted(vec![0]), &mut writer)
        .unwrap();
    assert!(matches!(writer.finish(), Err(Error::Io(_))));
}

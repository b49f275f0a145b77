//! The ALRS rule (SPEC §11.1).

use burn::lr_scheduler::LrScheduler;
use common_weakness::Error;
use common_weakness_models::Alrs;

#[test]
fn decays_only_when_both_improvements_are_small() {
    let mut alrs = Alrs::new(1.0).unwrap();
    assert_eq!(alrs.end_epoch(100.0).unwrap(), 1.0); // from 999
                                                     // δ = 0.5 ≥ τ_abs although δ/L = 0.005 < τ_rel: kept.
    assert_eq!(alrs.end_epoch(99.5).unwrap(), 1.0);
    // δ = 0.005 < τ_abs and δ/L = 5e-5 < τ_rel: decayed.
    assert_eq!(alrs.end_epoch(99.495).unwrap(), 0.97);
    let mut alrs = Alrs::new(1.0).unwrap();
    alrs.end_epoch(0.05).unwrap();
    // δ = 0.005 < τ_abs but δ/L = 0.1 ≥ τ_rel: kept.
    assert_eq!(alrs.end_epoch(0.045).unwrap(), 1.0);
    // A loss that went up always decays, and decays compound.
    assert_eq!(alrs.end_epoch(0.5).unwrap(), 0.97);
    approx::assert_relative_eq!(alrs.end_epoch(0.5).unwrap(), 0.97 * 0.97);
}

#[test]
fn custom_thresholds_and_the_burn_scheduler_interface() {
    let mut alrs = Alrs::with_thresholds(0.1, 1e-4, 1e-4, 0.5).unwrap();
    assert_eq!(alrs.step(), 0.1);
    alrs.end_epoch(1.0).unwrap();
    alrs.end_epoch(0.99995).unwrap(); // δ = 5e-5 < 1e-4 and δ/L < 1e-4
    assert_eq!(alrs.step(), 0.05);
    assert_eq!(alrs.step(), 0.05, "step() only reports the rate; epochs change it");
    let record = LrScheduler::to_record(&alrs);
    let mut restored = Alrs::new(0.3).unwrap();
    restored.load_record(record.clone());
    assert_eq!(restored.learning_rate(), 0.05);
    let mut restored = Alrs::with_thresholds(0.05, 1e-4, 1e-4, 0.5).unwrap();
    restored.load_record(record);
    restored.end_epoch(0.99995).unwrap(); // same loss as the last epoch: decays again
    assert_eq!(restored.learning_rate(), 0.025);
}

#[test]
fn bad_settings_and_diverged_losses_are_errors() {
    assert!(matches!(Alrs::new(0.0), Err(Error::InvalidParameter { .. })));
    assert!(matches!(Alrs::with_thresholds(0.1, 0.01, 0.01, 1.0), Err(Error::InvalidParameter { .. })));
    assert!(matches!(Alrs::with_thresholds(0.1, 0.01, 0.01, 0.0), Err(Error::InvalidParameter { .. })));
    assert!(matches!(Alrs::with_thresholds(0.1, -1.0, 0.01, 0.9), Err(Error::InvalidParameter { .. })));
    let mut alrs = Alrs::new(0.1).unwrap();
    assert!(matches!(alrs.end_epoch(f64::NAN), Err(Error::InvalidParameter { .. })));
    assert_eq!(alrs.learning_rate(), 0.1);
}

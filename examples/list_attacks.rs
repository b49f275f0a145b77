//! Prints every attack of the crate with its paper and default JSON spec (the paper's table,
//! then the catalogue of later methods), and shows how a spec read from text becomes a
//! runnable attack.
//!
//! ```text
//! cargo run --release --example list_attacks
//! ```

use common_weakness::attack::{catalogue, registry, AttackSpec};

fn main() -> Result<(), serde_json::Error> {
    for entry in registry().into_iter().chain(catalogue()) {
        println!("{entry}\n");
    }
    let spec: AttackSpec = serde_json::from_str(
        r#"{"attack": "vmi-cwa", "threat": {"norm": "Linf", "budget": 0.03137}, "iterations": 10,
            "step_size": 0.00627, "inner_step_size": 50.0, "reverse_step_size": 0.00209,
            "momentum": 1.0, "flavor": "Paper", "random_start": false, "seed": 7}"#,
    )?;
    let attack = spec.build();
    println!("built from JSON: {}", attack.name());
    Ok(())
}

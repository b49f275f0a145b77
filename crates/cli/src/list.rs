//! `common-weakness list`: the attacks and models the other commands take.

use common_weakness::attack::{catalogue_at, registry_at};

use crate::attack::threat;
use crate::error::Result;

/// Lists the attacks (with their papers and default specs) and the models.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The budget the attacks' defaults are shown at (a number or a fraction such as 16/255).
    #[arg(long, short, default_value = "16/255")]
    pub budget: String,
    /// The norm of the budget: linf or l2.
    #[arg(long, default_value = "linf", value_parser = ["linf", "l2"])]
    pub norm: String,
    /// Print every attack's default spec as one JSON line (for `attack --spec`).
    #[arg(long)]
    pub json: bool,
}

/// Runs `list`.
pub fn run(args: &ListArgs) -> Result<()> {
    let threat = threat(&args.budget, &args.norm)?;
    let entries: Vec<_> = registry_at(threat).into_iter().chain(catalogue_at(threat)).collect();
    if args.json {
        for entry in entries {
            println!("{}", serde_json::to_string(&entry.defaults).expect("a spec is JSON"));
        }
        return Ok(());
    }
    println!("Attacks (--attack NAME; defaults at budget {:.5} under {}):", threat.budget, args.norm);
    for entry in entries {
        let defaults = serde_json::to_value(&entry.defaults).expect("a spec is JSON");
        let iterations = defaults.get("iterations").map_or(String::new(), |i| format!(", {i} iterations"));
        println!("  {:<16} {}{iterations}", entry.name, entry.reference);
    }
    println!("\nModels (--models a,b,c):");
    for (name, what) in crate::models::known() {
        println!("  {name:<20} {what}");
    }
    Ok(())
}

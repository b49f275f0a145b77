//! `common-weakness`: transferable adversarial examples for folders of images, from the command
//! line.
//!
//! ```text
//! common-weakness list                                   # attacks and models
//! common-weakness attack photos/ -m resnet50.pt,efficientnet-lite0 -a MI-CWA -b 16/255 -o adv/
//! common-weakness eval -m victim.pt -r adv/report.json   # success on other models
//! ```
//!
//! Every bad argument is an error naming it (exit code 2); a run stopped by `--time-limit` exits
//! with code 3 and resumes when the same command runs again.

mod attack;
mod error;
mod eval;
mod files;
mod labels;
mod list;
mod models;
mod progress;
mod report;
mod score;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Transferable adversarial examples from an ensemble of surrogate models (the Common
/// Weakness Attack and the methods it composes with), for image files.
#[derive(Debug, Parser)]
#[command(name = "common-weakness", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Attack image files and write the adversarial examples as PNG files with a report.
    Attack(attack::AttackArgs),
    /// Score image files on models: how many fool each.
    Eval(eval::EvalArgs),
    /// List the attacks and the models.
    List(list::ListArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Attack(args) => attack::run(args, std::env::args().collect()).map(|ended| match ended {
            attack::Ended::Finished => ExitCode::SUCCESS,
            attack::Ended::Paused => ExitCode::from(3),
        }),
        Command::Eval(args) => eval::run(args).map(|_| ExitCode::SUCCESS),
        Command::List(args) => list::run(args).map(|_| ExitCode::SUCCESS),
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })
}

//! `punktfunk-probe`: connect to a host, verify and measure what it sends; and offline tools such as
//! the FEC loss sweep.

use anyhow::Result;
use clap::{Parser, Subcommand};
use punktfunk_client::loss_sweep::{render_table, run_case, sweep_cases};

#[derive(Parser)]
#[command(
    name = "punktfunk-probe",
    version,
    about = "Test and measurement client for punktfunk hosts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Push realistic frame streams through the data-plane core under iid and bursty loss,
    /// with fixed and adaptive FEC, and report delivered frames, recovered shards and overhead.
    LossSweep {
        /// Print JSON (one object per case) instead of a table.
        #[arg(long)]
        json: bool,
        /// Simulated seconds of stream per case.
        #[arg(long, default_value_t = 20)]
        seconds: u32,
        /// Seed for loss and frame sizes (runs are deterministic per seed).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::LossSweep {
            json,
            seconds,
            seed,
        } => {
            let results = sweep_cases(seconds, seed)
                .into_iter()
                .map(run_case)
                .collect::<Result<Vec<_>>>()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                print!("{}", render_table(&results));
            }
        }
    }
    Ok(())
}

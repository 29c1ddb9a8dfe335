//! Examines an archive as the analysis job does (without registries or storage) and prints how
//! long it took: `cargo run --release -p commandcenter --example examine -- <archive>`; run it
//! under `/usr/bin/time -v` for the peak resident memory.

use std::time::Instant;

use commandcenter::domain::analysis::{examine_archive, Limits};

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: examine <archive>");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let started = Instant::now();
    match examine_archive(&bytes, &Limits::default()) {
        Ok(ex) => println!(
            "{:.2} MiB archive: {} files, {} lines, {} dependencies, {} technologies in {:.0} ms",
            bytes.len() as f64 / 1_048_576.0,
            ex.code_metrics.total_files,
            ex.code_metrics.lines_of_code,
            ex.dependencies.len(),
            ex.technologies.len(),
            started.elapsed().as_secs_f64() * 1000.0
        ),
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    }
}

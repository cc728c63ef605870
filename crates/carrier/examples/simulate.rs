//! Runs a scenario file and prints the report as JSON: `cargo run --release -p palera-carrier
//! --example simulate -- FILE.toml`. Exits with status 2 on an invalid scenario, like
//! `palera-voice simulate`.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: simulate FILE.toml");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2);
    });
    match palera_carrier::sim::run(&text) {
        Ok(report) => println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("serialisable")
        ),
        Err(e) => {
            eprintln!("invalid scenario: {e}");
            std::process::exit(2);
        }
    }
}

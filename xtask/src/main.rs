//! `cargo xtask`: the monitoring stack's pipeline,
//! source -> generate -> validate -> pin -> plan -> deploy -> history.

mod cli;
mod repo;
mod tools;

mod bundle;
mod source;
mod generate;
mod pin;
mod validate;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<std::process::ExitCode> {
    let root = repo::root()?;
    match cli.command {
        cli::Command::Gen(args) => generate::run(&root, args.check),
        cli::Command::Pin(args) => pin::run(&root, &args),
        cli::Command::Pins => generate::pins::run(&root),
        other => anyhow::bail!("{other:?}: not wired yet"),
    }
}

//! `cargo xtask`: the monitoring stack's pipeline,
//! source -> generate -> check -> pin -> plan -> deploy -> verify -> history (see
//! ARCHITECTURE.md for the stages and which module may import which).

mod cli;
mod repo;
mod tools;

mod bench;
mod bundle;
mod check;
mod deploy;
mod extract;
mod generate;
mod history;
mod pin;
mod plan;
mod review;
mod source;
mod swarm;
mod verify;

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    // clap exits with 2 on a usage error, which `deploy` uses for "rolled
    // back": usage errors get their own code (EX_USAGE).
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let usage = err.use_stderr();
            let _ = err.print();
            return if usage {
                std::process::ExitCode::from(deploy::EXIT_USAGE)
            } else {
                std::process::ExitCode::SUCCESS
            };
        }
    };
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
        cli::Command::Bench(cli::BenchArgs { which: cli::BenchCommand::Check }) => bench::check::run(&root),
        cli::Command::Check(args) => check::run::run(
            &root,
            check::run::Options { offline: args.offline, with_images: args.with_images },
            args.no_cache,
        ),
        cli::Command::Pin(args) => pin::run(&root, &args),
        cli::Command::Pins => generate::pins::run(&root),
        cli::Command::Plan(args) => plan::run(&root, args),
        cli::Command::Deploy(args) => deploy::run(&root, args),
        cli::Command::Rollback(args) => deploy::run_rollback(&root, args),
        cli::Command::Status(args) => deploy::status::run(&root, args),
        cli::Command::Secret(args) => deploy::secret::run(&root, args),
        cli::Command::Verify(args) => verify::run(&root, args),
        cli::Command::Bench(cli::BenchArgs { which: cli::BenchCommand::Deploy }) => bench::deploy::run(&root),
        cli::Command::Bench(cli::BenchArgs { which: cli::BenchCommand::DeployNodes { nodes } }) => {
            bench::nodes::run(&root, &nodes)
        }
        cli::Command::Review(args) => review::run(&root, args),
        cli::Command::ExtractCatalog(args) => extract::run(&root, &args),
    }
}

//! The `kanca` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    kanca::cli::Cli::parse().run()
}

//! The `coffer` binary: parse, run, print the error, choose the exit code.

mod cli;

fn main() -> std::process::ExitCode {
    coffer::sys::harden_process();
    cli::main()
}

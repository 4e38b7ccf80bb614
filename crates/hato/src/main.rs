//! `hato`: the self-hosted SMS platform. See `hato --help`.

use clap::Parser;

// glibc's malloc and free were a sixth of the writer thread and a fifth of the HTTP workers;
// jemalloc (also under SQLite, through its unprefixed symbols) cut the server's CPU per message
// by 17 % (docs/ARCHITECTURE.md, "Decisions").
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = hato::cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(hato::cli::execute(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// See host/Cargo.toml for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    // `RUST_BACKTRACE=1` is for panics; without this, wasmtime would also capture
    // a backtrace for every internal error it makes and discards on the hot path.
    // Set before any thread starts; `RUST_LIB_BACKTRACE=1` still turns them on.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = wirework::cli::Cli::parse();
    // `WIREWORK_LOG` takes tracing's filter syntax; `WIREWORK_LOG_FORMAT=json`
    // writes one JSON object per line (for log shippers).
    let filter = EnvFilter::try_from_env("WIREWORK_LOG").unwrap_or_else(|_| EnvFilter::new(cli.default_log_filter()));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::env::var("WIREWORK_LOG_FORMAT").is_ok_and(|f| f == "json") {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(cli.run()) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

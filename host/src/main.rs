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
    no_transparent_huge_pages();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(cli.run()) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Turn transparent huge pages off for this process.
///
/// mimalloc asks for them (`MADV_HUGEPAGE`) on its arenas, so the first touch
/// of a fresh region, and again after each purge, zeroes a whole 2 MiB page
/// in one fault. In `wirework serve` under load that was 10-14% of the commit
/// thread's CPU (sled's buffers and node copies; `clear_page_erms` under
/// `do_huge_pmd_anonymous_page`) and some of its multi-millisecond stalls.
/// With the flag set the kernel ignores those hints and uses 4 KiB pages.
/// It applies to memory already mapped too, and is inherited by child
/// processes. Best effort: elsewhere than Linux, or if the call fails,
/// nothing changes.
fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        let (on, unused): (libc::c_ulong, libc::c_ulong) = (1, 0);
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only (passed at
        // the kernel's width) and changes a flag of this process's memory
        // map; no memory is read or written.
        if unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, on, unused, unused, unused) } != 0 {
            tracing::debug!("transparent huge pages stay as they are: {}", std::io::Error::last_os_error());
        }
    }
}

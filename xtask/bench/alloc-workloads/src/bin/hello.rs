//! A static hello world, for the resident memory a program costs before it
//! does anything: prints its greeting, then its RSS (`rss_kib=`, from
//! /proc/self/smaps_rollup) and peak (`peak_rss_kib=`, VmHWM) on stderr.
//! std's runtime allocates at start-up (thread name, arguments), so the
//! allocator is initialised as in any Rust program.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    println!("hello, world");
    let field = |file: &str, name: &str| -> String {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or("0")
            .to_owned()
    };
    eprintln!(
        "rss_kib={} peak_rss_kib={}",
        field("/proc/self/smaps_rollup", "Rss:"),
        field("/proc/self/status", "VmHWM:")
    );
}

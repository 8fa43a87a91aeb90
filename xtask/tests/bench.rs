//! The benchmark harness works: `cargo xtask bench --quick` builds all six
//! variants, checks each runs with the allocator it claims, runs every
//! workload (the HTTP server under its load generator too, the memory
//! workloads, one under a real cgroup memory limit) and writes the
//! reports and the plot. (It says nothing about speed: the
//! numbers come from full runs, `cargo xtask bench`.)

mod common;

use common::shared_mirror;

#[test]
fn the_quick_smoke_run_builds_checks_and_reports_every_variant() {
    let dir = xtask::bench::run(true, Some(shared_mirror())).unwrap_or_else(|e| panic!("{e:#}"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let measurements = json["measurements"].as_array().unwrap();
    let variants: std::collections::BTreeSet<&str> = measurements
        .iter()
        .map(|m| m["variant"].as_str().unwrap())
        .collect();
    assert_eq!(variants.len(), 6, "{variants:?}");
    for m in measurements {
        let figure = match m["http"].as_object() {
            Some(http) => http["requests_per_s"]["median"].as_f64(),
            None => m["wall_s"]["median"].as_f64(),
        };
        assert!(figure.is_some_and(|f| f > 0.0), "{m}");
    }
    let http: Vec<_> = measurements
        .iter()
        .filter(|m| m["http"].is_object())
        .collect();
    assert_eq!(http.len(), 6, "one HTTP measurement per variant");
    for m in http {
        let p50 = m["http"]["p50_ms"]["median"].as_f64().unwrap();
        let p99 = m["http"]["p99_ms"]["median"].as_f64().unwrap();
        let cpu = m["http"]["server_cpu_us_per_request"]["median"]
            .as_f64()
            .unwrap();
        assert!(0.0 < p50 && p50 <= p99 && cpu > 0.0, "{m}");
    }
    assert!(
        measurements
            .iter()
            .all(|m| m["peak_rss_kib"].as_u64().unwrap() > 0)
    );
    let markdown = std::fs::read_to_string(dir.join("report.md")).unwrap();
    for row in [
        "rayon JSON x8",
        "zstd from C x8",
        "churn small x8",
        "producer/consumer x8",
        "realloc growth x8",
        "memcpy 64 KiB",
        "memchr 64 B",
        "zeroed churn x1",
        "churn large x16",
        "HTTP server x8 requests/s",
        "HTTP server x8 p99 latency ms",
        // Memory beside time: RSS while idle after a burst (and after the
        // HTTP server's load), hello worlds, a burst into fresh memory.
        "burst 50 MB then idle x4: idle 1000ms",
        "HTTP server x8: idle 1000ms",
        "hello world (Rust): at exit",
        "hello world (C): at exit",
        "fresh burst 50 MB x4",
    ] {
        assert!(markdown.contains(&format!("| {row} |")), "{markdown}");
    }
    assert!(markdown.contains("\nMisses: "), "{markdown}");
    // The run under a cgroup memory limit, and the memory goals of both
    // flavors.
    assert!(
        markdown.contains("phases 50 MB x4 under 80 MiB: in a cgroup of the memory controller"),
        "{markdown}"
    );
    assert!(markdown.contains("\nMemory misses: "), "{markdown}");
    let limited: Vec<_> = measurements
        .iter()
        .filter(|m| m["limited"].is_object())
        .collect();
    assert_eq!(limited.len(), 6, "one run under the limit per variant");
    for m in limited {
        assert_eq!(m["limited"]["limit_kib"].as_u64(), Some(80 << 10), "{m}");
        assert!(m["limited"]["max_usage_kib"].as_u64().unwrap() > 0, "{m}");
    }
    // The C hello world exists for every variant with its own C allocator.
    let c_hello = measurements
        .iter()
        .filter(|m| m["workload"] == "hello world (C)")
        .count();
    assert_eq!(c_hello, 4, "glibc, stock musl and both flavors");
    assert!(
        markdown.contains("| workload | secure ÷ fastmusl | stock musl ÷ secure |"),
        "{markdown}"
    );
    for allocator in [
        "| glibc | glibc malloc |",
        "| stock musl | musl mallocng |",
        "| fastmusl | mimalloc v3.4.3 (in libc, default flavor: secure level 0) |",
        "| fastmusl secure | mimalloc v3.4.3 (in libc, secure flavor: secure level 4) |",
        "(mimalloc crate) |",
    ] {
        assert!(markdown.contains(allocator), "{markdown}");
    }
    let plot = std::fs::read(dir.join("churn-throughput.png")).unwrap();
    assert!(plot.starts_with(b"\x89PNG\r\n\x1a\n") && plot.len() > 10_000);

    // `--rewrite` makes the same tables, and the plot, from report.json alone.
    std::fs::remove_file(dir.join("report.md")).unwrap();
    std::fs::remove_file(dir.join("churn-throughput.png")).unwrap();
    xtask::bench::rewrite(&dir.join("report.json")).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        std::fs::read_to_string(dir.join("report.md")).unwrap(),
        markdown
    );
    assert_eq!(
        std::fs::read(dir.join("churn-throughput.png")).unwrap(),
        plot
    );
}

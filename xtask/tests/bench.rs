//! The benchmark harness works: `cargo xtask bench --quick` builds all five
//! variants, checks each runs with the allocator it claims, runs every
//! workload and writes the reports. (It says nothing about speed: the
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
    assert_eq!(variants.len(), 5, "{variants:?}");
    assert!(
        measurements
            .iter()
            .all(|m| m["median_s"].as_f64().unwrap() > 0.0)
    );
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
        "memcpy 1048576 B",
    ] {
        assert!(markdown.contains(&format!("| {row} |")), "{markdown}");
    }
}

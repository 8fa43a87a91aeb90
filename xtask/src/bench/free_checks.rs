//! The table of `cargo xtask bench --free-checks`: what the checks at every
//! free (patches/mimalloc/0006, `MI_FREE_CHECKS` levels) cost, workload by
//! workload, by median time (for the HTTP server, time per request), with
//! the geometric mean and the worst case of each level. Each flavor is
//! measured against itself built without the checks (level 0, upstream's
//! behaviour), from the shipped flavor's own flags, so that nothing but the
//! checks differs.
//!
//! The levels add up: 1 ownership (the page map, bounded), 2 and the start
//! of a block, 3 and the freed tag (double frees; the default flavor's
//! level), 4 and the padding of every block and of the block before it,
//! and huge blocks mapped on their own between guard pages (the secure
//! flavor's level).

use super::{
    Variant,
    report::{Report, geometric_mean},
};
use crate::platforms::FlavorRow;

/// What the default flavor may cost for its checks, against level 0: on
/// the geometric mean, and on any one workload (issue 29).
pub const MEAN_LIMIT: f64 = 1.02;
pub const WORST_LIMIT: f64 = 1.05;

/// A study-only build: a shipped flavor at a lower level of the checks.
pub struct Point {
    pub label: &'static str,
    /// The study flavor's name (its sysroot under target/bench/sysroots/).
    pub flavor: &'static str,
    /// The shipped flavor whose flags it takes.
    pub shipped: &'static str,
    pub level: u32,
}

pub const POINTS: [Point; 5] = [
    Point {
        label: "fastmusl, free checks 0",
        flavor: "freechecks0",
        shipped: "default",
        level: 0,
    },
    Point {
        label: "fastmusl, free checks 1",
        flavor: "freechecks1",
        shipped: "default",
        level: 1,
    },
    Point {
        label: "fastmusl, free checks 2",
        flavor: "freechecks2",
        shipped: "default",
        level: 2,
    },
    Point {
        label: "fastmusl secure, free checks 0",
        flavor: "securefreechecks0",
        shipped: "secure",
        level: 0,
    },
    Point {
        label: "fastmusl secure, free checks 3",
        flavor: "securefreechecks3",
        shipped: "secure",
        level: 3,
    },
];

/// The levels the shipped flavors are built at (patch 0006's defaults).
pub const DEFAULT_LEVEL: u32 = 3;
pub const SECURE_LEVEL: u32 = 4;

/// The study's columns: each flavor from level 0 up to the shipped one,
/// measured in one rotation per flavor.
pub const DEFAULT_VARIANTS: [Variant; 4] = [
    Variant::FreeChecks(0),
    Variant::FreeChecks(1),
    Variant::FreeChecks(2),
    Variant::Fastmusl,
];
pub const SECURE_VARIANTS: [Variant; 3] = [
    Variant::FreeChecks(3),
    Variant::FreeChecks(4),
    Variant::FastmuslSecure,
];
const VARIANTS: [Variant; 7] = [
    DEFAULT_VARIANTS[0],
    DEFAULT_VARIANTS[1],
    DEFAULT_VARIANTS[2],
    DEFAULT_VARIANTS[3],
    SECURE_VARIANTS[0],
    SECURE_VARIANTS[1],
    SECURE_VARIANTS[2],
];

/// The study flavors: each point's shipped flavor's mimalloc flags, with
/// its level of the checks in place of the shipped one.
pub fn flavors(shipped: &[FlavorRow]) -> anyhow::Result<Vec<FlavorRow>> {
    POINTS
        .iter()
        .map(|p| {
            let row = shipped
                .iter()
                .find(|f| f.name == p.shipped)
                .ok_or_else(|| {
                    anyhow::anyhow!("sysroots/targets.toml has no {} flavor", p.shipped)
                })?;
            let mut cflags: Vec<String> = row
                .mimalloc_cflags
                .iter()
                .filter(|f| !f.starts_with("-DMI_FREE_CHECKS="))
                .cloned()
                .collect();
            cflags.push(format!("-DMI_FREE_CHECKS={}", p.level));
            Ok(FlavorRow {
                name: p.flavor.to_owned(),
                summary: format!("{} (bench study only)", p.label),
                mimalloc_cflags: cflags,
            })
        })
        .collect()
}

/// A column: its level of the checks and the flavor's level-0 baseline.
fn column(v: Variant) -> (u32, Variant) {
    match v {
        Variant::FreeChecks(i) => (
            POINTS[i].level,
            if POINTS[i].shipped == "secure" {
                Variant::FreeChecks(3)
            } else {
                Variant::FreeChecks(0)
            },
        ),
        Variant::FastmuslSecure => (SECURE_LEVEL, Variant::FreeChecks(3)),
        _ => (DEFAULT_LEVEL, Variant::FreeChecks(0)),
    }
}

pub fn markdown(report: &Report) -> String {
    let mut text = format!(
        "Machine: {}. {} run(s) per variant after a warm-up, variants alternated (each \
         flavor's levels in a rotation of their own).{}\n\n\
         The checks at every free (patches/mimalloc/0006) in fastmusl's libc.a, by level: \
         1 ownership (a bounded page-map lookup), 2 and the start of a block, 3 and the freed \
         tag (double frees; the default flavor's level), 4 and the padding of every block and \
         of the one before it, huge blocks between guard pages (the secure flavor's level). \
         Median time (for the HTTP server, time per \
         request) as a ratio to the same flavor built at level 0 (upstream's behaviour, \
         everything else alike).\n\n\
         | workload | default, level 0 (s or µs/request) | 1 ÷ 0 | 2 ÷ 0 | 3 (shipped) ÷ 0 \
         | secure, level 0 | secure 3 ÷ 0 | secure 4 (shipped) ÷ 0 |\n\
         |---|---|---|---|---|---|---|---|\n",
        report.machine,
        report.runs_per_variant,
        if report.quick {
            " QUICK SMOKE RUN: not for conclusions."
        } else {
            ""
        }
    );
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); VARIANTS.len()];
    for row in report.rows() {
        let shown = |v: Variant| {
            row.of(v).map(|m| match m.http {
                Some(_) => m.cost() * 1e6,
                None => m.cost(),
            })
        };
        text += &format!("| {} |", row.workload);
        for (i, v) in VARIANTS.iter().enumerate() {
            let (_, base) = column(*v);
            if *v == base {
                match shown(*v) {
                    Some(s) => text += &format!(" {s:.3} |"),
                    None => text += " – |",
                }
                continue;
            }
            match (row.of(*v), row.of(base)) {
                (Some(m), Some(b)) => {
                    let r = m.cost() / b.cost();
                    ratios[i].push(r);
                    text += &format!(" {r:.3}× |");
                }
                _ => text += " – |",
            }
        }
        text += "\n";
    }
    let mean = |r: &[f64]| geometric_mean(r);
    let worst = |r: &[f64]| r.iter().copied().fold(f64::NAN, f64::max);
    for (name, f) in [
        ("**geometric mean**", &mean as &dyn Fn(&[f64]) -> f64),
        ("**worst workload**", &worst),
    ] {
        text += &format!("| {name} |");
        for (v, r) in VARIANTS.iter().zip(&ratios) {
            if column(*v).1 == *v {
                text += " |";
            } else {
                text += &format!(" **{:.3}×** |", f(r));
            }
        }
        text += "\n";
    }
    let shipped = &ratios[3];
    let (m, w) = (mean(shipped), worst(shipped));
    text += &format!(
        "\nThe default flavor's checks, against its goal (geometric mean ≤ {MEAN_LIMIT:.2}×, \
         no workload above {WORST_LIMIT:.2}×): {m:.3}× and {w:.3}×, {}.\n",
        if m <= MEAN_LIMIT && w <= WORST_LIMIT {
            "within it"
        } else {
            "NOT within it"
        }
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::one_run_report;

    #[test]
    fn each_level_is_a_ratio_to_its_flavors_level_0() {
        let seconds = [1.0, 1.01, 1.02, 1.04, 2.0, 2.2, 2.5];
        let report = one_run_report(VARIANTS.iter().zip(seconds).map(|(v, s)| ("a", *v, s)));
        let text = markdown(&report);
        assert!(
            text.contains("| a | 1.000 | 1.010× | 1.020× | 1.040× | 2.000 | 1.100× | 1.250× |"),
            "{text}"
        );
        assert!(text.contains("1.040× and 1.040×, NOT within it"), "{text}");
    }

    #[test]
    fn study_flavors_take_the_shipped_flags_with_their_own_level() {
        let shipped = |name: &str, flag: &str| FlavorRow {
            name: name.into(),
            summary: String::new(),
            mimalloc_cflags: vec![
                flag.into(),
                "-DMI_FREE_CHECKS=3".into(),
                "-DMI_DEFAULT_IDLE_PURGE=1".into(),
            ],
        };
        let flavors = flavors(&[
            shipped("default", "-DMI_SECURE=0"),
            shipped("secure", "-DMI_SECURE=4"),
        ])
        .unwrap();
        assert_eq!(
            flavors[1].mimalloc_cflags,
            [
                "-DMI_SECURE=0",
                "-DMI_DEFAULT_IDLE_PURGE=1",
                "-DMI_FREE_CHECKS=1"
            ]
        );
        assert_eq!(
            flavors[3].mimalloc_cflags,
            [
                "-DMI_SECURE=4",
                "-DMI_DEFAULT_IDLE_PURGE=1",
                "-DMI_FREE_CHECKS=0"
            ]
        );
    }
}

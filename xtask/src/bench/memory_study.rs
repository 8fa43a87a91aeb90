//! `cargo xtask bench --memory-study`: mimalloc's footprint options, one
//! point at a time and in the combinations worth choosing from, each built
//! as a study-only flavor of the default (`-D` defaults that
//! patches/mimalloc/0003 makes settable), measured beside glibc, the
//! ceiling and the shipped default flavor. Every point: time against
//! today's defaults (geometric mean and worst workload), peak RSS against
//! glibc's (geometric mean and worst), RSS while idle after a burst, hello
//! worlds, and the run under a cgroup memory limit; and the Pareto plot of
//! time against peak RSS, from which the default flavor's defaults are
//! chosen.

use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;

use super::{
    Variant,
    plot::register_font,
    report::{Measurement, Report, Row, geometric_mean},
};
use crate::platforms::FlavorRow;

/// One point of the study: the flavor it is built as, what it is, and the
/// mimalloc defaults it sets on top of the default flavor's flags.
pub struct StudyPoint {
    pub flavor: &'static str,
    pub label: &'static str,
    pub cflags: &'static [&'static str],
}

const NO_THP: &str = "-DMI_DEFAULT_ALLOW_THP=0";
const NO_RETIRE: &str = "-DMI_DEFAULT_PAGE_RETIRE_LARGE=0";
const IDLE_PURGE: &str = "-DMI_DEFAULT_IDLE_PURGE=1";
const LIMIT_AWARE: &str = "-DMI_DEFAULT_LIMIT_AWARE=1";
/// mimalloc's own build switch: blocks of 84-512 KiB each take a page of
/// their own (a singleton, as larger blocks do) instead of sharing a 4 MiB
/// page per size class and thread, which THP makes resident in 2 MiB
/// steps however few of its blocks are used.
const NO_LARGE_PAGES: &str = "-DMI_ENABLE_LARGE_PAGES=0";

/// The points: each option alone, then the combinations the default is
/// chosen from. "today" sets nothing: mimalloc 3.4.3's own defaults (purge
/// after 1000 ms, THP asked for on every arena, an empty medium or large
/// page kept as its size class's last, no idle purge, no limit), what the
/// default flavor was before this study.
pub const POINTS: &[StudyPoint] = &[
    StudyPoint {
        flavor: "mstoday",
        label: "today: purge 1000 ms, THP, retire",
        cflags: &[],
    },
    StudyPoint {
        flavor: "mspurge0",
        label: "purge 0 ms",
        cflags: &["-DMI_DEFAULT_PURGE_DELAY=0"],
    },
    StudyPoint {
        flavor: "mspurge10",
        label: "purge 10 ms",
        cflags: &["-DMI_DEFAULT_PURGE_DELAY=10"],
    },
    StudyPoint {
        flavor: "mspurge50",
        label: "purge 50 ms",
        cflags: &["-DMI_DEFAULT_PURGE_DELAY=50"],
    },
    StudyPoint {
        flavor: "mspurge100",
        label: "purge 100 ms",
        cflags: &["-DMI_DEFAULT_PURGE_DELAY=100"],
    },
    StudyPoint {
        flavor: "mspurge250",
        label: "purge 250 ms",
        cflags: &["-DMI_DEFAULT_PURGE_DELAY=250"],
    },
    StudyPoint {
        flavor: "msthpnever",
        label: "THP never",
        cflags: &[NO_THP],
    },
    StudyPoint {
        flavor: "msthp16",
        label: "THP after 16 MiB",
        cflags: &["-DMI_DEFAULT_THP_AFTER=16"],
    },
    StudyPoint {
        flavor: "msthp64",
        label: "THP after 64 MiB",
        cflags: &["-DMI_DEFAULT_THP_AFTER=64"],
    },
    StudyPoint {
        flavor: "msthp256",
        label: "THP after 256 MiB",
        cflags: &["-DMI_DEFAULT_THP_AFTER=256"],
    },
    StudyPoint {
        flavor: "msmmap1m",
        label: "mmap above 1 MiB",
        cflags: &["-DMI_DEFAULT_ARENA_MAX_OBJECT_SIZE=1024"],
    },
    StudyPoint {
        flavor: "msnoretire",
        label: "no retired large pages",
        cflags: &[NO_RETIRE],
    },
    StudyPoint {
        flavor: "msidle",
        label: "idle purge",
        cflags: &[IDLE_PURGE],
    },
    StudyPoint {
        flavor: "mslimit",
        label: "limit aware",
        cflags: &[LIMIT_AWARE],
    },
    StudyPoint {
        flavor: "msnolarge",
        label: "no 4 MiB large pages",
        cflags: &[NO_LARGE_PAGES],
    },
    StudyPoint {
        flavor: "msidlelimit",
        label: "idle purge, limit aware",
        cflags: &[IDLE_PURGE, LIMIT_AWARE],
    },
    StudyPoint {
        flavor: "msidlelimitnolarge",
        label: "idle purge, limit aware, no large pages",
        cflags: &[IDLE_PURGE, LIMIT_AWARE, NO_LARGE_PAGES],
    },
    // The same, with no THP until pages hold 2 MiB: a small program never
    // holds a 2 MiB page for a few KiB of heap, and any heap of a few MiB
    // has THP for the rest of its life.
    StudyPoint {
        flavor: "msidlelimitnolargethp2",
        label: "idle purge, limit aware, no large pages, THP after 2 MiB",
        cflags: &[
            IDLE_PURGE,
            LIMIT_AWARE,
            NO_LARGE_PAGES,
            "-DMI_DEFAULT_THP_AFTER=2",
        ],
    },
    StudyPoint {
        flavor: "mslean50",
        label: "lean: THP never, purge 50 ms",
        cflags: &[
            NO_THP,
            "-DMI_DEFAULT_PURGE_DELAY=50",
            NO_RETIRE,
            IDLE_PURGE,
            LIMIT_AWARE,
        ],
    },
    StudyPoint {
        flavor: "mslean100",
        label: "lean: THP never, purge 100 ms",
        cflags: &[
            NO_THP,
            "-DMI_DEFAULT_PURGE_DELAY=100",
            NO_RETIRE,
            IDLE_PURGE,
            LIMIT_AWARE,
        ],
    },
    StudyPoint {
        flavor: "mslean250",
        label: "lean: THP never, purge 250 ms",
        cflags: &[
            NO_THP,
            "-DMI_DEFAULT_PURGE_DELAY=250",
            NO_RETIRE,
            IDLE_PURGE,
            LIMIT_AWARE,
        ],
    },
    StudyPoint {
        flavor: "mslean1000",
        label: "lean: THP never, purge 1000 ms",
        cflags: &[
            NO_THP,
            "-DMI_DEFAULT_PURGE_DELAY=1000",
            NO_RETIRE,
            IDLE_PURGE,
            LIMIT_AWARE,
        ],
    },
    StudyPoint {
        flavor: "mslean50thp64",
        label: "lean: THP after 64 MiB, purge 50 ms",
        cflags: &[
            "-DMI_DEFAULT_THP_AFTER=64",
            "-DMI_DEFAULT_PURGE_DELAY=50",
            NO_RETIRE,
            IDLE_PURGE,
            LIMIT_AWARE,
        ],
    },
];

/// The points a run measures, as indices into `POINTS`: those whose flavor
/// is named, or every point when none is; today always, first, as every
/// ratio's reference.
pub fn select(names: &[String]) -> Result<Vec<usize>> {
    if names.is_empty() {
        return Ok((0..POINTS.len()).collect());
    }
    let mut chosen = vec![0];
    for name in names {
        let Some(i) = POINTS.iter().position(|p| p.flavor == name) else {
            bail!(
                "the memory study has no point {name:?}; its points are: {}",
                POINTS
                    .iter()
                    .map(|p| p.flavor)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    Ok(chosen)
}

/// The study's flavors: the default flavor's secure level, then the point's
/// flags alone (not the default flavor's footprint choices: `mstoday` is
/// mimalloc's own defaults, as fastmusl shipped them before).
pub fn flavors(points: &[usize]) -> Vec<FlavorRow> {
    points
        .iter()
        .map(|&i| &POINTS[i])
        .map(|p| FlavorRow {
            name: p.flavor.to_owned(),
            summary: format!("{} (bench study only)", p.label),
            mimalloc_cflags: std::iter::once("-DMI_SECURE=0")
                .chain(p.cflags.iter().copied())
                .map(str::to_owned)
                .collect(),
        })
        .collect()
}

/// What the study runs: the references, the shipped default, the points.
pub fn variants(points: &[usize]) -> Vec<Variant> {
    [Variant::Glibc, Variant::GlibcMimalloc, Variant::Fastmusl]
        .into_iter()
        .chain(points.iter().map(|&i| Variant::MemoryStudy(i)))
        .collect()
}

/// The variants a report holds, in the study's order.
fn measured(rows: &[Row]) -> Vec<Variant> {
    variants(&(0..POINTS.len()).collect::<Vec<_>>())
        .into_iter()
        .filter(|v| rows.iter().any(|row| row.of(*v).is_some()))
        .collect()
}

const TODAY: Variant = Variant::MemoryStudy(0);

/// One variant's summary over the study's workloads.
struct Summary {
    name: String,
    /// Geometric mean and worst (ratio, workload) of time against today.
    time: (f64, f64, String),
    /// Geometric mean and worst (ratio, workload) of peak RSS against glibc.
    peak: (f64, f64, String),
    idle_burst_kib: Option<f64>,
    idle_http_kib: Option<f64>,
    hello_rust_kib: Option<f64>,
    hello_c_kib: Option<f64>,
    /// (OOM-killed runs, runs, median limit hits)
    limited: Option<(usize, usize, f64)>,
}

fn geomean_and_worst(ratios: &[(f64, String)]) -> (f64, f64, String) {
    if ratios.is_empty() {
        return (f64::NAN, f64::NAN, String::new());
    }
    let values: Vec<f64> = ratios.iter().map(|(r, _)| *r).collect();
    let mean = geometric_mean(&values);
    let (worst, workload) = ratios
        .iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .cloned()
        .unwrap_or((f64::NAN, String::new()));
    (mean, worst, workload)
}

fn summary(rows: &[Row], variant: Variant) -> Summary {
    let mut time = Vec::new();
    let mut peak = Vec::new();
    let mut s = Summary {
        name: variant.name().to_owned(),
        time: (f64::NAN, f64::NAN, String::new()),
        peak: (f64::NAN, f64::NAN, String::new()),
        idle_burst_kib: None,
        idle_http_kib: None,
        hello_rust_kib: None,
        hello_c_kib: None,
        limited: None,
    };
    for row in rows {
        let Some(m) = row.of(variant) else { continue };
        let memory_only = m.memory_only;
        if !memory_only && let Some(today) = row.of(TODAY) {
            time.push((m.cost() / today.cost(), row.workload.to_owned()));
        }
        if m.allocates
            && !memory_only
            && let Some(glibc) = row.of(Variant::Glibc)
        {
            peak.push((
                m.peak_rss_kib as f64 / glibc.peak_rss_kib as f64,
                row.workload.to_owned(),
            ));
        }
        match m.group.as_str() {
            "burst then idle" => s.idle_burst_kib = m.rss_at("idle 1000ms"),
            "HTTP server" => s.idle_http_kib = m.rss_at("idle 1000ms").or(s.idle_http_kib),
            "hello world" if row.workload.contains("(C)") => s.hello_c_kib = m.rss_at("at exit"),
            "hello world" => s.hello_rust_kib = m.rss_at("at exit"),
            _ => {}
        }
        if let Some(l) = m.limited {
            s.limited = Some((l.oom_killed, m.runs, l.failcnt.median));
        }
    }
    s.time = geomean_and_worst(&time);
    s.peak = geomean_and_worst(&peak);
    s
}

fn kib(value: Option<f64>) -> String {
    value.map_or("–".to_owned(), |v| format!("{v:.0}"))
}

pub fn markdown(report: &Report) -> String {
    let rows = report.rows();
    let mut text = format!(
        "Machine: {}{}. {} run(s) per variant after a warm-up, variants alternated.{}\n\n\
         mimalloc's footprint options in fastmusl's libc.a (study-only flavors of the default \
         flavor, patches/mimalloc/0003), against today's defaults (`{}`) for time and \
         against glibc for memory. Time: median per workload (for the HTTP server, time per \
         request) ÷ today's, over every allocating workload. Peak RSS: the largest VmHWM ÷ \
         glibc's, over the allocation workloads. Idle: RSS 1 s after a 4-thread burst was \
         freed (threads alive), and the HTTP server's 1 s after its load. Hello: RSS at exit \
         (KiB). Limit: the bursts of shifting sizes in a cgroup limited as the main bench \
         limits them.\n\n\
         | variant | time ÷ today (geomean) | worst time | peak RSS ÷ glibc (geomean) | worst peak | idle after burst KiB | HTTP idle KiB | hello Rust / C KiB | under the limit: killed, limit hits |\n\
         |---|---|---|---|---|---|---|---|---|\n",
        report.machine,
        report
            .kernel_thp
            .as_ref()
            .map_or(String::new(), |thp| format!(
                "; transparent huge pages: {thp}"
            )),
        report.runs_per_variant,
        if report.quick {
            " QUICK SMOKE RUN: not for conclusions."
        } else {
            ""
        },
        TODAY.name(),
    );
    for variant in measured(&rows) {
        let s = summary(&rows, variant);
        let limited = s.limited.map_or("–".to_owned(), |(killed, runs, hits)| {
            format!("{killed} of {runs}, {hits:.0}")
        });
        text += &format!(
            "| {} | {:.3}× | {:.2}× {} | {:.2}× | {:.2}× {} | {} | {} | {} / {} | {limited} |\n",
            s.name,
            s.time.0,
            s.time.1,
            s.time.2,
            s.peak.0,
            s.peak.1,
            s.peak.2,
            kib(s.idle_burst_kib),
            kib(s.idle_http_kib),
            kib(s.hello_rust_kib),
            kib(s.hello_c_kib),
        );
    }
    text += "\nPer workload, time ÷ today's (first block) and peak RSS ÷ glibc's (second):\n\n";
    let points: Vec<Variant> = measured(&rows)
        .into_iter()
        .filter(|v| *v != TODAY)
        .collect();
    let header = |text: &mut String, first: &str| {
        *text += &format!("| workload | {first} |");
        for v in &points {
            *text += &format!(" {} |", v.name());
        }
        *text += &format!("\n|---|---|{}\n", "---|".repeat(points.len()));
    };
    header(&mut text, "today (s)");
    for row in rows
        .iter()
        .filter(|r| r.cells.iter().all(|m| !m.memory_only))
    {
        let Some(today) = row.of(TODAY) else { continue };
        text += &format!("| {} | {:.3} |", row.workload, today.cost());
        for v in &points {
            text += &ratio_cell(row.of(*v), |m| m.cost() / today.cost());
        }
        text += "\n";
    }
    text += "\n";
    header(&mut text, "glibc (KiB)");
    for row in rows
        .iter()
        .filter(|r| r.cells.iter().all(|m| m.allocates && !m.memory_only))
    {
        let Some(glibc) = row.of(Variant::Glibc) else {
            continue;
        };
        text += &format!("| {} | {} |", row.workload, glibc.peak_rss_kib);
        for v in &points {
            text += &ratio_cell(row.of(*v), |m| {
                m.peak_rss_kib as f64 / glibc.peak_rss_kib as f64
            });
        }
        text += "\n";
    }
    let front = pareto_front(&rows);
    text += &format!(
        "\nThe Pareto front (no other point both faster and leaner, by the two geometric \
         means): {}.\n",
        front
            .iter()
            .map(|v| v.name())
            .collect::<Vec<_>>()
            .join("; ")
    );
    text
}

fn ratio_cell(m: Option<&Measurement>, ratio: impl Fn(&Measurement) -> f64) -> String {
    m.map_or(" – |".to_owned(), |m| format!(" {:.2}× |", ratio(m)))
}

/// The fastmusl variants (shipped and studied) that no other one beats on
/// both time and peak RSS, ordered by peak RSS.
fn pareto_front(rows: &[Row]) -> Vec<Variant> {
    let candidates: Vec<(Variant, f64, f64)> = measured(rows)
        .into_iter()
        .filter(|v| v.flavor().is_some())
        .map(|v| {
            let s = summary(rows, v);
            (v, s.time.0, s.peak.0)
        })
        .filter(|(_, t, p)| t.is_finite() && p.is_finite())
        .collect();
    let mut front: Vec<(Variant, f64, f64)> = candidates
        .iter()
        .filter(|(_, t, p)| {
            !candidates
                .iter()
                .any(|(_, t2, p2)| t2 <= t && p2 <= p && (t2 < t || p2 < p))
        })
        .copied()
        .collect();
    front.sort_by(|a, b| a.2.total_cmp(&b.2));
    front.into_iter().map(|(v, _, _)| v).collect()
}

/// Time against today (y) over peak RSS against glibc (x), one dot per
/// variant, labelled; the Pareto front joined by a line.
pub fn pareto_plot(report: &Report, path: &Path) -> Result<()> {
    register_font()?;
    let rows = report.rows();
    let dots: Vec<(Variant, f64, f64)> = measured(&rows)
        .into_iter()
        .map(|v| {
            let s = summary(&rows, v);
            (v, s.peak.0, s.time.0)
        })
        .filter(|(_, x, y)| x.is_finite() && y.is_finite())
        .collect();
    let (mut x_max, mut y_min, mut y_max) = (1.0f64, 1.0f64, 1.0f64);
    for (_, x, y) in &dots {
        x_max = x_max.max(*x);
        y_min = y_min.min(*y);
        y_max = y_max.max(*y);
    }
    let root = BitMapBackend::new(path, (1100, 760)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "fastmusl's footprint options: time against memory (lower left is better)",
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.9..x_max * 1.08, (y_min * 0.95)..(y_max * 1.05))?;
    chart
        .configure_mesh()
        .x_desc("peak RSS ÷ glibc's (geometric mean over the allocation workloads)")
        .y_desc("time ÷ today's defaults (geometric mean)")
        .label_style(("sans-serif", 15))
        .draw()?;
    let front: Vec<(f64, f64)> = pareto_front(&rows)
        .into_iter()
        .filter_map(|v| dots.iter().find(|d| d.0 == v).map(|d| (d.1, d.2)))
        .collect();
    chart.draw_series(LineSeries::new(front, BLUE.mix(0.4).stroke_width(2)))?;
    for (variant, x, y) in &dots {
        let colour = match variant {
            Variant::Glibc => RGBColor(90, 90, 90),
            Variant::GlibcMimalloc => RGBColor(46, 160, 67),
            Variant::Fastmusl => RGBColor(33, 102, 172),
            v if *v == TODAY => RGBColor(215, 48, 39),
            _ => RGBColor(120, 120, 200),
        };
        chart.draw_series(std::iter::once(Circle::new((*x, *y), 6, colour.filled())))?;
        chart.draw_series(std::iter::once(Text::new(
            variant.name().to_owned(),
            (*x, *y),
            ("sans-serif", 13).into_font().color(&colour),
        )))?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_selection_starts_with_today_and_refuses_a_point_there_is_not() {
        let named =
            |names: &[&str]| select(&names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        assert_eq!(
            named(&["msnolarge", "msidle", "msnolarge"]).unwrap(),
            [0, 14, 12]
        );
        assert_eq!(named(&["mstoday"]).unwrap(), [0]);
        let error = named(&["msnolarg"]).unwrap_err().to_string();
        assert!(
            error.contains("\"msnolarg\"") && error.contains("msnolarge, "),
            "{error}"
        );
    }

    #[test]
    fn every_point_is_a_flavor_of_its_own_with_the_default_flavors_flags_first() {
        let flavors = flavors(&select(&[]).unwrap());
        assert_eq!(flavors.len(), POINTS.len());
        let mut names: Vec<&str> = flavors.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), POINTS.len(), "flavor names must differ");
        for f in &flavors {
            assert!(
                f.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            );
            assert_eq!(f.mimalloc_cflags[0], "-DMI_SECURE=0");
        }
        assert_eq!(
            flavors[0].mimalloc_cflags,
            ["-DMI_SECURE=0"],
            "today sets nothing"
        );
    }
}

//! What a bench run measured, and the Markdown made from it: the tables,
//! and the project's goals checked workload by workload.

use serde::{Deserialize, Serialize};

use super::{Variant, Workload, http::HttpRun};

/// One run of one variant on one workload.
#[derive(Debug, Clone)]
pub struct Run {
    pub wall_s: f64,
    pub peak_rss_kib: u64,
    pub http: Option<HttpRun>,
}

/// Median and range of a figure over the measured runs.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let mut sorted: Vec<f64> = values.into_iter().collect();
        sorted.sort_by(f64::total_cmp);
        match sorted.as_slice() {
            [] => Spread {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
            },
            s => Spread {
                median: s[s.len() / 2],
                min: s[0],
                max: s[s.len() - 1],
            },
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HttpFigures {
    pub requests_per_s: Spread,
    pub p50_ms: Spread,
    pub p99_ms: Spread,
    pub server_cpu_us_per_request: Spread,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Measurement {
    pub workload: String,
    pub group: String,
    pub threads: usize,
    pub allocates: bool,
    pub allocations: Option<u64>,
    pub variant: String,
    pub runs: usize,
    /// The largest peak RSS (KiB) over the runs.
    pub peak_rss_kib: u64,
    /// Wall time in seconds, for workloads that do a fixed amount of work.
    pub wall_s: Option<Spread>,
    /// For the HTTP workload, which runs for a fixed time instead.
    pub http: Option<HttpFigures>,
}

impl Measurement {
    pub fn new(workload: &Workload, variant: Variant, runs: &[Run]) -> Measurement {
        let http: Vec<HttpRun> = runs.iter().filter_map(|r| r.http).collect();
        Measurement {
            workload: workload.name.clone(),
            group: workload.group.clone(),
            threads: workload.threads,
            allocates: workload.allocates,
            allocations: workload.allocations,
            variant: variant.name().to_owned(),
            runs: runs.len(),
            peak_rss_kib: runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0),
            wall_s: http
                .is_empty()
                .then(|| Spread::of(runs.iter().map(|r| r.wall_s))),
            http: (!http.is_empty()).then(|| HttpFigures {
                requests_per_s: Spread::of(http.iter().map(|r| r.requests_per_s)),
                p50_ms: Spread::of(http.iter().map(|r| r.p50_ms)),
                p99_ms: Spread::of(http.iter().map(|r| r.p99_ms)),
                server_cpu_us_per_request: Spread::of(http.iter().map(|r| r.cpu_us_per_request)),
            }),
        }
    }

    /// The lowest and highest cost over the runs.
    pub fn cost_range(&self) -> (f64, f64) {
        match (&self.wall_s, &self.http) {
            (Some(wall), _) => (wall.min, wall.max),
            (None, Some(http)) => (1.0 / http.requests_per_s.max, 1.0 / http.requests_per_s.min),
            (None, None) => (f64::NAN, f64::NAN),
        }
    }

    /// Seconds per unit of work, lower is better: the median wall time, or
    /// for the HTTP server the time per request (1 / median requests/s).
    pub fn cost(&self) -> f64 {
        match (&self.wall_s, &self.http) {
            (Some(wall), _) => wall.median,
            (None, Some(http)) => 1.0 / http.requests_per_s.median,
            (None, None) => f64::NAN,
        }
    }
}

/// What each variant's binary is: its allocator as checked at run time, and
/// its size with symbols stripped.
#[derive(Debug, Serialize, Deserialize)]
pub struct VariantInfo {
    pub name: String,
    pub allocator: String,
    pub stripped_size_bytes: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    pub machine: String,
    pub quick: bool,
    pub runs_per_variant: usize,
    pub variants: Vec<VariantInfo>,
    pub measurements: Vec<Measurement>,
}

/// One workload's measurements, one per variant, in `Variant::ALL` order.
pub struct Row<'a> {
    pub workload: &'a str,
    pub cells: Vec<&'a Measurement>,
}

impl Row<'_> {
    /// The measurement of each variant in `Variant::ALL` order, `None`
    /// where the report has none (one made before the variant existed).
    fn by_variant(&self) -> impl Iterator<Item = Option<&Measurement>> {
        Variant::ALL.iter().map(|v| self.of(*v))
    }

    pub fn of(&self, variant: Variant) -> Option<&Measurement> {
        self.cells
            .iter()
            .copied()
            .find(|m| m.variant == variant.name())
    }

    fn cost(&self, variant: Variant) -> f64 {
        self.of(variant).map_or(f64::NAN, Measurement::cost)
    }

    fn rss(&self, variant: Variant) -> f64 {
        self.of(variant).map_or(f64::NAN, |m| m.peak_rss_kib as f64)
    }
}

impl Report {
    /// Measurements grouped by workload, in the order they were taken.
    pub fn rows(&self) -> Vec<Row<'_>> {
        let mut rows: Vec<Row<'_>> = Vec::new();
        for m in &self.measurements {
            match rows.last_mut() {
                Some(row) if row.workload == m.workload => row.cells.push(m),
                _ => rows.push(Row {
                    workload: &m.workload,
                    cells: vec![m],
                }),
            }
        }
        rows
    }

    pub fn markdown(&self) -> String {
        let rows = self.rows();
        let (timed, http): (Vec<&Row>, Vec<&Row>) = rows
            .iter()
            .partition(|r| r.cells.iter().all(|m| m.wall_s.is_some()));
        let mut text = format!(
            "Machine: {}. {} run(s) per variant after a warm-up, variants alternated.{}\n\n",
            self.machine,
            self.runs_per_variant,
            if self.quick {
                " QUICK SMOKE RUN: not for conclusions."
            } else {
                ""
            }
        );
        text += "Median wall time in seconds (min–max) and ratio to glibc. Gap closed = \
                 (T_stock_musl − T) / (T_stock_musl − T_ceiling), ceiling = glibc + mimalloc crate.\n\n";
        text += &table_header(&["fastmusl ÷ ceiling", "fastmusl gap closed"]);
        for row in &timed {
            text += &format!("| {} |", row.workload);
            let glibc = row.cost(Variant::Glibc);
            for m in row.by_variant() {
                text += &match m.and_then(|m| m.wall_s) {
                    Some(wall) => format!(
                        " {:.3} ({:.3}–{:.3}) {:.2}× |",
                        wall.median,
                        wall.min,
                        wall.max,
                        wall.median / glibc
                    ),
                    None => " – |".to_owned(),
                };
            }
            text += &format!(
                " {:.2}× | {:.0}% |\n",
                row.cost(Variant::Fastmusl) / row.cost(Variant::GlibcMimalloc),
                gap_closed(row)
            );
        }
        if !http.is_empty() {
            text += "\nHTTP server (hyper on tokio, THREADS worker threads) under 32 keep-alive \
                     connections from one load generator on 127.0.0.1: median (min–max).\n\n";
            text += &table_header(&[]);
            type Pick = fn(&HttpFigures) -> Spread;
            let figures: [(&str, Pick, usize); 4] = [
                ("requests/s", |h| h.requests_per_s, 0),
                ("p50 latency ms", |h| h.p50_ms, 2),
                ("p99 latency ms", |h| h.p99_ms, 2),
                ("server CPU µs/request", |h| h.server_cpu_us_per_request, 1),
            ];
            for row in &http {
                for (label, pick, digits) in figures {
                    text += &format!("| {} {label} |", row.workload);
                    for m in row.by_variant() {
                        text += &match m.and_then(|m| m.http.as_ref()).map(pick) {
                            Some(s) => format!(
                                " {:.digits$} ({:.digits$}–{:.digits$}) |",
                                s.median, s.min, s.max
                            ),
                            None => " – |".to_owned(),
                        };
                    }
                    text += "\n";
                }
            }
        }
        text += "\nPeak RSS (KiB), the largest over the runs:\n\n";
        text += &table_header(&[]);
        for row in &rows {
            text += &format!("| {} |", row.workload);
            for m in row.by_variant() {
                text += &match m {
                    Some(m) => format!(" {} |", m.peak_rss_kib),
                    None => " – |".to_owned(),
                };
            }
            text += "\n";
        }
        text += "\nThe binaries: allocator (checked by running each) and size stripped of symbols.\n\n\
                 | variant | allocator | stripped size (bytes) |\n|---|---|---|\n";
        for v in &self.variants {
            text += &format!(
                "| {} | {} | {} |\n",
                v.name, v.allocator, v.stripped_size_bytes
            );
        }
        text += "\n";
        text += &secure_flavor(&rows);
        text += "\n";
        text += &goals(&rows);
        text
    }
}

/// What the secure flavor costs, workload by workload: its time (for the
/// HTTP server, time per request) against the default flavor's, and how
/// many times faster than stock musl it still is.
fn secure_flavor(rows: &[Row]) -> String {
    let mut text = String::from(
        "The secure flavor (mimalloc's secure mode, level 4) against the default flavor and \
         stock musl, by median time (for the HTTP server, time per request):\n\n\
         | workload | secure ÷ fastmusl | stock musl ÷ secure | secure peak RSS ÷ fastmusl |\n\
         |---|---|---|---|\n",
    );
    for row in rows {
        let (Some(secure), Some(ours)) =
            (row.of(Variant::FastmuslSecure), row.of(Variant::Fastmusl))
        else {
            continue;
        };
        text += &format!(
            "| {} | {:.2}× | {:.2}× | {:.2}× |\n",
            row.workload,
            secure.cost() / ours.cost(),
            row.cost(Variant::StockMusl) / secure.cost(),
            row.rss(Variant::FastmuslSecure) / row.rss(Variant::Fastmusl),
        );
    }
    text
}

fn gap_closed(row: &Row) -> f64 {
    let (stock, ceiling, ours) = (
        row.cost(Variant::StockMusl),
        row.cost(Variant::GlibcMimalloc),
        row.cost(Variant::Fastmusl),
    );
    100.0 * (stock - ours) / (stock - ceiling)
}

/// The project's goals, checked on every workload they apply to. A miss is
/// marked with its size, and as "ranges overlap" where the two variants'
/// min–max ranges overlap, so noise is not read as a result. The column
/// "stock musl ÷ ceiling" shows the most any allocator gained at 8 threads.
fn goals(rows: &[Row]) -> String {
    let mut text = String::from(
        "Goals, fastmusl against: the ceiling (time ≤ 1.00×, allocation workloads), stock musl \
         (≥ 10× faster at 8 threads, allocation workloads), glibc (time ≤ 1.00×, every workload; \
         peak RSS ≤ 1.2×). For the HTTP server, time is time per request. **MISS** marks a goal \
         not met; \"ranges overlap\" that the min–max ranges of the two overlap.\n\n\
         | workload | ÷ ceiling | stock musl ÷ fastmusl | (stock musl ÷ ceiling) | ÷ glibc | peak RSS ÷ glibc |\n\
         |---|---|---|---|---|---|\n",
    );
    let mut misses = [0usize; 4];
    let mut cell = |value: f64, met: bool, overlap: bool, goal: usize| {
        if met {
            format!("{value:.2}×")
        } else {
            misses[goal] += 1;
            let note = if overlap { " (ranges overlap)" } else { "" };
            format!("**{value:.2}× MISS**{note}")
        }
    };
    for row in rows {
        let Some(ours) = row.of(Variant::Fastmusl) else {
            continue;
        };
        let cost = ours.cost();
        let overlaps = |other: Variant| {
            let (lo, hi) = ours.cost_range();
            row.of(other).is_some_and(|m| {
                let (other_lo, other_hi) = m.cost_range();
                lo <= other_hi && other_lo <= hi
            })
        };
        let ceiling = if ours.allocates {
            let r = cost / row.cost(Variant::GlibcMimalloc);
            cell(r, r <= 1.0, overlaps(Variant::GlibcMimalloc), 0)
        } else {
            "–".into()
        };
        let at_8_threads = ours.allocates && ours.threads == 8;
        let (stock, best) = if at_8_threads {
            let r = row.cost(Variant::StockMusl) / cost;
            let best = row.cost(Variant::StockMusl) / row.cost(Variant::GlibcMimalloc);
            (cell(r, r >= 10.0, false, 1), format!("({best:.2}×)"))
        } else {
            ("–".into(), "–".into())
        };
        let glibc = cost / row.cost(Variant::Glibc);
        let glibc = cell(glibc, glibc <= 1.0, overlaps(Variant::Glibc), 2);
        let rss = row.rss(Variant::Fastmusl) / row.rss(Variant::Glibc);
        let rss = cell(rss, rss <= 1.2, false, 3);
        text += &format!(
            "| {} | {ceiling} | {stock} | {best} | {glibc} | {rss} |\n",
            row.workload
        );
    }
    text += &format!(
        "\nMisses: {} against the ceiling, {} against stock musl, {} against glibc's time, {} against glibc's RSS.\n",
        misses[0], misses[1], misses[2], misses[3]
    );
    text
}

/// The header and separator of a table with a column per variant, then `extra` columns.
fn table_header(extra: &[&str]) -> String {
    let columns: Vec<&str> = Variant::ALL
        .iter()
        .map(|v| v.name())
        .chain(extra.iter().copied())
        .collect();
    let mut text = String::from("| workload |");
    for c in &columns {
        text += &format!(" {c} |");
    }
    text += "\n|---|";
    text += &"---|".repeat(columns.len());
    text + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Kind, Workload};

    fn workload(name: &str, threads: usize, allocates: bool) -> Workload {
        Workload {
            name: name.into(),
            group: name.into(),
            threads,
            allocates,
            allocations: None,
            kind: Kind::Timed { args: vec![] },
        }
    }

    fn measured(workload: &Workload, seconds: [f64; 6], rss: [u64; 6]) -> Vec<Measurement> {
        Variant::ALL
            .iter()
            .zip(seconds.iter().zip(rss))
            .map(|(v, (s, r))| {
                let run = Run {
                    wall_s: *s,
                    peak_rss_kib: r,
                    http: None,
                };
                Measurement::new(workload, *v, &[run.clone(), run])
            })
            .collect()
    }

    #[test]
    fn the_markdown_has_a_row_per_workload_a_column_per_variant_and_marks_missed_goals() {
        //               glibc  ceiling stock  stock+mi  fastmusl  secure
        let met = measured(
            &workload("a x8", 8, true),
            [1.0, 0.5, 10.0, 2.0, 0.5, 0.55],
            [100; 6],
        );
        let missed = measured(
            &workload("b x8", 8, true),
            [1.0, 0.5, 4.0, 2.0, 2.0, 2.2],
            [100, 100, 100, 100, 130, 143],
        );
        let copies = measured(
            &workload("c", 1, false),
            [1.0, 1.0, 2.0, 2.0, 1.5, 1.5],
            [100; 6],
        );
        let report = Report {
            machine: "test".into(),
            quick: true,
            runs_per_variant: 2,
            variants: vec![],
            measurements: [met, missed, copies].into_iter().flatten().collect(),
        };
        let text = report.markdown();
        assert!(text.contains("| workload | glibc | glibc + mimalloc crate | stock musl | stock musl + mimalloc crate | fastmusl | fastmusl secure | fastmusl ÷ ceiling | fastmusl gap closed |\n|---|---|---|---|---|---|---|---|---|\n"), "{text}");
        assert!(text.contains("| a x8 | 1.000 (1.000–1.000) 1.00× | 0.500 (0.500–0.500) 0.50× | 10.000 (10.000–10.000) 10.00× | 2.000 (2.000–2.000) 2.00× | 0.500 (0.500–0.500) 0.50× | 0.550 (0.550–0.550) 0.55× | 1.00× | 100% |"), "{text}");
        assert!(
            text.contains("| b x8 | 100 | 100 | 100 | 100 | 130 | 143 |"),
            "{text}"
        );
        // The secure flavor's cost, and its lead over stock musl.
        assert!(
            text.contains("| a x8 | 1.10× | 18.18× | 1.00× |\n| b x8 | 1.10× | 1.82× | 1.10× |"),
            "{text}"
        );
        assert!(
            text.contains("| a x8 | 1.00× | 20.00× | (20.00×) | 0.50× | 1.00× |"),
            "{text}"
        );
        assert!(
            text.contains(
                "| b x8 | **4.00× MISS** | **2.00× MISS** | (8.00×) | **2.00× MISS** | **1.30× MISS** |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| c | – | – | – | **1.50× MISS** | 1.00× |"),
            "{text}"
        );
        assert!(text.contains("Misses: 1 against the ceiling, 1 against stock musl, 2 against glibc's time, 1 against glibc's RSS."), "{text}");
    }

    #[test]
    fn a_miss_within_the_noise_says_the_ranges_overlap() {
        let w = workload("d x8", 8, true);
        let run = |wall_s| Run {
            wall_s,
            peak_rss_kib: 100,
            http: None,
        };
        let seconds = [1.0, 1.1, 20.0, 1.0];
        let mut measurements: Vec<Measurement> = Variant::ALL[..4]
            .iter()
            .zip(seconds)
            .map(|(v, s)| Measurement::new(&w, *v, &[run(s)]))
            .collect();
        measurements.push(Measurement::new(
            &w,
            Variant::Fastmusl,
            &[run(1.0), run(1.2)],
        ));
        let report = Report {
            machine: "test".into(),
            quick: false,
            runs_per_variant: 2,
            variants: vec![],
            measurements,
        };
        let text = report.markdown();
        // A report without the secure variant (an older one) shows a dash.
        assert!(
            text.contains("| 1.200 (1.000–1.200) 1.20× | – | "),
            "{text}"
        );
        assert!(
            text.contains(
                "| d x8 | **1.09× MISS** (ranges overlap) | 16.67× | (18.18×) | **1.20× MISS** (ranges overlap) | 1.00× |"
            ),
            "{text}"
        );
    }

    #[test]
    fn http_rows_compare_time_per_request() {
        let w = Workload {
            name: "HTTP server x8".into(),
            group: "HTTP server".into(),
            threads: 8,
            allocates: true,
            allocations: None,
            kind: Kind::Http {
                connections: 32,
                millis: 1000,
            },
        };
        let run = |requests_per_s: f64| Run {
            wall_s: 0.0,
            peak_rss_kib: 1000,
            http: Some(HttpRun {
                requests_per_s,
                p50_ms: 1.0,
                p99_ms: 2.0,
                cpu_us_per_request: 50.0,
                peak_rss_kib: 1000,
            }),
        };
        let glibc = Measurement::new(&w, Variant::Glibc, &[run(1000.0), run(1200.0), run(800.0)]);
        assert_eq!(glibc.http.unwrap().requests_per_s.median, 1000.0);
        assert_eq!(glibc.cost(), 0.001);
        assert!(glibc.wall_s.is_none());
    }
}

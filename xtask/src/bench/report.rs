//! What a bench run measured, and the Markdown made from it: the tables,
//! and the project's goals checked workload by workload.

use serde::{Deserialize, Serialize};

use super::{Variant, Workload, cgroup::LimitedRun, http::HttpRun};

/// One run of one variant on one workload.
#[derive(Debug, Clone, Default)]
pub struct Run {
    pub wall_s: f64,
    pub peak_rss_kib: u64,
    pub http: Option<HttpRun>,
    /// Resident memory at named moments (`burst`, `idle 1000 ms`, …), KiB.
    pub rss_kib: Vec<(String, u64)>,
    /// What the kernel counted, for a run under a cgroup memory limit.
    pub limited: Option<LimitedRun>,
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
    /// A workload that is there for its memory figures alone (hello
    /// world, the run under a memory limit): left out of the time tables.
    #[serde(default)]
    pub memory_only: bool,
    /// Resident memory at the moments the workload names, over the runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rss_samples_kib: Vec<RssSample>,
    /// The runs under a cgroup memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited: Option<LimitedFigures>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RssSample {
    pub at: String,
    pub kib: Spread,
}

/// What the kernel counted over the runs under a memory limit.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct LimitedFigures {
    pub limit_kib: u64,
    /// Runs the OOM killer ended, of `Measurement::runs`.
    pub oom_killed: usize,
    /// The highest peak charge of any run.
    pub max_usage_kib: u64,
    /// Times the charge reached the limit, over the runs.
    pub failcnt: Spread,
}

impl Measurement {
    pub fn new(workload: &Workload, variant: Variant, runs: &[Run]) -> Measurement {
        let http: Vec<HttpRun> = runs.iter().filter_map(|r| r.http).collect();
        let limited: Vec<LimitedRun> = runs.iter().filter_map(|r| r.limited).collect();
        // Sample names in the order the first run reported them.
        let sample_names = runs.first().map_or(&[][..], |r| &r.rss_kib[..]);
        let rss_samples_kib = sample_names
            .iter()
            .map(|(at, _)| RssSample {
                at: at.clone(),
                kib: Spread::of(runs.iter().filter_map(|r| {
                    r.rss_kib
                        .iter()
                        .find(|(name, _)| name == at)
                        .map(|(_, kib)| *kib as f64)
                })),
            })
            .collect();
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
            memory_only: workload.memory_only(),
            rss_samples_kib,
            limited: limited.first().map(|first| LimitedFigures {
                limit_kib: first.limit_kib,
                oom_killed: limited.iter().filter(|l| l.oom_killed).count(),
                max_usage_kib: limited.iter().map(|l| l.max_usage_kib).max().unwrap_or(0),
                failcnt: Spread::of(limited.iter().map(|l| l.failcnt as f64)),
            }),
        }
    }

    /// The median of the RSS sample taken `at`, KiB.
    pub fn rss_at(&self, at: &str) -> Option<f64> {
        self.rss_samples_kib
            .iter()
            .find(|s| s.at == at)
            .map(|s| s.kib.median)
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
    /// The kernel's transparent huge page settings during the run
    /// (`enabled` and `defrag`, the chosen value of each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_thp: Option<String>,
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

    /// A row kept for its memory figures alone (see `Workload::memory_only`).
    fn memory_only(&self) -> bool {
        self.cells.iter().any(|m| m.memory_only)
    }

    fn rss(&self, variant: Variant) -> f64 {
        self.of(variant).map_or(f64::NAN, |m| m.peak_rss_kib as f64)
    }
}

impl Report {
    /// Measurements grouped by workload, in the order they were taken.
    /// Adds another run's variants and measurements (the same workloads),
    /// each workload's measurements kept together, in this run's order.
    pub fn merge(&mut self, other: Report) {
        self.variants.extend(other.variants);
        let mut measurements = std::mem::take(&mut self.measurements);
        measurements.extend(other.measurements);
        let order: Vec<String> =
            measurements
                .iter()
                .map(|m| m.workload.clone())
                .fold(Vec::new(), |mut seen, w| {
                    if !seen.contains(&w) {
                        seen.push(w);
                    }
                    seen
                });
        // A stable sort keeps each workload's variants in their order.
        measurements.sort_by_key(|m| order.iter().position(|w| *w == m.workload));
        self.measurements = measurements;
    }

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
            .filter(|r| !r.memory_only())
            .partition(|r| r.cells.iter().all(|m| m.wall_s.is_some()));
        let mut text = format!(
            "Machine: {}{}. {} run(s) per variant after a warm-up, variants alternated.{}\n\n",
            self.machine,
            self.kernel_thp
                .as_ref()
                .map_or(String::new(), |thp| format!(
                    "; transparent huge pages: {thp}"
                )),
            self.runs_per_variant,
            if self.quick {
                " QUICK SMOKE RUN: not for conclusions."
            } else {
                ""
            }
        );
        text += &time_and_memory(&rows);
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
        text += &rss_samples(&rows);
        text += &limited(&rows);
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
        text += "\n";
        text += &memory_goals(&rows);
        text
    }
}

/// Every variant's time and peak RSS against glibc's, side by side, per
/// timed workload (the HTTP server: time per request), with their
/// geometric means over the allocation workloads: the one table that shows
/// what a variant pays in memory for its speed.
fn time_and_memory(rows: &[Row]) -> String {
    let others = &Variant::ALL[1..];
    let mut text = String::from(
        "Time and memory side by side: each variant's median time ÷ glibc's · its peak RSS ÷ \
         glibc's (the HTTP server: time per request). Geometric means over the allocation \
         workloads in the last row.\n\n| workload |",
    );
    for v in others {
        text += &format!(" {} |", v.name());
    }
    text += &format!("\n|---|{}\n", "---|".repeat(others.len()));
    // Per variant: the allocation workloads' time and peak RSS ratios.
    let mut ratios = vec![(Vec::new(), Vec::new()); others.len()];
    for row in rows.iter().filter(|r| !r.memory_only()) {
        let Some(glibc) = row.of(Variant::Glibc) else {
            continue;
        };
        text += &format!("| {} |", row.workload);
        for (v, (times, rsses)) in others.iter().zip(ratios.iter_mut()) {
            let time = row.cost(*v) / glibc.cost();
            let rss = row.rss(*v) / glibc.peak_rss_kib as f64;
            if !(time.is_finite() && rss.is_finite()) {
                text += " – |";
                continue;
            }
            text += &format!(" {time:.2}× · {rss:.2}× |");
            if glibc.allocates {
                times.push(time);
                rsses.push(rss);
            }
        }
        text += "\n";
    }
    text += "| **geometric mean** |";
    for (times, rsses) in &ratios {
        text += &if times.is_empty() {
            " – |".to_owned()
        } else {
            format!(
                " **{:.2}× · {:.2}×** |",
                geometric_mean(times),
                geometric_mean(rsses)
            )
        };
    }
    text + "\n\n"
}

/// The geometric mean of `values` (NaN when there are none).
pub fn geometric_mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    (values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp()
}

/// The RSS each workload sampled at named moments (after a burst, while
/// idle, a hello world at exit): median KiB over the runs.
fn rss_samples(rows: &[Row]) -> String {
    let sampled: Vec<&Row> = rows
        .iter()
        .filter(|r| r.cells.iter().any(|m| !m.rss_samples_kib.is_empty()))
        .collect();
    if sampled.is_empty() {
        return String::new();
    }
    let mut text = String::from(
        "\nResident memory (KiB, median over the runs; `Rss` of smaps_rollup) at the moments each \
         workload names: `burst` with the burst live, `idle N ms` after everything was freed \
         (the threads alive and idle; for the HTTP server, after its load ended), `at exit` for \
         a hello world. Rust's hello world links each variant's allocator; C's has none with \
         the mimalloc crate (–).\n\n",
    );
    text += &table_header(&[]);
    for row in sampled {
        let moments = row
            .cells
            .iter()
            .find(|m| !m.rss_samples_kib.is_empty())
            .map_or(&[][..], |m| &m.rss_samples_kib[..]);
        for moment in moments {
            text += &format!("| {}: {} |", row.workload, moment.at);
            for m in row.by_variant() {
                text += &match m.and_then(|m| m.rss_at(&moment.at)) {
                    Some(kib) => format!(" {kib:.0} |"),
                    None => " – |".to_owned(),
                };
            }
            text += "\n";
        }
    }
    text
}

/// The runs under a cgroup memory limit: how many the OOM killer ended,
/// the peak charge, and how often the charge hit the limit.
fn limited(rows: &[Row]) -> String {
    let mut text = String::new();
    for row in rows {
        let Some(limit_kib) = row
            .cells
            .iter()
            .find_map(|m| m.limited.map(|l| l.limit_kib))
        else {
            continue;
        };
        text += &format!(
            "\n{}: in a cgroup of the memory controller limited to {} MiB, no swap. OOM-killed \
             runs, the cgroup's peak charge (MiB; `memory.max_usage_in_bytes`, or `memory.peak` \
             on cgroup v2), how often the charge hit the limit (`memory.failcnt`, or `max` in \
             `memory.events`; median over the runs), median wall time.\n\n\
             | variant | OOM-killed | peak charge MiB | limit hits | wall s |\n|---|---|---|---|---|\n",
            row.workload,
            limit_kib / 1024
        );
        for m in row.by_variant().flatten() {
            let Some(l) = m.limited else { continue };
            text += &format!(
                "| {} | {} of {} | {:.1} | {:.0} | {} |\n",
                m.variant,
                l.oom_killed,
                m.runs,
                l.max_usage_kib as f64 / 1024.0,
                l.failcnt.median,
                m.wall_s
                    .map_or("–".to_owned(), |w| format!("{:.3}", w.median)),
            );
        }
    }
    text
}

/// The memory goals, for both fastmusl flavors: peak RSS ≤ 1.25× glibc's
/// and ≤ the ceiling's on every allocation workload; idle RSS 1 s after a
/// burst ≤ glibc's + 2 MiB; a hello world ≤ glibc's (static) + 1 MiB; no
/// OOM kill under a memory limit where glibc survives.
fn memory_goals(rows: &[Row]) -> String {
    const FLAVORS: [Variant; 2] = [Variant::Fastmusl, Variant::FastmuslSecure];
    let mut text = String::from(
        "Memory goals, for each fastmusl flavor against glibc: peak RSS ≤ 1.25× glibc's and ≤ the \
         ceiling's (glibc + mimalloc crate) on every allocation workload; RSS 1 s into idling ≤ \
         glibc's + 2 MiB; a hello world ≤ glibc's static one + 1 MiB; no OOM kill under a memory \
         limit that glibc survives. **MISS** marks a goal not met.\n\n\
         | workload | goal | glibc | fastmusl | fastmusl secure |\n|---|---|---|---|---|\n",
    );
    let mut misses = [0usize; 2];
    let mut line = |row: &Row, goal: &str, glibc: String, cells: [Option<(String, bool)>; 2]| {
        text += &format!("| {} | {goal} | {glibc} |", row.workload);
        for (i, cell) in cells.into_iter().enumerate() {
            text += &match cell {
                Some((value, true)) => format!(" {value} |"),
                Some((value, false)) => {
                    misses[i] += 1;
                    format!(" **{value} MISS** |")
                }
                None => " – |".to_owned(),
            };
        }
        text += "\n";
    };
    for row in rows {
        let Some(glibc) = row.of(Variant::Glibc) else {
            continue;
        };
        if glibc.allocates && glibc.limited.is_none() {
            let ceiling = row.rss(Variant::GlibcMimalloc);
            let cells = FLAVORS.map(|v| {
                row.of(v).map(|m| {
                    let peak = m.peak_rss_kib as f64;
                    let ratio = peak / glibc.peak_rss_kib as f64;
                    (
                        format!("{ratio:.2}×, {:.2}× ceiling", peak / ceiling),
                        ratio <= 1.25 && peak <= ceiling,
                    )
                })
            });
            line(
                row,
                "peak RSS",
                format!("{} KiB", glibc.peak_rss_kib),
                cells,
            );
        }
        for (moment, allowance_kib, goal) in [
            ("idle 1000ms", 2048.0, "RSS idle 1 s ≤ glibc + 2 MiB"),
            ("at exit", 1024.0, "RSS ≤ glibc + 1 MiB"),
        ] {
            let Some(reference) = glibc.rss_at(moment) else {
                continue;
            };
            let cells = FLAVORS.map(|v| {
                row.of(v).and_then(|m| m.rss_at(moment)).map(|kib| {
                    (
                        format!("{kib:.0} KiB ({:+.0})", kib - reference),
                        kib <= reference + allowance_kib,
                    )
                })
            });
            line(row, goal, format!("{reference:.0} KiB"), cells);
        }
        if let Some(reference) = glibc.limited {
            let cells = FLAVORS.map(|v| {
                row.of(v).and_then(|m| m.limited).map(|l| {
                    (
                        format!("{} of {} killed", l.oom_killed, m_runs(row, v)),
                        l.oom_killed == 0 || reference.oom_killed > 0,
                    )
                })
            });
            line(
                row,
                "no OOM kill where glibc survives",
                format!("{} of {} killed", reference.oom_killed, glibc.runs),
                cells,
            );
        }
    }
    text += &format!(
        "\nMemory misses: {} for fastmusl, {} for fastmusl secure.\n",
        misses[0], misses[1]
    );
    text
}

fn m_runs(row: &Row, variant: Variant) -> usize {
    row.of(variant).map_or(0, |m| m.runs)
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
    for row in rows.iter().filter(|r| !r.memory_only()) {
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
         (≥ 10× faster at 8 threads, allocation workloads), glibc (time ≤ 1.00×, every workload). \
         For the HTTP server, time is time per request. **MISS** marks a goal \
         not met; \"ranges overlap\" that the min–max ranges of the two overlap.\n\n\
         | workload | ÷ ceiling | stock musl ÷ fastmusl | (stock musl ÷ ceiling) | ÷ glibc |\n\
         |---|---|---|---|---|\n",
    );
    let mut misses = [0usize; 3];
    let mut cell = |value: f64, met: bool, overlap: bool, goal: usize| {
        if met {
            format!("{value:.2}×")
        } else {
            misses[goal] += 1;
            let note = if overlap { " (ranges overlap)" } else { "" };
            format!("**{value:.2}× MISS**{note}")
        }
    };
    for row in rows.iter().filter(|r| !r.memory_only()) {
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
        text += &format!(
            "| {} | {ceiling} | {stock} | {best} | {glibc} |\n",
            row.workload
        );
    }
    text += &format!(
        "\nMisses: {} against the ceiling, {} against stock musl, {} against glibc's time.\n",
        misses[0], misses[1], misses[2]
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

/// A one-run report of timed, allocating, single-thread workloads from
/// (workload, variant, seconds) cells, for the study tables' tests.
#[cfg(test)]
pub(crate) fn one_run_report<'a>(
    cells: impl IntoIterator<Item = (&'a str, Variant, f64)>,
) -> Report {
    let measurements = cells
        .into_iter()
        .map(|(name, variant, wall_s)| {
            let workload = Workload {
                name: name.into(),
                group: name.into(),
                threads: 1,
                allocates: true,
                allocations: None,
                kind: super::Kind::Timed { args: vec![] },
            };
            let run = Run {
                wall_s,
                peak_rss_kib: 1,
                ..Run::default()
            };
            Measurement::new(&workload, variant, &[run])
        })
        .collect();
    Report {
        machine: "test".into(),
        kernel_thp: None,
        quick: false,
        runs_per_variant: 1,
        variants: vec![],
        measurements,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Kind, Workload, cgroup::LimitedRun};

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
                    ..Run::default()
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
            kernel_thp: None,
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
        // Time and peak RSS side by side, geometric means over the
        // allocation workloads (a x8 and b x8, not c).
        assert!(
            text.contains(
                "| a x8 | 0.50× · 1.00× | 10.00× · 1.00× | 2.00× · 1.00× | 0.50× · 1.00× | 0.55× · 1.00× |\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("| c | 1.00× · 1.00× | 2.00× · 1.00× | 2.00× · 1.00× | 1.50× · 1.00× | 1.50× · 1.00× |\n| **geometric mean** | **0.50× · 1.00×** | **6.32× · 1.00×** | **2.00× · 1.00×** | **1.00× · 1.14×** | **1.10× · 1.20×** |\n"),
            "{text}"
        );
        // The secure flavor's cost, and its lead over stock musl.
        assert!(
            text.contains("| a x8 | 1.10× | 18.18× | 1.00× |\n| b x8 | 1.10× | 1.82× | 1.10× |"),
            "{text}"
        );
        assert!(
            text.contains("| a x8 | 1.00× | 20.00× | (20.00×) | 0.50× |\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "| b x8 | **4.00× MISS** | **2.00× MISS** | (8.00×) | **2.00× MISS** |\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("| c | – | – | – | **1.50× MISS** |\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "Misses: 1 against the ceiling, 1 against stock musl, 2 against glibc's time.\n"
            ),
            "{text}"
        );
        // Peak RSS against glibc and the ceiling, per flavor, on allocation
        // workloads only.
        assert!(
            text.contains("| a x8 | peak RSS | 100 KiB | 1.00×, 1.00× ceiling | 1.00×, 1.00× ceiling |\n| b x8 | peak RSS | 100 KiB | **1.30×, 1.30× ceiling MISS** | **1.43×, 1.43× ceiling MISS** |\n"),
            "{text}"
        );
        assert!(!text.contains("| c | peak RSS |"), "{text}");
        assert!(
            text.contains("Memory misses: 1 for fastmusl, 1 for fastmusl secure."),
            "{text}"
        );
    }

    #[test]
    fn memory_rows_table_their_samples_limits_and_goals() {
        let idle = Workload {
            kind: Kind::Idle { args: vec![] },
            ..workload("burst then idle x4", 4, true)
        };
        let hello = Workload {
            kind: Kind::Hello { c: true },
            ..workload("hello world (C)", 1, false)
        };
        let limited = Workload {
            kind: Kind::Limited {
                args: vec![],
                limit_mib: 256,
            },
            ..workload("phases x4", 4, true)
        };
        let samples = |burst: u64, idle: u64| Run {
            wall_s: 0.1,
            peak_rss_kib: burst,
            rss_kib: vec![("burst".into(), burst), ("idle 1000ms".into(), idle)],
            ..Run::default()
        };
        let at_exit = |kib: u64| Run {
            rss_kib: vec![("at exit".into(), kib)],
            ..Run::default()
        };
        let under_limit = |killed: bool, usage_mib: u64| Run {
            wall_s: 1.0,
            peak_rss_kib: usage_mib << 10,
            limited: Some(LimitedRun {
                limit_kib: 256 << 10,
                wall_s: 1.0,
                max_usage_kib: usage_mib << 10,
                failcnt: if killed { 40 } else { 0 },
                oom_killed: killed,
            }),
            ..Run::default()
        };
        let mut measurements = Vec::new();
        //                 glibc, ceiling, stock, stock+mi, fastmusl, secure
        let idle_kib = [
            (200_000, 150_000),
            (220_000, 200_000),
            (200_000, 1_000),
            (220_000, 200_000),
            (210_000, 151_000),
            (230_000, 160_000),
        ];
        let hello_kib = [700, 0, 500, 0, 1_700, 4_400];
        let limit = [
            (false, 236),
            (false, 250),
            (false, 236),
            (false, 250),
            (false, 250),
            (true, 256),
        ];
        for (i, v) in Variant::ALL.iter().enumerate() {
            let (burst, idle_kib) = idle_kib[i];
            measurements.push(Measurement::new(&idle, *v, &[samples(burst, idle_kib)]));
            if hello_kib[i] > 0 {
                measurements.push(Measurement::new(&hello, *v, &[at_exit(hello_kib[i])]));
            }
            let (killed, usage) = limit[i];
            measurements.push(Measurement::new(
                &limited,
                *v,
                &[under_limit(killed, usage)],
            ));
        }
        measurements.sort_by_key(|m| m.workload.clone());
        let report = Report {
            machine: "test".into(),
            kernel_thp: Some("enabled=madvise defrag=madvise".into()),
            quick: false,
            runs_per_variant: 1,
            variants: vec![],
            measurements,
        };
        let text = report.markdown();
        assert!(
            text.starts_with(
                "Machine: test; transparent huge pages: enabled=madvise defrag=madvise."
            ),
            "{text}"
        );
        assert!(text.contains("| burst then idle x4: burst | 200000 | 220000 | 200000 | 220000 | 210000 | 230000 |\n| burst then idle x4: idle 1000ms | 150000 | 200000 | 1000 | 200000 | 151000 | 160000 |\n"), "{text}");
        assert!(
            text.contains("| hello world (C): at exit | 700 | – | 500 | – | 1700 | 4400 |\n"),
            "{text}"
        );
        assert!(
            text.contains("| glibc | 0 of 1 | 236.0 | 0 | 1.000 |\n"),
            "{text}"
        );
        assert!(
            text.contains("| fastmusl secure | 1 of 1 | 256.0 | 40 | 1.000 |\n"),
            "{text}"
        );
        // Memory-only rows stay out of the time tables and their goals.
        let (times, _) = text.split_once("Peak RSS (KiB)").unwrap();
        assert!(
            !times.contains("hello world") && !times.contains("phases"),
            "{text}"
        );
        let (_, goals) = text.split_once("Goals, fastmusl against").unwrap();
        let (goals, _) = goals.split_once("Memory goals").unwrap();
        assert!(
            !goals.contains("hello world") && !goals.contains("phases"),
            "{text}"
        );
        // Nor in the secure flavor's cost table, where they made NaN.
        assert!(!text.contains("NaN×"), "{text}");
        assert!(text.contains("| burst then idle x4 | RSS idle 1 s ≤ glibc + 2 MiB | 150000 KiB | 151000 KiB (+1000) | **160000 KiB (+10000) MISS** |\n"), "{text}");
        assert!(text.contains("| hello world (C) | RSS ≤ glibc + 1 MiB | 700 KiB | 1700 KiB (+1000) | **4400 KiB (+3700) MISS** |\n"), "{text}");
        assert!(text.contains("| phases x4 | no OOM kill where glibc survives | 0 of 1 killed | 0 of 1 killed | **1 of 1 killed MISS** |\n"), "{text}");
        // The run under the limit has no peak RSS goal of its own: the limit is its goal.
        assert!(!text.contains("| phases x4 | peak RSS |"), "{text}");
        assert!(text.contains("| burst then idle x4 | peak RSS | 200000 KiB | 1.05×, 0.95× ceiling | **1.15×, 1.05× ceiling MISS** |"), "{text}");
        assert!(
            text.contains("Memory misses: 0 for fastmusl, 4 for fastmusl secure."),
            "{text}"
        );
    }

    #[test]
    fn a_miss_within_the_noise_says_the_ranges_overlap() {
        let w = workload("d x8", 8, true);
        let run = |wall_s| Run {
            wall_s,
            peak_rss_kib: 100,
            ..Run::default()
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
            kernel_thp: None,
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
                "| d x8 | **1.09× MISS** (ranges overlap) | 16.67× | (18.18×) | **1.20× MISS** (ranges overlap) |\n"
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
                idle_ms: vec![],
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
            ..Run::default()
        };
        let glibc = Measurement::new(&w, Variant::Glibc, &[run(1000.0), run(1200.0), run(800.0)]);
        assert_eq!(glibc.http.unwrap().requests_per_s.median, 1000.0);
        assert_eq!(glibc.cost(), 0.001);
        assert!(glibc.wall_s.is_none());
    }
}

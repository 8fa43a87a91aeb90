//! The plot in the README: allocation throughput against threads, one line
//! per variant, a panel per churn size. Threads on a log2 axis (1, 2, 4, 8,
//! 16 evenly spaced); throughput logarithmic too, because stock musl sits an
//! order of magnitude below the others.

use std::{path::Path, sync::OnceLock};

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;

use super::{Variant, report::Report};

/// plotters draws text with a font it is given; DejaVu Sans is Debian's
/// `fonts-dejavu-core`, which ci/install-deps.sh installs.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub(super) fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let bytes = std::fs::read(FONT)
                .map_err(|e| format!("reading {FONT} ({e}): install fonts-dejavu-core"))?;
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes.leak())
                .map_err(|_| format!("{FONT} is not a font plotters can use"))
        })
        .clone()
        .map_err(|e| anyhow!(e))
}

/// log2(threads) and million allocations per second, for one variant.
fn series(report: &Report, group: &str, variant: Variant) -> Vec<(f64, f64)> {
    report
        .measurements
        .iter()
        .filter(|m| m.group == group && m.variant == variant.name())
        .filter_map(|m| {
            let per_s = m.allocations? as f64 / m.wall_s?.median / 1e6;
            Some(((m.threads as f64).log2(), per_s))
        })
        .collect()
}

/// A colour per variant: ours stands out, the problem is red.
fn colour(variant: Variant) -> RGBColor {
    match variant {
        Variant::Glibc => RGBColor(90, 90, 90),
        Variant::GlibcMimalloc => RGBColor(46, 160, 67),
        Variant::StockMusl => RGBColor(215, 48, 39),
        Variant::StockMuslMimalloc => RGBColor(230, 145, 30),
        Variant::Fastmusl => RGBColor(33, 102, 172),
        Variant::FastmuslSecure => RGBColor(118, 42, 131),
        Variant::SecureLevel1 | Variant::SecureLevel2 | Variant::SecureLevel3 => {
            RGBColor(153, 112, 171)
        }
        Variant::MemoryStudy(_) => RGBColor(67, 147, 195),
        Variant::FreeChecks(_) => RGBColor(146, 197, 222),
    }
}

pub fn churn_throughput(report: &Report, path: &Path) -> Result<()> {
    register_font()?;
    let root = BitMapBackend::new(path, (1500, 520)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "Allocation churn: million allocations/s vs threads ({})",
        report.machine
    );
    let root = root.titled(&title, ("sans-serif", 22))?;
    for (panel, size) in root
        .split_evenly((1, 3))
        .iter()
        .zip(["small", "medium", "large"])
    {
        let group = format!("churn {size}");
        let lines: Vec<(Variant, Vec<(f64, f64)>)> = Variant::ALL
            .iter()
            .map(|&v| (v, series(report, &group, v)))
            .collect();
        let values = lines.iter().flat_map(|(_, s)| s.iter().map(|p| p.1));
        let (low, high) = values.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let max_log2 = lines
            .iter()
            .flat_map(|(_, s)| s.iter().map(|p| p.0))
            .fold(0.0, f64::max);
        if low > high {
            continue; // nothing measured for this size
        }
        // The range reaches well below the lowest line: the legend goes there.
        let y_range = (low / 12.0..high * 1.5).log_scale();
        let mut chart = ChartBuilder::on(panel)
            .caption(&group, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.25..max_log2 + 0.25, y_range)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_labels(max_log2 as usize + 1)
            .x_desc("threads")
            .y_desc("M allocations/s")
            .x_label_formatter(&|x| format!("{:.0}", x.exp2()))
            .y_label_formatter(&|y| {
                // As many decimals as the tick needs: 100, 1, 0.01, 0.001.
                let decimals = (-y.log10().floor()).max(0.0) as usize;
                format!("{y:.decimals$}")
            })
            .draw()?;
        for (variant, points) in lines {
            let color = colour(variant);
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(variant.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

//! The table of `cargo xtask bench --secure-levels`: each of mimalloc's
//! secure levels against level 0 (the default flavor), workload by workload,
//! by median time (for the HTTP server, time per request), with the
//! geometric mean and the worst case of each level. What the default flavor
//! may adopt is read from here: detection that costs at most 2%.

use super::{
    Variant,
    report::{Report, geometric_mean},
};

/// The cost the default flavor accepts for a check it adopts.
pub const ADOPTION_LIMIT: f64 = 1.02;

pub fn markdown(report: &Report) -> String {
    let levels = &Variant::SECURE_LEVELS[1..];
    let mut text = format!(
        "Machine: {}. {} run(s) per variant after a warm-up, variants alternated.{}\n\n\
         mimalloc's secure levels in fastmusl's libc.a, median time (for the HTTP server, \
         time per request) as a ratio to level 0, the default flavor. Levels: 1 guard pages \
         around meta-data, randomised arena addresses; 2 randomised allocation order within \
         pages; 3 encoded free lists and padding canaries (corrupted free lists, overflows, \
         invalid frees); 4 a double-free check on every free (the secure flavor).\n\n\
         | workload | level 0 (s or µs/request) |",
        report.machine,
        report.runs_per_variant,
        if report.quick {
            " QUICK SMOKE RUN: not for conclusions."
        } else {
            ""
        }
    );
    for v in levels {
        text += &format!(" {} ÷ 0 |", secure_level(*v));
    }
    text += "\n|---|---|";
    text += &"---|".repeat(levels.len());
    text += "\n";
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); levels.len()];
    for row in report.rows() {
        let Some(base) = row.of(Variant::Fastmusl) else {
            continue;
        };
        let base_cost = base.cost();
        let shown = match base.http {
            Some(_) => base_cost * 1e6,
            None => base_cost,
        };
        text += &format!("| {} | {shown:.3} |", row.workload);
        for (i, v) in levels.iter().enumerate() {
            match row.of(*v) {
                Some(m) => {
                    let r = m.cost() / base_cost;
                    ratios[i].push(r);
                    text += &format!(" {r:.3}× |");
                }
                None => text += " – |",
            }
        }
        text += "\n";
    }
    text += "| **geometric mean** | |";
    for r in &ratios {
        text += &format!(" **{:.3}×** |", geometric_mean(r));
    }
    text += "\n| **worst workload** | |";
    for r in &ratios {
        text += &format!(" {:.3}× |", r.iter().copied().fold(f64::NAN, f64::max));
    }
    text += "\n\n";
    let adoptable: Vec<String> = levels
        .iter()
        .zip(&ratios)
        .filter(|(_, r)| geometric_mean(r) <= ADOPTION_LIMIT)
        .map(|(v, _)| secure_level(*v))
        .collect();
    text += &format!(
        "Levels whose geometric mean stays within {:.0}% of level 0: {}.\n",
        (ADOPTION_LIMIT - 1.0) * 100.0,
        if adoptable.is_empty() {
            "none".to_owned()
        } else {
            adoptable.join(", ")
        }
    );
    text
}

fn secure_level(v: Variant) -> String {
    format!("level {}", v.secure_level().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::one_run_report;

    #[test]
    fn each_level_is_a_ratio_to_level_0_with_its_mean_and_worst_case() {
        let cells = [
            ("a", [1.0, 1.01, 1.1, 1.2, 1.5]),
            ("b", [2.0, 2.0, 2.4, 2.2, 2.6]),
        ]
        .into_iter()
        .flat_map(|(name, seconds)| {
            Variant::SECURE_LEVELS
                .iter()
                .zip(seconds)
                .map(move |(v, s)| (name, *v, s))
        });
        let report = one_run_report(cells);
        let text = markdown(&report);
        assert!(
            text.contains("| a | 1.000 | 1.010× | 1.100× | 1.200× | 1.500× |"),
            "{text}"
        );
        assert!(
            text.contains("| b | 2.000 | 1.000× | 1.200× | 1.100× | 1.300× |"),
            "{text}"
        );
        // sqrt(1.01 * 1.0) = 1.005
        assert!(
            text.contains("| **geometric mean** | | **1.005×** | **1.149×** |"),
            "{text}"
        );
        assert!(
            text.contains("| **worst workload** | | 1.010× | 1.200× | 1.200× | 1.500× |"),
            "{text}"
        );
        assert!(text.contains("within 2% of level 0: level 1."), "{text}");
    }
}

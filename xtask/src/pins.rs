//! The pinned upstream sources (`sysroots/sources.toml`).
//!
//! A pin is either the SHA-256 of an archive file or the tree hash of its
//! unpacked contents (see `tree_hash`); exactly one per source.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePins {
    pub sysroot: SysrootPin,
    pub musl: SourcePin,
    pub mimalloc: SourcePin,
    pub optimized_routines: SourcePin,
    pub llvm_runtimes: SourcePin,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SysrootPin {
    pub revision: u32,
    /// `YYYY-MM-DD`, stamped into outputs instead of the build time.
    pub source_date: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SourcePin {
    pub version: String,
    /// File name of the archive, in a mirror directory and in the download cache.
    pub file: String,
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_sha256: Option<String>,
    /// Advisories against this version that nothing here fixes yet. Always
    /// written, so a sysroot manifest says "none" explicitly.
    #[serde(default)]
    pub open_advisories: Vec<Advisory>,
    /// Upstream's own fixes after this release, applied in order before the
    /// project's patches.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstream_fixes: Vec<UpstreamFix>,
}

/// One upstream commit after the pinned release, as a `git format-patch`
/// file pinned by its SHA-256.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFix {
    pub commit: String,
    pub subject: String,
    /// Advisories (CVE ids) this commit closes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub advisories: Vec<String>,
    /// Relative path in a mirror directory and in the download cache.
    pub file: String,
    /// Where upstream serves the commit as a patch.
    pub url: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Advisory {
    pub id: String,
    pub summary: String,
    pub fix_commits: Vec<String>,
    pub status: String,
}

/// What a source's bytes are checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin<'a> {
    ArchiveSha256(&'a str),
    TreeSha256(&'a str),
}

impl SourcePins {
    pub fn load(path: &Path) -> Result<SourcePins> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> Result<SourcePins> {
        let pins: SourcePins = toml::from_str(text)?;
        for (name, source) in [
            ("musl", &pins.musl),
            ("mimalloc", &pins.mimalloc),
            ("optimized_routines", &pins.optimized_routines),
            ("llvm_runtimes", &pins.llvm_runtimes),
        ] {
            source.pin().with_context(|| format!("source `{name}`"))?;
            for fix in &source.upstream_fixes {
                fix.check()
                    .with_context(|| format!("source `{name}`, upstream fix {}", fix.commit))?;
            }
        }
        parse_date(&pins.sysroot.source_date).context("sysroot.source_date")?;
        Ok(pins)
    }

    /// `musl1.2.6-mimalloc3.4.3-r8`: what a sysroot is called in paths,
    /// manifests and artifact names.
    pub fn sysroot_version(&self) -> String {
        format!(
            "musl{}-mimalloc{}-r{}",
            self.musl.version, self.mimalloc.version, self.sysroot.revision
        )
    }

    /// `source_date` as seconds since the Unix epoch (midnight UTC).
    pub fn source_date_epoch(&self) -> u64 {
        parse_date(&self.sysroot.source_date).expect("validated in parse")
    }
}

impl SourcePin {
    pub fn pin(&self) -> Result<Pin<'_>> {
        let pin = match (&self.archive_sha256, &self.tree_sha256) {
            (Some(h), None) => Pin::ArchiveSha256(h),
            (None, Some(h)) => Pin::TreeSha256(h),
            _ => bail!("needs exactly one of `archive_sha256` and `tree_sha256`"),
        };
        let hex = match pin {
            Pin::ArchiveSha256(h) | Pin::TreeSha256(h) => h,
        };
        check_lowercase_hex(hex, 64).context("not a SHA-256")?;
        Ok(pin)
    }
}

impl UpstreamFix {
    pub fn pin(&self) -> Pin<'_> {
        Pin::ArchiveSha256(&self.sha256)
    }

    fn check(&self) -> Result<()> {
        check_lowercase_hex(&self.sha256, 64).context("sha256")?;
        check_lowercase_hex(&self.commit, 40).context("commit")?;
        let path = Path::new(&self.file);
        if self.file.is_empty()
            || !path
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        {
            bail!("file `{}` is not a plain relative path", self.file);
        }
        Ok(())
    }
}

fn check_lowercase_hex(hex: &str, len: usize) -> Result<()> {
    if hex.len() != len
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        bail!("`{hex}` is not {len} lowercase hex digits");
    }
    Ok(())
}

/// Days-from-civil (Howard Hinnant's algorithm): `YYYY-MM-DD` to Unix seconds.
fn parse_date(date: &str) -> Result<u64> {
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        bail!("`{date}` is not YYYY-MM-DD");
    };
    let (y, m, d): (i64, i64, i64) = (y.parse()?, m.parse()?, d.parse()?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("`{date}` is not a date after 1970");
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days as u64 * 86_400)
}

/// `__DATE__`-style `Mmm dd yyyy` for a Unix time (UTC), as C compilers print it.
pub fn c_date_string(epoch: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil_from_epoch(epoch);
    format!("{} {:>2} {}", MONTHS[(m - 1) as usize], d, y)
}

/// `YYYY-MM-DD` for a Unix time (UTC).
pub fn iso_date(epoch: u64) -> String {
    let (y, m, d) = civil_from_epoch(epoch);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Civil-from-days (Howard Hinnant's algorithm): (year, month, day), UTC.
fn civil_from_epoch(epoch: u64) -> (i64, i64, i64) {
    let days = (epoch / 86_400) as i64 + 719_468;
    let era = days.div_euclid(146_097);
    let doe = days - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert_eq!(parse_date("2026-03-20").unwrap(), 1_773_964_800);
        assert_eq!(c_date_string(1_773_964_800), "Mar 20 2026");
        assert_eq!(
            c_date_string(parse_date("2024-02-09").unwrap()),
            "Feb  9 2024"
        );
        assert!(parse_date("2026-13-01").is_err());
        assert_eq!(iso_date(1_773_964_800 + 86_399), "2026-03-20");
        assert_eq!(iso_date(parse_date("2000-02-29").unwrap()), "2000-02-29");
    }

    #[test]
    fn the_project_pins_parse() {
        let path = crate::project_root().join("sysroots/sources.toml");
        let pins = SourcePins::load(&path).unwrap();
        assert_eq!(pins.musl.version, "1.2.6");
        assert_eq!(pins.mimalloc.version, "3.4.3");
        assert!(matches!(pins.musl.pin().unwrap(), Pin::ArchiveSha256(_)));
        assert!(matches!(pins.mimalloc.pin().unwrap(), Pin::TreeSha256(_)));
        assert!(pins.musl.open_advisories.is_empty());
        let fixes = &pins.musl.upstream_fixes;
        assert_eq!(fixes.len(), 19);
        assert!(fixes[0].file.starts_with("musl-patches/0001-"));
        assert!(fixes[18].file.starts_with("musl-patches/0019-"));
        let closed: Vec<&str> = fixes
            .iter()
            .flat_map(|f| f.advisories.iter().map(String::as_str))
            .collect();
        assert_eq!(
            closed,
            [
                "CVE-2026-6042",
                "CVE-2026-40200",
                "CVE-2026-40200",
                "CVE-2026-40200"
            ]
        );
    }

    #[test]
    fn a_source_needs_exactly_one_pin() {
        let text =
            std::fs::read_to_string(crate::project_root().join("sysroots/sources.toml")).unwrap();
        let both = text.replace("tree_sha256 = ", "archive_sha256 = \"00\"\ntree_sha256 = ");
        let err = SourcePins::parse(&both).unwrap_err();
        assert!(format!("{err:#}").contains("exactly one"), "{err:#}");
    }
}

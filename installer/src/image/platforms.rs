//! Which target builds each OCI platform an image is asked for: the
//! installed sysroots' manifests say (`[wiring] platform`, from the
//! pipeline's table), and the signed channel manifest says for the targets
//! fastmusl offers but this machine has not installed. Nothing here derives
//! a platform from a triple.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use fastmusl_dist::sysroot::SysrootManifest;

use crate::home::{FastmuslHome, InstallState};

/// OCI platform (`linux/arm/v7`) -> Rust target triple.
pub type PlatformMap = BTreeMap<String, String>;

/// The installed targets' platforms. A sysroot from a release before
/// platforms were recorded is an error that says how to replace it.
pub fn installed(home: &FastmuslHome, state: &InstallState) -> Result<PlatformMap> {
    let mut map = PlatformMap::new();
    for (triple, installed) in &state.targets {
        let manifest = SysrootManifest::read(&home.sysroot(triple, installed))?;
        let Some(platform) = manifest.wiring.platform else {
            bail!(
                "the installed {triple} sysroot ({installed}) predates OCI platforms in sysroot \
                 manifests: `fastmusl update` replaces it"
            );
        };
        map.insert(platform, triple.clone());
    }
    Ok(map)
}

/// What `--platform` asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformRequest {
    /// Every installed target (no `--platform`, or `--platform all`).
    Installed,
    /// These, as the user wrote them.
    Listed(Vec<String>),
}

impl PlatformRequest {
    pub fn parse(values: &[String]) -> PlatformRequest {
        let listed: Vec<String> = values
            .iter()
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        if listed.is_empty() || listed.iter().any(|p| p == "all") {
            PlatformRequest::Installed
        } else {
            PlatformRequest::Listed(listed)
        }
    }
}

/// The platform of `known` that `asked` names: itself, or, without a
/// variant, the one platform of that architecture (`linux/arm64` is
/// `linux/arm64/v8`; `linux/arm` is ambiguous when v6 and v7 are both
/// known).
pub fn find<'a>(asked: &str, known: &'a PlatformMap) -> Result<Option<&'a str>> {
    let asked = asked.strip_prefix("linux/").unwrap_or(asked);
    let asked = format!("linux/{asked}");
    if let Some((platform, _)) = known.get_key_value(&asked) {
        return Ok(Some(platform));
    }
    let prefix = format!("{asked}/");
    let matching: Vec<&str> = known
        .keys()
        .filter(|p| p.starts_with(&prefix))
        .map(String::as_str)
        .collect();
    match matching.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        several => bail!(
            "--platform {asked} could be any of {}: name the variant",
            several.join(", ")
        ),
    }
}

/// What to build for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// (platform, triple), in the platforms' order.
    pub chosen: Vec<(String, String)>,
    /// Targets to add before building (with `--add-targets`).
    pub to_add: Vec<String>,
}

/// The targets to build for `request`. `offered` (the channel's
/// platforms) is asked only when a platform is not installed.
pub fn resolve(
    request: &PlatformRequest,
    installed: &PlatformMap,
    add_targets: bool,
    offered: impl FnOnce() -> Result<PlatformMap>,
) -> Result<Resolved> {
    let asked = match request {
        PlatformRequest::Installed => {
            if installed.is_empty() {
                bail!(
                    "no target is installed: add one first, e.g. `fastmusl target add \
                     x86_64-unknown-linux-musl`, or name platforms with --platform and pass \
                     --add-targets"
                );
            }
            return Ok(Resolved {
                chosen: installed
                    .iter()
                    .map(|(p, t)| (p.clone(), t.clone()))
                    .collect(),
                to_add: Vec::new(),
            });
        }
        PlatformRequest::Listed(asked) => asked,
    };
    let mut chosen = BTreeMap::new();
    let mut missing = Vec::new();
    for name in asked {
        match find(name, installed)? {
            Some(platform) => {
                chosen.insert(platform.to_owned(), installed[platform].clone());
            }
            None => missing.push(name.clone()),
        }
    }
    let mut to_add = Vec::new();
    if !missing.is_empty() {
        let offered = offered()?;
        let mut not_installed = Vec::new();
        for name in &missing {
            let Some(platform) = find(name, &offered)? else {
                bail!(
                    "fastmusl has no target for {name}; its platforms: {}{}",
                    offered.keys().cloned().collect::<Vec<_>>().join(", "),
                    crate::suggest::did_you_mean(name, offered.keys().map(String::as_str))
                );
            };
            let triple = offered[platform].clone();
            chosen.insert(platform.to_owned(), triple.clone());
            not_installed.push(triple);
        }
        if !add_targets {
            bail!(
                "{} {} not installed: run `fastmusl target add {}` (or pass --add-targets)",
                not_installed.join(", "),
                if not_installed.len() == 1 {
                    "is"
                } else {
                    "are"
                },
                not_installed.join(" ")
            );
        }
        to_add = not_installed;
    }
    Ok(Resolved {
        chosen: chosen.into_iter().collect(),
        to_add,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> PlatformMap {
        pairs
            .iter()
            .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
            .collect()
    }

    #[test]
    fn a_platform_without_its_variant_finds_the_only_one_and_refuses_a_choice() {
        let known = map(&[
            ("linux/amd64", "x86_64-unknown-linux-musl"),
            ("linux/arm64/v8", "aarch64-unknown-linux-musl"),
            ("linux/arm/v6", "arm-unknown-linux-musleabihf"),
            ("linux/arm/v7", "armv7-unknown-linux-musleabihf"),
        ]);
        assert_eq!(find("linux/arm64", &known).unwrap(), Some("linux/arm64/v8"));
        assert_eq!(find("arm64/v8", &known).unwrap(), Some("linux/arm64/v8"));
        assert_eq!(find("linux/arm/v7", &known).unwrap(), Some("linux/arm/v7"));
        assert_eq!(find("linux/s390x", &known).unwrap(), None);
        let err = find("linux/arm", &known).unwrap_err().to_string();
        assert!(err.contains("linux/arm/v6, linux/arm/v7"), "{err}");
    }

    #[test]
    fn platforms_not_installed_are_named_with_the_command_that_adds_them() {
        let installed = map(&[("linux/amd64", "x86_64-unknown-linux-musl")]);
        let offered = || {
            Ok(map(&[
                ("linux/amd64", "x86_64-unknown-linux-musl"),
                ("linux/riscv64", "riscv64gc-unknown-linux-musl"),
            ]))
        };
        let asked = PlatformRequest::parse(&["linux/amd64,linux/riscv64".to_owned()]);
        let err = resolve(&asked, &installed, false, offered)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`fastmusl target add riscv64gc-unknown-linux-musl`"),
            "{err}"
        );
        let resolved = resolve(&asked, &installed, true, offered).unwrap();
        assert_eq!(resolved.chosen.len(), 2);
        assert_eq!(resolved.to_add, ["riscv64gc-unknown-linux-musl"]);
        let asked = PlatformRequest::parse(&["linux/s390x".to_owned()]);
        let err = resolve(&asked, &installed, true, offered)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no target for linux/s390x; its platforms: linux/amd64, linux/riscv64"),
            "{err}"
        );
        // Installed platforms never ask the channel.
        let asked = PlatformRequest::parse(&["linux/amd64".to_owned()]);
        let resolved = resolve(&asked, &installed, false, || bail!("offline")).unwrap();
        assert_eq!(
            resolved.chosen,
            [(
                "linux/amd64".to_owned(),
                "x86_64-unknown-linux-musl".to_owned()
            )]
        );
    }
}

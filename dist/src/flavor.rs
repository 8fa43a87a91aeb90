//! Sysroot flavors: one target's sysroot built more than once, differing
//! only in how its allocator is compiled (`default`; `secure`: mimalloc's
//! secure mode). Which flavors exist is the pipeline's table
//! (`sysroots/targets.toml`); an installer learns them from the channel
//! manifest. Only the name of the default is fixed here, because releases
//! made before flavors existed hold it implicitly: their `[sysroot.target]`
//! table, and a sysroot manifest without `flavor`, are the default flavor.

use std::path::{Path, PathBuf};

/// The flavor of a sysroot whose manifest names none, and the one an
/// installer picks unless told otherwise.
pub const DEFAULT: &str = "default";

/// Whether `name` can name a flavor: lowercase ASCII letters and digits,
/// starting with a letter. A target triple always holds a `-`, so a flavor's
/// directory can never be mistaken for a triple's (see `sysroot_dir`).
pub fn is_valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Where the sysroot of `triple` in `flavor` lives below `base`:
/// `base/<triple>` for the default flavor, as before flavors existed, and
/// `base/<flavor>/<triple>` for another.
pub fn sysroot_dir(base: &Path, flavor: &str, triple: &str) -> PathBuf {
    if flavor == DEFAULT {
        base.join(triple)
    } else {
        base.join(flavor).join(triple)
    }
}

/// `triple`, or `triple (flavor)` when the flavor is not the default: how
/// messages name an installed sysroot.
pub fn describe(triple: &str, flavor: &str) -> String {
    if flavor == DEFAULT {
        triple.to_owned()
    } else {
        format!("{triple} ({flavor})")
    }
}

/// For `#[serde(default = …)]`.
pub fn default_name() -> String {
    DEFAULT.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_names_never_look_like_triples() {
        for good in ["default", "secure", "secure4"] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in [
            "",
            "Secure",
            "4secure",
            "x86_64-unknown-linux-musl",
            "a-b",
            "../x",
            "se cure",
        ] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_default_flavor_keeps_the_pre_flavor_layout() {
        let base = Path::new("/s/v1");
        assert_eq!(
            sysroot_dir(base, DEFAULT, "x86_64-unknown-linux-musl"),
            base.join("x86_64-unknown-linux-musl")
        );
        assert_eq!(
            sysroot_dir(base, "secure", "x86_64-unknown-linux-musl"),
            base.join("secure/x86_64-unknown-linux-musl")
        );
    }
}

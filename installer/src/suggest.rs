//! "Did you mean …?" for a mistyped name: a target triple, a flavor, an
//! image platform. The closest candidate by edit distance is offered when
//! it is close enough to be a typo or a near miss
//! (`x86_64-unknown-linux-gnu` for `…-musl`, `armv7-unknown-linux-musl`
//! for `…-musleabihf`), never a wild guess.

/// The candidate closest to `given`, if one is close: at most a third of
/// the longer name's length in edits (and at least 2, for short names).
/// Between close ones, a candidate with the same first `-` part (a
/// triple's architecture) wins: `armv7-unknown-linux-musl` means armv7's
/// `…-musleabihf`, not `aarch64-…-musl`, fewer edits away.
pub fn closest<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let first_part = |name: &str| name.split('-').next().unwrap_or_default().to_owned();
    candidates
        .into_iter()
        .map(|c| {
            let distance = strsim::levenshtein(given, c);
            (first_part(c) != first_part(given), distance, c)
        })
        .filter(|(_, distance, c)| {
            *distance > 0 && *distance <= (given.len().max(c.len()) / 3).max(2)
        })
        .min()
        .map(|(_, _, c)| c)
}

/// `"; did you mean `X`?"`, or nothing: to end an error message with.
pub fn did_you_mean<'a>(given: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(given, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TARGETS: [&str; 7] = [
        "aarch64-unknown-linux-musl",
        "arm-unknown-linux-musleabihf",
        "armv7-unknown-linux-musleabihf",
        "i686-unknown-linux-musl",
        "powerpc64le-unknown-linux-musl",
        "riscv64gc-unknown-linux-musl",
        "x86_64-unknown-linux-musl",
    ];

    #[test]
    fn near_misses_get_the_real_name() {
        for (given, meant) in [
            ("x86_64-unknown-linux-gnu", "x86_64-unknown-linux-musl"),
            ("x86-64-unknown-linux-musl", "x86_64-unknown-linux-musl"),
            ("armv7-unknown-linux-musl", "armv7-unknown-linux-musleabihf"),
            ("aarch64-linux-musl", "aarch64-unknown-linux-musl"),
            ("riscv64-unknown-linux-musl", "riscv64gc-unknown-linux-musl"),
            ("i586-unknown-linux-musl", "i686-unknown-linux-musl"),
        ] {
            assert_eq!(closest(given, TARGETS), Some(meant), "{given}");
        }
        assert_eq!(closest("secur", ["default", "secure"]), Some("secure"));
        assert_eq!(closest("defualt", ["default", "secure"]), Some("default"));
    }

    #[test]
    fn far_names_and_exact_ones_get_nothing() {
        assert_eq!(closest("wasm32-wasip1", TARGETS), None);
        assert_eq!(closest("fast", ["default", "secure"]), None);
        assert_eq!(closest("secure", ["default", "secure"]), None);
        assert_eq!(did_you_mean("fast", ["default", "secure"]), "");
        assert_eq!(
            did_you_mean("secur", ["default", "secure"]),
            "; did you mean `secure`?"
        );
    }
}

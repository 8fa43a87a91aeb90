//! Image references as `docker`/`skopeo` read them: `[REGISTRY/]REPO[:TAG]`,
//! where the first component is a registry only if it has a `.` or a `:` or
//! is `localhost`, and a bare Docker Hub name means `library/NAME`.

use anyhow::{Result, bail};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]` as written (`docker.io` for Docker Hub).
    pub registry: String,
    pub repository: String,
    pub tag: String,
}

const DOCKER_HUB: &str = "docker.io";

impl Reference {
    /// Parses `reference`; without a tag, `default_tag` is used.
    pub fn parse(reference: &str, default_tag: Option<&str>) -> Result<Reference> {
        if reference.contains("://") {
            bail!(
                "`{reference}`: write the reference without a scheme (REGISTRY/REPO:TAG); \
                 fastmusl speaks HTTPS to registries, plain HTTP only to loopback ones"
            );
        }
        if reference.contains('@') {
            bail!("`{reference}`: name a tag, not a digest (an image is pushed under a tag)");
        }
        let (first, rest) = match reference.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest)
            }
            _ => (DOCKER_HUB.to_owned(), reference),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
            _ => (rest, None),
        };
        let Some(tag) = tag.or(default_tag) else {
            bail!("`{reference}` has no tag: write NAME:TAG");
        };
        check_tag(tag)?;
        check_repository(name)?;
        let repository = if first == DOCKER_HUB && !name.contains('/') {
            format!("library/{name}")
        } else {
            name.to_owned()
        };
        Ok(Reference {
            registry: first,
            repository,
            tag: tag.to_owned(),
        })
    }

    /// The host the registry API answers on (Docker Hub's API host differs
    /// from its name).
    /// The repository's last path component (`hello` of `ghcr.io/o/hello`).
    pub fn name(&self) -> &str {
        self.repository
            .rsplit('/')
            .next()
            .unwrap_or(&self.repository)
    }

    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// A tag as the distribution spec allows: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<()> {
    let mut chars = tag.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !first_ok || !rest_ok || tag.len() > 128 {
        bail!(
            "`{tag}` is not a valid tag (letters, digits, _ . -; at most 128; not starting with . or -)"
        );
    }
    Ok(())
}

/// Path components of lowercase letters and digits, separated by `.`, `_`,
/// `__` or `-` runs.
fn check_repository(name: &str) -> Result<()> {
    let component_ok = |c: &str| {
        !c.is_empty()
            && c.starts_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.ends_with(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
            && c.chars()
                .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
    };
    if name.is_empty() || !name.split('/').all(component_ok) {
        bail!(
            "`{name}` is not a valid repository name (lowercase letters, digits and . _ -, \
             components separated by /)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> (String, String, String) {
        let r = Reference::parse(s, None).unwrap();
        (r.registry, r.repository, r.tag)
    }

    #[test]
    fn registries_repositories_and_tags() {
        let t = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
        assert_eq!(parsed("hello:v1"), t("docker.io", "library/hello", "v1"));
        assert_eq!(parsed("me/hello:v1"), t("docker.io", "me/hello", "v1"));
        assert_eq!(
            parsed("127.0.0.1:5000/team/app:1.2"),
            t("127.0.0.1:5000", "team/app", "1.2")
        );
        assert_eq!(parsed("localhost/app:x"), t("localhost", "app", "x"));
        assert_eq!(
            parsed("europe-docker.pkg.dev/p/r/app:latest"),
            t("europe-docker.pkg.dev", "p/r/app", "latest")
        );
        let with_default = Reference::parse("ghcr.io/o/app", Some("v2")).unwrap();
        assert_eq!(with_default.tag, "v2");
        for bad in [
            "ghcr.io/o/app",
            "App:v1",
            "app:-x",
            "app:",
            "app@sha256:00",
            "a//b:v",
            "http://10.0.0.1:5000/app:v1",
        ] {
            assert!(Reference::parse(bad, None).is_err(), "{bad}");
        }
    }
}

//! `/etc/resolv.conf` as the musl in fastmusl's sysroots reads it (musl's
//! src/network/resolvconf.c with patches/musl/0004), for `fastmusl
//! doctor`: which nameservers it asks, the search list, the options it
//! honours and those it ignores, and what that costs. glibc reads the same
//! file differently in places; the differences that matter in pods are
//! said in the notes.

use std::fmt;

/// musl asks at most this many nameservers (MAXNS).
const MAX_NAMESERVERS: usize = 3;
/// musl reads lines into a 256-byte buffer and skips longer ones whole.
const MAX_LINE: usize = 254;

/// The options fastmusl's musl honours (revision 9 and later for the last
/// three).
const HONOURED: [&str; 6] = [
    "ndots",
    "timeout",
    "attempts",
    "single-request",
    "single-request-reopen",
    "use-vc",
];

/// What the resolver makes of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverView {
    /// The nameservers asked, all at once.
    pub nameservers: Vec<String>,
    /// Nameserver lines skipped: beyond the third, or not an IP address.
    pub skipped_nameservers: Vec<String>,
    /// The search list (the last `search` or `domain` line).
    pub search: Vec<String>,
    pub ndots: u32,
    pub timeout: u32,
    pub attempts: u32,
    /// Options given and honoured (beside ndots, timeout, attempts).
    pub honoured: Vec<String>,
    /// Options given and ignored.
    pub ignored: Vec<String>,
    /// Lines skipped because they are too long.
    pub long_lines: usize,
}

impl ResolverView {
    /// Reads resolv.conf's text (an empty text: no file).
    pub fn read(text: &str) -> ResolverView {
        let mut view = ResolverView {
            nameservers: Vec::new(),
            skipped_nameservers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: 5,
            attempts: 2,
            honoured: Vec::new(),
            ignored: Vec::new(),
            long_lines: 0,
        };
        for line in text.lines() {
            if line.len() > MAX_LINE {
                view.long_lines += 1;
                continue;
            }
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    let Some(address) = words.next() else {
                        continue;
                    };
                    let literal = address
                        .split('%')
                        .next()
                        .is_some_and(|a| a.parse::<std::net::IpAddr>().is_ok());
                    if literal && view.nameservers.len() < MAX_NAMESERVERS {
                        view.nameservers.push(address.to_owned());
                    } else {
                        view.skipped_nameservers.push(address.to_owned());
                    }
                }
                Some("search" | "domain") => view.search = words.map(str::to_owned).collect(),
                Some("options") => {
                    for option in words {
                        let (name, value) = option.split_once(':').unwrap_or((option, ""));
                        let number = value.parse::<u32>().ok();
                        match (name, number) {
                            ("ndots", Some(n)) => view.ndots = n.min(15),
                            ("timeout", Some(n)) => view.timeout = n.min(60),
                            // 0 is one attempt (patches/musl/0004).
                            ("attempts", Some(n)) => view.attempts = n.clamp(1, 10),
                            _ if HONOURED.contains(&name) && value.is_empty() => {
                                view.honoured.push(name.to_owned())
                            }
                            _ => view.ignored.push(option.to_owned()),
                        }
                    }
                }
                _ => {}
            }
        }
        if view.nameservers.is_empty() {
            view.nameservers.push("127.0.0.1 (none given)".to_owned());
        }
        view
    }

    /// What a pod's owner should know about this configuration.
    pub fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.ndots > 1 && !self.search.is_empty() {
            notes.push(format!(
                "a name with fewer than {} dots is tried with each of the {} search domains \
                 first: up to {} queries (A and AAAA) before an external name resolves; write \
                 external names with a trailing dot (example.com.) to skip that",
                self.ndots,
                self.search.len(),
                2 * (self.search.len() + 1)
            ));
        }
        if self.nameservers.len() > 1 {
            notes.push(
                "all nameservers are asked at once (glibc asks them in turn): a dead one costs \
                 nothing"
                    .to_owned(),
            );
        }
        notes.push(format!(
            "a lookup gives up after {} s in all ({} attempts of {:.1} s each; glibc waits {} s \
             per attempt and nameserver)",
            self.timeout,
            self.attempts,
            self.timeout as f64 / self.attempts as f64,
            self.timeout
        ));
        notes
    }
}

impl fmt::Display for ResolverView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "  nameservers: {}", self.nameservers.join(", "))?;
        if !self.skipped_nameservers.is_empty() {
            writeln!(
                f,
                "  skipped nameservers (beyond the third, or not an address): {}",
                self.skipped_nameservers.join(", ")
            )?;
        }
        let search = if self.search.is_empty() {
            "(none)".to_owned()
        } else {
            self.search.join(" ")
        };
        writeln!(f, "  search: {search}")?;
        write!(
            f,
            "  options honoured: ndots:{} timeout:{} attempts:{}",
            self.ndots, self.timeout, self.attempts
        )?;
        for option in &self.honoured {
            write!(f, " {option}")?;
        }
        writeln!(f)?;
        if !self.ignored.is_empty() {
            writeln!(f, "  options ignored: {}", self.ignored.join(" "))?;
        }
        if self.long_lines > 0 {
            writeln!(
                f,
                "  {} line(s) longer than {MAX_LINE} characters skipped whole",
                self.long_lines
            )?;
        }
        for note in self.notes() {
            writeln!(f, "  note: {note}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kubernetes_resolv_conf() {
        let view = ResolverView::read(
            "search ns.svc.cluster.local svc.cluster.local cluster.local c.proj.internal\n\
             nameserver 10.96.0.10\noptions ndots:5 single-request-reopen edns0 trust-ad\n",
        );
        assert_eq!(view.nameservers, ["10.96.0.10"]);
        assert_eq!(view.search.len(), 4);
        assert_eq!((view.ndots, view.timeout, view.attempts), (5, 5, 2));
        assert_eq!(view.honoured, ["single-request-reopen"]);
        assert_eq!(view.ignored, ["edns0", "trust-ad"]);
        let text = view.to_string();
        assert!(text.contains("up to 10 queries"), "{text}");
        assert!(text.contains("options ignored: edns0 trust-ad"), "{text}");
    }

    #[test]
    fn limits_musl_applies() {
        let long = format!("search {}\n", "a".repeat(300));
        let view = ResolverView::read(&format!(
            "nameserver 10.0.0.1\nnameserver fe80::1%eth0\nnameserver dns.example\n\
             nameserver 10.0.0.2\nnameserver 10.0.0.3\n{long}domain last.example\n\
             options ndots:20 timeout:90 attempts:0 rotate\n"
        ));
        assert_eq!(view.nameservers, ["10.0.0.1", "fe80::1%eth0", "10.0.0.2"]);
        assert_eq!(view.skipped_nameservers, ["dns.example", "10.0.0.3"]);
        assert_eq!(view.search, ["last.example"]);
        assert_eq!(view.long_lines, 1);
        assert_eq!((view.ndots, view.timeout, view.attempts), (15, 60, 1));
        assert_eq!(view.ignored, ["rotate"]);
        assert_eq!(
            ResolverView::read("").nameservers,
            ["127.0.0.1 (none given)"]
        );
    }
}

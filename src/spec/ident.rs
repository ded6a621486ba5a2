//! Checks for the identifiers and values the spec hands to BuildKit, the Docker CLI, git or
//! the image config, so that a mistake is reported at its field instead of surfacing as a
//! broken build (or a broken image).

/// Why `id` cannot be a build secret or SSH id, if it cannot. Ids travel as
/// `--secret id=ID,src=…` / `--ssh ID=…` (CSV, `=`-separated) and name files under
/// `/run/secrets/`.
pub fn secret_id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("is empty")
    } else if id.len() > 128 {
        Some("is longer than 128 characters")
    } else if id.chars().any(char::is_control) {
        Some("contains control characters")
    } else if id.contains([',', '=', '/']) {
        Some("contains `,`, `=` or `/`, which --secret/--ssh cannot pass")
    } else if id.trim() != id || id == "." || id == ".." {
        Some("is not a usable name")
    } else {
        None
    }
}

/// The `user:password@` part of a URL, if it has credentials in it: they would end up in
/// the build graph and the cache keys.
pub fn has_password(url: &str) -> bool {
    userinfo(url).is_some_and(|info| info.contains(':'))
}

/// The part of a URL's authority before `@`, if any.
pub fn userinfo(url: &str) -> Option<&str> {
    authority(url).rsplit_once('@').map(|(info, _)| info)
}

/// A URL's `[userinfo@]host[:port]`.
fn authority(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

/// A URL whose host is this machine (127.0.0.0/8, `localhost`, `[::1]`): plain http:// to it
/// never crosses a network.
pub fn is_loopback_url(url: &str) -> bool {
    let authority = authority(url);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host_port.split(':').next().unwrap_or(host_port),
    };
    host == "localhost"
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A POSIX environment variable name.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Linux signal names as the OCI image config's `StopSignal` takes them (with or without
/// `SIG`), or a number from 1 to 64.
pub fn is_signal(text: &str) -> bool {
    const NAMES: &[&str] = &[
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "IOT", "BUS", "FPE", "KILL", "USR1", "SEGV",
        "USR2", "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU",
        "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "POLL", "PWR", "SYS", "RTMIN",
        "RTMAX",
    ];
    if let Ok(number) = text.parse::<u8>() {
        return (1..=64).contains(&number) && !text.starts_with('0');
    }
    let name = text.strip_prefix("SIG").unwrap_or(text);
    let realtime = |base: &str, sign: char| {
        name.strip_prefix(base)
            .and_then(|n| n.strip_prefix(sign))
            .and_then(|n| n.parse::<u8>().ok())
            .is_some_and(|n| (1..=15).contains(&n))
    };
    NAMES.contains(&name) || realtime("RTMIN", '+') || realtime("RTMAX", '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_ids() {
        assert_eq!(secret_id_problem("git_token"), None);
        assert_eq!(
            secret_id_problem("my token"),
            None,
            "spaces pass --secret id=…"
        );
        for bad in ["", "a,b", "a=b", "../x", "a/b", "tok\n", " x", ".."] {
            assert!(secret_id_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_in_urls() {
        assert!(has_password("https://u:tok@proxy.corp/"));
        assert!(!has_password("ssh://git@git.corp:2222/"));
        assert!(!has_password("https://proxy.corp/a@b"));
        assert_eq!(userinfo("https://tok@git.corp/x"), Some("tok"));
        assert!(is_loopback_url("http://127.0.0.1:8080/") && is_loopback_url("http://[::1]/"));
        assert!(!is_loopback_url("http://git.corp/") && !is_loopback_url("http://127.0.0.1.evil/"));
    }

    #[test]
    fn env_names_and_signals() {
        assert!(is_env_name("GOEXPERIMENT") && is_env_name("_x1"));
        assert!(!is_env_name("1X") && !is_env_name("A-B") && !is_env_name(""));
        for good in ["SIGTERM", "TERM", "15", "SIGRTMIN+3", "SIGRTMAX-1", "64"] {
            assert!(is_signal(good), "{good}");
        }
        for bad in ["SIGBANANA", "0", "65", "007", "SIGRTMIN+99", "sigterm", ""] {
            assert!(!is_signal(bad), "{bad}");
        }
    }
}

//! The `private:` section: private module patterns and how to authenticate for each.

use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use super::{Located, Pos, Problems};

/// One group of private modules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Private {
    /// A GOPRIVATE pattern, e.g. `git.corp.example/*`.
    pub modules: Located<String>,
    /// Where the repositories are (`ssh://git@host/`, `https://host/`); requests for
    /// `https://<pattern prefix>/` are rewritten to it.
    pub git: Option<Located<String>>,
    pub auth: Auth,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Auth {
    /// git over SSH through the client's forwarded agent (`--ssh ID`).
    Ssh { id: String, known_hosts: KnownHosts },
    /// An HTTPS token from a build secret, handed to git by a credential helper.
    Token { secret: String, username: String },
    /// A whole .netrc from a build secret.
    Netrc { secret: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum KnownHosts {
    Lines(Vec<String>),
    Secret(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrivate {
    modules: Spanned<String>,
    git: Option<Spanned<String>>,
    ssh: Option<Spanned<RawSsh>>,
    token: Option<Spanned<RawToken>>,
    netrc: Option<Spanned<RawNetrc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSsh {
    id: Option<String>,
    known_hosts: Option<Vec<String>>,
    known_hosts_secret: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawToken {
    secret: String,
    username: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetrc {
    secret: String,
}

pub(super) fn private(
    raw: Option<Vec<Spanned<RawPrivate>>>,
    problems: &mut Problems,
) -> Vec<Private> {
    let mut out = Vec::new();
    for (i, entry) in raw.unwrap_or_default().into_iter().enumerate() {
        let pos = super::Pos::of(&entry);
        let raw = entry.value;
        let path = format!("private[{i}]");
        let modules = Located::from_spanned(raw.modules);
        if modules.value.trim().is_empty() || modules.value.contains(char::is_whitespace) {
            problems.push(
                modules.pos,
                &format!("{path}.modules"),
                format!("`{}` is not a module path pattern", modules.value),
                Some("for example git.corp.example/*"),
            );
        }
        let git = raw.git.map(Located::from_spanned);
        if let Some(url) = &git {
            let known = ["ssh://", "https://", "http://"];
            if !known.iter().any(|s| url.value.starts_with(s)) {
                problems.push(
                    url.pos,
                    &format!("{path}.git"),
                    format!("`{}` is not an ssh:// or https:// URL", url.value),
                    None,
                );
            }
        }
        let kinds = [raw.ssh.is_some(), raw.token.is_some(), raw.netrc.is_some()];
        if kinds.iter().filter(|k| **k).count() != 1 {
            problems.push(
                pos,
                &path,
                "say how to authenticate: exactly one of ssh, token or netrc".to_string(),
                None,
            );
            continue;
        }
        let auth = if let Some(ssh) = raw.ssh {
            let ssh_pos = super::Pos::of(&ssh);
            let ssh = ssh.value;
            let known_hosts = match (ssh.known_hosts, ssh.known_hosts_secret) {
                (Some(lines), None) if !lines.is_empty() => KnownHosts::Lines(lines),
                (None, Some(secret)) => KnownHosts::Secret(secret),
                _ => {
                    problems.push(
                        ssh_pos,
                        &format!("{path}.ssh"),
                        "give the server's host keys in known_hosts (or known_hosts_secret)"
                            .to_string(),
                        Some("host-key checking is never turned off; `ssh-keyscan HOST` prints the lines"),
                    );
                    KnownHosts::Lines(Vec::new())
                }
            };
            if git.is_none() {
                problems.push(
                    ssh_pos,
                    &format!("{path}.git"),
                    "ssh needs the repositories' address".to_string(),
                    Some("e.g. git: ssh://git@git.corp.example/"),
                );
            }
            Auth::Ssh {
                id: ssh.id.unwrap_or_else(|| "default".to_string()),
                known_hosts,
            }
        } else if let Some(token) = raw.token {
            Auth::Token {
                secret: token.value.secret,
                username: token
                    .value
                    .username
                    .unwrap_or_else(|| "x-access-token".to_string()),
            }
        } else if let Some(netrc) = raw.netrc {
            Auth::Netrc {
                secret: netrc.value.secret,
            }
        } else {
            continue;
        };
        out.push(Private {
            modules,
            git,
            auth,
            pos,
        });
    }
    out
}

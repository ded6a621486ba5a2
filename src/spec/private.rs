//! The `private:` section: private module patterns and how to authenticate for each.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Located, Pos, Problems, Spanned, ident};

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

/// Private modules: a GOPRIVATE pattern, where their repositories are, and one of ssh,
/// token or netrc.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Private")]
pub(super) struct RawPrivate {
    /// A GOPRIVATE pattern, e.g. `git.corp.example/*`.
    modules: Spanned<String>,
    /// Where the repositories are (`ssh://git@host/`, `https://host/`).
    git: Option<Spanned<String>>,
    /// git over SSH through the client's agent (`--ssh ID`).
    ssh: Option<Spanned<RawSsh>>,
    /// An HTTPS token from a build secret (`--secret id=…`).
    token: Option<Spanned<RawToken>>,
    /// A .netrc from a build secret.
    netrc: Option<Spanned<RawNetrc>>,
}

#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Ssh")]
struct RawSsh {
    /// The SSH agent's id (`--ssh ID`, default `default`).
    id: Option<String>,
    /// known_hosts lines for the git host.
    known_hosts: Option<Vec<String>>,
    /// A build secret holding known_hosts.
    known_hosts_secret: Option<String>,
}

#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Token")]
struct RawToken {
    /// The build secret's id.
    secret: String,
    /// The user name git sends with the token.
    username: Option<String>,
}

#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Netrc")]
struct RawNetrc {
    /// The build secret's id.
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
        if modules.value.trim().is_empty()
            || modules
                .value
                .contains(|c: char| c.is_whitespace() || c.is_control() || c == ',')
        {
            problems.push(
                modules.pos,
                &format!("{path}.modules"),
                format!("`{}` is not a module path pattern", modules.value),
                Some("for example git.corp.example/*"),
            );
        }
        let mut git = raw.git.map(Located::from_spanned);
        if let Some(url) = &mut git {
            let known = ["ssh://", "https://", "http://"];
            if !known.iter().any(|s| url.value.starts_with(s)) {
                problems.push(
                    url.pos,
                    &format!("{path}.git"),
                    format!("`{}` is not an ssh:// or https:// URL", url.value),
                    None,
                );
            } else if ident::has_password(&url.value)
                || (!url.value.starts_with("ssh://") && ident::userinfo(&url.value).is_some())
            {
                problems.push(
                    url.pos,
                    &format!("{path}.git"),
                    "has credentials in it, which would be stored in the build graph".to_string(),
                    Some("keep the URL plain and give the credentials with `token:` or `netrc:`"),
                );
            }
            // A prefix of repository URLs: `https://host` must not also match `https://hostile`.
            if !url.value.ends_with('/') {
                url.value.push('/');
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
            let id = ssh.id.unwrap_or_else(|| "default".to_string());
            check_id(problems, ssh_pos, &format!("{path}.ssh.id"), &id);
            if let KnownHosts::Secret(secret) = &known_hosts {
                check_id(
                    problems,
                    ssh_pos,
                    &format!("{path}.ssh.known_hosts_secret"),
                    secret,
                );
            }
            Auth::Ssh { id, known_hosts }
        } else if let Some(token) = raw.token {
            let token_pos = super::Pos::of(&token);
            check_id(
                problems,
                token_pos,
                &format!("{path}.token.secret"),
                &token.value.secret,
            );
            let username = token
                .value
                .username
                .unwrap_or_else(|| "x-access-token".to_string());
            if username.is_empty() || username.contains(|c: char| c.is_control()) {
                problems.push(
                    token_pos,
                    &format!("{path}.token.username"),
                    format!("{username:?} is not a user name"),
                    None,
                );
            }
            if git.as_ref().is_some_and(|g| {
                g.value.starts_with("http://") && !ident::is_loopback_url(&g.value)
            }) {
                problems.push(
                    token_pos,
                    &format!("{path}.git"),
                    "a token would be sent over plain http://".to_string(),
                    Some("use an https:// URL (plain http:// is accepted only for 127.0.0.1, localhost and [::1])"),
                );
            }
            Auth::Token {
                secret: token.value.secret,
                username,
            }
        } else if let Some(netrc) = raw.netrc {
            let netrc_pos = super::Pos::of(&netrc);
            check_id(
                problems,
                netrc_pos,
                &format!("{path}.netrc.secret"),
                &netrc.value.secret,
            );
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

fn check_id(problems: &mut Problems, pos: Pos, path: &str, id: &str) {
    if let Some(problem) = ident::secret_id_problem(id) {
        problems.push(
            pos,
            path,
            format!("{id:?} {problem}"),
            Some("ids are what `docker build --secret id=ID` / `--ssh ID` take, e.g. git_token"),
        );
    }
}

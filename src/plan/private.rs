//! Access to private modules for the steps that fetch: git configuration through the
//! environment, SSH agent and secret mounts, checks that name the missing `docker build` flag,
//! and explanations for git's failures. Secrets are only ever mounted, by id.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::spec::{Auth, KnownHosts, Private};

use super::script::{Line, say};
use super::{Diagnostic, Known, MountSource, StepMount, diagnostic};

/// Where the SSH agent socket is mounted.
const SSH_SOCKET: &str = "/run/buildkit/ssh_agent.0";
/// Directory of the known_hosts file given in the spec.
const KNOWN_HOSTS_DIR: &str = "/run/gobuild/ssh";
const KNOWN_HOSTS: &str = "/run/gobuild/ssh/known_hosts";

/// What a fetching step needs for the spec's private modules.
#[derive(Debug, Default)]
pub(super) struct Access {
    pub env: BTreeMap<String, String>,
    pub mounts: Vec<StepMount>,
    /// Shell lines run first: fail with the exact flag to add when a credential is missing.
    pub checks: Vec<Line>,
    /// `(grep -E pattern, explanation)` printed when the fetch fails that way.
    pub hints: Vec<(String, String)>,
}

/// GOPRIVATE patterns of the `private` section.
pub(super) fn patterns(private: &[Private]) -> Vec<String> {
    private.iter().map(|p| p.modules.value.clone()).collect()
}

pub(super) fn access(inputs: &Known) -> Result<Access, Diagnostic> {
    let private = &inputs.spec.private;
    let mut access = Access::default();
    let mut git_config: Vec<(String, String)> = Vec::new();
    let mut ssh_id: Option<&str> = None;
    for (i, entry) in private.iter().enumerate() {
        let what = format!("private[{i}] ({})", entry.modules.value);
        if let Some(git) = &entry.git {
            // Go pings a `.git` path's repository over https, then git+ssh and ssh: every
            // one must reach `git`, or a failing ping is followed by DNS look-ups.
            for scheme in ["https", "git+ssh", "ssh"] {
                git_config.push((
                    format!("url.{}.insteadOf", git.value),
                    format!("{scheme}://{}", prefix(&entry.modules.value)),
                ));
            }
        }
        match &entry.auth {
            Auth::Ssh { id, known_hosts } => {
                if let Some(other) = ssh_id.filter(|other| other != id) {
                    return Err(diagnostic(
                        inputs,
                        entry.pos,
                        &format!("private[{i}].ssh.id"),
                        format!(
                            "one build uses one SSH agent, but the spec names `{other}` and `{id}`"
                        ),
                        Some("use the same --ssh id for every private entry"),
                    ));
                }
                if ssh_id.is_none() {
                    access.mounts.push(StepMount {
                        dest: SSH_SOCKET.to_string(),
                        source: MountSource::Ssh { id: id.clone() },
                    });
                    access.env.insert("SSH_AUTH_SOCK".into(), SSH_SOCKET.into());
                    // git runs it through sh.
                    let ssh = Line::command(
                        "ssh",
                        [
                            "-o",
                            &format!("UserKnownHostsFile={KNOWN_HOSTS}"),
                            "-o",
                            "StrictHostKeyChecking=yes",
                            "-o",
                            "BatchMode=yes",
                        ],
                    );
                    access
                        .env
                        .insert("GIT_SSH_COMMAND".into(), ssh.as_str().to_string());
                    access.checks.push(check_socket(id, &what));
                    ssh_id = Some(id);
                }
                match known_hosts {
                    KnownHosts::Lines(lines) => access.mounts.push(StepMount {
                        dest: KNOWN_HOSTS_DIR.to_string(),
                        source: MountSource::File {
                            name: "known_hosts".to_string(),
                            contents: lines.iter().map(|l| format!("{l}\n")).collect(),
                        },
                    }),
                    KnownHosts::Secret(secret) => {
                        access.mounts.push(StepMount {
                            dest: KNOWN_HOSTS.to_string(),
                            source: MountSource::Secret { id: secret.clone() },
                        });
                        access.checks.push(check_secret(KNOWN_HOSTS, secret, &what));
                    }
                }
                let host = entry
                    .git
                    .as_ref()
                    .map(|g| host_of(&g.value))
                    .unwrap_or_default();
                let keyscan = match host.rsplit_once(':') {
                    Some((name, port)) => format!("ssh-keyscan -p {port} {name}"),
                    None => format!("ssh-keyscan {host}"),
                };
                access.hints.push((
                    "Host key verification failed".to_string(),
                    format!(
                        "the SSH host key of {host} is not in private[{i}].ssh.known_hosts of go-build.yaml; `{keyscan}` prints the line to add (check it out of band)"
                    ),
                ));
            }
            Auth::Token { secret, username } => {
                let file = format!("/run/secrets/{secret}");
                access.mounts.push(StepMount {
                    dest: file.clone(),
                    source: MountSource::Secret { id: secret.clone() },
                });
                access.checks.push(check_secret(&file, secret, &what));
                // The token stays in the secret file: the helper prints it only to git, which
                // runs a `!` helper through sh.
                let helper = Line::syntax("!f() { test \"$1\" = get || exit 0; echo")
                    .value(format!("username={username}"))
                    .then("; printf 'password=%s\\n' \"$(cat")
                    .value(&file)
                    .then(")\"; }; f");
                let scope = entry
                    .git
                    .as_ref()
                    .map(|g| g.value.clone())
                    .unwrap_or_else(|| format!("https://{}", prefix(&entry.modules.value)));
                git_config.push((
                    format!("credential.{scope}.helper"),
                    helper.as_str().to_string(),
                ));
            }
            Auth::Netrc { secret } => {
                access.mounts.push(StepMount {
                    dest: "/root/.netrc".to_string(),
                    source: MountSource::Secret { id: secret.clone() },
                });
                access
                    .checks
                    .push(check_secret("/root/.netrc", secret, &what));
            }
        }
    }
    for (key, value) in git_config {
        add_git_config(&mut access.env, &key, &value);
    }
    access.env.insert("GIT_TERMINAL_PROMPT".into(), "0".into());
    access.hints.push((
        "terminal prompts disabled".to_string(),
        "git asked for credentials: the module is private. List its path in `private:` in go-build.yaml with ssh, token or netrc (and check that the token or .netrc is right)".to_string(),
    ));
    Ok(access)
}

/// Adds one git setting through git's environment (`GIT_CONFIG_COUNT`, `GIT_CONFIG_KEY_n`,
/// `GIT_CONFIG_VALUE_n`) after those already there: no file in any layer, nothing overwritten.
pub(super) fn add_git_config(env: &mut BTreeMap<String, String>, key: &str, value: &str) {
    let n: usize = env
        .get("GIT_CONFIG_COUNT")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    env.insert(format!("GIT_CONFIG_KEY_{n}"), key.to_string());
    env.insert(format!("GIT_CONFIG_VALUE_{n}"), value.to_string());
    env.insert("GIT_CONFIG_COUNT".into(), (n + 1).to_string());
}

/// The cache-id scope of a spec's module and build caches: empty without private modules (the
/// module cache is content-addressed and Go locks it, so sharing it across projects is safe),
/// else `private-<hash>/` over the private patterns and how they are reached, so a builder
/// shared with other projects never mixes their caches with private sources.
pub(super) fn cache_scope(private: &[Private]) -> String {
    if private.is_empty() {
        return String::new();
    }
    let mut hasher = Sha256::new();
    for entry in private {
        let auth = match &entry.auth {
            Auth::Ssh { id, .. } => format!("ssh:{id}"),
            Auth::Token { secret, username } => format!("token:{secret}:{username}"),
            Auth::Netrc { secret } => format!("netrc:{secret}"),
        };
        let git = entry.git.as_ref().map_or("", |g| g.value.as_str());
        hasher.update(format!("{}\0{git}\0{auth}\0", entry.modules.value));
    }
    let digest = hasher.finalize();
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("private-{hex}/")
}

/// `private.example/*` → `private.example/`: what module paths under the pattern start with.
fn prefix(pattern: &str) -> String {
    let fixed = pattern.split(['*', '?', '[']).next().unwrap_or(pattern);
    let fixed = fixed.trim_end_matches('/');
    format!("{fixed}/")
}

/// `ssh://git@127.0.0.1:2222/` → `127.0.0.1:2222`.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .to_string()
}

fn check_socket(id: &str, what: &str) -> Line {
    Line::syntax("[ -S \"$SSH_AUTH_SOCK\" ] || {")
        .line(say(format!(
            "gobuild-frontend: {what} is fetched over SSH with your agent: add --ssh {id} to docker build (with ssh-agent running and your key added)"
        )))
        .then("; exit 1; }")
}

fn check_secret(file: &str, secret: &str, what: &str) -> Line {
    Line::syntax("[ -s")
        .value(file)
        .then("] || {")
        .line(say(format!(
            "gobuild-frontend: {what} needs the build secret `{secret}`: add --secret id={secret},src=FILE to docker build"
        )))
        .then("; exit 1; }")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_hosts() {
        assert_eq!(prefix("private.example/*"), "private.example/");
        assert_eq!(prefix("git.corp/team/*/x"), "git.corp/team/");
        assert_eq!(prefix("github.com/corp"), "github.com/corp/");
        assert_eq!(host_of("ssh://git@127.0.0.1:2222/"), "127.0.0.1:2222");
        assert_eq!(host_of("https://git.corp/"), "git.corp");
    }
}

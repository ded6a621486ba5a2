//! The tests of go-build.yaml's `private:` section: private Go modules fetched over SSH (with
//! the agent) and over HTTP (with a token or a .netrc), by plain Go in the builder image and by
//! builds through the frontend, and scans proving that no key or token leaks. The servers, keys
//! and scans are in [`super::private_fixtures`].
//!
//! Go and the private paths (checked with strace and tcpdump, see
//! [`go_reaches_only_loopback_and_hides_git_errors`]): a module path with a `.git` element
//! (`private.example/team/secret.git`) matches cmd/go's generic VCS rule, so Go never asks
//! `https://private.example/...?go-get=1`; with GOPRIVATE it skips the proxy and "pings" the
//! repository with `git ls-remote https://private.example/team/secret` (the `.git` dropped),
//! then `git+ssh://…` and `ssh://…` when that fails. Rewriting only `https://private.example/`
//! (url.<git>.insteadOf) makes the first ping reach 127.0.0.1, but a failing one is followed by
//! two pings that resolve `private.example` in DNS: the rewrite must cover all three schemes.
//! Go prints a ping's error only with `-v`, which `go mod download` lacks: a failure says just
//! `no secure protocol found for repository`, and `git ls-remote -q https://<repo>` run
//! afterwards shows git's own error (`Host key verification failed.`, `terminal prompts
//! disabled`).

use std::collections::BTreeMap;
use std::fs;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::goproxy::{GoProxy, find_modules, go_sum_lines};
use super::private_fixtures::{
    GitHttp, GitRepos, Needle, SshAgent, SshKey, Sshd, all_go_sum_lines, assert_absent,
    assert_image_has_none, find_bytes, git, make_token, openssh_ed25519_keypair, output_text,
    run_ok, tempdir,
};
use super::support::{self, Build, Env, ImageTag, Project, unique};

/// The builder image the frontend uses for these examples (go 1.27).
const GOLANG_IMAGE: &str = "golang:1.27-bookworm";

/// What `examples/private-ssh` prints.
pub const PRIVATE_SSH_OUTPUT: &str = "private-ssh: *** <red>hi there, gopher (greet v1.1.0), from private.example/team/secret.git v1.0.0</red> ***";
/// What `examples/private-token` prints.
pub const PRIVATE_TOKEN_OUTPUT: &str = "private-token: opened tokens.example/team/vault.git v1.0.0";

/// User name the HTTP git server expects (the spec's `token.username`).
const TOKEN_USER: &str = "git";

// ---------------------------------------------------------------------------------------------
// go-build.yaml and builds

/// Replaces the example's `private:` section (to the end of the file) with `section`.
fn set_private_section(project: &Project, section: &str) {
    let spec = project.read("go-build.yaml");
    let at = spec.find("\nprivate:\n").unwrap_or_else(|| {
        panic!("the example's go-build.yaml has no `private:` section:\n{spec}")
    });
    project.write("go-build.yaml", &format!("{}\n{section}", &spec[..at]));
}

/// The `private:` section for modules under `private.example/` over SSH.
pub fn ssh_section(git: &str, known_hosts: &str) -> String {
    format!(
        "private:\n  - modules: private.example/*\n    git: {git}\n    ssh:\n      id: default\n      known_hosts:\n        - \"{known_hosts}\"\n"
    )
}

/// The `private:` section for modules under `tokens.example/` with a token secret.
pub fn token_section(git: &str, secret: &str, username: &str) -> String {
    format!(
        "private:\n  - modules: tokens.example/*\n    git: {git}\n    token:\n      secret: {secret}\n      username: {username}\n"
    )
}

/// The `private:` section for modules under `tokens.example/` with a .netrc secret.
pub fn netrc_section(git: &str, secret: &str) -> String {
    format!(
        "private:\n  - modules: tokens.example/*\n    git: {git}\n    netrc:\n      secret: {secret}\n"
    )
}

/// Builds with the local servers reachable (host network: they listen on 127.0.0.1 only; the
/// build step itself stays offline), the module proxy as GOPROXY, and cache mounts of their
/// own: a fresh `BUILDKIT_CACHE_MOUNT_NS`, so no module comes from an earlier build's cache
/// mount and every fetch really reaches the servers.
fn build_private(
    env: &Env,
    project: &Project,
    proxy: &GoProxy,
    tag: Option<&ImageTag>,
    extra: &[&str],
) -> Build {
    build_private_env(env, project, proxy, tag, extra, &[])
}

/// [`build_private`] with environment for the docker client (`SSH_AUTH_SOCK`).
fn build_private_env(
    env: &Env,
    project: &Project,
    proxy: &GoProxy,
    tag: Option<&ImageTag>,
    extra: &[&str],
    client_env: &[(&str, &str)],
) -> Build {
    let goproxy = format!("GOPROXY={}", proxy.url());
    let ns = format!("BUILDKIT_CACHE_MOUNT_NS=gobuild-e2e-private-{}", unique());
    let mut args = vec![
        "--network=host",
        "--build-arg",
        &goproxy,
        "--build-arg",
        "GOSUMDB=off",
        "--build-arg",
        &ns,
    ];
    if let Some(tag) = tag {
        args.extend(["-t", tag.name()]);
    }
    args.extend_from_slice(extra);
    let build = env.build_with_env(project, &args, client_env);
    print_build_summary(&build);
    build
}

fn print_build_summary(build: &Build) {
    println!(
        "build {} in {:.1}s",
        if build.success { "succeeded" } else { "failed" },
        build.duration.as_secs_f64()
    );
    for v in build
        .vertices
        .iter()
        .filter(|v| v.name.starts_with('[') && !v.name.starts_with("[internal]"))
    {
        let state = if v.cached {
            "CACHED".to_string()
        } else if let Some(e) = &v.error {
            format!("ERROR {e}")
        } else {
            format!("{:.1}s", v.done.unwrap_or(f64::NAN))
        };
        println!("  #{:<3} {:<60} {state}", v.id, v.name);
    }
}

/// What the build's steps printed: BuildKit's log lines (`#14 0.215 text`), without the
/// `executor failed running [sh -c <script>]` summary, which repeats the whole script of the
/// failed step (and so every message it could print).
fn step_log(build: &Build) -> String {
    build
        .output
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix('#')?;
            let (id, rest) = rest.split_once(' ')?;
            id.parse::<u32>().ok()?;
            let (secs, text) = rest.split_once(' ')?;
            secs.parse::<f64>().ok()?;
            Some(text)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints what the steps of a failed build printed, as the user sees it.
fn print_explanation(build: &Build) {
    println!("the failure as the user sees it:");
    for line in step_log(build).lines() {
        println!("  {line}");
    }
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The SSH example's servers: the module proxy, sshd with the private repos, an agent holding
/// the client key.
struct SshWorld {
    proxy: GoProxy,
    sshd: Sshd,
    agent: SshAgent,
    client: SshKey,
    _keys: tempfile::TempDir,
}

impl SshWorld {
    fn start() -> SshWorld {
        let keys = tempdir("keys");
        let client = SshKey::generate(keys.path(), "id_ed25519");
        let sshd = Sshd::start(GitRepos::create("private.example"), &client);
        let agent = SshAgent::start();
        agent.add(&client);
        SshWorld {
            proxy: GoProxy::start(),
            sshd,
            agent,
            client,
            _keys: keys,
        }
    }

    /// The SSH example, its `private:` section naming this world's git server and host key.
    fn project(&self, env: &Env) -> Project {
        let project = Project::example(env, "private-ssh");
        set_private_section(
            &project,
            &ssh_section(&self.sshd.url(), &self.sshd.known_hosts_line()),
        );
        project
    }
}

/// The token example's servers: the module proxy, the HTTP git server, the token in a file.
struct TokenWorld {
    proxy: GoProxy,
    http: GitHttp,
    token: String,
    dir: tempfile::TempDir,
}

impl TokenWorld {
    fn start() -> TokenWorld {
        let token = make_token();
        let dir = tempdir("token");
        fs::write(dir.path().join("git_token"), format!("{token}\n")).expect("token file");
        TokenWorld {
            proxy: GoProxy::start(),
            http: GitHttp::start(GitRepos::create("tokens.example"), TOKEN_USER, &token),
            token,
            dir,
        }
    }

    fn token_file(&self) -> PathBuf {
        self.dir.path().join("git_token")
    }

    /// `id=git_token,src=<file>`.
    fn secret_flag(&self) -> String {
        format!("id=git_token,src={}", self.token_file().display())
    }

    /// The token example, its `private:` section naming this world's git server.
    fn project(&self, env: &Env) -> Project {
        let project = Project::example(env, "private-token");
        set_private_section(
            &project,
            &token_section(&self.http.url(), "git_token", TOKEN_USER),
        );
        project
    }
}

// ---------------------------------------------------------------------------------------------
// tests that need only git and OpenSSH on the host

/// The committed go.sum files of the private examples hold exactly the sums of the fixtures
/// (tests/modules and tests/private/modules), and the private modules' lines are there.
#[test]
fn private_examples_go_sums_are_the_fixtures_sums() {
    let ours = all_go_sum_lines();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (example, private) in [
        ("private-ssh", "private.example/team/secret.git v1.0.0 "),
        ("private-token", "tokens.example/team/vault.git v1.0.0 "),
    ] {
        let sum = fs::read_to_string(examples.join(example).join("go.sum")).expect("go.sum");
        for line in sum.lines() {
            assert!(
                ours.lines().any(|l| l == line),
                "examples/{example}/go.sum: {line:?} is not a sum of the fixtures; ours:\n{ours}"
            );
        }
        assert!(
            sum.lines().any(|l| l.starts_with(private)),
            "examples/{example}/go.sum lists {private}"
        );
    }
    // The value Go computed for the module fetched with git (go mod download, Go 1.27.3).
    assert!(ours.contains(
        "private.example/team/secret.git v1.0.0 h1:LkTdNzBGITZ9yicljTdWfK0bfKvOKY4yeeF6PwvAUcc=\n"
    ));
}

/// The tag of a bare repo holds exactly the fixture's files: what Go zips from `git archive`
/// hashes to the fixture's go.sum lines.
#[test]
fn tagged_trees_hash_like_the_fixtures() {
    for host in ["private.example", "tokens.example"] {
        let repos = GitRepos::create(host);
        for m in repos.modules() {
            let repo = repos.root().join(&m.path[host.len() + 1..]);
            let out = tempdir("archive");
            let dir = out.path().join(format!("{}@{}", m.path, m.version));
            fs::create_dir_all(&dir).expect("mkdir");
            let archive = out.path().join("a.tar");
            run_ok(
                git()
                    .arg("--git-dir")
                    .arg(&repo)
                    .args(["archive", "-o"])
                    .arg(&archive)
                    .arg(&m.version),
            );
            run_ok(
                Command::new("tar")
                    .arg("-xf")
                    .arg(&archive)
                    .arg("-C")
                    .arg(&dir),
            );
            let found = find_modules(out.path()).expect("find modules");
            assert_eq!(found.len(), 1);
            assert_eq!(
                go_sum_lines(&found[0]).expect("sums"),
                go_sum_lines(m).expect("sums"),
                "{} from git",
                m.id()
            );
        }
    }
}

/// git with the agent and the right known_hosts fetches over SSH; a wrong host key stops it
/// before it logs in; the HTTP server wants the token, and git without credentials says
/// "terminal prompts disabled". Servers stop when dropped.
#[test]
fn servers_answer_git_on_the_host() {
    let world = SshWorld::start();
    let tmp = tempdir("hostgit");
    let known = tmp.path().join("known_hosts");
    fs::write(&known, format!("{}\n", world.sshd.known_hosts_line())).expect("known_hosts");
    let ssh_command = |known: &Path| {
        format!(
            "ssh -F /dev/null -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
            known.display()
        )
    };
    // The key parser reads the right bytes: the private key's public half is the .pub key.
    {
        use base64::Engine as _;
        let blob = base64::engine::general_purpose::STANDARD
            .decode(world.client.public.split_whitespace().nth(1).expect("key"))
            .expect("base64 public key");
        let text = fs::read_to_string(&world.client.path).expect("key file");
        let (seed, public) = openssh_ed25519_keypair(&text);
        assert_eq!(seed.len(), 32);
        assert!(
            blob.ends_with(&public),
            "the .pub file has the same public key"
        );
        let needles = world.client.needles();
        assert!(
            needles.len() >= 4,
            "file, body lines, seed: {}",
            needles.len()
        );
        for n in &needles {
            assert!(find_bytes(text.as_bytes(), &n.bytes).is_some() || n.bytes == seed);
        }
    }
    let url = format!("{}team/secret", world.sshd.url());
    let refs = run_ok(
        git()
            .env("SSH_AUTH_SOCK", world.agent.socket())
            .env("GIT_SSH_COMMAND", ssh_command(&known))
            .args(["ls-remote", &url]),
    );
    assert!(refs.contains("refs/tags/v1.0.0"), "{refs}");
    assert_eq!(world.sshd.requests(), ["upload-pack team/secret"]);
    assert_eq!(world.sshd.logins(), 1, "{}", world.sshd.log());

    // A clone gets the tagged files.
    let clone = tmp.path().join("clone");
    run_ok(
        git()
            .env("SSH_AUTH_SOCK", world.agent.socket())
            .env("GIT_SSH_COMMAND", ssh_command(&known))
            .args(["clone", "-q", "--branch", "v1.0.0"])
            .arg(format!("{}team/secret.git", world.sshd.url()))
            .arg(&clone),
    );
    assert!(clone.join("secret.go").is_file());

    // Push is refused by the forced command.
    let push = git()
        .env("SSH_AUTH_SOCK", world.agent.socket())
        .env("GIT_SSH_COMMAND", ssh_command(&known))
        .current_dir(&clone)
        .args(["push", "-q", "origin", "HEAD:refs/heads/evil"])
        .output()
        .expect("git push");
    assert!(!push.status.success(), "push must be refused");
    assert!(
        world
            .sshd
            .requests()
            .iter()
            .any(|r| r.starts_with("refused git-receive-pack")),
        "{:?}",
        world.sshd.requests()
    );

    // Wrong host key: refused before authentication.
    let other = SshKey::generate(tmp.path(), "other_host_key");
    let bad = tmp.path().join("bad_known_hosts");
    fs::write(&bad, format!("{} {}\n", world.sshd.host(), other.public)).expect("bad known_hosts");
    let logins = world.sshd.logins();
    let out = git()
        .env("SSH_AUTH_SOCK", world.agent.socket())
        .env("GIT_SSH_COMMAND", ssh_command(&bad))
        .args(["ls-remote", &url])
        .output()
        .expect("git ls-remote");
    let text = output_text(&out);
    assert!(!out.status.success());
    assert!(text.contains("Host key verification failed"), "{text}");
    assert!(text.contains(&world.sshd.host()), "{text}");
    assert_eq!(
        world.sshd.logins(),
        logins,
        "no login with a wrong host key"
    );

    // Without the agent: no key, no login.
    let out = git()
        .env("GIT_SSH_COMMAND", ssh_command(&known))
        .args(["ls-remote", &url])
        .output()
        .expect("git ls-remote");
    assert!(!out.status.success());
    assert!(
        output_text(&out).contains("Permission denied"),
        "{}",
        output_text(&out)
    );

    // HTTP: 401 without credentials, 200 with them.
    let token = make_token();
    let http = GitHttp::start(GitRepos::create("tokens.example"), TOKEN_USER, &token);
    let plain = format!("{}team/vault", http.url());
    let out = git().args(["ls-remote", &plain]).output().expect("git");
    let text = output_text(&out);
    assert!(!out.status.success());
    assert!(text.contains("terminal prompts disabled"), "{text}");
    let wrong = format!(
        "http://{TOKEN_USER}:notthetoken@127.0.0.1:{}/team/vault",
        http.port()
    );
    assert!(
        !git()
            .args(["ls-remote", &wrong])
            .output()
            .expect("git")
            .status
            .success()
    );
    let helper = format!(
        "!f() {{ test \"$1\" = get || exit 0; echo username={TOKEN_USER}; echo \"password=$(cat {})\"; }}; f",
        {
            let f = tmp.path().join("token");
            fs::write(&f, format!("{token}\n")).expect("token file");
            f.display().to_string()
        }
    );
    let refs = run_ok(
        git()
            .args(["-c", &format!("credential.{}.helper={helper}", http.url())])
            .args(["ls-remote", &plain]),
    );
    assert!(refs.contains("refs/tags/v1.0.0"), "{refs}");
    // info/refs, then the upload-pack POST.
    assert_eq!(
        http.authenticated_fetches("team/vault"),
        2,
        "{}",
        http.describe_requests()
    );
    assert!(
        http.requests().iter().any(|r| r.status == 401),
        "{}",
        http.describe_requests()
    );

    // Everything stops on drop.
    let (ssh_port, http_port) = (world.sshd.port(), http.port());
    let socket = world.agent.socket().to_path_buf();
    drop(http);
    drop(world);
    for port in [ssh_port, http_port] {
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "nothing listens on {port} after the drop"
        );
    }
    assert!(
        std::os::unix::net::UnixStream::connect(&socket).is_err(),
        "the agent is gone"
    );
}

// ---------------------------------------------------------------------------------------------
// plain Go in the builder image against the servers (no frontend involved)

/// `-e` arguments for `docker run`: the environment the spec says the deps step gets.
/// `insteadOf` covers https, git+ssh and ssh (see the module docs: Go pings all three).
fn deps_env(git_url: &str, host: &str, extra: &[(&str, String)]) -> Vec<String> {
    let key = format!("url.{git_url}.insteadOf");
    let mut config: Vec<(String, String)> = ["https", "git+ssh", "ssh"]
        .iter()
        .map(|scheme| (key.clone(), format!("{scheme}://{host}/")))
        .collect();
    let mut env = vec![
        format!("GOPRIVATE={host}/*"),
        format!("GONOPROXY={host}/*"),
        format!("GONOSUMDB={host}/*"),
        "GOSUMDB=off".to_string(),
        "GOFLAGS=-mod=readonly".to_string(),
        "GIT_TERMINAL_PROMPT=0".to_string(),
    ];
    for (k, v) in extra {
        if let Some(value) = k.strip_prefix("git-config:") {
            config.push((value.to_string(), v.clone()));
        } else {
            env.push(format!("{k}={v}"));
        }
    }
    env.push(format!("GIT_CONFIG_COUNT={}", config.len()));
    for (n, (k, v)) in config.into_iter().enumerate() {
        env.push(format!("GIT_CONFIG_KEY_{n}={k}"));
        env.push(format!("GIT_CONFIG_VALUE_{n}={v}"));
    }
    env
}

/// `docker run --rm --network=host` of the golang image with the example at /src (read-only),
/// the mounts and environment given, running `script` with sh.
fn run_in_golang(
    env: &Env,
    example: &Path,
    mounts: &[String],
    vars: &[String],
    script: &str,
) -> Output {
    let src = format!("{}:/src:ro", example.display());
    let mut args: Vec<&str> = vec!["run", "--rm", "--network=host", "-v", &src, "-w", "/src"];
    for m in mounts {
        args.extend(["-v", m.as_str()]);
    }
    for v in vars {
        args.extend(["-e", v.as_str()]);
    }
    args.extend([GOLANG_IMAGE, "sh", "-c", script]);
    env.docker(&args)
}

/// The servers work for plain Go in the builder image, with the environment the `private:`
/// spec describes: both private examples download (go.sum checked, GOFLAGS=-mod=readonly),
/// build and print; the private modules come over SSH with the agent and over HTTP with the
/// token, the public ones from the proxy.
#[test]
fn plain_go_in_the_builder_image_fetches_from_the_servers() {
    let env = Env::get();
    let ssh = SshWorld::start();
    let tok = TokenWorld::start();
    let files = tempdir("mounts");
    let known = files.path().join("known_hosts");
    fs::write(&known, format!("{}\n", ssh.sshd.known_hosts_line())).expect("known_hosts");
    let script = "go mod download -x 2>&1 | grep -E '^git |: [0-9]{3} |^go: ' ; \
                  go mod download && go build -o /tmp/app . && /tmp/app";

    let project = Project::example(&env, "private-ssh");
    let mounts = vec![
        format!("{}:/run/ssh-agent.sock", ssh.agent.socket().display()),
        format!("{}:/run/gobuild/ssh/known_hosts:ro", known.display()),
    ];
    let mut vars = deps_env(
        &ssh.sshd.url(),
        "private.example",
        &[
            ("SSH_AUTH_SOCK", "/run/ssh-agent.sock".to_string()),
            (
                "GIT_SSH_COMMAND",
                "ssh -o UserKnownHostsFile=/run/gobuild/ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes".to_string(),
            ),
        ],
    );
    vars.push(format!("GOPROXY={}", ssh.proxy.url()));
    let out = run_in_golang(&env, project.dir(), &mounts, &vars, script);
    let text = output_text(&out);
    println!("--- private-ssh in {GOLANG_IMAGE}:\n{text}");
    assert!(
        out.status.success(),
        "{text}\n--- sshd log ---\n{}",
        ssh.sshd.log()
    );
    assert!(stdout_of(&out).ends_with(PRIVATE_SSH_OUTPUT), "{text}");
    assert!(
        ssh.sshd
            .requests()
            .iter()
            .all(|r| r == "upload-pack team/secret")
            && !ssh.sshd.requests().is_empty(),
        "{:?}",
        ssh.sshd.requests()
    );
    assert_eq!(
        ssh.proxy.module_requests(),
        [
            "example.com/banner@v0.1.0",
            "example.com/color@v1.0.0",
            "example.com/greet@v1.1.0"
        ],
        "{}",
        ssh.proxy.describe_requests()
    );

    let project = Project::example(&env, "private-token");
    let mounts = vec![format!(
        "{}:/run/secrets/git_token:ro",
        tok.token_file().display()
    )];
    let helper = format!(
        "!f() {{ test \"$1\" = get || exit 0; echo username={TOKEN_USER}; echo \"password=$(cat /run/secrets/git_token)\"; }}; f"
    );
    let mut vars = deps_env(
        &tok.http.url(),
        "tokens.example",
        &[(
            &format!("git-config:credential.{}.helper", tok.http.url()),
            helper,
        )],
    );
    vars.push(format!("GOPROXY={}", tok.proxy.url()));
    let out = run_in_golang(&env, project.dir(), &mounts, &vars, script);
    let text = output_text(&out);
    println!("--- private-token in {GOLANG_IMAGE}:\n{text}");
    assert!(
        out.status.success(),
        "{text}\n--- requests ---\n{}",
        tok.http.describe_requests()
    );
    assert!(stdout_of(&out).ends_with(PRIVATE_TOKEN_OUTPUT), "{text}");
    assert!(
        tok.http.authenticated_fetches("team/vault") > 0,
        "{}",
        tok.http.describe_requests()
    );
    assert!(!text.contains(&tok.token), "the token is not printed");
}

/// What Go does when git fails, pinned because the frontend's messages depend on it: with a
/// wrong host key or no credentials, `go mod download` says only `no secure protocol found for
/// repository` (git's error is shown only with -v); `git ls-remote -q https://<module path
/// without .git>` afterwards, with the same environment, shows git's own message.
#[test]
fn go_reaches_only_loopback_and_hides_git_errors() {
    let env = Env::get();
    let ssh = SshWorld::start();
    let files = tempdir("mounts");
    let other = SshKey::generate(files.path(), "other_host_key");
    let bad = files.path().join("known_hosts");
    fs::write(&bad, format!("{} {}\n", ssh.sshd.host(), other.public)).expect("known_hosts");
    let project = Project::example(&env, "private-ssh");
    let mounts = vec![
        format!("{}:/run/ssh-agent.sock", ssh.agent.socket().display()),
        format!("{}:/run/gobuild/ssh/known_hosts:ro", bad.display()),
    ];
    let mut vars = deps_env(
        &ssh.sshd.url(),
        "private.example",
        &[
            ("SSH_AUTH_SOCK", "/run/ssh-agent.sock".to_string()),
            (
                "GIT_SSH_COMMAND",
                "ssh -o UserKnownHostsFile=/run/gobuild/ssh/known_hosts -o StrictHostKeyChecking=yes -o BatchMode=yes".to_string(),
            ),
        ],
    );
    vars.push(format!("GOPROXY={}", ssh.proxy.url()));
    let script = "go mod download -x 2>&1 | grep -E '^git |^go: '; \
                  echo '--- git ls-remote'; git ls-remote -q https://private.example/team/secret";
    let connections = ssh.sshd.connections();
    let out = run_in_golang(&env, project.dir(), &mounts, &vars, script);
    let text = output_text(&out);
    println!("{text}");
    let (go_part, git_part) = text
        .split_once("--- git ls-remote")
        .expect("both parts ran");
    // Go pings https, then git+ssh and ssh: all three rewritten to 127.0.0.1.
    for scheme in ["https", "git+ssh", "ssh"] {
        assert!(
            go_part.contains(&format!(
                "git ls-remote {scheme}://private.example/team/secret"
            )),
            "Go pings {scheme}:\n{go_part}"
        );
    }
    assert!(
        go_part.contains("no secure protocol found for repository"),
        "{go_part}"
    );
    assert!(
        !go_part.contains("Host key verification failed"),
        "Go started showing git's error: the frontend may drop its extra git ls-remote\n{go_part}"
    );
    assert!(
        git_part.contains("Host key verification failed"),
        "{git_part}"
    );
    assert!(git_part.contains(&ssh.sshd.host()), "{git_part}");
    assert_eq!(
        ssh.sshd.logins(),
        0,
        "never authenticated: {}",
        ssh.sshd.log()
    );
    // Four connections (three pings and the ls-remote), all to 127.0.0.1, none got in.
    assert_eq!(
        ssh.sshd.connections() - connections,
        4,
        "{}",
        ssh.sshd.log()
    );
}

// ---------------------------------------------------------------------------------------------
// builds through the frontend

/// `examples/private-ssh` with the agent: the image runs; the private module came over SSH and
/// the public ones from the proxy in the same deps step; neither the key nor anything derived
/// from it is in the image, its history or the build output.
#[test]
fn ssh_private_module_builds_with_the_agent() {
    let env = Env::get();
    let world = SshWorld::start();
    let project = world.project(&env);
    let tag = ImageTag::new(&env, "private-ssh");
    // As a user runs it: `--ssh default` with SSH_AUTH_SOCK in docker's environment.
    let build = build_private_env(
        &env,
        &project,
        &world.proxy,
        Some(&tag),
        &["--ssh", "default"],
        &[("SSH_AUTH_SOCK", world.agent.socket_str())],
    );
    assert_ssh_build(&env, &world, &build, &tag);
    assert!(world.sshd.logins() > 0, "{}", world.sshd.log());
    let fetched = world.proxy.module_requests();
    for public in [
        "example.com/banner@v0.1.0",
        "example.com/color@v1.0.0",
        "example.com/greet@v1.1.0",
    ] {
        assert!(
            fetched.iter().any(|m| m == public),
            "{public} came from the proxy in the same build: {}",
            world.proxy.describe_requests()
        );
    }
    assert!(
        !world
            .proxy
            .requests()
            .iter()
            .any(|r| r.path.contains("private.example")),
        "the private module never went to the proxy: {}",
        world.proxy.describe_requests()
    );
}

/// An SSH build succeeded: its image prints the module's line, the module came over SSH, and
/// no key material is in the build output or the image.
fn assert_ssh_build(env: &Env, world: &SshWorld, build: &Build, tag: &ImageTag) {
    build.assert_success();
    let run = env.run(&[], tag.name(), &[]);
    assert_eq!(stdout_of(&run), PRIVATE_SSH_OUTPUT, "{}", output_text(&run));
    assert!(
        world
            .sshd
            .requests()
            .iter()
            .any(|r| r == "upload-pack team/secret"),
        "the private module came over SSH: {:?}",
        world.sshd.requests()
    );
    let needles = world.client.needles();
    assert_absent("the build output", build.output.as_bytes(), &needles);
    let scanned = assert_image_has_none(
        env,
        tag.name(),
        &needles,
        "from private.example/team/secret.git v1.0.0",
    );
    println!("scanned {scanned} files of the saved image: no key material");
}

/// The same build without `--ssh` fails and says which flag to add.
#[test]
fn ssh_build_without_the_flag_names_it() {
    let env = Env::get();
    let world = SshWorld::start();
    let project = world.project(&env);
    let build = build_private(&env, &project, &world.proxy, None, &[]);
    assert!(
        !build.success,
        "no --ssh: the build must fail:\n{}",
        build.output
    );
    print_explanation(&build);
    let log = step_log(&build);
    assert!(
        log.lines().any(|l| l.contains("--ssh default")),
        "the step says to add `--ssh default`:\n{log}\n--- whole output ---\n{}",
        build.output
    );
    assert_eq!(world.sshd.logins(), 0, "{}", world.sshd.log());
}

/// A known_hosts entry with another key: the build fails before logging in, naming the host
/// and `private[0].ssh.known_hosts`.
#[test]
fn ssh_wrong_known_hosts_fails_naming_host_and_field() {
    let env = Env::get();
    let world = SshWorld::start();
    let keys = tempdir("otherkey");
    let other = SshKey::generate(keys.path(), "other_host_key");
    let project = Project::example(&env, "private-ssh");
    set_private_section(
        &project,
        &ssh_section(
            &world.sshd.url(),
            &format!("{} {}", world.sshd.host(), other.public),
        ),
    );
    let connections = world.sshd.connections();
    let build = build_private_env(
        &env,
        &project,
        &world.proxy,
        None,
        &["--ssh", "default"],
        &[("SSH_AUTH_SOCK", world.agent.socket_str())],
    );
    assert!(
        !build.success,
        "a wrong host key must fail the build:\n{}",
        build.output
    );
    print_explanation(&build);
    let log = step_log(&build);
    assert!(
        log.contains("Host key verification failed"),
        "git's own message is shown:\n{log}\n--- whole output ---\n{}",
        build.output
    );
    let port = world.sshd.port().to_string();
    assert!(
        log.lines().any(|l| l.contains("private[0].ssh.known_hosts")
            && l.contains("127.0.0.1")
            && l.contains(&port)),
        "a message names the host 127.0.0.1:{port} and `private[0].ssh.known_hosts`:\n{log}\n--- whole output ---\n{}",
        build.output
    );
    assert_eq!(
        world.sshd.logins(),
        0,
        "never logged in: {}",
        world.sshd.log()
    );
    assert!(
        world.sshd.connections() > connections,
        "git did reach the server (and stopped at its host key): {}",
        world.sshd.log()
    );
}

/// `examples/private-token` with `--secret id=git_token`: the image runs, the module came
/// over HTTP with the token, and the token is nowhere in the image or the build output.
#[test]
fn token_private_module_builds_with_the_secret() {
    let env = Env::get();
    let world = TokenWorld::start();
    let project = world.project(&env);
    let tag = ImageTag::new(&env, "private-token");
    let secret = world.secret_flag();
    // A current BuildKit also exports the build cache (deps layer included), uncompressed so
    // that its bytes can be scanned.
    let cache = tempfile::tempdir().expect("tempdir");
    let cache_to = format!(
        "type=local,dest={},mode=max,compression=uncompressed",
        cache.path().display()
    );
    let mut extra = vec!["--secret", secret.as_str()];
    if env.daemon == support::Daemon::BuildKit {
        extra.extend(["--cache-to", cache_to.as_str()]);
    }
    let daemon_log_start = env
        .dockerd_log
        .as_ref()
        .and_then(|p| fs::metadata(p).ok())
        .map_or(0, |m| m.len());
    let build = build_private(&env, &project, &world.proxy, Some(&tag), &extra);
    let needles = Needle::token(&world.token, TOKEN_USER);
    assert_token_build(&env, &world, &build, &tag, &needles);

    // The daemon's log of this build (the frontend's stderr goes there).
    if let Some(log) = &env.dockerd_log {
        let bytes = fs::read(log).expect("read the daemon log");
        let start = usize::try_from(daemon_log_start)
            .unwrap_or(0)
            .min(bytes.len());
        assert_absent("the daemon log", &bytes[start..], &needles);
    }
    // The build graph the frontend sends for this spec and these build args.
    let opts = BTreeMap::from([
        ("build-arg:GOPROXY".to_string(), world.proxy.url()),
        ("build-arg:GOSUMDB".to_string(), "off".to_string()),
    ]);
    let graph = gobuild_frontend::cli::render_offline(
        &project.dir().join("go-build.yaml"),
        project.dir(),
        &opts,
        None,
    )
    .expect("render the build graph");
    assert_absent("the build graph", graph.as_bytes(), &needles);
    // The exported cache: every layer of every step, the deps step's included.
    if env.runs_on(
        support::Daemon::BuildKit,
        "the 20.10 client cannot export a cache",
    ) {
        let mut blobs = 0;
        for entry in walk(cache.path()) {
            assert_absent(
                &entry.display().to_string(),
                &fs::read(&entry).expect("read blob"),
                &needles,
            );
            blobs += 1;
        }
        assert!(blobs > 2, "the cache export has layers");
        println!("scanned {blobs} files of the exported cache: no token");
    }
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Without `--secret`, the build fails and names the flag.
#[test]
fn token_build_without_the_secret_names_it() {
    let env = Env::get();
    let world = TokenWorld::start();
    let project = world.project(&env);
    let build = build_private(&env, &project, &world.proxy, None, &[]);
    assert!(
        !build.success,
        "no --secret: the build must fail:\n{}",
        build.output
    );
    print_explanation(&build);
    let log = step_log(&build);
    assert!(
        log.lines().any(|l| l.contains("--secret id=git_token")),
        "the step says to add `--secret id=git_token`:\n{log}\n--- whole output ---\n{}",
        build.output
    );
    assert_eq!(
        world.http.authenticated_fetches("team/vault"),
        0,
        "{}",
        world.http.describe_requests()
    );
}

/// `netrc:`: a whole .netrc as a secret; the module comes over HTTP with its password.
#[test]
fn netrc_private_module_builds_with_the_secret() {
    let env = Env::get();
    let world = TokenWorld::start();
    let netrc = world.dir.path().join("netrc");
    fs::write(
        &netrc,
        format!(
            "machine 127.0.0.1\n  login {TOKEN_USER}\n  password {}\n",
            world.token
        ),
    )
    .expect("netrc");
    let project = Project::example(&env, "private-token");
    set_private_section(&project, &netrc_section(&world.http.url(), "netrc"));
    let tag = ImageTag::new(&env, "private-netrc");
    let secret = format!("id=netrc,src={}", netrc.display());
    let build = build_private(
        &env,
        &project,
        &world.proxy,
        Some(&tag),
        &["--secret", &secret],
    );
    let mut needles = Needle::token(&world.token, TOKEN_USER);
    needles.push(Needle::new(
        "the .netrc",
        &fs::read(&netrc).expect("read netrc"),
    ));
    assert_token_build(&env, &world, &build, &tag, &needles);
}

/// A .netrc for another machine: git gets a 401, has no credentials and may not prompt; the
/// failure carries the advice about the `private` section.
#[test]
fn missing_credentials_fail_with_advice_about_private() {
    let env = Env::get();
    let world = TokenWorld::start();
    let netrc = world.dir.path().join("netrc");
    fs::write(
        &netrc,
        format!(
            "machine git.elsewhere.example login {TOKEN_USER} password {}\n",
            world.token
        ),
    )
    .expect("netrc");
    let project = Project::example(&env, "private-token");
    set_private_section(&project, &netrc_section(&world.http.url(), "netrc"));
    let secret = format!("id=netrc,src={}", netrc.display());
    let build = build_private(&env, &project, &world.proxy, None, &["--secret", &secret]);
    assert!(
        !build.success,
        "no credentials for 127.0.0.1: the build must fail:\n{}",
        build.output
    );
    print_explanation(&build);
    let log = step_log(&build);
    assert!(
        log.contains("terminal prompts disabled"),
        "git's own message is shown:\n{log}\n--- whole output ---\n{}",
        build.output
    );
    assert!(
        log.lines()
            .any(|l| l.contains("private:") && l.contains("go-build.yaml")),
        "a message points at the `private:` section of go-build.yaml:\n{log}\n--- whole output ---\n{}",
        build.output
    );
    assert!(
        world.http.requests().iter().any(|r| r.status == 401),
        "{}",
        world.http.describe_requests()
    );
    assert_absent(
        "the build output",
        build.output.as_bytes(),
        &Needle::token(&world.token, TOKEN_USER),
    );
}

/// `gobuild-frontend eject` of the token example: the Dockerfile fetches the private module
/// with the same git configuration and the build secret (`--mount=type=secret,required`), and
/// its image prints what the frontend's prints, with no token in it.
#[test]
fn token_private_module_ejects_to_a_dockerfile_that_builds() {
    let env = Env::get();
    let world = TokenWorld::start();
    let project = world.project(&env);
    let dockerfile = super::eject::eject_into(&project);
    assert!(
        dockerfile.contains(
            "--mount=type=secret,id=git_token,target=/run/secrets/git_token,required=true"
        ),
        "{dockerfile}"
    );

    let tag = ImageTag::new(&env, "private-token-ejected");
    let mut args = super::online_args(&world.proxy, &format!("gobuild-e2e-private-{}", unique()));
    args.extend(["--secret".to_string(), world.secret_flag()]);
    args.extend(["-t".to_string(), tag.name().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let build = env.build_file(&project, "Dockerfile", &args, &[]);
    assert_token_build(
        &env,
        &world,
        &build,
        &tag,
        &Needle::token(&world.token, TOKEN_USER),
    );
}

/// A token build succeeded: its image prints the module's line, the module came over HTTP with
/// the token, and none of `needles` is in the build output or the image.
fn assert_token_build(
    env: &Env,
    world: &TokenWorld,
    build: &Build,
    tag: &ImageTag,
    needles: &[Needle],
) {
    build.assert_success();
    let run = env.run(&[], tag.name(), &[]);
    assert_eq!(
        stdout_of(&run),
        PRIVATE_TOKEN_OUTPUT,
        "{}",
        output_text(&run)
    );
    assert!(
        world.http.authenticated_fetches("team/vault") > 0,
        "the module came over HTTP with the token: {}",
        world.http.describe_requests()
    );
    assert_absent("the build output", build.output.as_bytes(), needles);
    let scanned = assert_image_has_none(
        env,
        tag.name(),
        needles,
        "opened tokens.example/team/vault.git v1.0.0",
    );
    println!("scanned {scanned} files of the saved image: no token");
}

/// `gobuild-frontend eject` of the SSH example: the Dockerfile holds the spec's known_hosts,
/// fetches the module through the forwarded agent (`--mount=type=ssh,required`), and its image
/// prints what the frontend's prints, with no key material in it.
#[test]
fn ssh_private_module_ejects_to_a_dockerfile_that_builds() {
    let env = Env::get();
    let world = SshWorld::start();
    let project = world.project(&env);
    let dockerfile = super::eject::eject_into(&project);
    assert!(
        dockerfile.contains("COPY <<'EOF' /run/gobuild/ssh/known_hosts"),
        "{dockerfile}"
    );

    let tag = ImageTag::new(&env, "private-ssh-ejected");
    let mut args = super::online_args(&world.proxy, &format!("gobuild-e2e-private-{}", unique()));
    args.extend(["--ssh", "default", "-t", tag.name()].map(str::to_string));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let build = env.build_file(
        &project,
        "Dockerfile",
        &args,
        &[("SSH_AUTH_SOCK", world.agent.socket_str())],
    );
    assert_ssh_build(&env, &world, &build, &tag);
}

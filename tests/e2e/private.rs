//! Private Go modules for the end-to-end tests: git servers on 127.0.0.1 that serve the
//! modules under `tests/private/modules/`, and the tests of go-build.yaml's `private:` section.
//!
//! - [`GitRepos`]: bare repositories made at test time from `tests/private/modules/<module
//!   path>@<version>/` (one commit and tag per version, fixed dates). Module
//!   `private.example/team/secret.git` is repository `team/secret.git` of host `private.example`.
//! - [`Sshd`]: Debian's `sshd`, run by the test (as root) in the foreground with its own config,
//!   host key and `authorized_keys` in a temp dir, on `127.0.0.1:<free port>`. Clients log in as
//!   `root` with the test key only (`PermitRootLogin forced-commands-only`): the key's forced
//!   command, `tests/private/git-serve.sh`, serves fetches (`git-upload-pack`) of the repos and
//!   nothing else. URL: `ssh://root@127.0.0.1:PORT/team/secret.git`.
//! - [`SshAgent`]: `ssh-agent -D -a <socket>` holding a generated ed25519 key; builds get it as
//!   users do, `docker build --ssh default` with `SSH_AUTH_SOCK=<socket>` (or
//!   `--ssh default=<socket>`, [`SshAgent::ssh_flag`]).
//! - [`GitHttp`]: git's smart HTTP protocol (`git http-backend` as CGI) behind basic
//!   authentication, in this process, on `http://127.0.0.1:<free port>/`; it records requests.
//!
//! Keys and tokens are generated per test run and never written outside temp dirs. Every server
//! stops when dropped (child processes are killed by their PID).
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
//! afterwards shows git's real error (`Host key verification failed.`, `terminal prompts
//! disabled`).

// Each test uses part of this API.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::goproxy::{GoProxy, ModuleVersion, find_modules, go_sum_lines, modules_dir};
use super::support::{self, Build, Env, ImageTag, Project, unique};

/// The builder image the frontend uses for these examples (go 1.27).
const GOLANG_IMAGE: &str = "golang:1.27-bookworm";

/// What `examples/private-ssh` prints.
pub const PRIVATE_SSH_OUTPUT: &str = "private-ssh: *** <red>hi there, gopher (greet v1.1.0), from private.example/team/secret.git v1.0.0</red> ***";
/// What `examples/private-token` prints.
pub const PRIVATE_TOKEN_OUTPUT: &str = "private-token: opened tokens.example/team/vault.git v1.0.0";

/// User name the HTTP git server expects (the spec's `token.username`).
const TOKEN_USER: &str = "git";

/// `tests/private`: the fixtures (module sources, the sshd forced command).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/private")
}

/// `tests/private/modules`: sources of the private modules, laid out like `tests/modules`.
pub fn private_modules_dir() -> PathBuf {
    fixtures_dir().join("modules")
}

// ---------------------------------------------------------------------------------------------
// processes and files

fn tempdir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gobuild-e2e-{what}-"))
        .tempdir()
        .expect("tempdir")
}

/// Runs `cmd` to completion; panics with its output unless it succeeds. Returns stdout.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// stdout then stderr of a finished command.
fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `git` isolated from the machine's and the user's git configuration.
fn git() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("GIT_SSH_COMMAND")
        .env_remove("GIT_ASKPASS")
        .env_remove("SSH_ASKPASS");
    cmd
}

/// A port that was free on 127.0.0.1 a moment ago (for servers that bind it themselves).
fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A child process that is killed (by its PID) and reaped when dropped.
struct Daemon {
    what: &'static str,
    child: Child,
}

impl Daemon {
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Waits until something on 127.0.0.1:`port` accepts a connection and sends a first line
/// starting with `greeting` (empty: any connection will do).
fn wait_for_port(port: u16, greeting: &str, daemon: &mut Daemon, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = daemon.exited() {
            panic!(
                "{} exited ({status}) before listening on 127.0.0.1:{port}:\n{}",
                daemon.what,
                fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            if greeting.is_empty() {
                return;
            }
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut line = String::new();
            if BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with(greeting) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{} does not answer on 127.0.0.1:{port}:\n{}",
            daemon.what,
            fs::read_to_string(log).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------------
// keys

/// An ed25519 key pair made by `ssh-keygen` (no passphrase).
pub struct SshKey {
    /// The private key file (OpenSSH format); `<path>.pub` is the public key.
    pub path: PathBuf,
    /// `ssh-ed25519 AAAA…` (type and key, no comment).
    pub public: String,
}

impl SshKey {
    pub fn generate(dir: &Path, name: &str) -> SshKey {
        let path = dir.join(name);
        run_ok(
            Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C"])
                .arg(format!("gobuild-e2e-{name}"))
                .arg("-f")
                .arg(&path),
        );
        let public = fs::read_to_string(format!("{}.pub", path.display()))
            .expect("ssh-keygen wrote the public key");
        let public = public
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        SshKey { path, public }
    }

    /// What must never appear in an image or a log: the key file, each line of its base64
    /// body, and the raw 32-byte ed25519 seed.
    pub fn needles(&self) -> Vec<Needle> {
        let text = fs::read_to_string(&self.path).expect("read private key");
        let mut needles = vec![Needle::new("the private key file", text.as_bytes())];
        for (n, line) in text
            .lines()
            .filter(|l| !l.starts_with("-----") && l.len() >= 32)
            .enumerate()
        {
            needles.push(Needle::new(
                &format!("line {} of the private key", n + 2),
                line.as_bytes(),
            ));
        }
        needles.push(Needle::new(
            "the raw ed25519 private key",
            &openssh_ed25519_seed(&text),
        ));
        needles
    }
}

/// The 32-byte seed of an unencrypted OpenSSH ed25519 private key.
fn openssh_ed25519_seed(pem: &str) -> Vec<u8> {
    openssh_ed25519_keypair(pem).0
}

/// (seed, public key) of an unencrypted OpenSSH ed25519 private key (`openssh-key-v1` format,
/// PROTOCOL.key in OpenSSH's sources).
fn openssh_ed25519_keypair(pem: &str) -> (Vec<u8>, Vec<u8>) {
    use base64::Engine as _;
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(body)
        .expect("base64 body of the private key");
    struct Reader<'a>(&'a [u8]);
    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> &'a [u8] {
            let (head, rest) = self.0.split_at(n);
            self.0 = rest;
            head
        }
        fn u32(&mut self) -> usize {
            let b = self.take(4);
            u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        }
        fn string(&mut self) -> &'a [u8] {
            let n = self.u32();
            self.take(n)
        }
    }
    let mut r = Reader(&blob);
    assert_eq!(
        r.take(15),
        b"openssh-key-v1\0",
        "OpenSSH private key format"
    );
    assert_eq!(r.string(), b"none", "unencrypted key");
    let _kdf = r.string();
    let _kdf_options = r.string();
    assert_eq!(r.u32(), 1, "one key");
    let _public = r.string();
    let mut private = Reader(r.string());
    let (check1, check2) = (private.u32(), private.u32());
    assert_eq!(check1, check2, "check bytes of an unencrypted key");
    assert_eq!(private.string(), b"ssh-ed25519");
    let public = private.string();
    let secret = private.string();
    assert_eq!(secret.len(), 64, "ed25519: seed and public key");
    assert_eq!(
        &secret[32..],
        public,
        "ed25519: the secret ends with the public key"
    );
    (secret[..32].to_vec(), public.to_vec())
}

/// A random-looking token unique to this run (never a real credential).
pub fn make_token() -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("gobuild-e2e-token {}", unique()));
    format!("gbt_{}", &format!("{digest:x}")[..40])
}

// ---------------------------------------------------------------------------------------------
// repositories

/// Bare git repositories of the private module versions of one host, in a temp dir.
pub struct GitRepos {
    dir: tempfile::TempDir,
    host: String,
    modules: Vec<ModuleVersion>,
}

impl GitRepos {
    /// One bare repository per module of `tests/private/modules/<host>/…`: module
    /// `<host>/team/secret.git` is `team/secret.git`, one commit per version (in semver order,
    /// each holding exactly that version's files), tagged with the version.
    pub fn create(host: &str) -> GitRepos {
        GitRepos::create_from(&private_modules_dir(), host)
    }

    pub fn create_from(modules: &Path, host: &str) -> GitRepos {
        let all = find_modules(modules)
            .unwrap_or_else(|e| panic!("reading modules under {}: {e}", modules.display()));
        let prefix = format!("{host}/");
        let mine: Vec<ModuleVersion> = all
            .into_iter()
            .filter(|m| m.path.starts_with(&prefix))
            .collect();
        assert!(
            !mine.is_empty(),
            "no module of {host} under {}",
            modules.display()
        );
        let dir = tempdir("repos");
        let mut by_repo: BTreeMap<String, Vec<&ModuleVersion>> = BTreeMap::new();
        for m in &mine {
            by_repo
                .entry(m.path[prefix.len()..].to_string())
                .or_default()
                .push(m);
        }
        for (repo, versions) in by_repo {
            make_bare_repo(&dir.path().join(&repo), &versions);
        }
        GitRepos {
            dir,
            host: host.to_string(),
            modules: mine,
        }
    }

    /// The directory holding the repositories (`<root>/team/secret.git`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn modules(&self) -> &[ModuleVersion] {
        &self.modules
    }
}

/// `git init --bare` at `bare`, then one commit and tag per version, with fixed names and dates
/// (the same sources always give the same commits).
fn make_bare_repo(bare: &Path, versions: &[&ModuleVersion]) {
    fs::create_dir_all(bare).expect("mkdir repo");
    run_ok(git().args(["init", "-q", "--bare", "-b", "main"]).arg(bare));
    for m in versions {
        let work = tempdir("worktree");
        copy_files(&m.dir, work.path());
        let in_repo = |cmd: &mut Command| {
            cmd.arg("--git-dir")
                .arg(bare)
                .arg("--work-tree")
                .arg(work.path())
                .current_dir(work.path());
        };
        let mut add = git();
        in_repo(&mut add);
        // -A with a fresh work tree: files of an older version that this one lacks are removed.
        run_ok(add.args(["add", "-A", "."]));
        let mut commit = git();
        in_repo(&mut commit);
        run_ok(
            commit
                .env("GIT_AUTHOR_NAME", "gobuild e2e")
                .env("GIT_AUTHOR_EMAIL", "e2e@example.invalid")
                .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
                .env("GIT_COMMITTER_NAME", "gobuild e2e")
                .env("GIT_COMMITTER_EMAIL", "e2e@example.invalid")
                .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
                .args(["commit", "-q", "--allow-empty", "-m"])
                .arg(m.id()),
        );
        run_ok(git().arg("--git-dir").arg(bare).args(["tag", &m.version]));
    }
}

fn copy_files(src: &Path, dst: &Path) {
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display())) {
        let entry = entry.expect("dir entry");
        let to = dst.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            fs::create_dir_all(&to).expect("mkdir");
            copy_files(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to).expect("copy");
        }
    }
}

/// The `go.sum` lines of every module version of `tests/modules` and `tests/private/modules`.
pub fn all_go_sum_lines() -> String {
    let mut all = find_modules(&modules_dir()).expect("tests/modules");
    all.extend(find_modules(&private_modules_dir()).expect("tests/private/modules"));
    all.iter()
        .map(|m| go_sum_lines(m).expect("go.sum lines"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// sshd and ssh-agent

/// Debian's sshd on 127.0.0.1, serving the repositories of a [`GitRepos`] to one client key.
pub struct Sshd {
    daemon: Daemon,
    port: u16,
    dir: tempfile::TempDir,
    host_key: SshKey,
    repos: GitRepos,
}

impl Sshd {
    const BINARY: &'static str = "/usr/sbin/sshd";

    /// Starts sshd for `repos`, letting in only `client` (as root, with the forced command).
    pub fn start(repos: GitRepos, client: &SshKey) -> Sshd {
        assert!(
            Path::new(Sshd::BINARY).is_file(),
            "{} is missing: install openssh-server (scripts/setup.sh does)",
            Sshd::BINARY
        );
        // sshd insists on its privilege separation directory.
        fs::create_dir_all("/run/sshd").expect("mkdir /run/sshd (the tests run as root)");
        let dir = tempdir("sshd");
        let host_key = SshKey::generate(dir.path(), "ssh_host_ed25519_key");
        let serve = dir.path().join("git-serve.sh");
        fs::copy(fixtures_dir().join("git-serve.sh"), &serve).expect("copy git-serve.sh");
        let requests = dir.path().join("requests.log");
        File::create(&requests).expect("requests.log");
        for p in [repos.root(), dir.path()] {
            let s = p.to_string_lossy();
            assert!(
                !s.contains([' ', '"', '\\', '\'']),
                "temp paths go into authorized_keys unquoted: {s}"
            );
        }
        fs::write(
            dir.path().join("authorized_keys"),
            format!(
                "command=\"/bin/sh {} {} {}\",restrict {}\n",
                serve.display(),
                repos.root().display(),
                requests.display(),
                client.public
            ),
        )
        .expect("authorized_keys");
        let log = dir.path().join("sshd.log");
        for _attempt in 0..3 {
            let port = free_port();
            fs::write(
                dir.path().join("sshd_config"),
                format!(
                    "Port {port}\n\
                     ListenAddress 127.0.0.1\n\
                     HostKey {host_key}\n\
                     PidFile {pid}\n\
                     AuthorizedKeysFile {keys}\n\
                     AllowUsers root\n\
                     PermitRootLogin forced-commands-only\n\
                     PubkeyAuthentication yes\n\
                     PasswordAuthentication no\n\
                     KbdInteractiveAuthentication no\n\
                     UsePAM no\n\
                     StrictModes no\n\
                     PermitTTY no\n\
                     AllowTcpForwarding no\n\
                     AllowAgentForwarding no\n\
                     X11Forwarding no\n\
                     PrintMotd no\n\
                     AcceptEnv GIT_PROTOCOL\n\
                     LogLevel VERBOSE\n",
                    host_key = host_key.path.display(),
                    pid = dir.path().join("sshd.pid").display(),
                    keys = dir.path().join("authorized_keys").display(),
                ),
            )
            .expect("sshd_config");
            let log_file = File::create(&log).expect("sshd.log");
            let child = Command::new(Sshd::BINARY)
                .arg("-D") // foreground: the child is the listener, killed on drop
                .arg("-e") // log to stderr (the log file)
                .arg("-f")
                .arg(dir.path().join("sshd_config"))
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().expect("dup log"))
                .stderr(log_file)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", Sshd::BINARY));
            let mut daemon = Daemon {
                what: "sshd",
                child,
            };
            // Lost the race for the port: try another one.
            thread::sleep(Duration::from_millis(100));
            if daemon.exited().is_some()
                && fs::read_to_string(&log)
                    .unwrap_or_default()
                    .contains("Address already in use")
            {
                continue;
            }
            wait_for_port(port, "SSH-2.0-", &mut daemon, &log);
            return Sshd {
                daemon,
                port,
                dir,
                host_key,
                repos,
            };
        }
        panic!(
            "sshd could not bind a port:\n{}",
            fs::read_to_string(&log).unwrap_or_default()
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `[127.0.0.1]:PORT`: the host as ssh names it in known_hosts and its messages.
    pub fn host(&self) -> String {
        format!("[127.0.0.1]:{}", self.port)
    }

    /// The spec's `git:` for this server: `ssh://root@127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("ssh://root@127.0.0.1:{}/", self.port)
    }

    /// The known_hosts line of this server's host key.
    pub fn known_hosts_line(&self) -> String {
        format!("{} {}", self.host(), self.host_key.public)
    }

    /// The fetches served, one per connection: `upload-pack team/secret` (the path as the
    /// client asked for it, without the leading `/`), or `refused …`.
    pub fn requests(&self) -> Vec<String> {
        fs::read_to_string(self.dir.path().join("requests.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// sshd's log (LogLevel VERBOSE): `Accepted publickey for root …` per authenticated login.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// How many clients logged in.
    pub fn logins(&self) -> usize {
        self.log().matches("Accepted publickey for root").count()
    }

    /// How many TCP connections sshd accepted (the readiness probe of [`Sshd::start`] is one).
    pub fn connections(&self) -> usize {
        self.log().matches("Connection from 127.0.0.1").count()
    }

    pub fn repos(&self) -> &GitRepos {
        &self.repos
    }
}

/// `ssh-agent -D -a <socket>` with keys added by [`SshAgent::add`].
pub struct SshAgent {
    daemon: Daemon,
    dir: tempfile::TempDir,
    socket: PathBuf,
}

impl SshAgent {
    pub fn start() -> SshAgent {
        let dir = tempdir("agent");
        let socket = dir.path().join("agent.sock");
        let log = dir.path().join("agent.log");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(File::create(&log).expect("agent.log"))
            .stderr(File::create(dir.path().join("agent.err")).expect("agent.err"))
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ssh-agent (openssh-client): {e}"));
        let mut daemon = Daemon {
            what: "ssh-agent",
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                daemon.exited().is_none() && Instant::now() < deadline,
                "ssh-agent did not create {}",
                socket.display()
            );
            thread::sleep(Duration::from_millis(20));
        }
        SshAgent {
            daemon,
            dir,
            socket,
        }
    }

    pub fn add(&self, key: &SshKey) {
        run_ok(
            Command::new("ssh-add")
                .env("SSH_AUTH_SOCK", &self.socket)
                .arg("-q")
                .arg(&key.path),
        );
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The socket path as `SSH_AUTH_SOCK` wants it.
    pub fn socket_str(&self) -> &str {
        self.socket.to_str().expect("temp paths are UTF-8")
    }

    /// The value of `docker build --ssh`: `ID=<socket>`.
    pub fn ssh_flag(&self, id: &str) -> String {
        format!("{id}={}", self.socket.display())
    }
}

// ---------------------------------------------------------------------------------------------
// git over HTTP with basic auth

/// One request the HTTP git server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: String,
    /// Path and query, e.g. `/team/vault/info/refs?service=git-upload-pack`.
    pub target: String,
    pub status: u16,
    /// The basic-auth user name sent, right or wrong.
    pub user: Option<String>,
}

struct HttpShared {
    root: PathBuf,
    user: String,
    password: String,
    log: Mutex<Vec<HttpRequest>>,
    stop: AtomicBool,
}

/// git's smart HTTP protocol for the repositories of a [`GitRepos`], on
/// `http://127.0.0.1:PORT/`, fetch only, for one user name and password (the token).
/// Stops when dropped.
pub struct GitHttp {
    shared: Arc<HttpShared>,
    port: u16,
    accept: Option<JoinHandle<()>>,
    repos: GitRepos,
}

impl GitHttp {
    pub fn start(repos: GitRepos, user: &str, password: &str) -> GitHttp {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(HttpShared {
            root: repos.root().to_path_buf(),
            user: user.to_string(),
            password: password.to_string(),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
        });
        let for_thread = Arc::clone(&shared);
        let accept = thread::Builder::new()
            .name(format!("git-http-{port}"))
            .spawn(move || {
                for conn in listener.incoming() {
                    if for_thread.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let shared = Arc::clone(&for_thread);
                    let _ = thread::Builder::new()
                        .name("git-http-conn".into())
                        .spawn(move || {
                            let _ = serve_http(conn, &shared);
                        });
                }
            })
            .expect("spawn accept thread");
        GitHttp {
            shared,
            port,
            accept: Some(accept),
            repos,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The spec's `git:` for this server: `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    pub fn requests(&self) -> Vec<HttpRequest> {
        self.log().clone()
    }

    /// Requests answered 200 for the right user whose path starts with `/<repo>` (a fetch is
    /// two: `info/refs`, then the `git-upload-pack` POST).
    pub fn authenticated_fetches(&self, repo: &str) -> usize {
        let prefix = format!("/{}", repo.trim_start_matches('/'));
        self.log()
            .iter()
            .filter(|r| r.status == 200 && r.target.starts_with(&prefix))
            .filter(|r| r.user.as_deref() == Some(self.shared.user.as_str()))
            .count()
    }

    pub fn describe_requests(&self) -> String {
        let log = self.log();
        if log.is_empty() {
            return "(no requests)".to_string();
        }
        log.iter()
            .map(|r| {
                format!(
                    "{} {} {} user={}",
                    r.method,
                    r.target,
                    r.status,
                    r.user.as_deref().unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn repos(&self) -> &GitRepos {
        &self.repos
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Vec<HttpRequest>> {
        self.shared.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

/// One request per connection (`Connection: close`): enough for git's libcurl.
fn serve_http(conn: TcpStream, shared: &HttpShared) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(());
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 {
            break;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((name, value)) = h.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        read_chunked(&mut reader)?
    } else {
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        reader.read_exact(&mut body)?;
        body
    };

    let (user, password) = header("authorization")
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b64| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .ok()
        })
        .and_then(|raw| {
            let raw = String::from_utf8(raw).ok()?;
            let (u, p) = raw.split_once(':')?;
            Some((Some(u.to_string()), Some(p.to_string())))
        })
        .unwrap_or((None, None));
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    let record = |status: u16| {
        shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(HttpRequest {
                method: method.clone(),
                target: target.clone(),
                status,
                user: user.clone(),
            });
    };

    if path.contains("..") || !path.starts_with('/') {
        record(400);
        return respond(&mut writer, "400 Bad Request", &[], b"bad path\n");
    }
    if query.contains("git-receive-pack") || path.ends_with("/git-receive-pack") {
        record(403);
        return respond(&mut writer, "403 Forbidden", &[], b"fetch only\n");
    }
    if user.as_deref() != Some(shared.user.as_str())
        || password.as_deref() != Some(shared.password.as_str())
    {
        record(401);
        return respond(
            &mut writer,
            "401 Unauthorized",
            &[("WWW-Authenticate", "Basic realm=\"gobuild e2e git\"")],
            b"authentication required\n",
        );
    }

    let mut cgi = git();
    cgi.arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", &shared.user)
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(v) = header("content-type") {
        cgi.env("CONTENT_TYPE", v);
    }
    if let Some(v) = header("content-encoding") {
        cgi.env("HTTP_CONTENT_ENCODING", v);
    }
    if let Some(v) = header("git-protocol") {
        cgi.env("GIT_PROTOCOL", v);
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let feeder = thread::spawn(move || {
        let _ = stdin.write_all(&body);
    });
    let out = child.wait_with_output()?;
    let _ = feeder.join();

    // CGI output: headers (a `Status:` among them), a blank line, the body.
    let raw = out.stdout;
    let (head, body) = match find(&raw, b"\r\n\r\n") {
        Some(i) => (&raw[..i], &raw[i + 4..]),
        None => match find(&raw, b"\n\n") {
            Some(i) => (&raw[..i], &raw[i + 2..]),
            None => {
                record(500);
                let msg = format!(
                    "git http-backend gave no headers: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                return respond(
                    &mut writer,
                    "500 Internal Server Error",
                    &[],
                    msg.as_bytes(),
                );
            }
        },
    };
    let head = String::from_utf8_lossy(head);
    let mut status = "200 OK".to_string();
    let mut pass: Vec<(String, String)> = Vec::new();
    for l in head.lines() {
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("status") {
            status = value.trim().to_string();
        } else {
            pass.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let code = status
        .split_whitespace()
        .next()
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    record(code);
    let pass: Vec<(&str, &str)> = pass.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    respond(&mut writer, &status, &pass, body)
}

fn respond(
    w: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    w.write_all(head.as_bytes())?;
    w.write_all(body)?;
    w.flush()?;
    let _ = w.shutdown(Shutdown::Both);
    Ok(())
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size)?;
        let size = size.trim().split(';').next().unwrap_or("");
        let n = usize::from_str_radix(size, 16)
            .map_err(|e| io::Error::other(format!("chunk size {size:?}: {e}")))?;
        if n == 0 {
            // trailers up to the blank line
            loop {
                let mut t = String::new();
                if r.read_line(&mut t)? == 0 || t.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + n, 0);
        r.read_exact(&mut body[start..])?;
        let mut crlf = String::new();
        r.read_line(&mut crlf)?;
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// secrets must not leak

/// Bytes that must not appear anywhere.
pub struct Needle {
    pub what: String,
    pub bytes: Vec<u8>,
}

impl Needle {
    pub fn new(what: &str, bytes: &[u8]) -> Needle {
        assert!(
            bytes.len() >= 16,
            "a needle this short could match by chance"
        );
        Needle {
            what: what.to_string(),
            bytes: bytes.to_vec(),
        }
    }

    /// The token itself and how it travels: basic-auth `user:token` in base64.
    pub fn token(token: &str, user: &str) -> Vec<Needle> {
        use base64::Engine as _;
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"));
        vec![
            Needle::new("the token", token.as_bytes()),
            Needle::new("the basic-auth header value", basic.as_bytes()),
        ]
    }
}

/// Panics when any needle occurs in `hay` (named `what` in the message).
pub fn assert_absent(what: &str, hay: &[u8], needles: &[Needle]) {
    for n in needles {
        assert!(
            find(hay, &n.bytes).is_none(),
            "{} leaked into {what}",
            n.what
        );
    }
}

/// `docker save` of `image`: every file of the archive (each layer tarball, the image config,
/// manifest.json) is scanned for the needles, layer tarballs uncompressed (so a file's bytes
/// are contiguous in them); so are `docker history --no-trunc` and `docker image inspect`.
/// `control` must be found (e.g. a string of the program, in the binary's layer): proof that
/// the scan sees file contents. Returns how many files were scanned.
pub fn assert_image_has_none(env: &Env, image: &str, needles: &[Needle], control: &str) -> usize {
    let tmp = tempdir("save");
    let tar = tmp.path().join("image.tar");
    env.docker_ok(&["save", "-o", tar.to_str().expect("utf-8 path"), image]);
    let unpacked = tmp.path().join("x");
    fs::create_dir_all(&unpacked).expect("mkdir");
    run_ok(
        Command::new("tar")
            .arg("-xf")
            .arg(&tar)
            .arg("-C")
            .arg(&unpacked),
    );

    let manifest: serde_json::Value = serde_json::from_slice(
        &fs::read(unpacked.join("manifest.json")).expect("manifest.json in docker save output"),
    )
    .expect("manifest.json is JSON");
    let layers: Vec<&str> = manifest[0]["Layers"]
        .as_array()
        .expect("Layers")
        .iter()
        .map(|l| l.as_str().expect("layer path"))
        .collect();
    assert!(!layers.is_empty(), "the image has layers");
    for layer in &layers {
        let bytes = fs::read(unpacked.join(layer)).expect("layer tarball");
        assert!(
            !bytes.starts_with(&[0x1f, 0x8b]),
            "{layer} is compressed: scanning it would prove nothing"
        );
    }
    let config = manifest[0]["Config"].as_str().expect("Config");
    assert!(unpacked.join(config).is_file(), "image config {config}");

    let mut scanned = 0;
    let mut control_found = false;
    for entry in walkdir::WalkDir::new(&unpacked) {
        let entry = entry.expect("walk");
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(&unpacked).unwrap_or(entry.path());
            let bytes = fs::read(entry.path()).expect("read saved file");
            assert_absent(&format!("{image}: {}", rel.display()), &bytes, needles);
            control_found |= find(&bytes, control.as_bytes()).is_some();
            scanned += 1;
        }
    }
    assert!(
        control_found,
        "{control:?} is in no file of the saved {image}: the scan does not see the layers' files"
    );
    let history = env.docker_ok(&[
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}} {{.Comment}}",
        image,
    ]);
    assert_absent(
        &format!("docker history of {image}"),
        history.as_bytes(),
        needles,
    );
    let inspect = env.docker_ok(&["image", "inspect", image]);
    assert_absent(
        &format!("docker image inspect {image}"),
        inspect.as_bytes(),
        needles,
    );
    scanned
}

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
            assert!(find(text.as_bytes(), &n.bytes).is_some() || n.bytes == seed);
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
    let project = Project::example(&env, "private-ssh");
    set_private_section(
        &project,
        &ssh_section(&world.sshd.url(), &world.sshd.known_hosts_line()),
    );
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

    let needles = world.client.needles();
    assert_absent("the build output", build.output.as_bytes(), &needles);
    let scanned = assert_image_has_none(
        &env,
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
    let project = Project::example(&env, "private-ssh");
    set_private_section(
        &project,
        &ssh_section(&world.sshd.url(), &world.sshd.known_hosts_line()),
    );
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
    let project = Project::example(&env, "private-token");
    set_private_section(
        &project,
        &token_section(&world.http.url(), "git_token", TOKEN_USER),
    );
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
    let needles = Needle::token(&world.token, TOKEN_USER);
    assert_absent("the build output", build.output.as_bytes(), &needles);
    let scanned = assert_image_has_none(
        &env,
        tag.name(),
        &needles,
        "opened tokens.example/team/vault.git v1.0.0",
    );
    println!("scanned {scanned} files of the saved image: no token");

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
    let project = Project::example(&env, "private-token");
    set_private_section(
        &project,
        &token_section(&world.http.url(), "git_token", TOKEN_USER),
    );
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
        "{}",
        world.http.describe_requests()
    );
    let mut needles = Needle::token(&world.token, TOKEN_USER);
    needles.push(Needle::new(
        "the .netrc",
        &fs::read(&netrc).expect("read netrc"),
    ));
    assert_absent("the build output", build.output.as_bytes(), &needles);
    assert_image_has_none(
        &env,
        tag.name(),
        &needles,
        "opened tokens.example/team/vault.git v1.0.0",
    );
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

//! Fixtures of the private-module tests ([`super::private`]): git servers on 127.0.0.1 that
//! serve the modules under `tests/private/modules/`, keys and tokens, and the scans proving
//! that no secret ends up in an image or a log.
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
//!   authentication, served in this process by the tests' HTTP server ([`super::http`]) on
//!   `http://127.0.0.1:<free port>/`; it records requests.
//! - [`Needle`], [`assert_absent`], [`assert_image_has_none`]: the secrets' bytes, and the scans
//!   of outputs and saved images for them.
//!
//! Keys and tokens are generated per test run and never written outside temp dirs. Every server
//! stops when dropped (child processes are killed by their PID).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::goproxy::{ModuleVersion, find_modules, go_sum_lines, modules_dir};
use super::http::{self, Handler, Response, Server};
use super::support::{Env, unique};

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

pub fn tempdir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gobuild-e2e-{what}-"))
        .tempdir()
        .expect("tempdir")
}

/// Runs `cmd` to completion; panics with its output unless it succeeds. Returns stdout.
pub fn run_ok(cmd: &mut Command) -> String {
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
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `git` isolated from the machine's and the user's git configuration.
pub fn git() -> Command {
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
pub fn openssh_ed25519_keypair(pem: &str) -> (Vec<u8>, Vec<u8>) {
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
        GitRepos { dir, modules: mine }
    }

    /// The directory holding the repositories (`<root>/team/secret.git`).
    pub fn root(&self) -> &Path {
        self.dir.path()
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
    /// Killed when dropped.
    _daemon: Daemon,
    port: u16,
    dir: tempfile::TempDir,
    host_key: SshKey,
    /// The repositories it serves, kept until it stops.
    _repos: GitRepos,
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
                _daemon: daemon,
                port,
                dir,
                host_key,
                _repos: repos,
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
}

/// `ssh-agent -D -a <socket>` with keys added by [`SshAgent::add`].
pub struct SshAgent {
    /// Killed when dropped.
    _daemon: Daemon,
    /// Holds the socket, until the agent stops.
    _dir: tempfile::TempDir,
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
            _daemon: daemon,
            _dir: dir,
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

/// The server's settings and request log, shared by the [`GitHttp`] and its server's threads.
struct HttpShared {
    root: PathBuf,
    user: String,
    password: String,
    log: Mutex<Vec<HttpRequest>>,
}

impl HttpShared {
    fn log(&self) -> MutexGuard<'_, Vec<HttpRequest>> {
        // A panicking handler cannot leave the log half-written (one push).
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// git's smart HTTP protocol for the repositories of a [`GitRepos`], on
/// `http://127.0.0.1:PORT/`, fetch only, for one user name and password (the token).
/// Stops when dropped.
pub struct GitHttp {
    // Declared first, so dropped first: no request is served once the repositories are gone.
    server: Server,
    shared: Arc<HttpShared>,
    /// The repositories it serves, kept until it stops.
    _repos: GitRepos,
}

impl GitHttp {
    pub fn start(repos: GitRepos, user: &str, password: &str) -> GitHttp {
        let shared = Arc::new(HttpShared {
            root: repos.root().to_path_buf(),
            user: user.to_string(),
            password: password.to_string(),
            log: Mutex::new(Vec::new()),
        });
        let server = Server::start("git-http", Arc::clone(&shared))
            .expect("start the git HTTP server on 127.0.0.1");
        GitHttp {
            server,
            shared,
            _repos: repos,
        }
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The spec's `git:` for this server: `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port())
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

    fn log(&self) -> MutexGuard<'_, Vec<HttpRequest>> {
        self.shared.log()
    }
}

impl Handler for HttpShared {
    /// Refuses bad paths, pushes and wrong credentials; hands the rest to `git http-backend`.
    /// Records the request with its status.
    fn answer(&self, request: &http::Request) -> Response {
        let credentials = basic_credentials(request);
        let (path, query) = request.path_and_query();
        let response = if path.contains("..") || !path.starts_with('/') {
            Response::text(400, "bad path\n")
        } else if query.contains("git-receive-pack") || path.ends_with("/git-receive-pack") {
            Response::text(403, "fetch only\n")
        } else if !credentials
            .as_ref()
            .is_some_and(|(user, password)| *user == self.user && *password == self.password)
        {
            Response::text(401, "authentication required\n")
                .with_header("WWW-Authenticate", "Basic realm=\"gobuild e2e git\"")
        } else {
            http_backend(self, request)
        };
        self.log().push(HttpRequest {
            method: request.method.clone(),
            target: request.target.clone(),
            status: response.status,
            user: credentials.map(|(user, _)| user),
        });
        response
    }
}

/// (user, password) of an `Authorization: Basic …` header.
fn basic_credentials(request: &http::Request) -> Option<(String, String)> {
    use base64::Engine as _;
    let encoded = request.header("authorization")?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Runs `git http-backend` as a CGI script for the request.
fn http_backend(shared: &HttpShared, request: &http::Request) -> Response {
    let (path, query) = request.path_and_query();
    let mut cgi = git();
    cgi.arg("http-backend")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REMOTE_USER", &shared.user)
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (header, variable) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(value) = request.header(header) {
            cgi.env(variable, value);
        }
    }
    let out = match run_with_input(&mut cgi, &request.body) {
        Ok(out) => out,
        Err(e) => return Response::text(500, &format!("running git http-backend: {e}\n")),
    };
    cgi_response(&out)
}

/// Runs `cmd` (stdin, stdout and stderr piped) with `input` on its stdin, to its end.
fn run_with_input(cmd: &mut Command, input: &[u8]) -> io::Result<Output> {
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    // Written from another thread: the child may fill its stdout before it has read it all.
    thread::scope(|scope| {
        scope.spawn(move || {
            let _ = stdin.write_all(input);
        });
        child.wait_with_output()
    })
}

/// The response a CGI script wrote: headers (a `Status:` among them), a blank line, the body.
fn cgi_response(out: &Output) -> Response {
    let raw = &out.stdout;
    let Some((head, body)) = find_bytes(raw, b"\r\n\r\n")
        .map(|i| (&raw[..i], &raw[i + 4..]))
        .or_else(|| find_bytes(raw, b"\n\n").map(|i| (&raw[..i], &raw[i + 2..])))
    else {
        return Response::text(
            500,
            &format!(
                "git http-backend gave no headers: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        );
    };
    let mut response = Response::new(200, body.to_vec());
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("status") {
            response.status = value
                .split_whitespace()
                .next()
                .and_then(|code| code.parse().ok())
                .unwrap_or(500);
        } else {
            response = response.with_header(name, value);
        }
    }
    response
}

/// Where `needle` first occurs in `hay`.
pub fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
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
            find_bytes(hay, &n.bytes).is_none(),
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
            control_found |= find_bytes(&bytes, control.as_bytes()).is_some();
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

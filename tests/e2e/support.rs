//! Support for the end-to-end tests: real BuildKit daemons through the clients users use, and a
//! parser for BuildKit's `--progress=plain` output.
//!
//! `GOBUILD_E2E_DAEMON` picks the daemon for the whole run (scripts/test.sh runs the suite
//! once per daemon):
//! - `dockerd` (default): BuildKit v0.8 embedded in Debian's docker.io 20.10, driven by the
//!   20.10 client `/usr/bin/docker build` with `DOCKER_BUILDKIT=1`;
//! - `buildkit`: a current buildkitd (scripts/buildkit.sh), driven by `docker buildx build`
//!   through buildx's `remote` driver; images are `--load`ed into dockerd, so running and
//!   inspecting them works the same for both.
//!
//! The tests need `DOCKER_HOST` (scripts/test.sh starts a private dockerd and exports it) and
//! the frontend image `GOBUILD_FRONTEND_IMAGE` (default `gobuild-frontend:dev`, built by
//! scripts/frontend-image.sh); for `buildkit` also `BUILDKIT_HOST`, the buildx builder
//! `GOBUILD_BUILDX_BUILDER` and the frontend image's registry name `GOBUILD_FRONTEND_REF`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The Debian 20.10 client: it drives BuildKit with `DOCKER_BUILDKIT=1`. The newer
/// `/usr/local/bin/docker` on these machines has no buildx and cannot.
pub const DOCKER: &str = "/usr/bin/docker";

/// What `examples/hello` prints when run as the runtime image's default user.
pub const HELLO_OUTPUT: &str = "hello from gobuild-frontend (uid=65532 gid=65532)";

/// A build that takes longer than this is killed and the test fails (a hung build must not
/// eat the CI budget).
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);

/// The BuildKit daemon (and client) a test run builds with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    /// dockerd 20.10's embedded BuildKit v0.8, through `docker build`.
    Dockerd,
    /// A current buildkitd, through `docker buildx build` (remote driver).
    BuildKit,
}

/// Where the tests find the daemons and the frontend image.
pub struct Env {
    pub daemon: Daemon,
    pub docker_host: String,
    /// What `# syntax=` names: a dockerd image, or the registry reference buildkitd resolves.
    pub frontend_image: String,
    /// The daemon's log (`GOBUILD_DOCKER_LOG` or `GOBUILD_BUILDKIT_LOG`, exported by
    /// scripts/lib.sh): the frontend's stderr ends up there, so a failed build shows what the
    /// daemon logged meanwhile.
    pub dockerd_log: Option<PathBuf>,
    /// buildx's builder for `buildkit`.
    builder: String,
    /// buildkitd's address for `buildctl`.
    buildkit_host: String,
}

impl Env {
    /// Reads the environment and checks that dockerd answers and has the frontend image.
    /// Panics with a message that says what to run when it does not.
    pub fn get() -> Env {
        let docker_host = match std::env::var("DOCKER_HOST") {
            Ok(h) if !h.is_empty() => h,
            _ => panic!(
                "DOCKER_HOST is not set: the e2e tests need a running dockerd with BuildKit.\n\
                 Run them through scripts/test.sh, or start the project's dockerd with\n\
                 `scripts/setup.sh && scripts/frontend-image.sh` and then\n\
                 `eval \"$(scripts/dockerd.sh env)\"; cargo test --features e2e --test e2e -- --test-threads=1`"
            ),
        };
        let var = |name: &str| std::env::var(name).ok().filter(|s| !s.is_empty());
        let daemon = match var("GOBUILD_E2E_DAEMON").as_deref() {
            None | Some("dockerd") => Daemon::Dockerd,
            Some("buildkit") => Daemon::BuildKit,
            Some(other) => panic!("GOBUILD_E2E_DAEMON={other}: expected dockerd or buildkit"),
        };
        let dockerd_image =
            var("GOBUILD_FRONTEND_IMAGE").unwrap_or_else(|| "gobuild-frontend:dev".to_string());
        let (frontend_image, log_var) = match daemon {
            Daemon::Dockerd => (dockerd_image.clone(), "GOBUILD_DOCKER_LOG"),
            Daemon::BuildKit => (
                var("GOBUILD_FRONTEND_REF")
                    .expect("GOBUILD_FRONTEND_REF (scripts/buildkit.sh env) names the frontend image in the registry"),
                "GOBUILD_BUILDKIT_LOG",
            ),
        };
        let dockerd_log = var(log_var).map(PathBuf::from).filter(|p| p.is_file());
        let env = Env {
            daemon,
            docker_host,
            frontend_image,
            dockerd_log,
            builder: var("GOBUILD_BUILDX_BUILDER").unwrap_or_else(|| "gobuild".to_string()),
            buildkit_host: var("BUILDKIT_HOST").unwrap_or_default(),
        };
        let version = env.docker(&["version", "--format", "{{.Server.Version}}"]);
        assert!(
            version.status.success(),
            "dockerd at DOCKER_HOST={} does not answer: {}",
            env.docker_host,
            String::from_utf8_lossy(&version.stderr)
        );
        let image = env.docker(&["image", "inspect", "--format", "{{.Id}}", &dockerd_image]);
        assert!(
            image.status.success(),
            "frontend image {dockerd_image} is not in dockerd's image store (run scripts/frontend-image.sh): {}",
            String::from_utf8_lossy(&image.stderr)
        );
        if daemon == Daemon::BuildKit {
            let builder = env.docker(&["buildx", "inspect", &env.builder]);
            assert!(
                builder.status.success(),
                "buildx builder {} is missing (run scripts/buildkit.sh start): {}",
                env.builder,
                String::from_utf8_lossy(&builder.stderr)
            );
        }
        env
    }

    /// True when this run's daemon is `daemon`; otherwise prints why the calling test (or part
    /// of it) is skipped, so a skip is never silent.
    pub fn runs_on(&self, daemon: Daemon, why: &str) -> bool {
        if self.daemon == daemon {
            return true;
        }
        println!("SKIPPED on {:?}: {why}", self.daemon);
        false
    }

    /// Drops the daemon's build cache (`all`: every record, else only unused ones), optionally
    /// only records of one type (`exec.cachemount`).
    pub fn prune(&self, all: bool, filter: Option<&str>) {
        // buildctl takes containerd's filter syntax: `type==exec.cachemount`.
        let buildctl_filter = filter.map(|f| f.replacen('=', "==", 1));
        let mut args: Vec<&str> = Vec::new();
        let out = match self.daemon {
            Daemon::Dockerd => {
                args.extend(["builder", "prune", "-f"]);
                if all {
                    args.push("-a");
                }
                if let Some(f) = filter {
                    args.extend(["--filter", f]);
                }
                self.docker(&args)
            }
            Daemon::BuildKit => {
                args.extend(["--addr", &self.buildkit_host, "prune"]);
                if all {
                    args.push("--all");
                }
                if let Some(f) = &buildctl_filter {
                    args.extend(["--filter", f]);
                }
                self.buildctl(&args)
            }
        };
        assert!(
            out.status.success(),
            "prune {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs `buildctl ARGS...` (scripts/buildkit.sh puts it in `$GOBUILD_BIN`).
    pub fn buildctl(&self, args: &[&str]) -> Output {
        let bin = std::env::var_os("GOBUILD_BIN")
            .map(|d| PathBuf::from(d).join("buildctl"))
            .unwrap_or_else(|| PathBuf::from("buildctl"));
        Command::new(&bin)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} {args:?}: {e}", bin.display()))
    }

    /// A `docker` command with this environment (BuildKit on, our daemon).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(DOCKER);
        cmd.env("DOCKER_BUILDKIT", "1")
            .env("DOCKER_HOST", &self.docker_host)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `docker ARGS...` to completion.
    pub fn docker(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {DOCKER} {args:?}: {e}"))
    }

    /// Runs `docker ARGS...` and returns its stdout; panics with stderr when it fails.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Builds `project` with its `go-build.yaml` (whose first line names the frontend) and
    /// tags the result `tag`.
    ///
    /// `--network=none`: BuildKit gets `force-network-mode=none`, so no step of these builds
    /// ever uses the daemon's bridge (hello needs no modules).
    pub fn build(&self, project: &Project, tag: &ImageTag) -> Build {
        self.build_with(project, &["-t", tag.name()])
    }

    /// Builds `project` with extra `docker build` arguments (`-o`, `--platform`, `-t`, ...).
    /// Without a `--network` among them the build gets `--network=none`.
    pub fn build_with(&self, project: &Project, args: &[&str]) -> Build {
        self.build_with_env(project, args, &[])
    }

    /// Like [`Env::build_with`], with extra environment for the docker client (e.g.
    /// `SSH_AUTH_SOCK` for `--ssh default`).
    pub fn build_with_env(&self, project: &Project, args: &[&str], envs: &[(&str, &str)]) -> Build {
        self.build_file(project, "go-build.yaml", args, envs)
    }

    /// Like [`Env::build_with_env`], from another file of the project (`-f FILE`): another
    /// spec, or a Dockerfile.
    pub fn build_file(
        &self,
        project: &Project,
        file: &str,
        args: &[&str],
        envs: &[(&str, &str)],
    ) -> Build {
        let dir = project.dir();
        let spec = dir.join(file);
        let mut cmd = self.command();
        cmd.envs(envs.iter().copied());
        match self.daemon {
            Daemon::Dockerd => cmd.arg("build"),
            Daemon::BuildKit => {
                cmd.args(["buildx", "build", "--builder", &self.builder]);
                // Images go to dockerd, where the tests run and inspect them.
                let exports = args.iter().any(|a| {
                    matches!(*a, "-o" | "--output" | "--push") || a.starts_with("--output=")
                });
                if args.contains(&"-t") && !exports {
                    cmd.arg("--load");
                }
                &mut cmd
            }
        };
        cmd.arg("--progress=plain");
        if !args.iter().any(|a| a.starts_with("--network")) {
            cmd.arg("--network=none");
        }
        cmd.arg("-f").arg(&spec).args(args).arg(dir);
        let log_start = self.dockerd_log_len();
        let mut build = Build::run(cmd);
        if !build.success {
            build.dockerd_log = self.dockerd_log_since(log_start);
        }
        build
    }

    /// `buildctl build` of `project` with the gateway frontend named by `# syntax=` (buildctl
    /// has no Dockerfile frontend in between), `--progress=plain` and `ARGS` (e.g. `--output`).
    pub fn buildctl_build(&self, project: &Project, args: &[&str]) -> Build {
        assert_eq!(self.daemon, Daemon::BuildKit, "buildctl drives buildkitd");
        let dir = project.dir().to_str().expect("utf-8 temp dir");
        let bin = std::env::var_os("GOBUILD_BIN")
            .map(|d| PathBuf::from(d).join("buildctl"))
            .unwrap_or_else(|| PathBuf::from("buildctl"));
        let mut cmd = Command::new(bin);
        cmd.stdin(Stdio::null())
            .args(["--addr", &self.buildkit_host, "build", "--progress=plain"])
            .args(["--frontend", "gateway.v0"])
            .arg(format!("--opt=source={}", self.frontend_image))
            .arg(format!("--local=context={dir}"))
            .arg(format!("--local=dockerfile={dir}"))
            .arg("--opt=filename=go-build.yaml")
            .args(args);
        let log_start = self.dockerd_log_len();
        let mut build = Build::run(cmd);
        if !build.success {
            build.dockerd_log = self.dockerd_log_since(log_start);
        }
        build
    }

    fn dockerd_log_len(&self) -> u64 {
        self.dockerd_log
            .as_ref()
            .and_then(|p| fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    }

    /// What dockerd logged since byte `start`, without grpc connection chatter, at most the
    /// last 8 KiB of it.
    fn dockerd_log_since(&self, start: u64) -> String {
        let Some(path) = &self.dockerd_log else {
            return String::new();
        };
        let Ok(bytes) = fs::read(path) else {
            return String::new();
        };
        let start = usize::try_from(start).unwrap_or(0).min(bytes.len());
        let text: String = String::from_utf8_lossy(&bytes[start..])
            .lines()
            .filter(|l| !l.contains("module=grpc"))
            .flat_map(|l| [l, "\n"])
            .collect();
        let cut = text.len().saturating_sub(8192);
        let cut = (cut..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        text[cut..].to_string()
    }

    /// `docker run --rm --network=none [EXTRA...] IMAGE [ARGS...]`.
    pub fn run(&self, extra: &[&str], image: &str, args: &[&str]) -> Output {
        let mut all = vec!["run", "--rm", "--network=none"];
        all.extend_from_slice(extra);
        all.push(image);
        all.extend_from_slice(args);
        self.docker(&all)
    }

    /// Builds the Dockerfile in `dir` with `build_args` (KEY=VALUE) into an image `# syntax=`
    /// can name, and returns that name: a tag in dockerd's store, or on buildkitd a
    /// reference pushed to the registry the frontend image is in.
    pub fn frontend_from_dockerfile(&self, dir: &Path, what: &str, build_args: &[&str]) -> String {
        let mut args: Vec<String> = Vec::new();
        for arg in build_args {
            args.extend(["--build-arg".to_string(), arg.to_string()]);
        }
        let name = match self.daemon {
            Daemon::Dockerd => {
                let name = format!("gobuild-e2e-{what}:{}", unique());
                args.splice(
                    0..0,
                    [
                        "build".to_string(),
                        "-q".to_string(),
                        "-t".to_string(),
                        name.clone(),
                    ],
                );
                name
            }
            Daemon::BuildKit => {
                let registry = self.frontend_image.split('/').next().unwrap_or_default();
                let name = format!("{registry}/gobuild-e2e-{what}:{}", unique());
                let output = format!("--output=type=image,name={name},push=true");
                args.splice(
                    0..0,
                    ["buildx", "build", "-q", "--builder", &self.builder, &output]
                        .map(String::from),
                );
                name
            }
        };
        args.push(dir.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.docker_ok(&args);
        name
    }

    /// `docker image inspect` of one image, as JSON.
    pub fn inspect(&self, image: &str) -> serde_json::Value {
        let out = self.docker_ok(&["image", "inspect", image]);
        let mut all: Vec<serde_json::Value> =
            serde_json::from_str(&out).expect("docker image inspect prints a JSON array");
        assert_eq!(all.len(), 1, "one image expected for {image}");
        all.remove(0)
    }

    /// Every entry of the image's filesystem (`docker create` + `docker export`).
    pub fn image_entries(&self, image: &str) -> Vec<Entry> {
        // An image without a shell still needs a command for `docker create`; it never runs.
        let id = self
            .docker_ok(&["create", "--network=none", image, "/nonexistent"])
            .trim()
            .to_string();
        let tmp = tempfile::tempdir().expect("tempdir");
        let tar = tmp.path().join("rootfs.tar");
        let export = self.docker(&["export", "-o", tar.to_str().expect("utf-8 path"), &id]);
        let _ = self.docker(&["rm", "-f", &id]);
        assert!(
            export.status.success(),
            "docker export failed: {}",
            String::from_utf8_lossy(&export.stderr)
        );
        let list = Command::new("tar")
            .arg("-tvf")
            .arg(&tar)
            .output()
            .expect("run tar");
        assert!(list.status.success(), "tar -tvf failed");
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .filter_map(|line| {
                // mode owner/group size date time path [-> target]
                let fields: Vec<&str> = line.split_whitespace().collect();
                let mode = fields.first()?.to_string();
                let size = fields.get(2)?.parse().ok()?;
                let path = fields.get(5)?;
                let path = path.trim_start_matches("./").trim_start_matches('/');
                (!path.is_empty()).then(|| Entry {
                    mode,
                    size,
                    path: path.to_string(),
                })
            })
            .collect()
    }
}

/// One file of an image, as `tar -tv` lists it.
#[derive(Debug)]
pub struct Entry {
    /// `drwxrwxrwt`, `-rwxr-xr-x`, ...
    pub mode: String,
    pub size: u64,
    /// Without a leading `./` or `/`.
    pub path: String,
}

/// A unique image tag, removed from dockerd when dropped.
pub struct ImageTag {
    env_host: String,
    name: String,
}

impl ImageTag {
    pub fn new(env: &Env, what: &str) -> ImageTag {
        ImageTag {
            env_host: env.docker_host.clone(),
            name: format!("gobuild-e2e-{what}:{}", unique()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ImageTag {
    fn drop(&mut self) {
        let _ = Command::new(DOCKER)
            .env("DOCKER_HOST", &self.env_host)
            .args(["rmi", "-f", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// A string unique to this test process and call (pid, wall clock, counter): tags and edits
/// must not collide with earlier runs whose results live on in the persistent BuildKit cache.
pub fn unique() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A private copy of `examples/hello` in a temp dir, its `go-build.yaml` pointed at the
/// frontend image under test, so a test can edit files freely.
/// The examples that build with only the test module proxy: no private modules, no org image.
pub const PUBLIC_EXAMPLES: &[&str] = &[
    "hello",
    "multi",
    "cgo",
    "embed",
    "workspace",
    "replace",
    "vendored",
    "with-deps",
    "monorepo",
];

pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn hello(env: &Env) -> Project {
        Project::example(env, "hello")
    }

    /// A private copy of `examples/NAME`.
    pub fn example(env: &Env, name: &str) -> Project {
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name);
        let dir = tempfile::Builder::new()
            .prefix(&format!("gobuild-e2e-{name}-"))
            .tempdir()
            .expect("tempdir");
        copy_dir(&src, dir.path());
        let project = Project { dir };
        let spec = project.read("go-build.yaml");
        let rest = spec.split_once('\n').map(|(_, r)| r).unwrap_or("");
        project.write(
            "go-build.yaml",
            &format!("# syntax={}\n{rest}", env.frontend_image),
        );
        project
    }

    /// A project made of `files` (path, contents), with a `go-build.yaml` whose first line
    /// names the frontend under test and whose rest is `spec`.
    pub fn generated(env: &Env, name: &str, spec: &str, files: &[(String, String)]) -> Project {
        let dir = tempfile::Builder::new()
            .prefix(&format!("gobuild-e2e-{name}-"))
            .tempdir()
            .expect("tempdir");
        let project = Project { dir };
        for (path, contents) in files {
            let full = project.dir().join(path);
            if let Some(parent) = full.parent() {
                fs::create_dir_all(parent).expect("mkdir");
            }
            project.write(path, contents);
        }
        project.write(
            "go-build.yaml",
            &format!("# syntax={}\n{spec}", env.frontend_image),
        );
        project
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.dir().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
    }

    pub fn write(&self, rel: &str, contents: &str) {
        fs::write(self.dir().join(rel), contents).unwrap_or_else(|e| panic!("write {rel}: {e}"));
    }

    /// Adds `example.com/extra v1.0.0` to a copy of examples/with-deps the way a developer does
    /// after `go get`: the requirement in go.mod, its `go_sum` lines in go.sum, and a use in
    /// main.go (which then also prints ` + extra v1.0.0`).
    pub fn add_extra_requirement(&self, go_sum: &str) {
        self.replace(
            "go.mod",
            "require example.com/color v1.0.0 // indirect",
            "require example.com/color v1.0.0 // indirect\n\nrequire example.com/extra v1.0.0",
        );
        let sum = self.read("go.sum");
        self.write("go.sum", &format!("{sum}{go_sum}"));
        self.replace(
            "main.go",
            "\"example.com/greet\"",
            "\"example.com/extra\"\n\t\"example.com/greet\"",
        );
        self.replace(
            "main.go",
            "banner.Banner(greet.Hello(\"gopher\")))",
            "banner.Banner(greet.Hello(\"gopher\")) + \" + \" + extra.Extra())",
        );
    }

    /// Replaces `from` (which must occur) with `to` in file `rel`.
    pub fn replace(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(
            text.contains(from),
            "{rel} does not contain {from:?}:\n{text}"
        );
        self.write(rel, &text.replacen(from, to, 1));
    }
}

fn copy_dir(src: &Path, dst: &Path) {
    for entry in fs::read_dir(src).unwrap_or_else(|e| panic!("read_dir {}: {e}", src.display())) {
        let entry = entry.expect("dir entry");
        let to: PathBuf = dst.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            fs::create_dir_all(&to).expect("mkdir");
            copy_dir(&entry.path(), &to);
        } else {
            fs::copy(entry.path(), &to).expect("copy");
        }
    }
}

/// One BuildKit vertex as reported by `--progress=plain`: `#7 [deps 1/1] go mod download`,
/// then later `#7 CACHED`, `#7 DONE 1.2s` or `#7 ERROR: ...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Vertex {
    pub id: u32,
    pub name: String,
    pub cached: bool,
    /// Seconds from `DONE <secs>s`; `None` when the vertex never reported DONE.
    pub done: Option<f64>,
    pub error: Option<String>,
}

impl Vertex {
    /// Ran to completion without a cache hit.
    pub fn ran(&self) -> bool {
        !self.cached && self.done.is_some()
    }
}

/// Parses BuildKit's plain progress output into vertices, in order of first appearance.
pub fn parse_vertices(output: &str) -> Vec<Vertex> {
    let mut vertices: Vec<Vertex> = Vec::new();
    for line in output.lines() {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let Some((num, text)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(id) = num.parse::<u32>() else {
            continue;
        };
        let text = text.trim_end();
        let idx = match vertices.iter().position(|v| v.id == id) {
            Some(i) => i,
            None => {
                // The first line of a vertex is its name.
                vertices.push(Vertex {
                    id,
                    name: text.to_string(),
                    cached: false,
                    done: None,
                    error: None,
                });
                continue;
            }
        };
        let v = &mut vertices[idx];
        if text == "CACHED" {
            v.cached = true;
        } else if let Some(d) = text.strip_prefix("DONE ") {
            v.done = d.trim_end_matches('s').parse().ok().or(Some(0.0));
        } else if let Some(e) = text.strip_prefix("ERROR") {
            v.error = Some(e.trim_start_matches(':').trim().to_string());
        }
        // Anything else is a digest (`sha256:…`), a log line (`0.123 text`) or the name
        // printed again when the vertex resumes.
    }
    vertices
}

/// The result of one `docker build`.
pub struct Build {
    pub success: bool,
    /// stdout followed by stderr (the plain progress goes to stderr).
    pub output: String,
    pub vertices: Vec<Vertex>,
    pub duration: Duration,
    /// For a failed build: what dockerd logged while it ran (the frontend's stderr).
    pub dockerd_log: String,
}

impl Build {
    fn run(mut cmd: Command) -> Build {
        let start = Instant::now();
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        let mut out = child.stdout.take().expect("stdout");
        let mut err = child.stderr.take().expect("stderr");
        let out_t = thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let err_t = thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for docker build") {
                break Some(status);
            }
            if start.elapsed() > BUILD_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            thread::sleep(Duration::from_millis(50));
        };
        let duration = start.elapsed();
        let mut output = out_t.join().unwrap_or_default();
        output.push_str(&err_t.join().unwrap_or_default());
        if status.is_none() {
            output.push_str(&format!(
                "\n[e2e] docker build killed after {BUILD_TIMEOUT:?}\n"
            ));
        }
        Build {
            success: status.is_some_and(|s| s.success()),
            vertices: parse_vertices(&output),
            output,
            duration,
            dockerd_log: String::new(),
        }
    }

    /// All vertices whose name starts with `prefix` (e.g. `"[build "`).
    pub fn vertices(&self, prefix: &str) -> Vec<&Vertex> {
        self.vertices
            .iter()
            .filter(|v| v.name.starts_with(prefix))
            .collect()
    }

    /// What the vertex printed: its `#ID 1.234 text` lines, without the prefix.
    pub fn logs(&self, vertex: &Vertex) -> Vec<&str> {
        let prefix = format!("#{} ", vertex.id);
        self.output
            .lines()
            .filter_map(|line| line.strip_prefix(&prefix))
            .filter_map(|rest| {
                let (time, text) = rest.split_once(' ')?;
                time.parse::<f64>().ok().map(|_| text.trim_end())
            })
            .collect()
    }

    /// Like [`Build::vertices`], but at least one must exist.
    pub fn some_vertices(&self, prefix: &str) -> Vec<&Vertex> {
        let found = self.vertices(prefix);
        assert!(
            !found.is_empty(),
            "no vertex named {prefix:?}…; vertices: {:#?}\n--- build output ---\n{}",
            self.vertices,
            self.output
        );
        found
    }

    /// Panics with the whole build output unless the build succeeded.
    pub fn assert_success(&self) -> &Build {
        assert!(
            self.success,
            "docker build failed after {:.1?}:\n{}\n--- dockerd log meanwhile (the frontend's stderr) ---\n{}",
            self.duration,
            self.output,
            if self.dockerd_log.is_empty() {
                "(nothing; set GOBUILD_DOCKER_LOG to dockerd's log file to see it here)"
            } else {
                &self.dockerd_log
            }
        );
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_progress() {
        let out = "\
#1 [internal] load build definition from go-build.yaml
#1 sha256:94a1af
#1 transferring dockerfile: 99B done
#1 DONE 0.0s

#7 [deps 1/1] go mod download
#7 sha256:abc
#7 CACHED

#8 [build 1/1] go build -o /out/hello .
#8 0.512 compiling
#8 [build 1/1] go build -o /out/hello .
#8 DONE 3.4s

#9 [runtime 1/2] copy /etc/passwd
#9 ERROR: boom
";
        let v = parse_vertices(out);
        assert_eq!(v.len(), 4);
        assert_eq!(
            v[0].name,
            "[internal] load build definition from go-build.yaml"
        );
        assert!(v[1].cached && v[1].name.starts_with("[deps "));
        assert!(v[2].ran() && v[2].done == Some(3.4));
        assert_eq!(v[3].error.as_deref(), Some("boom"));
        assert!(!v[3].ran());
    }
}

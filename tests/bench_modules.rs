//! The modules benchmark: a report, never a test. It builds one Go program with module
//! dependencies (a copy of `examples/with-deps`: example.com/greet v1.1.0 and
//! example.com/banner v0.1.0, which brings example.com/color) four ways on the same BuildKit:
//!
//! 1. `tests/bench/naive.Dockerfile`: `COPY . .` then `go build`; debian:bookworm-slim runtime;
//! 2. `tests/bench/classic.Dockerfile`: go.mod/go.sum first, `go mod download`, then the rest;
//! 3. `tests/bench/expert.Dockerfile`: deps step on bind-mounted go.mod/go.sum, cache mounts
//!    for the module cache and GOCACHE, context bind-mounted, scratch runtime, non-root;
//! 4. ours: `-f go-build.yaml` with `# syntax=<frontend image>`.
//!
//! Scenarios; every sample re-creates its starting state first: cold (`docker builder prune
//! -af`, which empties the cache mounts too), no change, one .go file edited, a requirement
//! added (go.mod/go.sum + an import, starting from a build of the unmodified project on a
//! pruned cache, so the module caches hold exactly its three modules), README.md edited.
//! Within each round of a scenario the order of the ways rotates. Modules come from the local
//! proxy of the e2e tests (tests/e2e/goproxy.rs), which counts each timed build's requests;
//! every timed image is run and must print what the program prints.
//!
//! Then the frontend's fixed cost: `OVERHEAD_RUNS` (default 10) alternating fully cached builds
//! of (3) and ours, and builds of ours that stop at a spec error.
//!
//! The machine may be shared: a timed build waits until no other docker client, cargo, rustc
//! or qemu process runs, and is measured again (at most [`ATTEMPTS`] times in all) when one
//! showed up before, during or after it; the report says if any sample kept one.
//!
//! Markdown goes to stdout, progress to stderr. It prunes the whole BuildKit cache of the
//! daemon it talks to, so it only runs when asked: `scripts/bench-modules.sh`, or
//! `cargo test --features e2e --test bench-modules -- --run` with the project's dockerd
//! (`eval "$(scripts/dockerd.sh env)"`). `RUNS` (default 3) samples per scenario and way;
//! `BENCH_SCENARIOS=cold,no-change,go-edit,requirement,readme` (default all) picks scenarios.

// Only part of the proxy's API is used here (the e2e tests use the rest).
#[allow(dead_code)]
#[path = "e2e/goproxy.rs"]
mod goproxy;
// GoProxy's server. Its unit tests are not built without a harness, which leaves their
// helpers unused.
#[allow(dead_code)]
#[path = "e2e/http.rs"]
mod http;
// Only part of the e2e support is used here; its unit tests are not built without a harness.
#[allow(dead_code, unused_imports)]
#[path = "e2e/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use goproxy::GoProxy;
use support::{Env, ImageTag, Project, Vertex, parse_vertices, unique};

/// What the unmodified program prints.
const WITH_DEPS_OUTPUT: &str = "withdeps: *** <red>hi there, gopher (greet v1.1.0)</red> ***";
/// A timed build that takes longer than this is killed and the benchmark fails.
const BUILD_TIMEOUT: Duration = Duration::from_secs(900);
/// The frontend's own pre-solve step (src/plan.rs `source_scan`).
const SCAN_VERTEX: &str = "[internal] list sources and //go:embed patterns";
/// A sample during which another build ran is measured again, at most this many times in all.
const ATTEMPTS: usize = 5;
/// How long a sample waits for other builds on the machine to end before measuring anyway.
const QUIET_TIMEOUT: Duration = Duration::from_secs(20 * 60);
/// A README the copy of examples/with-deps gets, so that a non-Go file can be edited.
const README: &str = "# withdeps\n\nA copy of examples/with-deps for the modules benchmark.\n";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Way {
    Naive,
    Classic,
    Expert,
    Ours,
}

const WAYS: [Way; 4] = [Way::Naive, Way::Classic, Way::Expert, Way::Ours];

impl Way {
    fn label(self) -> &'static str {
        match self {
            Way::Naive => "(1) naive",
            Way::Classic => "(2) classic split",
            Way::Expert => "(3) expert",
            Way::Ours => "(4) ours",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Way::Naive => "naive",
            Way::Classic => "classic",
            Way::Expert => "expert",
            Way::Ours => "ours",
        }
    }

    fn runtime(self) -> &'static str {
        match self {
            Way::Naive => "debian:bookworm-slim + binary, root",
            Way::Classic => "scratch + CA bundle + binary, root",
            Way::Expert => "scratch + CA bundle + binary, USER 65532:65532",
            Way::Ours => "scratch + CA bundle + passwd/group + /tmp + binary, 65532:65532",
        }
    }

    /// The `-f` file of this way's build.
    fn file(self, project: &Project) -> PathBuf {
        match self {
            Way::Ours => project.dir().join("go-build.yaml"),
            _ => Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/bench")
                .join(format!("{}.Dockerfile", self.short())),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    Cold,
    NoChange,
    GoEdit,
    RequirementAdded,
    ReadmeEdited,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario::Cold,
    Scenario::NoChange,
    Scenario::GoEdit,
    Scenario::RequirementAdded,
    Scenario::ReadmeEdited,
];

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::Cold => "cold (after `docker builder prune -af`)",
            Scenario::NoChange => "no change (fully cached)",
            Scenario::GoEdit => "one .go file edited",
            Scenario::RequirementAdded => "requirement added (go.mod + go.sum + import)",
            Scenario::ReadmeEdited => "README.md edited",
        }
    }

    /// The name `BENCH_SCENARIOS` uses.
    fn key(self) -> &'static str {
        match self {
            Scenario::Cold => "cold",
            Scenario::NoChange => "no-change",
            Scenario::GoEdit => "go-edit",
            Scenario::RequirementAdded => "requirement",
            Scenario::ReadmeEdited => "readme",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Scenario::Cold => "cold",
            Scenario::NoChange => "no change",
            Scenario::GoEdit => ".go edit",
            Scenario::RequirementAdded => "requirement",
            Scenario::ReadmeEdited => "README",
        }
    }
}

/// One way's private copy of the program and its image tag.
struct Subject {
    way: Way,
    project: Project,
    tag: ImageTag,
    /// The unmodified files, written back before every scenario run.
    pristine: Vec<(&'static str, String)>,
}

impl Subject {
    fn new(env: &Env, way: Way) -> Subject {
        let project = Project::example(env, "with-deps");
        project.write("README.md", README);
        let pristine = ["go-build.yaml", "go.mod", "go.sum", "main.go", "README.md"]
            .into_iter()
            .map(|f| (f, project.read(f)))
            .collect();
        Subject {
            way,
            project,
            tag: ImageTag::new(env, &format!("bench-{}", way.short())),
            pristine,
        }
    }

    fn reset(&self) {
        for (file, text) in &self.pristine {
            self.project.write(file, text);
        }
    }

    /// A real code edit: the name greeted becomes unique. Returns the new expected output.
    fn edit_go(&self) -> String {
        let name = format!("gopher-{}", unique());
        self.project.replace(
            "main.go",
            "greet.Hello(\"gopher\")",
            &format!("greet.Hello(\"{name}\")"),
        );
        WITH_DEPS_OUTPUT.replace("gopher", &name)
    }

    /// Adds example.com/extra v1.0.0 the way a developer does after `go get`: the requirement
    /// in go.mod, its sums in go.sum, and the import that uses it. Returns the expected output.
    fn add_requirement(&self, proxy: &GoProxy) -> String {
        self.project
            .add_extra_requirement(&proxy.go_sum("example.com/extra@v1.0.0"));
        format!("{WITH_DEPS_OUTPUT} + extra v1.0.0")
    }

    fn edit_readme(&self) {
        let text = self.project.read("README.md");
        self.project
            .write("README.md", &format!("{text}\nEdited {}.\n", unique()));
    }
}

/// What one timed build measured.
struct Sample {
    secs: f64,
    /// `module@version` of every `.zip` the proxy served during the build.
    zips: Vec<String>,
    /// Every request the proxy got during the build (list, info, mod, zip; any status).
    requests: usize,
    size: u64,
    /// BuildKit's own time of our source-scan vertex (`DONE`), when it ran.
    scan_ran: Option<f64>,
    /// Build-step vertices that ran (not CACHED), short names.
    ran: Vec<String>,
    /// Other build processes seen right before or after the build (see [`other_builds`]).
    others: Vec<String>,
}

struct BuildRun {
    success: bool,
    output: String,
    secs: f64,
    /// Other build processes seen while it ran (see [`other_builds`]).
    others: Vec<String>,
}

/// `docker build` of one subject with the proxy reachable (host network) and GOPROXY/GOSUMDB
/// build args; wall time of the client process.
fn docker_build(env: &Env, s: &Subject, proxy: &GoProxy) -> BuildRun {
    let mut cmd = env.command();
    cmd.args(["build", "--progress=plain", "--network=host"])
        .arg("--build-arg")
        .arg(format!("GOPROXY={}", proxy.url()))
        .args(["--build-arg", "GOSUMDB=off", "-f"])
        .arg(s.way.file(&s.project))
        .args(["-t", s.tag.name()])
        .arg(s.project.dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
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
    // Looks for other builds on the machine every quarter second while this one runs.
    let mut others: Vec<String> = Vec::new();
    let mut looked = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for docker build") {
            break Some(status);
        }
        if start.elapsed() > BUILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        if looked.elapsed() >= Duration::from_millis(250) {
            others.extend(other_builds(Some(child.id())));
            looked = Instant::now();
        }
        thread::sleep(Duration::from_millis(5));
    };
    let secs = start.elapsed().as_secs_f64();
    others.sort();
    others.dedup();
    let mut output = out_t.join().unwrap_or_default();
    output.push_str(&err_t.join().unwrap_or_default());
    BuildRun {
        success: status.is_some_and(|s| s.success()),
        output,
        secs,
        others,
    }
}

fn must_build(env: &Env, s: &Subject, proxy: &GoProxy, what: &str) -> BuildRun {
    let run = docker_build(env, s, proxy);
    assert!(
        run.success,
        "{what}: {} build failed after {:.1}s:\n{}",
        s.way.label(),
        run.secs,
        run.output
    );
    // Every build re-tags; the image it replaces would stay behind untagged.
    let id = env.docker_ok(&["image", "inspect", "-f", "{{.Id}}", s.tag.name()]);
    IMAGES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.trim().to_string());
    run
}

/// The images the benchmark built, removed at the end.
static IMAGES: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Removes the images the benchmark built that no tag keeps (the tags go with the
/// [`ImageTag`]s).
fn remove_images(env: &Env) {
    let ids = std::mem::take(&mut *IMAGES.lock().unwrap_or_else(|e| e.into_inner()));
    for id in ids {
        let _ = env.docker(&["rmi", &id]);
    }
}

/// Brings the BuildKit cache to "this project was just built" (not timed).
fn prepare(env: &Env, s: &Subject, proxy: &GoProxy) {
    must_build(env, s, proxy, "starting state");
}

/// One sample: re-creates the scenario's starting state for `s`, waits until no other build
/// runs on the machine, then times the build.
fn measure(env: &Env, s: &Subject, proxy: &GoProxy, scenario: Scenario) -> Sample {
    s.reset();
    let expected = match scenario {
        Scenario::Cold => {
            prune(env);
            WITH_DEPS_OUTPUT.to_string()
        }
        Scenario::NoChange => {
            prepare(env, s, proxy);
            WITH_DEPS_OUTPUT.to_string()
        }
        Scenario::GoEdit => {
            prepare(env, s, proxy);
            s.edit_go()
        }
        Scenario::RequirementAdded => {
            // From a build of the unmodified project on an empty cache: the module caches
            // hold exactly its three modules, nothing of an earlier run's requirement.
            prune(env);
            prepare(env, s, proxy);
            s.add_requirement(proxy)
        }
        Scenario::ReadmeEdited => {
            prepare(env, s, proxy);
            s.edit_readme();
            WITH_DEPS_OUTPUT.to_string()
        }
    };
    wait_quiet();
    timed(env, s, proxy, scenario, &expected)
}

/// Waits (at most [`QUIET_TIMEOUT`]) until [`other_builds`] finds nothing twice in a row.
fn wait_quiet() {
    let start = Instant::now();
    let mut quiet = 0;
    let mut said = false;
    while quiet < 2 {
        let others = other_builds(None);
        if others.is_empty() {
            quiet += 1;
        } else {
            quiet = 0;
            if !said {
                eprintln!(
                    "  waiting for other build processes to end: {}",
                    others.join(", ")
                );
                said = true;
            }
        }
        if start.elapsed() > QUIET_TIMEOUT {
            eprintln!("  still busy after {QUIET_TIMEOUT:?}; measuring anyway");
            return;
        }
        if quiet < 2 {
            thread::sleep(Duration::from_secs(1));
        }
    }
}

/// The timed build: proxy counts, image size, and the image must print `expected`.
fn timed(env: &Env, s: &Subject, proxy: &GoProxy, scenario: Scenario, expected: &str) -> Sample {
    let mut others = other_builds(None);
    proxy.reset_counts();
    let run = must_build(env, s, proxy, scenario.short());
    others.extend(run.others.iter().cloned());
    others.extend(other_builds(None));
    others.sort();
    others.dedup();
    if !others.is_empty() {
        eprintln!("WARNING: other build processes around this timed build: {others:?}");
    }
    let zips = proxy.module_requests();
    let requests = proxy.requests().len();
    let printed = env.run(&[], s.tag.name(), &[]);
    let printed = String::from_utf8_lossy(&printed.stdout).trim().to_string();
    assert_eq!(
        printed,
        expected,
        "{}: the {} image prints the wrong thing",
        scenario.short(),
        s.way.label()
    );
    let size = env.inspect(s.tag.name())["Size"]
        .as_u64()
        .expect("image Size");
    let vertices = parse_vertices(&run.output);
    let scan_ran = vertices
        .iter()
        .find(|v| v.name == SCAN_VERTEX)
        .filter(|v| v.ran())
        .and_then(|v| v.done);
    let ran = vertices
        .iter()
        .filter(|v| v.ran() && is_step(v))
        .map(short_step)
        .collect();
    Sample {
        secs: run.secs,
        zips,
        requests,
        size,
        scan_ran,
        ran,
        others,
    }
}

/// Processes on this machine that are not this benchmark's and would skew its timings or its
/// cache states: any `docker` client (another build, run or `builder prune`), buildctl,
/// cargo, rustc, cc1, qemu-user. This process, its ancestors and `own_build` (the `docker
/// build` being timed) are skipped; the benchmark runs no other docker command meanwhile. Go's
/// compile/link are not looked for: the timed build's own run in its containers; another
/// build's come with that build's docker client.
fn other_builds(own_build: Option<u32>) -> Vec<String> {
    static ANCESTORS: OnceLock<Vec<u32>> = OnceLock::new();
    let ancestors = ANCESTORS.get_or_init(|| {
        let mut chain = Vec::new();
        let mut pid = std::process::id();
        while pid > 1 && chain.len() < 64 {
            chain.push(pid);
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // `pid (comm) state ppid ...`: comm may hold spaces, so parse after the last ')'.
            pid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
        }
        chain
    });
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if ancestors.contains(&pid) || own_build == Some(pid) {
            continue;
        }
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|&b| b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let program = args
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
            .unwrap_or_default();
        let building = matches!(
            program.as_str(),
            "cargo" | "rustc" | "cc1" | "docker" | "buildctl"
        ) || program.starts_with("qemu-");
        if building {
            found.push(format!("{program} (pid {pid})"));
        }
    }
    found
}

/// A build step of the program (`[stage n/m] ...`), not BuildKit's or the frontend's
/// bookkeeping (`[internal] ...`, `[builder] FROM`, `[x 1/n] FROM` image sources, which never
/// report CACHED in BuildKit v0.8, exporting, resolving image configs).
fn is_step(v: &Vertex) -> bool {
    let Some(rest) = v.name.strip_prefix('[') else {
        return false;
    };
    let Some((inside, text)) = rest.split_once("] ") else {
        return false;
    };
    let Some((_, n_of_m)) = inside.rsplit_once(' ') else {
        return false;
    };
    !text.starts_with("FROM ")
        && n_of_m
            .split('/')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `[build 3/3] RUN --mount=... CGO_ENABLED=0 go build -o /app .` plus its DONE time →
/// `RUN CGO_ENABLED=0 go build -o /app . 6.2s` (the command at most 40 characters).
fn short_step(v: &Vertex) -> String {
    let text = v.name.split_once("] ").map_or(v.name.as_str(), |(_, t)| t);
    let text: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !w.starts_with("--mount="))
        .collect();
    let mut text = text.join(" ");
    if text.chars().count() > 40 {
        text = format!("{}…", text.chars().take(39).collect::<String>());
    }
    format!("{text} {:.1}s", v.done.unwrap_or(f64::NAN))
}

fn prune(env: &Env) {
    env.docker_ok(&["builder", "prune", "-af"]);
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `3` when every run gave 3, else `2–3 (median 3)`.
fn count_cell(values: &[usize]) -> String {
    let min = values.iter().min().copied().unwrap_or(0);
    let max = values.iter().max().copied().unwrap_or(0);
    if min == max {
        min.to_string()
    } else {
        let m = median(&values.iter().map(|&v| v as f64).collect::<Vec<_>>());
        format!("{min}–{max} (median {m})")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn command_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".to_string())
}

/// Keeps the frontend image the run started with under its own tag, so a concurrent
/// `scripts/frontend-image.sh` cannot swap the frontend in the middle of the benchmark.
struct PinnedFrontend {
    env_host: String,
    name: String,
    id: String,
    created: String,
}

impl PinnedFrontend {
    fn pin(env: &Env) -> PinnedFrontend {
        let facts = env.docker_ok(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{.Created}}",
            &env.frontend_image,
        ]);
        let (id, created) = facts.trim().split_once(' ').unwrap_or((facts.trim(), "?"));
        let name = format!("gobuild-frontend:bench-{}", std::process::id());
        env.docker_ok(&["tag", id, &name]);
        PinnedFrontend {
            env_host: env.docker_host.clone(),
            name,
            id: id.to_string(),
            created: created.to_string(),
        }
    }
}

impl Drop for PinnedFrontend {
    fn drop(&mut self) {
        let _ = Command::new(support::DOCKER)
            .env("DOCKER_HOST", &self.env_host)
            .args(["rmi", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--run") {
        eprintln!(
            "bench-modules: not run (it prunes the BuildKit cache). Use scripts/bench-modules.sh \
             or `cargo test --features e2e --test bench-modules -- --run`."
        );
        return;
    }
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    // BENCH_SCENARIOS=cold,go-edit runs some of them (keys: see `Scenario::key`).
    let scenarios: Vec<Scenario> = match std::env::var("BENCH_SCENARIOS") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .map(|k| {
                SCENARIOS
                    .into_iter()
                    .find(|s| s.key() == k.trim())
                    .unwrap_or_else(|| {
                        panic!(
                            "BENCH_SCENARIOS: unknown scenario {k:?}; known: {:?}",
                            SCENARIOS.map(Scenario::key)
                        )
                    })
            })
            .collect(),
        _ => SCENARIOS.to_vec(),
    };
    let mut env = Env::get();
    let requested_frontend = env.frontend_image.clone();
    let pinned = PinnedFrontend::pin(&env);
    env.frontend_image = pinned.name.clone();
    let proxy = GoProxy::start();
    let subjects: Vec<Subject> = WAYS.iter().map(|&w| Subject::new(&env, w)).collect();

    let started = Instant::now();
    // samples[scenario][way]
    let mut samples: Vec<Vec<Vec<Sample>>> = scenarios
        .iter()
        .map(|_| WAYS.iter().map(|_| Vec::new()).collect())
        .collect();
    for (si, &scenario) in scenarios.iter().enumerate() {
        for round in 0..runs {
            let order: Vec<usize> = (0..WAYS.len()).map(|i| (round + i) % WAYS.len()).collect();
            for &wi in &order {
                let s = &subjects[wi];
                let mut attempt = 1;
                let sample = loop {
                    let sample = measure(&env, s, &proxy, scenario);
                    if sample.others.is_empty() || attempt == ATTEMPTS {
                        break sample;
                    }
                    eprintln!(
                        "  {:.2}s discarded: other build processes ran meanwhile ({}); again",
                        sample.secs,
                        sample.others.join(", ")
                    );
                    attempt += 1;
                };
                eprintln!(
                    "[{} {}/{runs}] {:<18} {:>7.2}s  zips {} requests {:>2}  ran: {}",
                    scenario.short(),
                    round + 1,
                    s.way.label(),
                    sample.secs,
                    sample.zips.len(),
                    sample.requests,
                    if sample.ran.is_empty() {
                        "(all cached)".to_string()
                    } else {
                        sample.ran.join(" | ")
                    }
                );
                samples[si][wi].push(sample);
            }
        }
    }
    reset_all(&subjects);
    let overhead_runs: usize = std::env::var("OVERHEAD_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(10);
    let overhead = measure_overhead(&env, &subjects, &proxy, overhead_runs);
    let results = Results {
        scenarios,
        samples,
        overhead,
        runs,
        frontend: requested_frontend,
        frontend_id: format!(
            "{} (created {})",
            pinned
                .id
                .trim_start_matches("sha256:")
                .get(..12)
                .unwrap_or(&pinned.id),
            pinned.created
        ),
        elapsed: started.elapsed(),
    };
    print!("{}", report(&results, &env));
    drop(subjects);
    remove_images(&env);
}

/// Fully cached builds of (3) and (4), and builds of ours that stop at a spec error.
struct Overhead {
    expert_cached: Vec<f64>,
    ours_cached: Vec<f64>,
    ours_spec_error: Vec<f64>,
    /// Rounds that still saw other build processes after [`ATTEMPTS`] tries.
    disturbed: usize,
}

/// The frontend's fixed cost, from many cheap builds (alternating): a fully cached build of (3)
/// and of ours, and a build of ours whose go-build.yaml has an unknown field, so the frontend
/// returns right after reading it (resolve the frontend image, start its container, connect,
/// one solve and one read, return an error): the floor of any build through the frontend.
fn measure_overhead(env: &Env, subjects: &[Subject], proxy: &GoProxy, n: usize) -> Overhead {
    let expert = subjects.iter().find(|s| s.way == Way::Expert).expect("(3)");
    let ours = subjects.iter().find(|s| s.way == Way::Ours).expect("(4)");
    let broken = Subject::new(env, Way::Ours);
    broken.project.replace(
        "go-build.yaml",
        "    name: withdeps",
        "    name: withdeps\n    nmae: typo",
    );
    for s in [expert, ours] {
        s.reset();
        prepare(env, s, proxy);
    }
    let mut o = Overhead {
        expert_cached: Vec::new(),
        ours_cached: Vec::new(),
        ours_spec_error: Vec::new(),
        disturbed: 0,
    };
    for i in 0..n {
        let mut order = [0, 1, 2];
        if i % 2 == 1 {
            order.reverse();
        }
        let mut attempt = 1;
        let triple = loop {
            wait_quiet();
            let mut triple = [0.0; 3];
            let mut seen = Vec::new();
            for which in order {
                let run = match which {
                    0 => must_build(env, expert, proxy, "overhead"),
                    1 => must_build(env, ours, proxy, "overhead"),
                    _ => {
                        let run = docker_build(env, &broken, proxy);
                        assert!(
                            !run.success && run.output.contains("nmae"),
                            "the broken spec must fail with its field named:\n{}",
                            run.output
                        );
                        run
                    }
                };
                triple[which] = run.secs;
                seen.extend(run.others);
            }
            let mut others = other_builds(None);
            others.extend(seen);
            if others.is_empty() {
                break triple;
            }
            if attempt == ATTEMPTS {
                o.disturbed += 1;
                break triple;
            }
            eprintln!("  overhead round discarded: {}", others.join(", "));
            attempt += 1;
        };
        o.expert_cached.push(triple[0]);
        o.ours_cached.push(triple[1]);
        o.ours_spec_error.push(triple[2]);
    }
    eprintln!(
        "[overhead x{n}] cached (3) {:.2}s, cached ours {:.2}s, ours stopped by a spec error {:.2}s",
        median(&o.expert_cached),
        median(&o.ours_cached),
        median(&o.ours_spec_error)
    );
    o
}

struct Results {
    scenarios: Vec<Scenario>,
    /// `samples[scenario][way]`, scenarios in the order of `scenarios`
    samples: Vec<Vec<Vec<Sample>>>,
    overhead: Overhead,
    runs: usize,
    frontend: String,
    frontend_id: String,
    elapsed: Duration,
}

fn reset_all(subjects: &[Subject]) {
    for s in subjects {
        s.reset();
    }
}

fn report(r: &Results, env: &Env) -> String {
    let (scenarios, samples, runs) = (&r.scenarios, &r.samples, r.runs);
    let (frontend, frontend_id, elapsed) = (&r.frontend, &r.frontend_id, r.elapsed);
    let med = |si: usize, wi: usize| {
        median(&samples[si][wi].iter().map(|s| s.secs).collect::<Vec<f64>>())
    };
    let ours = WAYS.iter().position(|&w| w == Way::Ours).expect("ours");
    let mut o = String::new();

    let server = env.docker_ok(&["version", "--format", "{{.Server.Version}}"]);
    let go = env.docker_ok(&[
        "run",
        "--rm",
        "--network=none",
        "golang:1.27-bookworm",
        "go",
        "version",
    ]);
    let _ = writeln!(
        o,
        "Modules benchmark: a copy of examples/with-deps (greet v1.1.0, banner v0.1.0 → color \
         v1.0.0, from the local proxy), median of {runs} runs per cell, ways rotated within \
         each round."
    );
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "- date {} · dockerd {} (BuildKit embedded) · {} cores · {}",
        command_line("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        server.trim(),
        command_line("nproc", &[]),
        go.trim()
    );
    let _ = writeln!(
        o,
        "- frontend {frontend} = {frontend_id} · load average at the end {} · total run {:.0} s",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        elapsed.as_secs_f64()
    );
    let disturbed: Vec<String> = scenarios
        .iter()
        .enumerate()
        .flat_map(|(si, sc)| {
            WAYS.iter().enumerate().flat_map(move |(wi, w)| {
                samples[si][wi]
                    .iter()
                    .filter(|s| !s.others.is_empty())
                    .map(move |s| format!("{} {}: {}", sc.short(), w.label(), s.others.join(", ")))
            })
        })
        .collect();
    let total: usize = samples.iter().flatten().map(Vec::len).sum();
    if disturbed.is_empty() {
        let _ = writeln!(
            o,
            "- no other docker client, cargo, rustc, cc1 or qemu process was seen before, during or after any of the {total} timed builds"
        );
    } else {
        let _ = writeln!(
            o,
            "- **{} of {total} timed builds saw other build processes on the machine** (numbers suspect): {}",
            disturbed.len(),
            disturbed.join("; ")
        );
    }
    let _ = writeln!(o);

    // --- wall times and ratios
    let _ = write!(o, "| scenario (wall s, median) |");
    for w in WAYS {
        let _ = write!(o, " {} |", w.label());
    }
    for w in WAYS.iter().filter(|&&w| w != Way::Ours) {
        let _ = write!(o, " ours/{} |", &w.label()[..3]);
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for (si, scenario) in scenarios.iter().enumerate() {
        let _ = write!(o, "| {} |", scenario.label());
        for wi in 0..WAYS.len() {
            let _ = write!(o, " {:.2} |", med(si, wi));
        }
        for (wi, _) in WAYS.iter().enumerate().filter(|&(_, &w)| w != Way::Ours) {
            let _ = write!(o, " {:.2} |", med(si, ours) / med(si, wi));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "Ratios are ours ÷ theirs (below 1: ours is faster).");
    let _ = writeln!(o);

    // --- proxy requests
    let _ = write!(o, "| proxy requests per timed build: .zip / all |");
    for w in WAYS {
        let _ = write!(o, " {} |", w.label());
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "|---|---|---|---|---|");
    for (si, scenario) in scenarios.iter().enumerate() {
        let _ = write!(o, "| {} |", scenario.label());
        for way_samples in &samples[si] {
            let zips: Vec<usize> = way_samples.iter().map(|s| s.zips.len()).collect();
            let all: Vec<usize> = way_samples.iter().map(|s| s.requests).collect();
            let _ = write!(o, " {} / {} |", count_cell(&zips), count_cell(&all));
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o);

    // --- image sizes, of the unmodified program where a scenario built it
    let size_from = scenarios
        .iter()
        .position(|s| {
            matches!(
                s,
                Scenario::Cold | Scenario::NoChange | Scenario::ReadmeEdited
            )
        })
        .unwrap_or(0);
    let _ = writeln!(
        o,
        "| image ({} builds) | bytes | runtime |",
        scenarios[size_from].short()
    );
    let _ = writeln!(o, "|---|---:|---|");
    for (wi, w) in WAYS.iter().enumerate() {
        let sizes: Vec<u64> = samples[size_from][wi].iter().map(|s| s.size).collect();
        let min = sizes.iter().min().copied().unwrap_or(0);
        let max = sizes.iter().max().copied().unwrap_or(0);
        let size = if min == max {
            thousands(min)
        } else {
            format!("{}–{}", thousands(min), thousands(max))
        };
        let _ = writeln!(o, "| {} | {size} | {} |", w.label(), w.runtime());
    }
    let _ = writeln!(o);

    // --- the frontend's own overhead
    let ov = &r.overhead;
    let (ours_cached, expert_cached) = (median(&ov.ours_cached), median(&ov.expert_cached));
    let _ = writeln!(
        o,
        "| frontend overhead (medians of {} alternating builds each{}) | seconds |",
        ov.ours_cached.len(),
        if ov.disturbed > 0 {
            format!("; {} rounds saw other build processes", ov.disturbed)
        } else {
            String::new()
        }
    );
    let _ = writeln!(o, "|---|---:|");
    let _ = writeln!(o, "| fully cached build, (3) expert | {expert_cached:.2} |");
    let _ = writeln!(o, "| fully cached build, (4) ours | {ours_cached:.2} |");
    let _ = writeln!(
        o,
        "| **ours − (3), fully cached**: the frontend's fixed cost per build | **{:.2}** |",
        ours_cached - expert_cached
    );
    let _ = writeln!(
        o,
        "| ours stopped by a spec error right after reading go-build.yaml (resolve the frontend image, start its container, connect, one solve + read, return) | {:.2} |",
        median(&ov.ours_spec_error)
    );
    for (si, scenario) in scenarios.iter().enumerate() {
        let scans: Vec<f64> = samples[si][ours]
            .iter()
            .filter_map(|s| s.scan_ran)
            .collect();
        let cell = if scans.is_empty() {
            "cached".to_string()
        } else {
            format!(
                "{:.2} (ran in {} of {} runs)",
                median(&scans),
                scans.len(),
                samples[si][ours].len()
            )
        };
        let _ = writeln!(
            o,
            "| source-scan step `{SCAN_VERTEX}`, BuildKit's DONE time, {} | {cell} |",
            scenario.short()
        );
    }
    let _ = writeln!(o);

    // --- every run, and what ran
    let _ = writeln!(
        o,
        "<details><summary>every run (seconds, in run order) and the build steps that ran in the last one</summary>"
    );
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "| scenario | way | runs | .zip downloads (last run) | steps that ran (last run) |"
    );
    let _ = writeln!(o, "|---|---|---|---|---|");
    for (si, scenario) in scenarios.iter().enumerate() {
        for (wi, w) in WAYS.iter().enumerate() {
            let list = &samples[si][wi];
            let times: Vec<String> = list.iter().map(|s| format!("{:.2}", s.secs)).collect();
            let last = list.last();
            let zips = last
                .map(|s| s.zips.join(", "))
                .filter(|z| !z.is_empty())
                .unwrap_or_else(|| "—".to_string());
            let ran = last
                .map(|s| s.ran.join(" · "))
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "(all cached)".to_string());
            let _ = writeln!(
                o,
                "| {} | {} | {} | {zips} | {} |",
                scenario.short(),
                w.label(),
                times.join(", "),
                ran.replace('|', "\\|")
            );
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "</details>");
    o
}

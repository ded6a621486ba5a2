//! What large contexts and current daemons must show: a context of thousands of Go files
//! builds and caches by content on both daemons; on a current BuildKit (through buildx) a
//! failing step's error points at its spec line (our op bytes equal protobuf-go's, which
//! BuildKit ≥ v0.18 re-keys by), a multi-platform push gives an OCI index, an exported cache
//! restores the deps step on a pruned builder, and subrequests we do not implement are refused
//! with BuildKit's own error. Tests or parts a daemon cannot run say so (`Env::runs_on`).

use std::process::Command;

use super::goproxy::GoProxy;
use super::support::{Daemon, Env, HELLO_OUTPUT, ImageTag, PUBLIC_EXAMPLES, Project, unique};

/// Packages × files of the generated large program (plus one `sum.go` per package and main).
const PACKAGES: usize = 60;
const FILES_PER_PACKAGE: usize = 50;

/// Packages with one excluded file each: their other files are copied by exact path, which
/// makes a selection of ~450 copies (BuildKit v0.8 failed one op of Gitea's 380).
const PACKAGES_WITH_EXCLUSIONS: usize = 8;

/// A module of `PACKAGES` packages in directories with long names, `FILES_PER_PACKAGE` files
/// each, all called from `cmd/big`: more than 3,000 Go files, far beyond the ~400 exact paths a
/// current client accepts as session headers. Prints `big <sum>`. The spec (the second value)
/// excludes one broken file in each of the first `PACKAGES_WITH_EXCLUSIONS` packages.
fn large_program() -> (Vec<(String, String)>, String, String) {
    let mut files = vec![
        (
            "go.mod".to_string(),
            "module example.com/big\n\ngo 1.27\n".to_string(),
        ),
        ("README.md".to_string(), "large program\n".to_string()),
        ("ci/pipeline.yml".to_string(), "steps: []\n".to_string()),
    ];
    let mut imports = String::new();
    let mut calls = String::new();
    let mut excluded = Vec::new();
    for p in 0..PACKAGES {
        let dir = format!("internal/some_longer_directory_name_{}/package_{p}", p % 7);
        imports.push_str(&format!("\tp{p} \"example.com/big/{dir}\"\n"));
        calls.push_str(&format!("\tn += p{p}.Sum()\n"));
        let mut sum = format!("package package_{p}\n\nfunc Sum() int {{\n\tn := 0\n");
        for f in 0..FILES_PER_PACKAGE {
            files.push((
                format!("{dir}/some_longer_file_name_number_{f}.go"),
                format!("package package_{p}\n\nfunc f{f}() int {{ return {f} }}\n"),
            ));
            sum.push_str(&format!("\tn += f{f}()\n"));
        }
        sum.push_str("\treturn n\n}\n");
        files.push((format!("{dir}/sum.go"), sum));
        if p < PACKAGES_WITH_EXCLUSIONS {
            // Not Go: the build fails if the exclusion does not keep it out.
            files.push((format!("{dir}/excluded.go"), "this is not Go\n".to_string()));
            excluded.push(format!("{dir}/excluded.go"));
        }
    }
    // Fixtures below the main package's one Go file: a filtered copy of `cmd/big` would walk
    // all of them on every build, so its file is copied by path (`ContextCopy::ByPath`).
    files.extend((0..64).map(|i| {
        (
            format!("cmd/big/testdata/golden/case_{i}.txt"),
            format!("case {i}\n"),
        )
    }));
    files.push((
        "cmd/big/main.go".to_string(),
        format!("package main\n\nimport (\n\t\"fmt\"\n\n{imports})\n\nfunc main() {{\n\tn := 0\n{calls}\tfmt.Println(\"big\", n)\n}}\n"),
    ));
    let total = PACKAGES * (0..FILES_PER_PACKAGE).sum::<usize>();
    let spec = format!(
        "binaries:\n  - package: ./cmd/big\nsources:\n  exclude: [{}]\n",
        excluded.join(", ")
    );
    (files, spec, format!("big {total}"))
}

/// More than 3,000 Go files in many directories build on both daemons; a README, CI-file or
/// test-fixture edit leaves every step CACHED, a .go edit re-runs the build step only.
#[test]
fn a_large_context_builds_and_caches_by_content() {
    let env = Env::get();
    let (files, spec, printed) = large_program();
    let go_files = files.iter().filter(|(p, _)| p.ends_with(".go")).count();
    assert!(go_files >= 3000, "{go_files} Go files");
    let project = Project::generated(&env, "large", &spec, &files);
    let tag = ImageTag::new(&env, "large");
    let first = env.build(&project, &tag);
    first.assert_success();
    super::print_stages(&format!("{go_files} Go files, first build"), &first);
    assert_eq!(super::run_output(&env, tag.name()), printed);

    project.write("README.md", &format!("edited {}\n", unique()));
    project.write("ci/pipeline.yml", &format!("# {}\n", unique()));
    project.write(
        "cmd/big/testdata/golden/case_7.txt",
        &format!("case {}\n", unique()),
    );
    let docs = env.build(&project, &tag);
    docs.assert_success();
    super::print_stages("after README, CI and fixture edits", &docs);
    for stage in ["[deps ", "[build ", "[runtime "] {
        assert!(
            super::all_cached(&docs, stage),
            "{stage}… must stay CACHED after README/CI/fixture edits:\n{}",
            docs.output
        );
    }

    let edited_file = "internal/some_longer_directory_name_3/package_10/sum.go";
    let text = project.read(edited_file);
    project.write(edited_file, &format!("{text}// edit {}\n", unique()));
    let code = env.build(&project, &tag);
    code.assert_success();
    super::print_stages("after a .go edit", &code);
    assert!(
        super::all_cached(&code, "[deps "),
        "go.mod unchanged:\n{}",
        code.output
    );
    assert!(
        code.some_vertices("[build ").iter().all(|v| v.ran()),
        "a .go file changed, the build must run:\n{}",
        code.output
    );
    // Current BuildKit copies the sources in parts by directory: only the edited file's
    // part is copied again.
    if env.daemon == Daemon::BuildKit {
        let parts = code.some_vertices("[internal] select Go sources ");
        let ran: Vec<&str> = parts
            .iter()
            .filter(|v| v.ran())
            .map(|v| v.name.as_str())
            .collect();
        assert!(parts.len() >= 8, "{} parts:\n{}", parts.len(), code.output);
        assert!(
            matches!(ran.as_slice(), [name] if name.ends_with(": internal/some_longer_directory_name_3/")),
            "only the edited file's part ran: {ran:?}\n{}",
            code.output
        );
    }
    assert_eq!(super::run_output(&env, tag.name()), printed);
}

/// `buildctl` (the gateway frontend directly, no Dockerfile frontend in between) builds the
/// large program to a local directory, and a README edit leaves it cached.
#[test]
fn buildctl_builds_a_large_context() {
    let env = Env::get();
    if !env.runs_on(Daemon::BuildKit, "buildctl drives buildkitd") {
        return;
    }
    let (files, spec, printed) = large_program();
    let project = Project::generated(&env, "large-buildctl", &spec, &files);
    let out = tempfile::tempdir().expect("tempdir");
    let dest = format!("--output=type=local,dest={}", out.path().display());
    env.buildctl_build(&project, &[&dest]).assert_success();
    let binary = out.path().join("usr/local/bin/big");
    let run = Command::new(&binary)
        .output()
        .expect("run the built binary");
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), printed);

    project.write("README.md", &format!("edited {}\n", unique()));
    let again = env.buildctl_build(&project, &[&dest]);
    again.assert_success();
    super::print_stages("buildctl, after a README edit", &again);
    for stage in ["[deps ", "[build "] {
        assert!(
            super::all_cached(&again, stage),
            "{stage}… CACHED:\n{}",
            again.output
        );
    }
}

/// A failing build step names the spec line it comes from. Through buildx a current BuildKit
/// shows the excerpt only if it finds the op's location under the digest of its own
/// re-encoding of our op: our bytes must equal protobuf-go's.
#[test]
fn a_failing_step_points_at_its_spec_line() {
    let env = Env::get();
    let project = Project::hello(&env);
    let main = project.read("main.go");
    project.write(
        "main.go",
        &format!(
            "{main}\nfunc broken() {{ undefined_thing_{}() }}\n",
            std::process::id()
        ),
    );
    let build = env.build_with(&project, &[]);
    assert!(!build.success, "the build must fail:\n{}", build.output);
    assert!(
        build.output.contains("undefined: undefined_thing_"),
        "Go's error is shown:\n{}",
        build.output
    );
    if !env.runs_on(
        Daemon::BuildKit,
        "the 20.10 client prints no source excerpts for failing steps",
    ) {
        return;
    }
    assert!(
        build.output.contains("go-build.yaml:3"),
        "the error names the binary's line:\n{}",
        build.output
    );
    assert!(
        build
            .output
            .lines()
            .any(|l| l.contains(">>>") && l.contains("- package: .")),
        "the excerpt marks `- package: .`:\n{}",
        build.output
    );
}

/// `--platform` with three platforms pushed to the registry gives an OCI index with one
/// manifest per platform.
#[test]
fn a_multi_platform_push_gives_an_index() {
    let env = Env::get();
    if !env.runs_on(
        Daemon::BuildKit,
        "dockerd 20.10's image store takes one platform per build",
    ) {
        return;
    }
    let project = Project::hello(&env);
    let registry = std::env::var("GOBUILD_REGISTRY").unwrap_or_else(|_| "127.0.0.1:5000".into());
    let repo = "gobuild-e2e/multi";
    let tag = format!("t{}", unique().replace('-', ""));
    let reference = format!("{registry}/{repo}:{tag}");
    let output = format!("type=image,name={reference},push=true,registry.insecure=true");
    let build = env.build_with(
        &project,
        &[
            "--platform",
            "linux/amd64,linux/arm64,linux/arm/v7",
            "--output",
            &output,
        ],
    );
    build.assert_success();

    let fetched = Command::new("curl")
        .args([
            "-fsS",
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json",
            &format!("http://{registry}/v2/{repo}/manifests/{tag}"),
        ])
        .output()
        .expect("curl");
    assert!(
        fetched.status.success(),
        "the registry has {reference}: {}",
        String::from_utf8_lossy(&fetched.stderr)
    );
    let index: serde_json::Value =
        serde_json::from_slice(&fetched.stdout).expect("the manifest is JSON");
    let manifests = index["manifests"]
        .as_array()
        .expect("an index with manifests");
    let mut platforms: Vec<String> = manifests
        .iter()
        .filter(|m| m["platform"]["os"] != "unknown") // attestation manifests
        .map(|m| {
            let p = &m["platform"];
            let variant = p["variant"]
                .as_str()
                .map(|v| format!("/{v}"))
                .unwrap_or_default();
            format!(
                "{}/{}{variant}",
                p["os"].as_str().unwrap_or("?"),
                p["architecture"].as_str().unwrap_or("?")
            )
        })
        .collect();
    platforms.sort();
    assert_eq!(
        platforms,
        ["linux/amd64", "linux/arm/v7", "linux/arm64"],
        "index: {index:#}"
    );
}

/// A fresh CI runner: `--cache-to type=local,mode=max`, then a builder with nothing cached
/// and `--cache-from` of that export: the deps step is CACHED and no module is downloaded.
#[test]
fn an_exported_cache_restores_the_deps_step_on_a_pruned_builder() {
    let env = Env::get();
    if !env.runs_on(
        Daemon::BuildKit,
        "the 20.10 client has no --cache-to (only inline cache)",
    ) {
        return;
    }
    let proxy = GoProxy::start();
    let project = Project::example(&env, "with-deps");
    let cache = tempfile::tempdir().expect("tempdir");
    let cache_to = format!("type=local,dest={},mode=max", cache.path().display());
    let cache_from = format!("type=local,src={}", cache.path().display());
    let goproxy = format!("GOPROXY={}", proxy.url());
    let namespace = format!("BUILDKIT_CACHE_MOUNT_NS=e2e-{}", unique());
    let tag = ImageTag::new(&env, "cache-export");
    let args = |cache_flag: &'static str, value: &str| {
        [
            "--network=host".to_string(),
            "--build-arg".to_string(),
            goproxy.clone(),
            "--build-arg".to_string(),
            "GOSUMDB=off".to_string(),
            "--build-arg".to_string(),
            namespace.clone(),
            cache_flag.to_string(),
            value.to_string(),
            "-t".to_string(),
            tag.name().to_string(),
        ]
    };
    let first_args = args("--cache-to", &cache_to);
    let first_args: Vec<&str> = first_args.iter().map(String::as_str).collect();
    env.build_with(&project, &first_args).assert_success();

    env.prune(true, None);
    proxy.reset_counts();
    let second_args = args("--cache-from", &cache_from);
    let second_args: Vec<&str> = second_args.iter().map(String::as_str).collect();
    let restored = env.build_with(&project, &second_args);
    restored.assert_success();
    super::print_stages("pruned builder, --cache-from", &restored);
    assert!(
        super::all_cached(&restored, "[deps "),
        "the deps step comes from the exported cache:\n{}",
        restored.output
    );
    assert!(
        proxy.requests().is_empty(),
        "nothing downloaded: {}",
        proxy.describe_requests()
    );
    assert_eq!(super::run_output(&env, tag.name()), super::WITH_DEPS_OUTPUT);
}

/// `--call targets` lists what `--target` can name, `--call outline` the build args the
/// frontend reads; `--check` gets BuildKit's unsupported-subrequest error, not a crash; a
/// normal build still works after.
#[test]
fn targets_outline_and_a_clean_check_answer_without_building() {
    let env = Env::get();
    if !env.runs_on(Daemon::BuildKit, "the 20.10 client has no --call/--check") {
        return;
    }
    let project = Project::hello(&env);
    let targets = env.build_with(&project, &["--call=targets"]);
    targets.assert_success();
    for listed in [
        "image (default)",
        "binaries",
        "test",
        "gocache",
        "hello",
        "the runtime image with only hello (.)",
    ] {
        assert!(
            targets.output.contains(listed),
            "--call=targets lists {listed:?}:\n{}",
            targets.output
        );
    }
    let outline = env.build_with(&project, &["--call=outline"]);
    outline.assert_success();
    for listed in ["VERSION", "dev", "SOURCE_DATE_EPOCH", "GOPROXY"] {
        assert!(
            outline.output.contains(listed),
            "--call=outline lists {listed:?}:\n{}",
            outline.output
        );
    }
    let check = env.build_with(&project, &["--check"]);
    check.assert_success();
    assert!(
        check.output.contains("Check complete, no warnings found."),
        "--check on a clean spec:\n{}",
        check.output
    );
    let tag = ImageTag::new(&env, "after-subrequests");
    env.build(&project, &tag).assert_success();
    assert_eq!(super::run_output(&env, tag.name()), HELLO_OUTPUT);
}

/// Context files with spaces (leading and trailing too), quotes, `!`, `$`, brackets and a
/// newline in their names reach the step that needs them (they used to drop out, or become
/// exclusion patterns), each copied by its exact path (an excluded file in the same directory
/// rules out a wildcard). `go test` in the build checks that every one is there and the
/// excluded one is not; Go itself refuses such names for Go files, so they are test data.
#[test]
fn odd_file_names_reach_the_build() {
    let env = Env::get();
    let names = [
        "with space.txt",
        "!bang.txt",
        " lead.txt",
        "trail .txt",
        "ends in a space ",
        "[x].txt",
        "$dollar.txt",
        "it's.txt",
        "new\nline.txt",
    ];
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    let test = format!(
        "package main\n\nimport (\n\t\"os\"\n\t\"testing\"\n)\n\n\
func TestOddNames(t *testing.T) {{\n\
\tfor _, name := range []string{{{}}} {{\n\
\t\tif _, err := os.Stat(\"testdata/\" + name); err != nil {{\n\t\t\tt.Error(err)\n\t\t}}\n\t}}\n\
\tif _, err := os.Stat(\"testdata/excluded.txt\"); err == nil {{\n\t\tt.Error(\"excluded.txt is in the build\")\n\t}}\n}}\n",
        quoted.join(", ")
    );
    let mut files = vec![
        (
            "go.mod".to_string(),
            "module example.com/odd\n\ngo 1.27\n".to_string(),
        ),
        (
            "main.go".to_string(),
            // Unique, so the test really runs whatever an earlier run left in the cache.
            format!("package main\n\nfunc main() {{}}\n\n// run {}\n", unique()),
        ),
        ("main_test.go".to_string(), test),
        ("testdata/excluded.txt".to_string(), "x\n".to_string()),
    ];
    for name in names {
        files.push((format!("testdata/{name}"), "x\n".to_string()));
    }
    let spec = "sources:\n  exclude: [testdata/excluded.txt]\n";
    let project = Project::generated(&env, "odd", spec, &files);
    let out = tempfile::tempdir().expect("tempdir");
    let dest = format!("type=local,dest={}", out.path().display());
    let build = env.build_with(&project, &["--target", "test", "-o", &dest]);
    build.assert_success();
    assert!(
        build.some_vertices("[test ").iter().all(|v| v.ran()),
        "go test ran:\n{}",
        build.output
    );
}

/// What `--check` reports (buildkitd, through docker buildx) and a build warns about (both
/// daemons): a spec running as root and a credential in a build arg. `--check` exits non-zero
/// with each finding and its line, without building; the build succeeds and shows the
/// findings as warnings (v0.8: `[warning]` vertices).
#[test]
fn findings_are_checked_without_building_and_warned_about_in_builds() {
    let env = Env::get();
    let project = Project::hello(&env);
    let spec = project.read("go-build.yaml");
    project.write("go-build.yaml", &format!("{spec}runtime:\n  user: root\n"));
    let root_line = spec.lines().count() + 2;
    if env.daemon == Daemon::BuildKit {
        let check = env.build_with(&project, &["--check", "--build-arg", "API_TOKEN=t0k"]);
        assert!(
            !check.success,
            "--check fails on findings:\n{}",
            check.output
        );
        for expected in [
            "Check complete, 2 warnings have been found!".to_string(),
            "WARNING: RunsAsRoot".to_string(),
            format!("go-build.yaml:{root_line}"),
            "WARNING: CredentialsInBuildArg".to_string(),
            "--build-arg API_TOKEN".to_string(),
        ] {
            assert!(
                check.output.contains(&expected),
                "--check prints {expected:?}:\n{}",
                check.output
            );
        }
        assert!(
            !check.output.contains("go build"),
            "--check builds nothing:\n{}",
            check.output
        );
    }
    let tag = ImageTag::new(&env, "warned");
    let build = env.build_with(
        &project,
        &["-t", tag.name(), "--build-arg", "API_TOKEN=t0k"],
    );
    build.assert_success();
    // buildx lists the warnings after the build; v0.8 shows our vertices.
    let shown = match env.daemon {
        Daemon::BuildKit => "2 warnings found",
        Daemon::Dockerd => "[warning] RunsAsRoot: runtime.user",
    };
    assert!(
        build.output.contains(shown)
            && build
                .output
                .contains("RunsAsRoot: runtime.user: the program runs as root")
            && build
                .output
                .contains("CredentialsInBuildArg: --build-arg API_TOKEN"),
        "the build shows {shown:?}:\n{}",
        build.output
    );
}

/// docker buildx sends a git context's commit and remote (`vcs:revision`, `vcs:source`): the
/// image's revision and source labels carry them without any build arg.
#[test]
fn a_git_context_stamps_revision_and_source() {
    let env = Env::get();
    if !env.runs_on(
        Daemon::BuildKit,
        "the 20.10 client sends no git information",
    ) {
        return;
    }
    let project = Project::hello(&env);
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .current_dir(project.dir())
            .args(["-c", "user.name=e2e", "-c", "user.email=e2e@example.com"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "e2e"]);
    git(&[
        "remote",
        "add",
        "origin",
        "https://git.example.com/team/hello.git",
    ]);
    let sha = git(&["rev-parse", "HEAD"]);
    let tag = ImageTag::new(&env, "git-stamped");
    env.build(&project, &tag).assert_success();
    let labels = &env.inspect(tag.name())["Config"]["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.revision"],
        sha.as_str(),
        "{labels}"
    );
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://git.example.com/team/hello.git"
    );
}

/// `gobuild-frontend init` on copies of the examples without private modules (their modules
/// from the test proxy): the spec it writes builds, and the image runs its first program.
#[test]
fn init_writes_specs_that_build_and_run() {
    let env = Env::get();
    let proxy = GoProxy::start();
    let ns = format!("e2e-{}", unique());
    for name in PUBLIC_EXAMPLES {
        let project = Project::example(&env, name);
        std::fs::remove_file(project.dir().join("go-build.yaml")).expect("remove the spec");
        let init = Command::new(env!("CARGO_BIN_EXE_gobuild-frontend"))
            .args(["init", "--frontend", &env.frontend_image])
            .arg(project.dir())
            .output()
            .expect("gobuild-frontend init runs");
        assert!(init.status.success(), "{name}: {init:?}");
        let tag = ImageTag::new(&env, &format!("init-{name}"));
        super::build_online(&env, &project, &proxy, &tag, &ns).assert_success();
        let run = env.run(&[], tag.name(), &[]);
        assert!(
            run.status.success() && !run.stdout.is_empty(),
            "{name}: the image runs its program: {run:?}"
        );
        if *name == "hello" {
            assert_eq!(super::run_output(&env, tag.name()), HELLO_OUTPUT);
        }
    }
}

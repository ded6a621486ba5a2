//! End-to-end tests: real BuildKit builds of `examples/hello` through the frontend image.
//!
//! Needs a running dockerd (`DOCKER_HOST`) with the frontend image loaded; scripts/test.sh
//! does all of it. Run one test at a time (`--test-threads=1`): they share one daemon and
//! two cores.
//!
//! The frontend names its vertices `[deps …]`, `[build …]` and `[runtime …]`; cache hits and
//! re-runs are proven from BuildKit's plain progress output (`#N CACHED`), never from image
//! sizes (linker padding can keep a size identical across rebuilds).

#[path = "e2e/daemons.rs"]
mod daemons;
#[path = "e2e/eject.rs"]
mod eject;
#[path = "e2e/goproxy.rs"]
mod goproxy;
#[path = "e2e/http.rs"]
mod http;
#[path = "e2e/layers.rs"]
mod layers;
#[path = "e2e/org.rs"]
mod org;
#[path = "e2e/private.rs"]
mod private;
#[path = "e2e/private_fixtures.rs"]
mod private_fixtures;
#[path = "e2e/refusals.rs"]
mod refusals;
#[path = "e2e/sbom.rs"]
mod sbom;
#[path = "e2e/support.rs"]
mod support;

use goproxy::GoProxy;
use support::{Build, Daemon, Env, HELLO_OUTPUT, ImageTag, Project, Vertex, unique};

/// The stages of every build; `[compile ` runs where dependencies compile ahead.
const STAGES: [&str; 3] = ["[deps ", "[build ", "[runtime "];

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn describe(vs: &[&Vertex]) -> String {
    vs.iter()
        .map(|v| {
            format!(
                "#{} {} ({})",
                v.id,
                v.name,
                if v.cached { "CACHED" } else { "ran" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The stage vertices of a build, one line each, for the test log.
fn print_stages(what: &str, build: &Build) {
    println!("{what}: {:.2}s", build.duration.as_secs_f64());
    for prefix in STAGES.iter().chain(&["[compile "]) {
        for v in build.vertices(prefix) {
            let state = if v.cached {
                "CACHED".to_string()
            } else {
                format!("DONE {:.1}s", v.done.unwrap_or(f64::NAN))
            };
            println!("  #{:<3} {:<60} {state}", v.id, v.name);
        }
    }
}

/// First build of hello: the image runs as 65532:65532 without a shell, carries the CA bundle;
/// then the same build again is answered entirely from the cache.
/// (One test so that both share the first build.)
#[test]
fn hello_image_is_minimal_nonroot_and_rebuild_is_fully_cached() {
    let env = Env::get();
    let project = Project::hello(&env);
    let tag = ImageTag::new(&env, "hello");
    // The BuildKit cache persists across runs on one machine: a unique comment makes this
    // run's build and runtime steps really execute (deps stays cached: go.mod is unchanged).
    let main_go = project.read("main.go");
    project.write(
        "main.go",
        &format!("{main_go}\n// e2e run {}\n", support::unique()),
    );

    let first = env.build(&project, &tag);
    first.assert_success();
    print_stages("first build", &first);

    // --- the image runs and prints as the non-root user
    let run = env.run(&[], tag.name(), &[]);
    assert!(
        run.status.success(),
        "docker run failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(stdout(&run), HELLO_OUTPUT);

    // --- image config: user and entrypoint
    let image = env.inspect(tag.name());
    let config = &image["Config"];
    assert_eq!(config["User"], "65532:65532", "Config: {config:#}");
    let entrypoint: Vec<&str> = config["Entrypoint"]
        .as_array()
        .unwrap_or_else(|| panic!("no Entrypoint in Config: {config:#}"))
        .iter()
        .map(|v| v.as_str().expect("entrypoint element is a string"))
        .collect();
    assert!(
        entrypoint
            .first()
            .is_some_and(|e| e.rsplit('/').next() == Some("hello")),
        "Entrypoint should run the hello binary: {entrypoint:?}"
    );

    // --- no shell in the image
    let sh = env.run(&["--entrypoint", "/bin/sh"], tag.name(), &["-c", "true"]);
    assert!(
        !sh.status.success(),
        "the runtime image must not contain /bin/sh, but `sh -c true` succeeded"
    );

    // --- CA bundle present (a Go program making TLS calls needs it)
    let entries = env.image_entries(tag.name());
    let files: Vec<&str> = entries.iter().map(|e| e.path.as_str()).collect();
    assert!(
        files.contains(&"etc/ssl/certs/ca-certificates.crt"),
        "etc/ssl/certs/ca-certificates.crt missing from the image; files: {files:?}"
    );
    let tmp_mode = entries
        .iter()
        .find(|e| e.path.trim_end_matches('/') == "tmp")
        .map(|e| e.mode.as_str());
    assert_eq!(
        tmp_mode,
        Some("drwxrwxrwt"),
        "/tmp must exist with mode 1777 so the non-root user can write temp files"
    );
    let size = image["Size"].as_u64().expect("image Size");
    let binary = entries
        .iter()
        .find(|e| e.path == "usr/local/bin/hello")
        .map_or(0, |e| e.size);
    // Only what the frontend adds (dockerd adds empty runtime files such as /etc/hosts).
    let overhead = size.saturating_sub(binary);
    println!(
        "hello image: {size} bytes ({:.1} KiB): binary {binary} + {overhead} bytes of users, CA bundle and /tmp; {} files",
        size as f64 / 1024.0,
        files.len()
    );
    assert!(binary > 0, "the binary is in the image");
    assert!(
        !files.iter().any(|f| f.contains(".gobuild-work")),
        "the build writes into the image: Go's work directory must be gone; files: {files:?}"
    );
    assert!(
        overhead < 300 * 1024,
        "the image is the binary plus less than 300 KB, but the rest is {overhead} bytes"
    );

    // --- rebuild without changes: every stage vertex comes from the cache
    let again = env.build(&project, &tag);
    again.assert_success();
    print_stages("cached rebuild", &again);
    // The build step's files too: copied out of the context's transfer (on BuildKit v0.8 by
    // one step), never moved again.
    for prefix in STAGES.iter().chain(&["[internal] select Go sources"]) {
        let vs = again.some_vertices(prefix);
        assert!(
            vs.iter().all(|v| v.cached),
            "rebuild without changes: every {prefix:?} vertex must be CACHED, got {}\n--- output ---\n{}",
            describe(&vs),
            again.output
        );
    }
    println!(
        "TIMING first build {:.2}s, cached rebuild {:.2}s",
        first.duration.as_secs_f64(),
        again.duration.as_secs_f64()
    );
}

/// Editing Go source re-runs the compile but not the module download, and the new image has
/// the new behaviour.
#[test]
fn editing_main_go_reruns_build_but_not_deps() {
    let env = Env::get();
    let project = Project::hello(&env);
    let tag = ImageTag::new(&env, "edit");

    // Baseline: makes sure the deps step for this go.mod is in the cache, whatever ran before.
    let base = env.build(&project, &tag);
    base.assert_success();
    print_stages("baseline build", &base);

    // Unique text: the BuildKit cache persists across CI runs, a fixed edit would be CACHED.
    let text = format!("edited hello {}", support::unique());
    project.replace(
        "main.go",
        "\"hello from gobuild-frontend (",
        &format!("\"{text} ("),
    );
    let edited = env.build(&project, &tag);
    edited.assert_success();
    print_stages("after editing main.go", &edited);

    let deps = edited.some_vertices("[deps ");
    assert!(
        deps.iter().all(|v| v.cached),
        "go.mod unchanged: the deps vertex must be CACHED, got {}\n--- output ---\n{}",
        describe(&deps),
        edited.output
    );
    let build = edited.some_vertices("[build ");
    assert!(
        build.iter().all(|v| !v.cached) && build.iter().any(|v| v.ran()),
        "main.go changed: the build vertex must run (not CACHED), got {}\n--- output ---\n{}",
        describe(&build),
        edited.output
    );

    let run = env.run(&[], tag.name(), &[]);
    assert!(
        run.status.success(),
        "docker run failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(stdout(&run), format!("{text} (uid=65532 gid=65532)"));
}

/// A misspelt field is rejected with the file, the line and the field's name.
#[test]
fn unknown_field_is_reported_with_its_line() {
    let env = Env::get();
    let project = Project::hello(&env);
    let tag = ImageTag::new(&env, "badspec");

    let spec = project.read("go-build.yaml");
    let bad = spec.replacen("    name: hello\n", "    name: hello\n    nmae: x\n", 1);
    assert_ne!(
        bad, spec,
        "examples/hello/go-build.yaml changed shape:\n{spec}"
    );
    let line = bad
        .lines()
        .position(|l| l.trim_start().starts_with("nmae:"))
        .expect("nmae line")
        + 1;
    project.write("go-build.yaml", &bad);

    let build = env.build(&project, &tag);
    assert!(
        !build.success,
        "a spec with the unknown field `nmae` must fail to build:\n{}",
        build.output
    );
    let location = format!("go-build.yaml:{line}:");
    assert!(
        build.output.contains(&location) && build.output.contains("nmae"),
        "the error must name {location:?} and the field `nmae`:\n{}\n--- dockerd log meanwhile ---\n{}",
        build.output,
        build.dockerd_log
    );
    let error_line = build
        .output
        .lines()
        .find(|l| l.contains(&location))
        .unwrap_or_default();
    println!("error as the user sees it: {}", error_line.trim());
}

/// ELF `e_machine` values of the architectures the multi-platform tests build.
const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;
const EM_ARM: u16 = 40;

/// The `e_machine` field of an ELF file.
fn elf_machine(path: &std::path::Path) -> u16 {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    assert_eq!(
        &bytes[..4],
        b"\x7fELF",
        "{} is not an ELF file",
        path.display()
    );
    u16::from_le_bytes([bytes[18], bytes[19]])
}

/// `docker build --platform linux/arm64 -o type=local`: an arm64 binary, cross-compiled by the
/// amd64 toolchain. No arm64 golang image exists on this machine, so emulation could not even
/// start; the build vertex says which platform it compiled for.
#[test]
fn one_foreign_platform_is_cross_compiled() {
    let env = Env::get();
    let project = Project::hello(&env);
    let out = tempfile::tempdir().expect("tempdir");
    let dest = format!("type=local,dest={}", out.path().display());
    let build = env.build_with(&project, &["--platform", "linux/arm64", "-o", &dest]);
    build.assert_success();
    print_stages("arm64 build", &build);
    let compiled = build.some_vertices("[linux/arm64 build 1/1] go build");
    assert_eq!(compiled.len(), 1, "one cross-compiling build step");
    assert!(
        !build.output.contains("exec format error"),
        "nothing ran under emulation"
    );
    let binary = out.path().join("usr/local/bin/hello");
    assert_eq!(
        elf_machine(&binary),
        EM_AARCH64,
        "{} is arm64",
        binary.display()
    );
}

/// A spec listing three platforms, exported with `-o type=local`: one directory per platform,
/// each binary for its architecture; the arm64 one really runs (under qemu-user, only to run
/// the result). Exported to dockerd's image store, the same spec fails, with our warning.
#[test]
fn spec_platforms_give_one_binary_per_platform() {
    let env = Env::get();
    let project = Project::hello(&env);
    let spec = project.read("go-build.yaml");
    project.write(
        "go-build.yaml",
        &format!("{spec}platforms: [linux/amd64, linux/arm64, linux/arm/v7]\n"),
    );
    let out = tempfile::tempdir().expect("tempdir");
    let dest = format!("type=local,dest={}", out.path().display());
    let build = env.build_with(&project, &["-o", &dest]);
    build.assert_success();
    print_stages("three-platform build", &build);

    for (dir, machine) in [
        ("linux_amd64", EM_X86_64),
        ("linux_arm64", EM_AARCH64),
        ("linux_arm_v7", EM_ARM),
    ] {
        let binary = out.path().join(dir).join("usr/local/bin/hello");
        assert_eq!(elf_machine(&binary), machine, "{}", binary.display());
    }

    let qemu = std::process::Command::new("qemu-aarch64-static")
        .arg(out.path().join("linux_arm64/usr/local/bin/hello"))
        .output()
        .expect("qemu-aarch64-static (installed by scripts/setup.sh)");
    let printed = stdout(&qemu);
    assert!(
        printed.starts_with("hello from gobuild-frontend (uid="),
        "the arm64 binary runs and prints its greeting, got {printed:?}"
    );

    if !env.runs_on(
        Daemon::Dockerd,
        "only dockerd 20.10's own image store takes one platform per build",
    ) {
        return;
    }
    let tag = ImageTag::new(&env, "three-platforms");
    let to_store = env.build(&project, &tag);
    assert!(
        !to_store.success,
        "dockerd 20.10's image store cannot take three platforms"
    );
    assert!(
        to_store
            .output
            .contains("[warning] dockerd's image store takes one platform per build"),
        "the build output carries our explanation:\n{}",
        to_store.output
    );
}

// ---- Go modules: the local proxy on 127.0.0.1 serves tests/modules and counts requests ----

const WITH_DEPS_OUTPUT: &str = "withdeps: *** <red>hi there, gopher (greet v1.1.0)</red> ***";

/// Builds with the module proxy reachable: host networking (it listens on 127.0.0.1 only;
/// the build step itself stays offline) and GOPROXY / GOSUMDB build args. `cache_ns` names the
/// build's cache mounts (BUILDKIT_CACHE_MOUNT_NS), so request counts do not depend on what
/// earlier runs left in the shared module download cache.
fn build_online(
    env: &Env,
    project: &Project,
    proxy: &GoProxy,
    tag: &ImageTag,
    cache_ns: &str,
) -> Build {
    build_online_with(env, project, proxy, tag, cache_ns, &[])
}

/// [`build_online`] with more arguments.
fn build_online_with(
    env: &Env,
    project: &Project,
    proxy: &GoProxy,
    tag: &ImageTag,
    cache_ns: &str,
    extra: &[&str],
) -> Build {
    let mut args = online_args(proxy, cache_ns);
    args.extend(["-t".to_string(), tag.name().to_string()]);
    args.extend(extra.iter().map(|arg| arg.to_string()));
    env.build_with(
        project,
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// `docker build` arguments that reach the module proxy (see [`build_online`]).
fn online_args(proxy: &GoProxy, cache_ns: &str) -> Vec<String> {
    [
        "--network=host".to_string(),
        "--build-arg".to_string(),
        format!("GOPROXY={}", proxy.url()),
        "--build-arg".to_string(),
        "GOSUMDB=off".to_string(),
        "--build-arg".to_string(),
        format!("BUILDKIT_CACHE_MOUNT_NS={cache_ns}"),
    ]
    .into()
}

/// The single vertex whose name starts with `prefix`.
fn vertex<'a>(build: &'a Build, prefix: &str) -> &'a Vertex {
    let found = build.some_vertices(prefix);
    assert_eq!(found.len(), 1, "one {prefix} vertex: {}", describe(&found));
    found[0]
}

/// What `image` prints when run; the run must succeed.
fn run_output(env: &Env, image: &str) -> String {
    let run = env.run(&[], image, &[]);
    assert!(
        run.status.success(),
        "docker run {image} failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    String::from_utf8_lossy(&run.stdout).trim().to_string()
}

/// Every vertex whose name starts with `prefix` (at least one) is CACHED.
fn all_cached(build: &Build, prefix: &str) -> bool {
    build.some_vertices(prefix).iter().all(|v| v.cached)
}

/// Replaces the unique marker comment in main.go, so the build step must run again.
fn touch_main(project: &Project) {
    let text = project.read("main.go");
    let cleaned: Vec<&str> = text.lines().filter(|l| !l.starts_with("// e2e ")).collect();
    project.write(
        "main.go",
        &format!("{}\n// e2e {}\n", cleaned.join("\n"), unique()),
    );
}

/// Editing a .go file downloads nothing; neither does a build after BuildKit dropped every
/// cache mount (modules live in the deps step's layer, `modules.cache: layer`).
#[test]
fn modules_are_downloaded_once_and_survive_cache_mount_gc() {
    let env = Env::get();
    let proxy = GoProxy::start();
    // Fresh cache mounts: a download cache left by an earlier run would hide requests.
    let ns = format!("e2e-{}", unique());
    let project = Project::example(&env, "with-deps");
    let tag = ImageTag::new(&env, "withdeps");
    touch_main(&project);
    build_online(&env, &project, &proxy, &tag, &ns).assert_success();
    assert_eq!(stdout(&env.run(&[], tag.name(), &[])), WITH_DEPS_OUTPUT);

    proxy.reset_counts();
    touch_main(&project);
    let edited = build_online(&env, &project, &proxy, &tag, &ns);
    edited.assert_success();
    print_stages("after a .go edit", &edited);
    assert!(all_cached(&edited, "[deps "), "the deps steps stay cached");
    assert!(!vertex(&edited, "[build ").cached, "the build step runs");
    assert!(
        proxy.requests().is_empty(),
        "no module requests: {}",
        proxy.describe_requests()
    );

    env.prune(false, Some("type=exec.cachemount"));
    proxy.reset_counts();
    touch_main(&project);
    let after_gc = build_online(&env, &project, &proxy, &tag, &ns);
    after_gc.assert_success();
    print_stages("after pruning cache mounts", &after_gc);
    assert!(all_cached(&after_gc, "[deps "));
    assert!(
        proxy.requests().is_empty(),
        "no module requests: {}",
        proxy.describe_requests()
    );
    assert_eq!(stdout(&env.run(&[], tag.name(), &[])), WITH_DEPS_OUTPUT);
}

/// Adding one requirement fetches that module and nothing else.
#[test]
fn a_new_requirement_fetches_only_that_module() {
    let env = Env::get();
    let proxy = GoProxy::start();
    // Fresh cache mounts: a download cache left by an earlier run would hide requests.
    let ns = format!("e2e-{}", unique());
    let project = Project::example(&env, "with-deps");
    let tag = ImageTag::new(&env, "withdeps-extra");
    build_online(&env, &project, &proxy, &tag, &ns).assert_success();

    proxy.reset_counts();
    project.add_extra_requirement(&proxy.go_sum("example.com/extra@v1.0.0"));
    let added = build_online(&env, &project, &proxy, &tag, &ns);
    added.assert_success();
    assert!(!vertex(&added, "[deps 1/").cached, "go.mod changed");
    assert_eq!(
        proxy.module_requests(),
        ["example.com/extra@v1.0.0"],
        "only the new module is downloaded: {}",
        proxy.describe_requests()
    );
    assert_eq!(
        stdout(&env.run(&[], tag.name(), &[])),
        format!("{WITH_DEPS_OUTPUT} + extra v1.0.0")
    );
}

/// The import paths `go build -v` reported compiling in the vertex named `prefix`.
fn compiled_packages(build: &Build, prefix: &str) -> Vec<String> {
    let mut packages: Vec<String> = build
        .logs(vertex(build, prefix))
        .into_iter()
        .filter(|line| !line.contains(' ') && !line.is_empty())
        .map(str::to_string)
        .collect();
    packages.sort();
    packages
}

/// A copy of examples/with-deps whose `go build -v` names each package it compiles (cache
/// hits are silent): what [`compiled_packages`] reads; `build` settings added.
fn verbose_with_deps(env: &Env, build: &str) -> Project {
    let project = Project::example(env, "with-deps");
    project.replace(
        "go-build.yaml",
        "    name: withdeps",
        &format!("    name: withdeps\nbuild:\n  flags: [-v]\n{build}"),
    );
    project
}

/// By default (`compiled_deps: auto`) dependencies compile ahead only where the build imports
/// a cache: a builder with its own warm build cache compiles them in the build step, once.
#[test]
fn dependencies_compile_ahead_only_for_a_build_that_imports_a_cache() {
    let env = Env::get();
    let proxy = GoProxy::start();
    let ns = format!("e2e-{}", unique());
    let project = verbose_with_deps(&env, "");
    let tag = ImageTag::new(&env, "withdeps-auto");
    touch_main(&project);
    let local = build_online(&env, &project, &proxy, &tag, &ns);
    local.assert_success();
    print_stages("no cache import", &local);
    assert!(
        local.vertices("[compile ").is_empty(),
        "no compile step without a cache import"
    );
    let compiled = compiled_packages(&local, "[build ");
    assert!(
        compiled.contains(&"example.com/greet".to_string()),
        "the build step compiles the dependencies: {compiled:?}"
    );

    // What a CI runner passes; the cache need not exist yet (its first run).
    let registry = env.frontend_image.split('/').next().unwrap_or_default();
    let cache_from = match env.daemon {
        Daemon::Dockerd => format!("--cache-from={registry}/gobuild-e2e-none:{}", unique()),
        Daemon::BuildKit => format!(
            "--cache-from=type=registry,ref={registry}/gobuild-e2e-none:{}",
            unique()
        ),
    };
    touch_main(&project);
    let importing = build_online_with(&env, &project, &proxy, &tag, &ns, &[&cache_from]);
    importing.assert_success();
    print_stages("with --cache-from", &importing);
    assert_eq!(
        importing.some_vertices("[compile ").len(),
        1,
        "a compile step for a build that imports a cache"
    );
    let again = compiled_packages(&importing, "[compile ");
    assert!(
        !again.contains(&"example.com/greet".to_string()),
        "the compile step starts from the build step's cache: {again:?}"
    );
    assert_eq!(
        stdout(&env.run(&[], tag.name(), &[])),
        WITH_DEPS_OUTPUT.to_string()
    );
}

/// With `compiled_deps: true`, dependencies compile in a step of their own on every build,
/// whose layer the build copies into its GOCACHE: a new import compiles only its module's
/// packages, and after BuildKit dropped every cache mount (a long-lived builder's GC, or a
/// fresh CI runner that imported the layer cache) an edit compiles only the main module, and
/// a new import after that only the imported package.
#[test]
fn dependencies_compile_once_and_survive_cache_mount_gc() {
    let env = Env::get();
    let proxy = GoProxy::start();
    let ns = format!("e2e-{}", unique());
    let project = verbose_with_deps(&env, "  compiled_deps: true\n");
    // An old-style constraint the frontend does not read: Go leaves the file out on Linux,
    // so `syscall/js` is on the list but does not load, and the step must compile the rest.
    project.write(
        "browser.go",
        "// +build js\n\npackage main\n\nimport _ \"syscall/js\"\n",
    );
    let tag = ImageTag::new(&env, "withdeps-compiled");
    touch_main(&project);
    let cold = build_online(&env, &project, &proxy, &tag, &ns);
    cold.assert_success();
    print_stages("cold", &cold);
    let compile_log = cold.logs(vertex(&cold, "[compile ")).join("\n");
    assert!(
        !compile_log.contains("failed"),
        "nothing failed ahead: {compile_log}"
    );
    let ahead = compiled_packages(&cold, "[compile ");
    for package in [
        "example.com/banner",
        "example.com/color",
        "example.com/greet",
        "fmt",
    ] {
        assert!(
            ahead.contains(&package.to_string()),
            "{package} compiled ahead: {ahead:?}"
        );
    }
    assert_eq!(
        compiled_packages(&cold, "[build "),
        ["example.com/withdeps"],
        "the build step compiles only the main module"
    );

    project.add_extra_requirement(&proxy.go_sum("example.com/extra@v1.0.0"));
    let added = build_online(&env, &project, &proxy, &tag, &ns);
    added.assert_success();
    assert_eq!(
        compiled_packages(&added, "[compile "),
        ["example.com/extra"],
        "a new import compiles only its module"
    );
    assert_eq!(
        compiled_packages(&added, "[build "),
        ["example.com/withdeps"]
    );

    env.prune(false, Some("type=exec.cachemount"));
    touch_main(&project);
    let fresh = build_online(&env, &project, &proxy, &tag, &ns);
    fresh.assert_success();
    print_stages("after pruning cache mounts, one edit", &fresh);
    assert!(
        all_cached(&fresh, "[compile "),
        "the compiled dependencies stay cached"
    );
    assert_eq!(
        compiled_packages(&fresh, "[build "),
        ["example.com/withdeps"],
        "nothing outside the main module compiles again"
    );
    assert_eq!(
        stdout(&env.run(&[], tag.name(), &[])),
        format!("{WITH_DEPS_OUTPUT} + extra v1.0.0")
    );

    // The compile step's own cache is still empty; the build step's holds the layer it took.
    project.write("xml.go", "package main\n\nimport _ \"encoding/xml\"\n");
    let imported = build_online(&env, &project, &proxy, &tag, &ns);
    imported.assert_success();
    print_stages("then a new import", &imported);
    let compiled = compiled_packages(&imported, "[compile ");
    assert!(
        compiled.contains(&"encoding/xml".to_string()),
        "the new import compiles: {compiled:?}"
    );
    let again: Vec<&String> = compiled.iter().filter(|p| ahead.contains(p)).collect();
    assert!(
        again.is_empty(),
        "the compile step starts from the build step's cache, yet compiled {again:?} again"
    );
    assert_eq!(
        compiled_packages(&imported, "[build "),
        ["example.com/withdeps"]
    );
}

/// A fresh builder that imports the cache a build exported (`mode=max`, what CI does) compiles
/// only the main module after an edit: the compiled dependencies travel as a layer. Both ways
/// CI exports it: buildctl to a local directory, docker buildx to the registry.
#[test]
fn an_exported_cache_brings_the_compiled_dependencies_to_a_fresh_builder() {
    let env = Env::get();
    if !env.runs_on(
        Daemon::BuildKit,
        "dockerd 20.10 exports only inline (mode=min) cache; its fresh runner is the gocache seed",
    ) {
        return;
    }
    let proxy = GoProxy::start();
    let project = verbose_with_deps(&env, "");
    let cache = tempfile::tempdir().expect("tempdir");
    let cache = cache.path().display();
    let goproxy = format!("--opt=build-arg:GOPROXY={}", proxy.url());
    let namespace = format!("--opt=build-arg:BUILDKIT_CACHE_MOUNT_NS=e2e-{}", unique());
    let online = [
        "--opt=force-network-mode=host",
        "--allow=network.host",
        "--opt=build-arg:GOSUMDB=off",
        goproxy.as_str(),
        namespace.as_str(),
    ];
    // A pipeline imports its cache from its first run on. A local cache that is not there
    // yet is dropped by the client, so the first run builds without compiling ahead; the
    // second, which imports it, compiles ahead and exports that; the third gains.
    let export = format!("--export-cache=type=local,dest={cache},mode=max");
    let import = format!("--import-cache=type=local,src={cache}");
    for run in ["first", "second"] {
        env.prune(true, None);
        touch_main(&project);
        let build = env.buildctl_build(
            &project,
            &[&online[..], &[import.as_str(), export.as_str()]].concat(),
        );
        build.assert_success();
        print_stages(&format!("buildctl: the {run} run, local cache"), &build);
        assert_eq!(
            build.vertices("[compile ").len(),
            usize::from(run == "second")
        );
    }

    env.prune(true, None);
    touch_main(&project);
    let fresh = env.buildctl_build(&project, &[&online[..], &[import.as_str()]].concat());
    fresh.assert_success();
    print_stages(
        "buildctl: a fresh builder with the local cache, one edit",
        &fresh,
    );
    assert_only_main_compiles(&fresh);

    let registry = env.frontend_image.split('/').next().unwrap_or_default();
    let cache_ref = format!("{registry}/gobuild-e2e-cache:{}", unique());
    let goproxy = format!("GOPROXY={}", proxy.url());
    let namespace = format!("BUILDKIT_CACHE_MOUNT_NS=e2e-{}", unique());
    let online = [
        "--network=host",
        "--build-arg",
        "GOSUMDB=off",
        "--build-arg",
        goproxy.as_str(),
        "--build-arg",
        namespace.as_str(),
    ];
    // A pipeline's runners chain: each imports what the last one exported and exports again.
    let cache_to = format!("--cache-to=type=registry,ref={cache_ref},mode=max");
    let cache_from = format!("--cache-from=type=registry,ref={cache_ref}");
    env.prune(true, None);
    touch_main(&project);
    let first = env.build_with(
        &project,
        &[&online[..], &[cache_from.as_str(), cache_to.as_str()]].concat(),
    );
    first.assert_success();
    for runner in ["second", "third"] {
        env.prune(true, None);
        touch_main(&project);
        let args = [&online[..], &[cache_from.as_str(), cache_to.as_str()]].concat();
        let fresh = env.build_with(&project, &args);
        fresh.assert_success();
        print_stages(
            &format!("buildx: the {runner} runner, registry cache, one edit"),
            &fresh,
        );
        assert_only_main_compiles(&fresh);
    }
}

/// Plain progress prints a record loaded from a registry cache as DONE, not CACHED, so the
/// compile step is judged by what it compiled: nothing, when its layer came from the cache.
fn assert_only_main_compiles(fresh: &Build) {
    assert_eq!(
        compiled_packages(fresh, "[compile "),
        Vec::<String>::new(),
        "the compiled dependencies come from the cache"
    );
    assert_eq!(
        compiled_packages(fresh, "[build "),
        ["example.com/withdeps"],
        "nothing outside the main module compiles"
    );
}

/// `--target gocache` hands the whole build cache back as an image; an empty builder seeded
/// from it compiles only what an edit changed (here main, not the module's other package).
#[test]
fn a_gocache_image_seeds_an_empty_builder() {
    let env = Env::get();
    let proxy = GoProxy::start();
    let project = verbose_with_deps(&env, "");
    std::fs::create_dir_all(project.dir().join("internal/shout")).expect("mkdir");
    project.write(
        "internal/shout/shout.go",
        "package shout\n\nimport \"strings\"\n\nfunc Shout(s string) string { return strings.ToUpper(s) }\n",
    );
    project.replace(
        "main.go",
        "\"fmt\"",
        "\"fmt\"\n\n\t\"example.com/withdeps/internal/shout\"",
    );
    project.replace(
        "main.go",
        "fmt.Println(\"withdeps: \" + ",
        "fmt.Println(shout.Shout(\"withdeps: \") + ",
    );
    let ns = format!("e2e-{}", unique());
    let tag = ImageTag::new(&env, "withdeps-seeded");
    // dockerd resolves the seed from its image store, buildkitd from the registry.
    let seed_tag = ImageTag::new(&env, "gocache");
    let (seed, export, use_seed) = match env.daemon {
        Daemon::Dockerd => {
            let seed = seed_tag.name().to_string();
            let use_seed = format!("GOBUILD_GOCACHE_FROM={seed}");
            (
                seed.clone(),
                vec!["-t".to_string(), seed],
                vec!["--build-arg".to_string(), use_seed],
            )
        }
        Daemon::BuildKit => {
            let registry = env.frontend_image.split('/').next().unwrap_or_default();
            let seed = format!("{registry}/gobuild-e2e-gocache:{}", unique());
            let export = format!("--output=type=image,name={seed},push=true");
            let use_seed = format!("gocache=docker-image://{seed}");
            (
                seed,
                vec![export],
                vec!["--build-context".to_string(), use_seed],
            )
        }
    };
    let with = |extra: &[String]| {
        let goproxy = format!("GOPROXY={}", proxy.url());
        let namespace = format!("BUILDKIT_CACHE_MOUNT_NS={ns}");
        let mut args: Vec<&str> = vec!["--network=host", "--build-arg", &goproxy];
        args.extend(["--build-arg", "GOSUMDB=off", "--build-arg", &namespace]);
        args.extend(extra.iter().map(String::as_str));
        env.build_with(&project, &args)
    };
    let mut target = vec!["--target".to_string(), "gocache".to_string()];
    target.extend(export);
    with(&target).assert_success();

    env.prune(true, None);
    touch_main(&project);
    let mut seeded_args = use_seed;
    seeded_args.extend(["-t".to_string(), tag.name().to_string()]);
    let seeded = with(&seeded_args);
    seeded.assert_success();
    print_stages(
        &format!("an empty builder seeded from {seed}, one edit"),
        &seeded,
    );
    assert_eq!(
        compiled_packages(&seeded, "[build "),
        ["example.com/withdeps"],
        "only the edited package compiles, not internal/shout"
    );
    assert_eq!(
        stdout(&env.run(&[], tag.name(), &[])),
        WITH_DEPS_OUTPUT.replacen("withdeps: ", "WITHDEPS: ", 1)
    );
}

/// go.work and `replace ../lib` examples build from an empty BuildKit cache: the deps step
/// really sees every module file they need (no stale-layer luck).
#[test]
fn workspace_and_replace_build_cold() {
    let env = Env::get();
    let proxy = GoProxy::start();
    // Fresh cache mounts: a download cache left by an earlier run would hide requests.
    let ns = format!("e2e-{}", unique());
    env.prune(true, None);
    for (example, output) in [
        (
            "workspace",
            "api: lib[<red>hi there, workspace (greet v1.1.0)</red>]",
        ),
        ("replace", "replace: lib says hello, replace (greet v1.0.0)"),
    ] {
        let project = Project::example(&env, example);
        let tag = ImageTag::new(&env, example);
        let build = build_online(&env, &project, &proxy, &tag, &ns);
        build.assert_success();
        assert!(!vertex(&build, "[deps 1/").cached, "{example}: cold");
        assert_eq!(stdout(&env.run(&[], tag.name(), &[])), output, "{example}");
    }
}

/// A module the deps step did not fetch fails the offline build step with an explanation,
/// instead of a silent download.
#[test]
fn a_module_missing_from_the_deps_step_fails_loudly() {
    let env = Env::get();
    let proxy = GoProxy::start();
    // Fresh cache mounts: a download cache left by an earlier run would hide requests.
    let ns = format!("e2e-{}", unique());
    let project = Project::example(&env, "with-deps");
    // main.go imports a module go.mod does not require: the deps step cannot know it.
    project.replace(
        "main.go",
        "\"example.com/greet\"",
        "\"example.com/extra\"\n\t\"example.com/greet\"",
    );
    project.replace(
        "main.go",
        "greet.Hello(\"gopher\")",
        "greet.Hello(extra.Extra())",
    );
    let tag = ImageTag::new(&env, "missing-module");
    proxy.reset_counts();
    let build = build_online(&env, &project, &proxy, &tag, &ns);
    assert!(!build.success, "the build must fail:\n{}", build.output);
    assert!(
        build.output.contains("this step builds offline"),
        "the failure explains itself:\n{}",
        build.output
    );
    assert!(
        build.output.contains("example.com/extra"),
        "{}",
        build.output
    );
    assert!(
        !proxy
            .module_requests()
            .contains(&"example.com/extra@v1.0.0".to_string()),
        "nothing downloaded the missing module: {}",
        proxy.describe_requests()
    );
}

/// The vendored example needs no proxy at all.
#[test]
fn vendored_example_builds_without_any_network() {
    let env = Env::get();
    let project = Project::example(&env, "vendored");
    let tag = ImageTag::new(&env, "vendored");
    let build = env.build(&project, &tag);
    build.assert_success();
    assert!(
        build.vertices("[deps ").is_empty(),
        "vendored: no download step"
    );
    vertex(&build, "[build 1/1] go build -mod=vendor");
    assert_eq!(
        stdout(&env.run(&[], tag.name(), &[])),
        "vendored: hello, vendor (greet v1.0.0)"
    );
}

/// Files no Go code reads never re-run the build; embedded files do, and end up in the binary.
#[test]
fn only_files_go_reads_invalidate_the_build() {
    let env = Env::get();
    let project = Project::example(&env, "embed");
    let tag = ImageTag::new(&env, "embed");
    touch_main(&project);
    env.build(&project, &tag).assert_success();
    assert_eq!(
        stdout(&env.run(&[], tag.name(), &[])),
        "embed: hello, gopher, from templates/hello.tmpl"
    );

    let readme = project.read("README.md");
    project.write(
        "README.md",
        &format!("{readme}\nMore words {}.\n", unique()),
    );
    project.write("docs/notes.md", &format!("notes {}\n", unique()));
    let docs_only = env.build(&project, &tag);
    docs_only.assert_success();
    print_stages("after README/docs edits", &docs_only);
    assert!(
        vertex(&docs_only, "[build ").cached,
        "README.md is not a build input"
    );
    if env.daemon == Daemon::BuildKit {
        // The context transfer takes what Go may read and the embedded files' transfer the
        // template: neither moved README.md or docs/, so the scan saw no change. (BuildKit
        // v0.8 moves the whole context: its client drops what `**` patterns take.)
        assert!(
            vertex(&docs_only, "[internal] list sources").cached,
            "the transfer took README.md or docs/"
        );
        assert_eq!(
            docs_only
                .some_vertices("[internal] load embedded files")
                .len(),
            1
        );
    }

    project.replace("templates/hello.tmpl", "hello", "howdy");
    let template = env.build(&project, &tag);
    template.assert_success();
    assert!(
        !vertex(&template, "[build ").cached,
        "the embedded template changed"
    );
    assert_eq!(
        stdout(&env.run(&[], tag.name(), &[])),
        "embed: howdy, gopher, from templates/hello.tmpl"
    );
}

// ---- runtime images, several binaries, build flags, cgo, reproducibility ----

/// A non-scratch base by reference (the local debian stand-in): its env is merged under ours.
#[test]
fn an_image_base_keeps_its_env_under_ours() {
    let env = Env::get();
    let project = Project::hello(&env);
    let spec = project.read("go-build.yaml");
    project.write(
        "go-build.yaml",
        &format!("{spec}runtime:\n  base: debian:bookworm-slim\n  env: {{GREETING: hi}}\n"),
    );
    let tag = ImageTag::new(&env, "on-debian");
    let build = env.build(&project, &tag);
    build.assert_success();
    vertex(
        &build,
        "[runtime] FROM docker.io/library/debian:bookworm-slim",
    );
    let config = &env.inspect(tag.name())["Config"];
    let vars: Vec<&str> = config["Env"]
        .as_array()
        .expect("Env")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(vars.contains(&"GREETING=hi"), "{vars:?}");
    assert!(
        vars.iter().any(|v| v.starts_with("PATH=/usr/local/sbin")),
        "the base's PATH is kept: {vars:?}"
    );
    assert_eq!(config["User"], "65532:65532");
    // The base has a shell: the image really is debian plus our binary.
    let sh = env.run(&["--entrypoint", "/bin/sh"], tag.name(), &["-c", "hello"]);
    assert_eq!(stdout(&sh), HELLO_OUTPUT);
}

/// Two binaries from one `go build`; `--target` picks one, `binaries` exports only the files,
/// `test` runs the module's tests and fails the build when one fails.
#[test]
fn several_binaries_and_targets() {
    let env = Env::get();
    let project = Project::example(&env, "multi");
    let tag = ImageTag::new(&env, "multi");
    let all = env.build_with(
        &project,
        &["--build-arg", "VERSION=1.0.0", "-t", tag.name()],
    );
    all.assert_success();
    assert_eq!(
        vertex(&all, "[build ").name,
        "[build 1/1] go build -o /out/usr/local/bin/ ./cmd/api ./cmd/worker"
    );
    assert_eq!(stdout(&env.run(&[], tag.name(), &[])), "api 1.0.0");
    let worker = env.run(&["--entrypoint", "/usr/local/bin/worker"], tag.name(), &[]);
    assert_eq!(stdout(&worker), "worker 1.0.0");
    let labels = &env.inspect(tag.name())["Config"]["Labels"];
    assert_eq!(labels["org.example.team"], "platform");
    assert_eq!(labels["org.opencontainers.image.version"], "1.0.0");

    let only = ImageTag::new(&env, "multi-worker");
    env.build_with(&project, &["--target", "worker", "-t", only.name()])
        .assert_success();
    assert_eq!(stdout(&env.run(&[], only.name(), &[])), "worker dev");
    let files: Vec<String> = env
        .image_entries(only.name())
        .into_iter()
        .map(|e| e.path)
        .filter(|p| p.starts_with("usr/local/bin/"))
        .collect();
    assert_eq!(files, ["usr/local/bin/", "usr/local/bin/worker"]);

    let out = tempfile::tempdir().expect("tempdir");
    let dest = format!("type=local,dest={}", out.path().display());
    env.build_with(&project, &["--target", "binaries", "-o", &dest])
        .assert_success();
    let mut exported: Vec<String> = std::fs::read_dir(out.path())
        .expect("exported files")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    exported.sort();
    assert_eq!(exported, ["api", "worker"], "only the built files");

    let tests = env.build_with(&project, &["--target", "test", "-o", &dest]);
    tests.assert_success();
    vertex(&tests, "[test 1/1] go test ./...");
    project.replace(
        "internal/version/version_test.go",
        "\"api \"+Version",
        "\"nope\"",
    );
    let failing = env.build_with(&project, &["--target", "test", "-o", &dest]);
    assert!(!failing.success, "a failing test fails the build");
    assert!(
        failing.output.contains("--- FAIL: TestDescribe"),
        "go test's output is visible:\n{}",
        failing.output
    );
}

/// A new version string in the ldflags template re-links only: the compiled packages come
/// from GOCACHE (the timing is reported, not asserted).
#[test]
fn a_new_version_relinks_only() {
    let env = Env::get();
    let project = Project::example(&env, "multi");
    let tag = ImageTag::new(&env, "multi-version");
    let version = format!("2.{}", unique().replace(['-', '.'], ""));
    env.build_with(
        &project,
        &[
            "--build-arg",
            &format!("VERSION={version}"),
            "-t",
            tag.name(),
        ],
    )
    .assert_success();
    let next = format!("{version}.1");
    let relinked = env.build_with(
        &project,
        &["--build-arg", &format!("VERSION={next}"), "-t", tag.name()],
    );
    relinked.assert_success();
    let build = vertex(&relinked, "[build ");
    assert!(!build.cached, "the build step runs for a new version");
    println!(
        "TIMING rebuild with a new version string: build step {:.1}s (whole build {:.1}s)",
        build.done.unwrap_or(f64::NAN),
        relinked.duration.as_secs_f64()
    );
    assert_eq!(
        stdout(&env.run(&[], tag.name(), &[])),
        format!("api {next}")
    );
}

/// cgo: linked against the C library, on debian-slim by default, and it runs.
#[test]
fn cgo_example_runs() {
    let env = Env::get();
    let project = Project::example(&env, "cgo");
    let tag = ImageTag::new(&env, "cgo");
    let build = env.build(&project, &tag);
    build.assert_success();
    vertex(
        &build,
        "[runtime] FROM docker.io/library/debian:bookworm-slim",
    );
    assert_eq!(
        stdout(&env.run(&[], tag.name(), &[])),
        "cgo: the C library says 42"
    );
}

/// Two cold builds with the same SOURCE_DATE_EPOCH give the same image: config digest and
/// every layer digest.
#[test]
fn builds_are_reproducible() {
    let env = Env::get();
    let project = Project::example(&env, "multi");
    let mut digests = Vec::new();
    for round in 0..2 {
        env.prune(true, None);
        let tag = ImageTag::new(&env, &format!("repro-{round}"));
        env.build_with(
            &project,
            &[
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
                "--build-arg",
                "VERSION=1.0.0",
                "-t",
                tag.name(),
            ],
        )
        .assert_success();
        let image = env.inspect(tag.name());
        assert_eq!(image["Created"], "2023-11-14T22:13:20Z");
        digests.push((image["Id"].clone(), image["RootFS"]["Layers"].clone()));
    }
    println!("image digests: {digests:?}");
    assert_eq!(digests[0], digests[1], "same inputs, same image");
}

/// `build.vcs: true` stamps the commit into the binary, working inside the container.
#[test]
fn vcs_stamping_works_in_the_container() {
    let env = Env::get();
    let project = Project::hello(&env);
    let spec = project.read("go-build.yaml");
    project.write("go-build.yaml", &format!("{spec}build:\n  vcs: true\n"));
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(["-c", "user.email=e2e@example.com", "-c", "user.name=e2e"])
            .args(args)
            .current_dir(project.dir())
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout(&out)
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", &format!("e2e {}", unique())]);
    let revision = git(&["rev-parse", "HEAD"]);
    let out = tempfile::tempdir().expect("tempdir");
    let dest = format!("type=local,dest={}", out.path().display());
    env.build_with(&project, &["-o", &dest]).assert_success();
    let binary = std::fs::read(out.path().join("usr/local/bin/hello")).expect("the binary");
    let stamp = format!("vcs.revision={revision}");
    assert!(
        binary.windows(stamp.len()).any(|w| w == stamp.as_bytes()),
        "the binary carries {stamp}"
    );
}

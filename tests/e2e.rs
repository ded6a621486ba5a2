//! End-to-end tests: real BuildKit builds of `examples/hello` through the frontend image.
//!
//! Needs a running dockerd (`DOCKER_HOST`) with the frontend image loaded; scripts/test.sh
//! does all of it. Run one test at a time (`--test-threads=1`): they share one daemon and
//! two cores.
//!
//! The frontend names its vertices `[deps …]`, `[build …]` and `[runtime …]`; cache hits and
//! re-runs are proven from BuildKit's plain progress output (`#N CACHED`), never from image
//! sizes (linker padding can keep a size identical across rebuilds).

#[path = "e2e/support.rs"]
mod support;

use support::{Build, Env, HELLO_OUTPUT, ImageTag, Project, Vertex};

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
    for prefix in STAGES {
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
    let files: Vec<&str> = entries.iter().map(|(_, path)| path.as_str()).collect();
    assert!(
        files.contains(&"etc/ssl/certs/ca-certificates.crt"),
        "etc/ssl/certs/ca-certificates.crt missing from the image; files: {files:?}"
    );
    let tmp_mode = entries
        .iter()
        .find(|(_, path)| path.trim_end_matches('/') == "tmp")
        .map(|(mode, _)| mode.as_str());
    assert_eq!(
        tmp_mode,
        Some("drwxrwxrwt"),
        "/tmp must exist with mode 1777 so the non-root user can write temp files"
    );
    let size = image["Size"].as_u64().expect("image Size");
    println!(
        "hello image: {size} bytes ({:.1} KiB), {} files, entrypoint {entrypoint:?}",
        size as f64 / 1024.0,
        files.len()
    );

    // --- rebuild without changes: every stage vertex comes from the cache
    let again = env.build(&project, &tag);
    again.assert_success();
    print_stages("cached rebuild", &again);
    for prefix in STAGES {
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

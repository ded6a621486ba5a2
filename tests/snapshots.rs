//! Snapshot of `gobuild-frontend render` for every example: any change to the plan or the LLB
//! shows up as a reviewable diff (`cargo insta review`).

use std::collections::BTreeMap;
use std::path::Path;

use gobuild_frontend::cli::{eject_offline, render_offline};

/// An example's directory and its org baseline, if it has one (it renders under it, as the
/// org's frontend image would).
fn example(name: &str) -> (std::path::PathBuf, Option<gobuild_frontend::spec::org::Org>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let org = std::fs::read(dir.join("org.yaml")).ok().map(|bytes| {
        gobuild_frontend::spec::org::load("org.yaml", &bytes)
            .unwrap_or_else(|e| panic!("examples/{name}/org.yaml: {e:#}"))
    });
    (dir, org)
}

fn render_example(name: &str) -> String {
    let (dir, org) = example(name);
    render_offline(
        &dir.join("go-build.yaml"),
        &dir,
        &BTreeMap::new(),
        org.as_ref(),
    )
    .unwrap_or_else(|e| panic!("rendering examples/{name}: {e:#}"))
}

fn eject_example(name: &str) -> String {
    let (dir, org) = example(name);
    eject_offline(
        &dir.join("go-build.yaml"),
        &dir,
        &BTreeMap::new(),
        org.as_ref(),
    )
    .unwrap_or_else(|e| panic!("ejecting examples/{name}: {e:#}"))
}

#[test]
fn every_example_has_a_snapshot() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut names: Vec<String> = std::fs::read_dir(&examples)
        .expect("examples directory")
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join("go-build.yaml").is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    for name in names {
        insta::assert_snapshot!(name.clone(), render_example(&name));
        insta::assert_snapshot!(format!("eject-{name}"), eject_example(&name));
    }
}

/// A build that imports a cache (a CI runner) compiles the dependencies ahead
/// (`build.compiled_deps: auto`): the compile step and the build step taking its layer.
#[test]
fn a_build_importing_a_cache_compiles_dependencies_ahead() {
    let (dir, _) = example("with-deps");
    let opts = BTreeMap::from([(
        "cache-from".to_string(),
        "127.0.0.1:5000/with-deps:cache".to_string(),
    )]);
    let rendered = render_offline(&dir.join("go-build.yaml"), &dir, &opts, None)
        .unwrap_or_else(|e| panic!("rendering examples/with-deps: {e:#}"));
    insta::assert_snapshot!("with-deps-cache-from", rendered);
}

/// A private copy of examples/hello's spec, go.mod and main.go.
fn hello_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let hello = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/hello");
    for file in ["go.mod", "main.go", "go-build.yaml"] {
        std::fs::copy(hello.join(file), dir.path().join(file)).expect("copy");
    }
    dir
}

/// `render` runs the frontend's pipeline, `.dockerignore` included: an ignored Go file is not
/// among the build's sources, and `<spec>.dockerignore` beside the spec wins over it.
#[test]
fn render_applies_dockerignore_like_the_frontend() {
    let dir = hello_copy();
    std::fs::write(dir.path().join("generated.go"), "package main\n").expect("write");
    std::fs::write(dir.path().join(".dockerignore"), "\u{feff}generated.go\n").expect("write");
    let render = || {
        render_offline(
            &dir.path().join("go-build.yaml"),
            dir.path(),
            &BTreeMap::new(),
            None,
        )
        .expect("render")
    };
    let ignored = render();
    assert!(ignored.contains("- ByPath: main.go"), "{ignored}");
    assert!(!ignored.contains(": generated.go"), "{ignored}");

    std::fs::write(dir.path().join("go-build.yaml.dockerignore"), "*.md\n").expect("write");
    let beside_spec = render();
    assert!(
        beside_spec.contains("- ByPath: generated.go"),
        "{beside_spec}"
    );
}

/// `.dockerignore` decides which module files exist: excluding go.mod is an error that says
/// so (not Go's "go.mod file not found" later), and an ignored go.work is no workspace.
#[test]
fn dockerignore_decides_which_module_files_exist() {
    let dir = hello_copy();
    let render = || {
        render_offline(
            &dir.path().join("go-build.yaml"),
            dir.path(),
            &BTreeMap::new(),
            None,
        )
    };
    std::fs::write(dir.path().join(".dockerignore"), "*\n!main.go\n").expect("write");
    let error = format!("{:#}", render().expect_err("go.mod is ignored"));
    assert!(
        error.contains("go.mod is excluded from the build context by .dockerignore"),
        "{error}"
    );

    std::fs::write(dir.path().join("go.work"), "go 1.27\n\nuse .\n").expect("write");
    std::fs::write(dir.path().join(".dockerignore"), "go.work\n").expect("write");
    let plan = render().expect("render");
    let mod_files = plan.split("mod_files:").nth(1).expect("mod_files");
    let mod_files = mod_files
        .split("source_selection:")
        .next()
        .unwrap_or_default();
    assert!(!mod_files.contains("go.work"), "{mod_files}");
}

/// `extends:` names a file of the context: a missing one is the spec's mistake, at its line.
#[test]
fn a_missing_shared_spec_is_reported_at_the_extends_line() {
    let dir = hello_copy();
    let spec = std::fs::read_to_string(dir.path().join("go-build.yaml")).expect("read");
    std::fs::write(
        dir.path().join("go-build.yaml"),
        format!("{spec}extends: build/base.yaml\n"),
    )
    .expect("write");
    let line = spec.lines().count() + 1;
    let error = render_offline(
        &dir.path().join("go-build.yaml"),
        dir.path(),
        &BTreeMap::new(),
        None,
    )
    .expect_err("no such file");
    assert_eq!(
        format!("{error:#}"),
        format!(
            "go-build.yaml:{line}:10: extends: the build context has no build/base.yaml (`extends:` names a file relative to the build context)"
        )
    );
}

//! `modules.cache: layer`: the module cache is one layer per group of modules (and a layer
//! of links), so a new requirement extracts only its group, on BuildKit v0.8 as on a current
//! one; the build works offline after the cache mounts are gone.

use std::fs;
use std::path::Path;

use super::goproxy::GoProxy;
use super::support::{Build, Env, ImageTag, Project, unique};

/// Requirements of the generated program: more than one group (16 modules a group).
const MODULES: usize = 40;

/// Writes `example.com/depN@v1.0.0` (N < `MODULES`) and `example.com/late@v1.0.0` under
/// `root`, in the layout [`GoProxy::start_from`] serves.
fn write_modules(root: &Path) {
    let names = (0..MODULES)
        .map(|i| format!("dep{i}"))
        .chain(["late".to_string()]);
    for name in names {
        let dir = root.join(format!("example.com/{name}@v1.0.0"));
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(
            dir.join("go.mod"),
            format!("module example.com/{name}\n\ngo 1.21\n"),
        )
        .expect("go.mod");
        fs::write(
            dir.join(format!("{name}.go")),
            format!("package {name}\n\nconst Name = \"{name}\"\n"),
        )
        .expect("source");
    }
}

/// A program requiring every `example.com/depN`; prints `many <count>`.
fn program(proxy: &GoProxy) -> Vec<(String, String)> {
    let mut go_mod = "module example.com/many\n\ngo 1.27\n\nrequire (\n".to_string();
    let mut go_sum = String::new();
    let mut imports = String::new();
    let mut uses = String::new();
    for i in 0..MODULES {
        go_mod.push_str(&format!("\texample.com/dep{i} v1.0.0\n"));
        go_sum.push_str(&proxy.go_sum(&format!("example.com/dep{i}@v1.0.0")));
        imports.push_str(&format!("\t\"example.com/dep{i}\"\n"));
        uses.push_str(&format!("\tnames = append(names, dep{i}.Name)\n"));
    }
    go_mod.push_str(")\n");
    let main = format!(
        "package main\n\nimport (\n\t\"fmt\"\n\n{imports})\n\nvar suffix string\n\nfunc main() {{\n\tvar names []string\n{uses}\tfmt.Println(\"many\", len(names), suffix)\n}}\n"
    );
    vec![
        ("go.mod".to_string(), go_mod),
        ("go.sum".to_string(), go_sum),
        ("main.go".to_string(), main),
    ]
}

/// A successful build with the test proxy and its own cache mounts.
fn build(env: &Env, project: &Project, proxy: &GoProxy, tag: &ImageTag, ns: &str) -> Build {
    let build = super::build_online(env, project, proxy, tag, ns);
    build.assert_success();
    build
}

/// A new requirement downloads only itself and, on a current BuildKit, re-extracts only the
/// group it joins; after the cache mounts are pruned, a .go edit still builds offline.
#[test]
fn a_new_requirement_extracts_only_its_group() {
    let env = Env::get();
    let modules = tempfile::tempdir().expect("tempdir");
    write_modules(modules.path());
    let proxy = GoProxy::start_from(modules.path()).expect("proxy");
    let ns = format!("e2e-{}", unique());
    let project = Project::generated(
        &env,
        "layers",
        "binaries:\n  - package: .\n    name: many\n",
        &program(&proxy),
    );
    let tag = ImageTag::new(&env, "layers");
    let first = build(&env, &project, &proxy, &tag, &ns);
    super::print_stages("40 modules, first build", &first);
    assert_eq!(
        proxy.module_requests().len(),
        MODULES,
        "each module downloaded once, not by a download step and again by its group: {}",
        proxy.describe_requests()
    );
    assert_eq!(
        super::run_output(&env, tag.name()),
        format!("many {MODULES}")
    );
    let groups = first
        .vertices("[deps ")
        .into_iter()
        .filter(|v| v.name.contains("] modules: "));
    assert!(
        groups.count() >= 2,
        "40 modules make more than one group:\n{}",
        first.output
    );
    let links = first.some_vertices("[deps] module cache: ");
    assert_eq!(links.len(), 1, "one links vertex:\n{}", first.output);

    proxy.reset_counts();
    project.write(
        "go.mod",
        &format!(
            "{}\nrequire example.com/late v1.0.0\n",
            project.read("go.mod")
        ),
    );
    project.write(
        "go.sum",
        &format!(
            "{}{}",
            project.read("go.sum"),
            proxy.go_sum("example.com/late@v1.0.0")
        ),
    );
    project.write(
        "late.go",
        "package main\n\nimport \"example.com/late\"\n\nfunc init() { suffix = late.Name }\n",
    );
    let added = build(&env, &project, &proxy, &tag, &ns);
    super::print_stages("after adding example.com/late", &added);
    assert_eq!(
        super::run_output(&env, tag.name()),
        format!("many {MODULES} late")
    );
    assert_eq!(
        proxy.module_requests(),
        ["example.com/late@v1.0.0"],
        "only the new module is downloaded: {}",
        proxy.describe_requests()
    );
    let ran: Vec<&str> = added
        .vertices("[deps ")
        .into_iter()
        .filter(|v| v.name.contains("] modules: ") && v.ran())
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        ran.len(),
        1,
        "only the group example.com/late joined is extracted again: {ran:?}\n{}",
        added.output
    );

    env.prune(false, Some("type=exec.cachemount"));
    proxy.reset_counts();
    project.write(
        "late.go",
        &format!("{}// {}\n", project.read("late.go"), unique()),
    );
    let after_gc = build(&env, &project, &proxy, &tag, &ns);
    super::print_stages("after pruning cache mounts, a .go edit", &after_gc);
    assert!(
        super::all_cached(&after_gc, "[deps "),
        "the module layers outlive the cache mounts:\n{}",
        after_gc.output
    );
    assert!(
        proxy.requests().is_empty(),
        "offline: {}",
        proxy.describe_requests()
    );
    assert_eq!(
        super::run_output(&env, tag.name()),
        format!("many {MODULES} late")
    );
}

//! Platform teams: an organisation's frontend image — ours plus `org.yaml`, built from
//! examples/org-baseline's Dockerfile — gives every repository its defaults and enforces its
//! policy.

use std::path::Path;

use super::support::{Daemon, Env, ImageTag, Project};

fn baseline_dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/org-baseline"
    ))
}

/// The 1-based line of org.yaml that starts with `key`.
fn org_line(key: &str) -> usize {
    let text = std::fs::read_to_string(baseline_dir().join("org.yaml")).expect("org.yaml");
    text.lines()
        .position(|l| l.trim_start().starts_with(key))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("org.yaml has no line starting with {key}"))
}

/// A copy of examples/org-baseline whose go-build.yaml is `spec` (a file of that example),
/// its first line naming `frontend`.
fn service(env: &Env, spec: &str, frontend: &str) -> Project {
    let project = Project::example(env, "org-baseline");
    let text = project.read(spec);
    let rest = text.split_once('\n').map(|(_, r)| r).unwrap_or("");
    project.write("go-build.yaml", &format!("# syntax={frontend}\n{rest}"));
    project
}

#[test]
fn an_org_frontend_image_gives_defaults_and_enforces_policy() {
    let env = Env::get();
    let frontend = env.frontend_from_dockerfile(
        baseline_dir(),
        "org-frontend",
        &[&format!("FRONTEND={}", env.frontend_image)],
    );

    let conforming = service(&env, "go-build.yaml", &frontend);
    let tag = ImageTag::new(&env, "org-service");
    let build = env.build_with(
        &conforming,
        &["-t", tag.name(), "--build-arg", "VERSION=1.2.3"],
    );
    build.assert_success();
    let config = &env.inspect(tag.name())["Config"];
    let labels = &config["Labels"];
    assert_eq!(
        labels["org.opencontainers.image.vendor"], "Example Corp",
        "the org's default label: {labels}"
    );
    assert_eq!(
        labels["org.opencontainers.image.source"], "https://git.example.com/team/service",
        "the repository's own label beside it: {labels}"
    );
    assert_eq!(config["User"], "65532:65532");
    let out = env.run(&[], tag.name(), &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "org service 1.2.3",
        "the org's default ldflags stamp the version"
    );

    // Ejected under the org file, the service's Dockerfile keeps the org's defaults.
    let org_file = baseline_dir().join("org.yaml");
    super::eject::eject_with(&conforming, &["--org".as_ref(), org_file.as_os_str()]);
    let ejected = ImageTag::new(&env, "org-service-ejected");
    env.build_file(
        &conforming,
        "Dockerfile",
        &["-t", ejected.name(), "--build-arg", "VERSION=1.2.3"],
        &[],
    )
    .assert_success();
    let out = env.run(&[], ejected.name(), &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "org service 1.2.3",
        "the org's ldflags in the Dockerfile"
    );
    let ejected_config = &env.inspect(ejected.name())["Config"];
    for label in [
        "org.opencontainers.image.vendor",
        "org.opencontainers.image.source",
        "org.opencontainers.image.version",
    ] {
        assert_eq!(ejected_config["Labels"][label], labels[label], "{label}");
    }
    assert_eq!(ejected_config["User"], config["User"]);

    let violating = service(&env, "go-build.violating.yaml", &frontend);
    let refused = env.build(&violating, &ImageTag::new(&env, "org-violation"));
    assert!(
        !refused.success,
        "the policy refuses it:\n{}",
        refused.output
    );
    let org = "/etc/gobuild-frontend/org.yaml";
    let expect = [
        (
            "go-build.yaml:6:11: build.flags[0]: `-race` is forbidden".to_string(),
            format!(
                "{org}:{}: policy.forbidden_flags",
                org_line("forbidden_flags:")
            ),
        ),
        (
            "go-build.yaml:8:9: runtime.user: is set by the organisation and locked".to_string(),
            format!("{org}:{}: policy.locked", org_line("locked:")),
        ),
        (
            "go-build.yaml:8:9: runtime.user: the image would run as root".to_string(),
            format!("{org}:{}: policy.non_root", org_line("non_root:")),
        ),
        (
            "runtime.labels: the image lacks the label `org.opencontainers.image.source`"
                .to_string(),
            format!(
                "{org}:{}: policy.required_labels",
                org_line("required_labels:")
            ),
        ),
    ];
    for (at, rule) in &expect {
        assert!(
            refused
                .output
                .lines()
                .any(|l| l.contains(at.as_str()) && l.contains(rule.as_str())),
            "one line names {at:?} and {rule:?}:\n{}",
            refused.output
        );
    }

    // `--check` reports the same violations without building, and the build error buildx
    // exits with.
    if env.daemon == Daemon::BuildKit {
        let check = env.build_with(&violating, &["--check"]);
        assert!(!check.success, "--check fails:\n{}", check.output);
        let policy_findings = check.output.matches("WARNING: OrgPolicy").count();
        assert_eq!(policy_findings, expect.len(), "{}", check.output);
        assert!(
            check
                .output
                .contains("ERROR: OrgPolicy: runtime.user: is set by the organisation and locked"),
            "the first violation is the build error:\n{}",
            check.output
        );
    }

    // The Go version comes from go.mod, so its line is to blame.
    let old_go = service(&env, "go-build.yaml", &frontend);
    old_go.replace("go.mod", "go 1.27", "go 1.24");
    let refused = env.build(&old_go, &ImageTag::new(&env, "org-old-go"));
    assert!(!refused.success, "Go 1.24 is refused:\n{}", refused.output);
    let expect = format!(
        "go.mod:3:1: Go 1.24 is older than the organisation allows ({org}:{}: policy.min_go: 1.26)",
        org_line("min_go:")
    );
    assert!(
        refused.output.contains(&expect),
        "{expect}\nin\n{}",
        refused.output
    );
}

/// `extends:` across two services of one module (examples/monorepo): each image gets the
/// shared spec's ldflags, env and labels under its own values (a map merges key by key), and
/// a shared spec that says what one service builds is refused at its own line.
#[test]
fn two_services_extend_one_shared_spec() {
    let env = Env::get();
    let api = Project::example(&env, "monorepo");
    let worker = Project::example(&env, "monorepo");
    let worker_spec = worker.read("worker.go-build.yaml");
    let rest = worker_spec.split_once('\n').map_or("", |(_, rest)| rest);
    worker.write(
        "go-build.yaml",
        &format!("# syntax={}\n{rest}", env.frontend_image),
    );
    for (project, service, output) in [
        (&api, "api", "api dev (LOG_FORMAT=json)"),
        (&worker, "worker", "worker dev (LOG_FORMAT=text)"),
    ] {
        let tag = ImageTag::new(&env, &format!("monorepo-{service}"));
        env.build(project, &tag).assert_success();
        assert_eq!(super::run_output(&env, tag.name()), output);
        let labels = &env.inspect(tag.name())["Config"]["Labels"];
        assert_eq!(labels["com.example.team"], "payments", "{labels}");
        assert_eq!(labels["com.example.service"], service, "{labels}");
    }

    api.write(
        "build/go-build.base.yaml",
        "runtime:\n  user: nonroot\nbinaries:\n  - package: ./cmd/api\n",
    );
    let refused = env.build(&api, &ImageTag::new(&env, "monorepo-refused"));
    assert!(!refused.success, "refused:\n{}", refused.output);
    let expect = "build/go-build.base.yaml:4:3: binaries: `binaries` says what one service builds";
    assert!(
        refused.output.contains(expect),
        "{expect}\nin\n{}",
        refused.output
    );
}

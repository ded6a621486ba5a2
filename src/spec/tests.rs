use super::*;

fn load_ok(text: &str) -> Spec {
    match load("go-build.yaml", text.as_bytes()) {
        Ok(spec) => spec,
        Err(error) => panic!("expected a valid spec, got:\n{error}"),
    }
}

/// The single diagnostic a broken spec produces, as `line:column path: message`.
fn problem(text: &str) -> String {
    let error = load("go-build.yaml", text.as_bytes()).expect_err("spec should be rejected");
    assert_eq!(
        error.source,
        text.as_bytes(),
        "the error keeps the file for excerpts"
    );
    let lines: Vec<String> = error.diagnostics.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

#[test]
fn empty_spec_builds_the_module_root_as_nonroot() {
    for text in ["", "# syntax=gobuild-frontend:dev\n", "---\n"] {
        let spec = load_ok(text);
        assert_eq!(spec.module.value, ".");
        assert_eq!(spec.binaries.len(), 1);
        assert_eq!(spec.binaries[0].package.value, ".");
        assert_eq!(spec.binaries[0].name, None);
        assert_eq!(spec.go, None);
        assert_eq!(spec.builder, None);
        assert_eq!(spec.runtime.user.value, User::NONROOT);
    }
}

#[test]
fn full_spec_keeps_values_and_positions() {
    let spec = load_ok(
        "# syntax=x\nversion: 1\nmodule: ./services/api/\ngo: \"1.27.3\"\nbuilder: golang:1.27-alpine\nbinaries:\n  - package: ./cmd/server/\n    name: server\n  - package: ./cmd/worker\nruntime:\n  user: \"1000:2000\"\n",
    );
    assert_eq!(
        spec.module.value, "services/api",
        "as the context lists it, without ./"
    );
    assert_eq!(spec.module.pos, Pos::at(3, 9));
    let go = spec.go.expect("go is set");
    assert_eq!(go.value.to_string(), "1.27.3");
    assert_eq!(go.pos.line, 4);
    assert_eq!(
        spec.builder.map(|b| b.value).as_deref(),
        Some("golang:1.27-alpine")
    );
    assert_eq!(spec.binaries[0].package.value, "./cmd/server");
    assert_eq!(spec.binaries[0].pos.line, 7);
    assert_eq!(spec.binaries[0].name.as_ref().map(|n| n.pos.line), Some(8));
    assert_eq!(spec.binaries[1].package.pos, Pos::at(9, 14));
    assert_eq!(
        spec.runtime.user.value,
        User {
            uid: 1000,
            gid: 2000
        }
    );
}

#[test]
fn user_forms() {
    for (text, want) in [
        ("nonroot", User::NONROOT),
        ("root", User::ROOT),
        (
            "\"1000\"",
            User {
                uid: 1000,
                gid: 1000,
            },
        ),
        ("\"10:20\"", User { uid: 10, gid: 20 }),
    ] {
        let spec = load_ok(&format!("runtime:\n  user: {text}\n"));
        assert_eq!(spec.runtime.user.value, want, "user: {text}");
    }
}

#[test]
fn unknown_field_names_line_column_and_path() {
    let message = problem("binaries:\n  - package: .\n    nmae: hello\n");
    assert!(message.starts_with("go-build.yaml:3:5: "), "{message}");
    assert!(message.contains("binaries[0]"), "{message}");
    assert!(message.contains("nmae"), "{message}");
    assert!(
        message.contains("package"),
        "lists the known fields: {message}"
    );
}

#[test]
fn unknown_top_level_field() {
    let message = problem("module: .\nbinary:\n  - package: .\n");
    assert!(message.starts_with("go-build.yaml:2:1: "), "{message}");
    assert!(message.contains("binary"), "{message}");
}

#[test]
fn wrong_types_are_reported_where_they_are() {
    let message = problem("binaries:\n  package: .\n");
    assert!(message.starts_with("go-build.yaml:2:"), "{message}");
    assert!(message.contains("binaries"), "{message}");

    let message = problem("build:\n  compiled_deps: maybe\n");
    assert!(
        message
            .starts_with("go-build.yaml:2:3: build.compiled_deps: invalid value: string \"maybe\""),
        "{message}"
    );
    assert!(message.contains("true, false or auto"), "{message}");

    let message = problem("version: one\n");
    assert!(
        message.starts_with("go-build.yaml:1:10: version: "),
        "{message}"
    );
}

#[test]
fn missing_package_is_reported() {
    let message = problem("binaries:\n  - name: x\n");
    assert!(message.starts_with("go-build.yaml:2:"), "{message}");
    assert!(message.contains("package"), "{message}");
}

#[test]
fn invalid_yaml_is_reported_with_position() {
    let message = problem("binaries: [\n  - package: .\n");
    assert!(message.starts_with("go-build.yaml:"), "{message}");
    assert!(!message.starts_with("go-build.yaml:0:"), "{message}");
}

#[test]
fn invalid_values_each_get_a_diagnostic() {
    let error = load(
        "go-build.yaml",
        b"version: 2\nmodule: ../elsewhere\ngo: latest\nbuilder: \"golang 1.27\"\nbinaries:\n  - package: cmd/server\n  - package: ./...\n  - package: ./a\n    name: a/b\n  - package: ./c\n    name: dup\n  - package: ./d\n    name: dup\nruntime:\n  user: nobody\n",
    )
    .expect_err("every field is wrong");
    let found: Vec<(u32, &str)> = error
        .diagnostics
        .iter()
        .map(|d| (d.pos.line, d.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (1, "version"),
            (2, "module"),
            (3, "go"),
            (4, "builder"),
            (6, "binaries[0].package"),
            (7, "binaries[1].package"),
            (9, "binaries[2].name"),
            (13, "binaries[4].name"),
            (15, "runtime.user"),
        ]
    );
    let text = error.to_string();
    assert!(text.contains("did you mean ./cmd/server?"), "{text}");
    assert!(text.contains("first used on line 11"), "{text}");
    assert!(
        text.lines().all(|l| l.starts_with("go-build.yaml:")),
        "every line names the file: {text}"
    );
}

#[test]
fn absolute_paths_and_empty_lists_are_rejected() {
    let message = problem("module: /src\n");
    assert!(message.contains("module: `/src` is absolute"), "{message}");
    let message = problem("binaries: []\n");
    assert!(message.starts_with("go-build.yaml:1:"), "{message}");
    assert!(message.contains("the list is empty"), "{message}");
}

#[test]
fn go_versions() {
    let parse = |s: &str| GoVersion::parse(s).map(|v| v.to_string());
    assert_eq!(parse("1.27").as_deref(), Some("1.27"));
    assert_eq!(parse("go1.27.3").as_deref(), Some("1.27.3"));
    assert_eq!(parse("1.27rc1").as_deref(), Some("1.27"));
    assert_eq!(parse("1"), None);
    assert_eq!(parse("latest"), None);
    assert_eq!(parse("1.27rc1.2"), None);
    assert_eq!(
        GoVersion::parse("1.27.3").map(|v| v.line()).as_deref(),
        Some("1.27")
    );
}

#[test]
fn loading_never_panics_on_odd_input() {
    let inputs: [&[u8]; 7] = [
        b"\xff\xfe",
        b"[]",
        b"42",
        b"binaries: {package: .}",
        b"runtime: 3",
        b"module: [a]",
        b"a: &x [*x]",
    ];
    for input in inputs {
        let result = load("go-build.yaml", input);
        if let Err(error) = result {
            assert!(!error.diagnostics.is_empty());
            assert!(error.diagnostics.iter().all(|d| d.pos.line >= 1));
        }
    }
}

#[test]
fn platforms_are_parsed_normalized_and_unique() {
    let spec = load_ok("platforms: [linux/amd64, linux/aarch64, linux/arm/v7]\n");
    let names: Vec<String> = spec.platforms.iter().map(|p| p.value.to_string()).collect();
    assert_eq!(names, ["linux/amd64", "linux/arm64", "linux/arm/v7"]);
    assert_eq!(spec.platforms[1].pos, Pos::at(1, 26));

    let message = problem("platforms:\n  - linux/amd64\n  - linux\n  - linux/x86_64\n");
    assert_eq!(message.lines().count(), 2, "{message}");
    assert!(
        message.contains("go-build.yaml:3:5: platforms[1]: `linux` is not a platform"),
        "{message}"
    );
    assert!(
        message.contains("go-build.yaml:4:5: platforms[2]: `linux/x86_64` is listed twice"),
        "{message}"
    );
    assert!(message.contains("already listed on line 2"), "{message}");
}

#[test]
fn runtime_and_build_sections() {
    let spec = load_ok(
        "runtime:\n  base: distroless-static\n  entrypoint: worker\n  cmd: [--port, \"8080\"]\n  env: {MODE: prod}\n  workdir: /srv\n  ports: [8080, 53/udp]\n  volumes: [/data]\n  labels: {team: core}\n  stop_signal: SIGINT\nbuild:\n  tags: [netgo]\n  ldflags: -s -w -X main.version={{ .Version }}\n  trimpath: false\n  flags: [-race]\n  env: {GOEXPERIMENT: loopvar}\n  cgo: true\n  vcs: true\n",
    );
    let runtime = &spec.runtime;
    assert_eq!(
        runtime.base.as_ref().map(|b| &b.value),
        Some(&Base::Image(
            "gcr.io/distroless/static-debian12:nonroot".into()
        ))
    );
    assert_eq!(
        runtime.entrypoint.as_ref().map(|e| &e.value),
        Some(&Entrypoint::Binary("worker".into()))
    );
    assert_eq!(runtime.cmd, ["--port", "8080"]);
    assert_eq!(runtime.env, ["MODE=prod"]);
    let ports: Vec<&str> = runtime.ports.iter().map(|p| p.value.as_str()).collect();
    assert_eq!(ports, ["8080/tcp", "53/udp"]);
    assert_eq!(
        runtime.stop_signal.as_ref().map(|s| s.value.as_str()),
        Some("SIGINT")
    );
    let build = &spec.build;
    assert_eq!(build.tags, ["netgo"]);
    assert!(!build.trimpath && build.vcs && build.cgo.value);
    assert_eq!(build.cgo.pos.line, 17);
    assert_eq!(build.ldflags.as_ref().map(|l| l.pos.line), Some(13));
}

#[test]
fn runtime_and_build_mistakes_are_located() {
    let error = load(
        "go-build.yaml",
        b"runtime:\n  base: \"my image\"\n  workdir: srv\n  ports: [0, 80/icmp]\n  volumes: [data]\n  stop_signal: sigterm\n  entrypoint: []\nbuild:\n  flags: [-o=x, race]\n",
    )
    .expect_err("every field is wrong");
    let found: Vec<(u32, &str)> = error
        .diagnostics
        .iter()
        .map(|d| (d.pos.line, d.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (2, "runtime.base"),
            (7, "runtime.entrypoint"),
            (3, "runtime.workdir"),
            (4, "runtime.ports[0]"),
            (4, "runtime.ports[1]"),
            (5, "runtime.volumes[0]"),
            (6, "runtime.stop_signal"),
            (9, "build.flags[0]"),
            (9, "build.flags[1]"),
        ]
    );
    let message = problem("build:\n  cgo: maybe\n");
    assert!(
        message.starts_with("go-build.yaml:2:8: build.cgo: "),
        "{message}"
    );
    let message = problem("runtime:\n  bse: scratch\n");
    assert!(
        message.starts_with("go-build.yaml:2:3: runtime.bse: unknown field `bse`"),
        "{message}"
    );
}

#[test]
fn private_entries_need_one_way_in_and_known_hosts() {
    let error = load(
        "go-build.yaml",
        b"private:\n  - modules: a.example/*\n  - modules: b.example/*\n    ssh: {id: default}\n  - modules: c.example/*\n    git: ftp://c/\n    netrc: {secret: n}\n",
    )
    .expect_err("three broken entries");
    let found: Vec<(u32, &str)> = error
        .diagnostics
        .iter()
        .map(|d| (d.pos.line, d.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (2, "private[0]"),
            (4, "private[1].ssh"),
            (4, "private[1].git"),
            (6, "private[2].git")
        ]
    );
    assert!(
        error
            .to_string()
            .contains("host-key checking is never turned off")
    );
}

#[test]
fn modules_and_sources_mistakes_are_located() {
    let error = load(
        "go-build.yaml",
        b"modules:\n  goflags: [\"-tags netgo\", -mod=mod]\n  vendor: sometimes\nsources:\n  include: [/etc/passwd]\n  exclude: [../secrets]\n",
    )
    .expect_err("every field is wrong");
    let found: Vec<(u32, u32, &str)> = error
        .diagnostics
        .iter()
        .map(|d| (d.pos.line, d.pos.column, d.path.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (2, 13, "modules.goflags[0]"),
            (2, 28, "modules.goflags[1]"),
            (3, 11, "modules.vendor"),
            (5, 13, "sources.include[0]"),
            (6, 13, "sources.exclude[0]"),
        ]
    );
    let message = problem("modules:\n  cache: disk\n");
    assert!(
        message.starts_with("go-build.yaml:2:10: modules.cache: "),
        "{message}"
    );
    let spec =
        load_ok("modules:\n  cache: mount\n  vendor: false\n  verify: true\n  network: true\n");
    assert_eq!(spec.modules.cache.value, ModuleCache::Mount);
    assert_eq!(spec.modules.vendor.value, Vendor::Off);
    assert!(spec.modules.verify && spec.modules.network.value);
}

/// Review findings (issue 10): values that reached a shell, git, the LLB or the image config
/// unchecked are now refused at their field.
#[test]
fn hostile_or_broken_values_are_refused_at_their_field() {
    let private = |entry: &str| format!("private:\n  - modules: corp.example/*\n{entry}");
    let cases = [
        (
            private("    netrc: {secret: \"tok;touch${IFS}/x\"}\n"),
            "private[0].netrc.secret",
        ),
        (
            private("    token: {secret: \"a/../b\"}\n    git: https://git.corp/\n"),
            "private[0].token.secret",
        ),
        (
            private(
                "    token: {secret: t, username: \"u\\npassword=x\"}\n    git: https://git.corp/\n",
            ),
            "private[0].token.username",
        ),
        (
            private("    git: ssh://git@git.corp/\n    ssh: {id: \"a,b\", known_hosts: [x]}\n"),
            "private[0].ssh.id",
        ),
        (
            private("    git: https://user:tok@git.corp/\n    netrc: {secret: n}\n"),
            "private[0].git",
        ),
        (
            private("    git: http://git.corp/\n    token: {secret: t}\n"),
            "private[0].git",
        ),
        (
            "private:\n  - modules: \"a.example/*,b.example\"\n    netrc: {secret: n}\n"
                .to_string(),
            "private[0].modules",
        ),
        (
            "modules:\n  proxy: https://u:p@proxy.corp/\n".to_string(),
            "modules.proxy",
        ),
        (
            "build:\n  env: {GOOS: windows}\n".to_string(),
            "build.env.GOOS",
        ),
        ("build:\n  env: {\"A-B\": x}\n".to_string(), "build.env.A-B"),
        (
            "build:\n  flags: [--ldflags=-X a=b]\n".to_string(),
            "build.flags[0]",
        ),
        (
            "build:\n  flags: [-trimpath=false]\n".to_string(),
            "build.flags[0]",
        ),
        (
            "build:\n  flags: [--mod=mod]\n".to_string(),
            "build.flags[0]",
        ),
        (
            "modules:\n  goflags: [--mod=mod]\n".to_string(),
            "modules.goflags[0]",
        ),
        (
            "runtime:\n  stop_signal: SIGBANANA\n".to_string(),
            "runtime.stop_signal",
        ),
        (
            "runtime:\n  stop_signal: \"0\"\n".to_string(),
            "runtime.stop_signal",
        ),
        (
            "runtime:\n  env: {\"1X\": y}\n".to_string(),
            "runtime.env.1X",
        ),
    ];
    for (text, path) in cases {
        let found = problem(&text);
        assert!(
            found.contains(&format!(" {path}: ")),
            "{text:?} should be refused at {path}, got: {found}"
        );
    }
}

#[test]
fn legitimate_ids_urls_and_loopback_http_are_kept() {
    let spec = load_ok(
        "private:\n  - modules: corp.example/*\n    git: https://git.corp\n    token: {secret: \"my token\"}\n  - modules: local.example/*\n    git: http://127.0.0.1:8080/\n    token: {secret: t}\n",
    );
    let git = spec.private[0].git.as_ref().expect("git");
    assert_eq!(git.value, "https://git.corp/", "a prefix ends with /");
    assert!(matches!(&spec.private[0].auth, Auth::Token { secret, .. } if secret == "my token"));
}

/// Messages speak the spec's language, not the YAML library's or Rust's (issue 10).
#[test]
fn messages_never_leak_implementation_words() {
    for (text, expected) in [
        (
            "runtime:\n  entrypoint: {a: b}\n",
            "expected a binary's name or a list of strings",
        ),
        (
            "binaries:\n  - package: .\nbinaries:\n  - package: .\n",
            "`binaries` appears twice",
        ),
        (
            "binaries: []\n---\nbinaries: []\n",
            "a spec is one YAML document",
        ),
        ("build:\n  tags: &x [*x]\n", "a YAML alias refers to itself"),
        ("build:\n  flags: &a [x]\n  tags: [*a]\n", "expected string"),
    ] {
        let found = problem(text);
        assert!(found.contains(expected), "{text:?}: {found}");
        for leak in [
            "untagged",
            "Raw",
            "DuplicateKeyPolicy",
            "from_str",
            "weak recursion",
            "(used",
        ] {
            assert!(!found.contains(leak), "{text:?} leaks {leak:?}: {found}");
        }
    }
}

#[test]
fn invalid_source_globs_and_huge_specs_are_refused() {
    assert!(
        problem("sources:\n  include: [\"assets/[a\"]\n")
            .contains("sources.include[0]: `assets/[a` is not a valid pattern"),
    );
    let huge = format!("# {}\n", "x".repeat(MAX_SPEC_BYTES));
    let error = load("go-build.yaml", huge.as_bytes()).expect_err("too big");
    assert!(
        error.to_string().contains("a spec may have at most"),
        "{error}"
    );
    assert!(
        error.source.is_empty(),
        "a huge spec is not sent back for an excerpt"
    );
}

const SHARED: &str = "\
builder: golang:1.27-bookworm
platforms: [linux/amd64, linux/arm64]
modules:
  proxy: https://goproxy.corp
runtime:
  labels:
    team: payments
    tier: backend
";

fn load_extending(spec: &str, shared: &str, org: Option<&org::Org>) -> Result<Spec, SpecError> {
    let shared = SharedSpec {
        file: "build/go-build.base.yaml",
        source: shared.as_bytes(),
    };
    load_under("go-build.yaml", spec.as_bytes(), Some(shared), org)
}

#[test]
fn extends_merges_maps_key_by_key_and_replaces_lists() {
    let spec = "extends: build/go-build.base.yaml\nplatforms: [linux/arm64]\nmodules:\n  private: [git.corp/*]\nruntime:\n  labels:\n    tier: frontend\n";
    let spec = load_extending(spec, SHARED, None).expect("a valid spec");
    assert_eq!(
        spec.extends.map(|e| e.value).as_deref(),
        Some("build/go-build.base.yaml")
    );
    let builder = spec.builder.expect("the shared builder");
    assert_eq!(builder.value, "golang:1.27-bookworm");
    assert_eq!(builder.pos.origin, Origin::Extends);
    assert_eq!(builder.pos.line, 1);
    // Lists replace: the service's one platform, not three.
    let platforms: Vec<String> = spec.platforms.iter().map(|p| p.value.to_string()).collect();
    assert_eq!(platforms, ["linux/arm64"]);
    // Sections merge field by field.
    let proxy = spec.modules.proxy.expect("the shared proxy");
    assert_eq!(proxy.pos.origin, Origin::Extends);
    assert_eq!(spec.modules.private[0].value, "git.corp/*");
    // Maps merge key by key, the service's value winning.
    let labels: Vec<(&str, &str)> = spec
        .runtime
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(labels, [("team", "payments"), ("tier", "frontend")]);
}

#[test]
fn a_shared_spec_cannot_say_what_one_service_builds() {
    let shared = format!("{SHARED}binaries:\n  - package: ./cmd/api\nextends: other.yaml\n");
    let error = load_extending("extends: build/go-build.base.yaml\n", &shared, None)
        .expect_err("binaries and extends are the service's");
    let lines: Vec<String> = error.diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "build/go-build.base.yaml:11:10: extends: `extends` says what one service builds; a shared spec cannot set it (set it in the spec that extends this one)",
            "build/go-build.base.yaml:10:3: binaries: `binaries` says what one service builds; a shared spec cannot set it (set it in the spec that extends this one)",
        ]
    );
    assert_eq!(
        error.also[0].0, "build/go-build.base.yaml",
        "its excerpt travels"
    );
    // A mistake in the shared spec points into it too.
    let error = load_extending("extends: build/go-build.base.yaml\n", "go: one\n", None)
        .expect_err("not a Go version");
    assert_eq!(
        error.diagnostics[0].to_string(),
        "build/go-build.base.yaml:1:5: go: `one` is not a Go version (write it like 1.27 or 1.27.3)"
    );
    assert_eq!(
        problem("extends: ../base.yaml\n"),
        "go-build.yaml:1:10: extends: `../base.yaml` leaves the build context (the build only sees files inside the context directory)"
    );
}

#[test]
fn the_service_wins_over_its_shared_spec_which_wins_over_the_org() {
    let org = org::load(
        "org.yaml",
        b"defaults:\n  go: \"1.26\"\n  builder: mirror.corp/golang:1.26-bookworm\n  runtime:\n    workdir: /srv\npolicy:\n  locked: [modules.proxy]\n",
    )
    .expect("a valid org file");
    let spec = load_extending(
        "extends: build/go-build.base.yaml\ngo: \"1.27\"\n",
        "builder: golang:1.27-bookworm\n",
        Some(&org),
    )
    .expect("a valid spec");
    assert_eq!(spec.go.map(|g| g.pos.origin), Some(Origin::Spec));
    assert_eq!(spec.builder.map(|b| b.pos.origin), Some(Origin::Extends));
    assert_eq!(
        spec.runtime.workdir.map(|w| w.pos.origin),
        Some(Origin::Org)
    );
    // Where each field is written, by layer; built-in fields are not there.
    let origin_of = |field: &str| spec.written.get(field).map(|p| (p.origin, p.line));
    assert_eq!(origin_of("go"), Some((Origin::Spec, 2)));
    assert_eq!(origin_of("builder"), Some((Origin::Extends, 1)));
    assert_eq!(origin_of("runtime.workdir"), Some((Origin::Org, 5)));
    assert_eq!(origin_of("runtime.user"), None);
    // A locked field is the repository's doing in its shared spec too.
    let error = load_extending("extends: build/go-build.base.yaml\n", SHARED, Some(&org))
        .expect_err("the proxy is locked");
    assert_eq!(
        error.diagnostics[0].to_string(),
        "build/go-build.base.yaml:4:10: modules.proxy: is set by the organisation and locked (org.yaml:7: policy.locked: modules.proxy; remove it from this spec)"
    );
}

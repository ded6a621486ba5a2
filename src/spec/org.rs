//! The organisation's baseline: `/etc/gobuild-frontend/org.yaml` in the frontend image.
//!
//! A platform team builds its own frontend image from ours with this file added, and every
//! repository names that image on its first line: versioning the baseline is versioning the
//! image. `defaults:` is written like a go-build.yaml and sits between the built-in defaults
//! and each repository's spec ([`super::RawSpec::over`]); `policy:` says what repositories may
//! not change and what every effective spec must satisfy. A violation names the spec's line
//! and the rule's.

use serde::Deserialize;

use super::{
    Base, Diagnostic, GoVersion, Located, Origin, Pos, Problems, RawSpec, Spanned, Spec, SpecError,
};

/// Where the frontend looks for the baseline in its own image.
pub const ORG_FILE: &str = "/etc/gobuild-frontend/org.yaml";

/// What `policy.locked` may name: a section, or one of its fields.
const LOCKABLE: &[&str] = &[
    "go",
    "builder",
    "platforms",
    "private",
    "modules",
    "modules.proxy",
    "modules.private",
    "modules.sumdb",
    "modules.goflags",
    "modules.verify",
    "modules.network",
    "modules.cache",
    "modules.vendor",
    "build",
    "build.tags",
    "build.ldflags",
    "build.gcflags",
    "build.trimpath",
    "build.flags",
    "build.env",
    "build.cgo",
    "build.vcs",
    "build.compiled_deps",
    "runtime",
    "runtime.base",
    "runtime.user",
    "runtime.entrypoint",
    "runtime.cmd",
    "runtime.env",
    "runtime.workdir",
    "runtime.ports",
    "runtime.volumes",
    "runtime.labels",
    "runtime.stop_signal",
];

/// Fields that say what one repository builds: never an organisation's default, nor in a
/// shared spec.
const REPOSITORY_FIELDS: &[&str] = &["version", "extends", "module", "binaries", "sources"];

/// A loaded baseline.
#[derive(Debug, Clone)]
pub struct Org {
    pub file: String,
    pub source: Vec<u8>,
    pub(super) defaults: RawSpec,
    pub policy: Policy,
}

/// What every effective spec must satisfy. Each rule keeps where the org file states it.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Fields (or whole sections) a repository's spec may not set.
    locked: Vec<Located<String>>,
    /// Prefixes the builder image reference must start with, as written.
    builder_images: Option<Located<Vec<String>>>,
    /// Prefixes an image runtime base must start with (`scratch` is always allowed).
    runtime_images: Option<Located<Vec<String>>>,
    /// `true`: the image may not run as root.
    non_root: Option<Located<bool>>,
    /// Labels every image must carry.
    required_labels: Option<Located<Vec<String>>>,
    /// `false`: `modules.network: true` is refused.
    module_network: Option<Located<bool>>,
    /// `go build` and GOFLAGS flags no build may use (`-race` forbids `-race` and `-race=…`).
    forbidden_flags: Option<Located<Vec<String>>>,
    /// The oldest Go a build may use.
    min_go: Option<Located<GoVersion>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawOrg {
    version: Option<Spanned<u32>>,
    defaults: Option<Spanned<RawSpec>>,
    policy: Option<Spanned<RawPolicy>>,
}

#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    locked: Option<Vec<Spanned<String>>>,
    builder_images: Option<Spanned<Vec<String>>>,
    runtime_images: Option<Spanned<Vec<String>>>,
    non_root: Option<Spanned<bool>>,
    required_labels: Option<Spanned<Vec<String>>>,
    module_network: Option<Spanned<bool>>,
    forbidden_flags: Option<Spanned<Vec<String>>>,
    min_go: Option<Spanned<String>>,
}

/// Reads and checks a baseline. `file` names it in diagnostics.
pub fn load(file: &str, bytes: &[u8]) -> Result<Org, SpecError> {
    let mut problems = Problems {
        file: file.to_string(),
        org_file: file.to_string(),
        shared_file: String::new(),
        list: Vec::new(),
    };
    let raw = match super::parse::<RawOrg>(bytes, Origin::Org) {
        Ok(raw) => raw.unwrap_or_default(),
        Err(failure) => {
            problems.push(failure.0, &failure.1, failure.2, None);
            return Err(org_error(file, bytes, problems));
        }
    };
    if let Some(version) = raw.version.as_ref().filter(|v| v.value != 1) {
        problems.push(
            version.pos,
            "version",
            format!("unsupported org file version {}", version.value),
            Some("this frontend understands version 1"),
        );
    }
    let defaults = raw.defaults.map(|d| d.value).unwrap_or_default();
    for (field, pos) in repository_fields(&defaults) {
        problems.push(
            pos,
            &format!("defaults.{field}"),
            format!("`{field}` says what one repository builds; it is not a default"),
            Some("set it in each repository's go-build.yaml"),
        );
    }
    let policy = raw
        .policy
        .map(|p| policy(p.value, &mut problems))
        .unwrap_or_default();
    // Defaults the policy refuses would fail every build: say so here, at the defaults.
    // What only a repository can satisfy (its labels, its own builder) waits for one.
    if let Some(effective) = super::validate(defaults.clone(), &mut problems) {
        let mut refused = Problems {
            list: Vec::new(),
            ..problems.clone()
        };
        policy.check(&effective, &mut refused);
        let at_defaults = refused
            .list
            .into_iter()
            .filter(|d| d.pos.origin == Origin::Org);
        problems.list.extend(at_defaults);
    }
    if problems.list.is_empty() {
        Ok(Org {
            file: file.to_string(),
            source: bytes.to_vec(),
            defaults,
            policy,
        })
    } else {
        Err(org_error(file, bytes, problems))
    }
}

fn org_error(file: &str, bytes: &[u8], problems: Problems) -> SpecError {
    SpecError {
        file: file.to_string(),
        source: bytes.to_vec(),
        also: Vec::new(),
        diagnostics: problems.list,
    }
}

pub(super) fn repository_fields(defaults: &RawSpec) -> Vec<(&'static str, Pos)> {
    let set = [
        defaults.version.as_ref().map(|v| v.pos),
        defaults.extends.as_ref().map(|v| v.pos),
        defaults.module.as_ref().map(|v| v.pos),
        defaults.binaries.as_ref().map(|v| v.pos),
        defaults.sources.as_ref().map(|v| v.pos),
    ];
    REPOSITORY_FIELDS
        .iter()
        .zip(set)
        .filter_map(|(field, pos)| Some((*field, pos?)))
        .collect()
}

fn policy(raw: RawPolicy, problems: &mut Problems) -> Policy {
    let locked: Vec<Located<String>> = raw
        .locked
        .unwrap_or_default()
        .into_iter()
        .map(Located::from_spanned)
        .collect();
    for (i, field) in locked.iter().enumerate() {
        if !LOCKABLE.contains(&field.value.as_str()) {
            problems.push(
                field.pos,
                &format!("policy.locked[{i}]"),
                format!("`{}` is not a field a repository can set", field.value),
                Some("name a section (modules, build, runtime) or one of its fields, e.g. modules.proxy"),
            );
        }
    }
    let list = |rule: Option<Spanned<Vec<String>>>| rule.map(Located::from_spanned);
    let policy = Policy {
        locked,
        builder_images: list(raw.builder_images),
        runtime_images: list(raw.runtime_images),
        non_root: raw.non_root.map(Located::from_spanned),
        required_labels: list(raw.required_labels),
        module_network: raw.module_network.map(Located::from_spanned),
        forbidden_flags: list(raw.forbidden_flags),
        min_go: raw
            .min_go
            .and_then(|min| match GoVersion::parse(&min.value) {
                Some(version) => Some(Located {
                    value: version,
                    pos: min.pos,
                }),
                None => {
                    problems.push(
                        min.pos,
                        "policy.min_go",
                        format!("`{}` is not a Go version", min.value),
                        Some("write it like 1.26 or 1.26.3"),
                    );
                    None
                }
            }),
    };
    let lists = [
        ("builder_images", &policy.builder_images),
        ("runtime_images", &policy.runtime_images),
        ("required_labels", &policy.required_labels),
        ("forbidden_flags", &policy.forbidden_flags),
    ];
    for (name, rule) in lists {
        let Some(rule) = rule else { continue };
        if rule.value.is_empty() || rule.value.iter().any(|v| v.trim().is_empty()) {
            problems.push(
                rule.pos,
                &format!("policy.{name}"),
                "has an empty entry or none at all".to_string(),
                Some("leave the rule out to allow anything"),
            );
        }
    }
    if let Some(rule) = &policy.forbidden_flags {
        for flag in rule.value.iter().filter(|f| !f.starts_with('-')) {
            problems.push(
                rule.pos,
                "policy.forbidden_flags",
                format!("`{flag}` is not a flag"),
                Some("write flags as go does, e.g. -race"),
            );
        }
    }
    policy
}

impl Policy {
    /// The repository's spec may not set a locked field: `fields` are those it sets.
    pub(super) fn check_locked(&self, fields: &[(&'static str, Pos)], problems: &mut Problems) {
        for lock in &self.locked {
            for (field, pos) in fields.iter().filter(|(f, _)| covers(&lock.value, f)) {
                let rule = self.rule(problems, lock.pos, "locked", &lock.value);
                problems.violation(
                    *pos,
                    field,
                    "is set by the organisation and locked".to_string(),
                    &format!("{rule}; remove it from this spec"),
                    lock.pos,
                );
            }
        }
    }

    /// The effective spec against every other rule.
    pub(super) fn check(&self, spec: &Spec, problems: &mut Problems) {
        if let Some(rule) = &self.builder_images {
            let (builder, pos) = match &spec.builder {
                Some(b) => (b.value.as_str(), b.pos),
                None => ("golang:", Pos::START),
            };
            if !starts_with_any(builder, &rule.value) {
                let why = self.rule(problems, rule.pos, "builder_images", &rule.value.join(", "));
                let message = match &spec.builder {
                    Some(_) => format!("`{builder}` is not an allowed builder image"),
                    None => "the default builder (golang:…-bookworm) is not allowed".to_string(),
                };
                problems.violation(pos, "builder", message, &why, rule.pos);
            }
        }
        if let Some(rule) = &self.runtime_images {
            let base = match &spec.runtime.base {
                Some(Located {
                    value: Base::Image(image),
                    pos,
                }) => Some((image.as_str(), *pos)),
                Some(_) => None,
                // Without a base, cgo builds run on debian-slim; others on scratch.
                None => spec
                    .build
                    .cgo
                    .value
                    .then_some(("debian:bookworm-slim", Pos::START)),
            };
            if let Some((image, pos)) = base.filter(|(i, _)| !starts_with_any(i, &rule.value)) {
                let why = self.rule(problems, rule.pos, "runtime_images", &rule.value.join(", "));
                problems.violation(
                    pos,
                    "runtime.base",
                    format!("`{image}` is not an allowed runtime base"),
                    &why,
                    rule.pos,
                );
            }
        }
        let as_root = spec.runtime.user.value.uid == 0;
        if let Some(rule) = self.non_root.as_ref().filter(|r| r.value && as_root) {
            let why = self.rule(problems, rule.pos, "non_root", "true");
            problems.violation(
                spec.runtime.user.pos,
                "runtime.user",
                "the image would run as root".to_string(),
                &why,
                rule.pos,
            );
        }
        if let Some(rule) = &self.required_labels {
            // The repository's own labels, else its first line.
            let labels_at = spec
                .written
                .get("runtime.labels")
                .filter(|pos| pos.origin != Origin::Org)
                .copied()
                .unwrap_or(Pos::START);
            for label in rule
                .value
                .iter()
                .filter(|l| !spec.runtime.labels.contains_key(*l))
            {
                let why = self.rule(
                    problems,
                    rule.pos,
                    "required_labels",
                    &rule.value.join(", "),
                );
                problems.violation(
                    labels_at,
                    "runtime.labels",
                    format!("the image lacks the label `{label}`"),
                    &why,
                    rule.pos,
                );
            }
        }
        let network = spec.modules.network.value;
        if let Some(rule) = self.module_network.as_ref().filter(|r| !r.value && network) {
            let why = self.rule(problems, rule.pos, "module_network", "false");
            problems.violation(
                spec.modules.network.pos,
                "modules.network",
                "the build step may not use the network".to_string(),
                &why,
                rule.pos,
            );
        }
        if let Some(rule) = &self.forbidden_flags {
            let flags = spec
                .build
                .flags
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("build.flags[{i}]"), f))
                .chain(
                    spec.modules
                        .goflags
                        .iter()
                        .enumerate()
                        .map(|(i, f)| (format!("modules.goflags[{i}]"), f)),
                );
            for (path, flag) in flags {
                if rule.value.iter().any(|f| *f == flag_name(&flag.value)) {
                    let why = self.rule(
                        problems,
                        rule.pos,
                        "forbidden_flags",
                        &rule.value.join(", "),
                    );
                    problems.violation(
                        flag.pos,
                        &path,
                        format!("`{}` is forbidden", flag.value),
                        &why,
                        rule.pos,
                    );
                }
            }
        }
    }

    /// Build args the frontend reads in place of a spec field, against the same rules: a
    /// locked field's variable, the runtime base, forbidden flags in GOFLAGS.
    pub fn check_build_args(
        &self,
        args: &crate::options::BuildArgs,
        org_file: &str,
    ) -> Result<(), SpecError> {
        let mut problems = Problems {
            file: "--build-arg".to_string(),
            org_file: org_file.to_string(),
            shared_file: String::new(),
            list: Vec::new(),
        };
        let standing_in = [
            ("GOPROXY", "modules.proxy"),
            ("GOSUMDB", "modules.sumdb"),
            ("GOPRIVATE", "modules.private"),
            ("GONOPROXY", "modules.private"),
            ("GONOSUMDB", "modules.private"),
            ("GOFLAGS", "modules.goflags"),
        ];
        let mut fields: Vec<(&str, &str)> = standing_in
            .into_iter()
            .filter(|(arg, _)| args.go_env.contains_key(*arg))
            .collect();
        if args.runtime_base.is_some() {
            fields.push(("GOBUILD_RUNTIME_BASE", "runtime.base"));
        }
        for (arg, field) in fields {
            for lock in self.locked.iter().filter(|l| covers(&l.value, field)) {
                let why = self.rule(&problems, lock.pos, "locked", &lock.value);
                problems.violation(
                    Pos::default(),
                    arg,
                    format!("stands in for `{field}`, which the organisation sets and locks"),
                    &why,
                    lock.pos,
                );
            }
        }
        let base = args.runtime_base.as_deref().filter(|b| *b != "scratch");
        if let (Some(base), Some(rule)) = (base, &self.runtime_images)
            && !starts_with_any(base, &rule.value)
        {
            let why = self.rule(
                &problems,
                rule.pos,
                "runtime_images",
                &rule.value.join(", "),
            );
            problems.violation(
                Pos::default(),
                "GOBUILD_RUNTIME_BASE",
                format!("`{base}` is not an allowed runtime base"),
                &why,
                rule.pos,
            );
        }
        if let (Some(goflags), Some(rule)) = (args.go_env.get("GOFLAGS"), &self.forbidden_flags) {
            for flag in goflags.split_whitespace() {
                if rule.value.iter().any(|f| *f == flag_name(flag)) {
                    let why = self.rule(
                        &problems,
                        rule.pos,
                        "forbidden_flags",
                        &rule.value.join(", "),
                    );
                    problems.violation(
                        Pos::default(),
                        "GOFLAGS",
                        format!("`{flag}` is forbidden"),
                        &why,
                        rule.pos,
                    );
                }
            }
        }
        if problems.list.is_empty() {
            Ok(())
        } else {
            Err(SpecError {
                file: problems.file,
                source: Vec::new(),
                also: Vec::new(),
                diagnostics: problems.list,
            })
        }
    }

    /// The Go the build uses, chosen at `file:line` (the spec, go.mod or go.work), against
    /// `min_go`. A version without a patch is that line's newest release.
    pub fn check_go(
        &self,
        go: GoVersion,
        (file, line): (&str, u32),
        org_file: &str,
    ) -> Option<Diagnostic> {
        let min = self.min_go.as_ref()?;
        let min_go = min.value;
        let older = match (go.patch, min_go.patch) {
            (Some(patch), Some(min_patch)) => {
                (go.major, go.minor, patch) < (min_go.major, min_go.minor, min_patch)
            }
            _ => (go.major, go.minor) < (min_go.major, min_go.minor),
        };
        older.then(|| Diagnostic {
            file: file.to_string(),
            pos: Pos::at(line, 1),
            path: String::new(),
            message: format!("Go {go} is older than the organisation allows"),
            hint: Some(format!(
                "{org_file}:{}: policy.min_go: {}",
                min.pos.line, min.value
            )),
            broken_rule: Some(Box::new((org_file.to_string(), min.pos.line))),
        })
    }

    /// Where a rule is written, for the hint beside a violation.
    fn rule(&self, problems: &Problems, pos: Pos, name: &str, value: &str) -> String {
        format!("{}:{}: policy.{name}: {value}", problems.org_file, pos.line)
    }
}

/// Whether a lock on `lock` (a section or a field) covers `field`.
fn covers(lock: &str, field: &str) -> bool {
    field == lock
        || field
            .strip_prefix(lock)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// A flag as Go reads it: `--race=true` is `-race`.
fn flag_name(flag: &str) -> String {
    let name = flag.split('=').next().unwrap_or_default();
    format!("-{}", name.trim_start_matches('-'))
}

fn starts_with_any(value: &str, prefixes: &[String]) -> bool {
    prefixes.iter().any(|p| value.starts_with(p.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Diagnostic, load_under};

    const ORG: &str = "\
version: 1
defaults:
  builder: mirror.corp/golang:1.27-bookworm
  modules:
    proxy: https://goproxy.corp
  runtime:
    labels:
      org.opencontainers.image.vendor: Corp
policy:
  locked: [modules.proxy]
  builder_images: [mirror.corp/]
  runtime_images: [mirror.corp/]
  non_root: true
  required_labels: [org.opencontainers.image.source]
  module_network: false
  forbidden_flags: [-race]
";

    fn org() -> Org {
        load("/etc/gobuild-frontend/org.yaml", ORG.as_bytes()).expect("a valid org file")
    }

    fn problems(spec: &str) -> Vec<Diagnostic> {
        load_under("go-build.yaml", spec.as_bytes(), None, Some(&org()))
            .expect_err("the policy refuses it")
            .diagnostics
    }

    const LABELLED: &str =
        "runtime:\n  labels:\n    org.opencontainers.image.source: https://git.corp/app\n";

    #[test]
    fn defaults_sit_under_the_spec() {
        let spec = load_under("go-build.yaml", LABELLED.as_bytes(), None, Some(&org()))
            .expect("a conforming spec");
        let builder = spec.builder.expect("the org's builder");
        assert_eq!(builder.value, "mirror.corp/golang:1.27-bookworm");
        assert_eq!(
            builder.pos,
            Pos {
                line: 3,
                column: 12,
                origin: Origin::Org
            }
        );
        let proxy = spec.modules.proxy.expect("the org's proxy");
        assert_eq!(proxy.value, "https://goproxy.corp");
        // Maps merge key by key.
        let labels: Vec<&str> = spec.runtime.labels.keys().map(String::as_str).collect();
        assert_eq!(
            labels,
            [
                "org.opencontainers.image.source",
                "org.opencontainers.image.vendor"
            ]
        );
    }

    #[test]
    fn a_locked_field_names_both_lines() {
        let found = problems(&format!(
            "modules:\n  proxy: https://proxy.golang.org\n{LABELLED}"
        ));
        assert_eq!(found.len(), 1, "{found:?}");
        let message = found[0].to_string();
        assert!(
            message.starts_with(
                "go-build.yaml:2:10: modules.proxy: is set by the organisation and locked"
            ) && message
                .contains("/etc/gobuild-frontend/org.yaml:10: policy.locked: modules.proxy"),
            "{message}"
        );
    }

    #[test]
    fn every_rule_points_at_the_spec_line_and_the_rule() {
        let spec = "\
builder: golang:1.27-bookworm
modules:
  network: true
build:
  flags: [-race]
runtime:
  base: debian:bookworm-slim
  user: root
";
        let found: Vec<String> = problems(spec).iter().map(ToString::to_string).collect();
        let expect = [
            (
                "go-build.yaml:1:10: builder:",
                "org.yaml:11: policy.builder_images",
            ),
            (
                "go-build.yaml:7:9: runtime.base:",
                "org.yaml:12: policy.runtime_images",
            ),
            (
                "go-build.yaml:8:9: runtime.user: the image would run as root",
                "org.yaml:13: policy.non_root",
            ),
            (
                "go-build.yaml:1:1: runtime.labels: the image lacks the label `org.opencontainers.image.source`",
                "org.yaml:14",
            ),
            (
                "go-build.yaml:3:12: modules.network:",
                "org.yaml:15: policy.module_network",
            ),
            (
                "go-build.yaml:5:11: build.flags[0]: `-race` is forbidden",
                "org.yaml:16: policy.forbidden_flags",
            ),
        ];
        for (at, rule) in expect {
            assert!(
                found.iter().any(|f| f.starts_with(at) && f.contains(rule)),
                "{at} … {rule} in {found:#?}"
            );
        }
        assert_eq!(found.len(), expect.len(), "{found:#?}");
        // With labels of its own, the spec's labels are to blame.
        let own_labels = problems("runtime:\n  labels:\n    team: payments\n");
        assert!(
            own_labels
                .iter()
                .any(|d| d.path == "runtime.labels" && d.pos.line == 3),
            "{own_labels:#?}"
        );
    }

    #[test]
    fn build_args_standing_in_for_fields_meet_the_same_rules() {
        let org = load(
            "org.yaml",
            b"policy:\n  locked: [modules]\n  runtime_images: [gcr.io/distroless/]\n  forbidden_flags: [-race]\n",
        )
        .expect("a valid org file");
        let args = |pairs: &[(&str, &str)]| {
            let map = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            crate::options::BuildArgs::parse(&map).expect("valid build args")
        };
        let allowed = args(&[("GOBUILD_RUNTIME_BASE", "gcr.io/distroless/static-debian12")]);
        assert!(org.policy.check_build_args(&allowed, "org.yaml").is_ok());
        let refused = args(&[
            ("GOPROXY", "https://proxy.golang.org"),
            ("GOBUILD_RUNTIME_BASE", "debian:12"),
            ("GOFLAGS", "-mod=mod --race"),
        ]);
        let message = org
            .policy
            .check_build_args(&refused, "org.yaml")
            .expect_err("three violations")
            .to_string();
        for expect in [
            "--build-arg: GOPROXY: stands in for `modules.proxy`, which the organisation sets and locks (org.yaml:2: policy.locked: modules)",
            "--build-arg: GOFLAGS: stands in for `modules.goflags`",
            "--build-arg: GOBUILD_RUNTIME_BASE: `debian:12` is not an allowed runtime base (org.yaml:3: policy.runtime_images",
            "--build-arg: GOFLAGS: `--race` is forbidden (org.yaml:4: policy.forbidden_flags",
        ] {
            assert!(message.contains(expect), "{expect}\nin\n{message}");
        }
    }

    #[test]
    fn the_go_a_build_uses_is_at_least_the_minimum() {
        let org = load("org.yaml", b"version: 1\npolicy:\n  min_go: \"1.26.2\"\n")
            .expect("a valid org file");
        let check = |go: &str| {
            let go = GoVersion::parse(go).expect("a Go version");
            org.policy
                .check_go(go, ("go.mod", 3), "org.yaml")
                .map(|d| d.to_string())
        };
        assert_eq!(
            check("1.25.9").as_deref(),
            Some(
                "go.mod:3:1: Go 1.25.9 is older than the organisation allows (org.yaml:3: policy.min_go: 1.26.2)"
            )
        );
        assert!(check("1.26.1").is_some());
        for allowed in ["1.26", "1.26.2", "1.27", "2.0"] {
            assert_eq!(check(allowed), None, "{allowed}");
        }
    }

    #[test]
    fn mistakes_in_the_org_file_point_into_it() {
        let cases = [
            (
                "policy:\n  locked: [modules.prxy]\n",
                "org.yaml:2:12: policy.locked[0]: `modules.prxy` is not a field",
            ),
            (
                "defaults:\n  binaries:\n    - package: .\n",
                "org.yaml:3:5: defaults.binaries: `binaries` says what one repository builds",
            ),
            (
                "policy:\n  non_root: yes please\n",
                "org.yaml:2:13: policy.non_root:",
            ),
            (
                "defaults:\n  modules:\n    goflags: [mod=vendor]\n",
                "org.yaml:3:15: modules.goflags[0]: `mod=vendor` is not one Go flag",
            ),
            (
                "defaults:\n  runtime:\n    user: root\npolicy:\n  non_root: true\n",
                "org.yaml:3:11: runtime.user: the image would run as root",
            ),
        ];
        for (text, expect) in cases {
            let error = load("org.yaml", text.as_bytes()).expect_err(text);
            let message = error.to_string();
            assert!(message.contains(expect), "{text}: {message}");
            assert!(
                error.diagnostics.iter().all(|d| d.file == "org.yaml"),
                "{message}"
            );
        }
    }
}

//! Findings: what `docker buildx build --check` reports without building, and what a build
//! shows as warnings. Each names a rule, says what is wrong and why it matters, and points at
//! the line responsible where there is one.

use serde::Serialize;

use super::Known;
use crate::spec::{Base, Diagnostic, GoVersion, Located, has_password};

/// What is checked. Names and descriptions follow BuildKit's Dockerfile checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Rule {
    /// go.mod (or go.work) wants a newer Go than the builder image has.
    GoVersionDrift,
    /// An image named by tag only: what it is can change under the build.
    UnpinnedImage,
    /// The program runs as root in the image.
    RunsAsRoot,
    /// A build arg that carries a credential.
    CredentialsInBuildArg,
    /// The build step may reach the network.
    ModuleNetwork,
    /// The org baseline's policy refuses the spec: the build fails.
    OrgPolicy,
    /// The spec (or go.mod) has a mistake: the build fails.
    InvalidSpec,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::GoVersionDrift => "GoVersionDrift",
            Rule::UnpinnedImage => "UnpinnedImage",
            Rule::RunsAsRoot => "RunsAsRoot",
            Rule::CredentialsInBuildArg => "CredentialsInBuildArg",
            Rule::ModuleNetwork => "ModuleNetwork",
            Rule::OrgPolicy => "OrgPolicy",
            Rule::InvalidSpec => "InvalidSpec",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Rule::GoVersionDrift => "The builder's Go should be as new as go.mod asks",
            Rule::UnpinnedImage => "Images should be pinned by digest",
            Rule::RunsAsRoot => "The image should not run as root",
            Rule::CredentialsInBuildArg => "Credentials should be build secrets, not build args",
            Rule::ModuleNetwork => "The build step should run offline",
            Rule::OrgPolicy => "The organisation's policy must hold",
            Rule::InvalidSpec => "The spec must be valid",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub detail: String,
    /// The file and line responsible; none for a build arg.
    pub at: Option<(String, u32)>,
}

impl Finding {
    /// A problem that stops the build, as a finding: a broken org rule or a mistake.
    pub fn from_error(diagnostic: &Diagnostic) -> Finding {
        let rule = match diagnostic.broken_rule {
            Some(_) => Rule::OrgPolicy,
            None => Rule::InvalidSpec,
        };
        let mut detail = match diagnostic.path.as_str() {
            "" => diagnostic.message.clone(),
            path => format!("{path}: {}", diagnostic.message),
        };
        if let Some(hint) = &diagnostic.hint {
            detail.push_str(&format!(" ({hint})"));
        }
        Finding {
            rule,
            detail,
            at: (diagnostic.pos.line > 0).then(|| (diagnostic.file.clone(), diagnostic.pos.line)),
        }
    }
}

/// Build-arg names that say they carry a credential.
const CREDENTIAL_WORDS: &[&str] = &[
    "TOKEN",
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "CREDENTIAL",
    "API_KEY",
    "APIKEY",
    "PRIVATE_KEY",
    "AUTH",
];

/// What a build that gets this far should still be told, in the order of the spec.
pub fn findings(known: &Known) -> Vec<Finding> {
    let mut out = go_version_drift(known);
    let spec = known.spec;
    let at = |pos| Some((known.file_of(pos).to_string(), pos.line));
    let images = spec
        .builder
        .iter()
        .map(|b| ("builder", b.value.as_str(), b.pos));
    let runtime_base = spec
        .runtime
        .base
        .as_ref()
        .and_then(|base| match &base.value {
            Base::Image(image) => Some(("runtime.base", image.as_str(), base.pos)),
            _ => None,
        });
    for (field, image, pos) in images.chain(runtime_base) {
        if !image.contains("@sha256:") {
            out.push(Finding {
                rule: Rule::UnpinnedImage,
                detail: format!(
                    "{field}: `{image}` is a tag; a push to it changes what this builds (pin it: `{image}@sha256:…`)"
                ),
                at: at(pos),
            });
        }
    }
    if let Some(base) = known
        .options
        .args
        .runtime_base
        .as_deref()
        .filter(|b| *b != "scratch" && !b.contains("@sha256:"))
    {
        out.push(Finding {
            rule: Rule::UnpinnedImage,
            detail: format!("--build-arg GOBUILD_RUNTIME_BASE: `{base}` is a tag"),
            at: None,
        });
    }
    if spec.runtime.user.value.uid == 0 {
        out.push(Finding {
            rule: Rule::RunsAsRoot,
            detail: "runtime.user: the program runs as root; a flaw in it owns the container (leave `user` out for 65532:65532)".to_string(),
            at: at(spec.runtime.user.pos),
        });
    }
    if spec.modules.network.value {
        out.push(Finding {
            rule: Rule::ModuleNetwork,
            detail: "modules.network: the build step may download modules: the build is no longer hermetic, and a module the deps step missed goes unnoticed".to_string(),
            at: at(spec.modules.network.pos),
        });
    }
    for (name, value) in &known.options.build_args {
        let upper = name.to_ascii_uppercase();
        let named = CREDENTIAL_WORDS.iter().any(|w| upper.contains(w));
        if !value.is_empty() && (named || value.split(',').any(has_password)) {
            out.push(Finding {
                rule: Rule::CredentialsInBuildArg,
                detail: format!(
                    "--build-arg {name}: build args are kept in the build's history and provenance; pass credentials with --secret (see `private:` in the spec)"
                ),
                at: None,
            });
        }
    }
    out
}

/// go.mod's (or go.work's) `go` line newer than the builder's Go fails the build
/// (`GOTOOLCHAIN=local`); a newer `toolchain` line is only a wish, but the build then uses an
/// older Go than the developers do.
fn go_version_drift(known: &Known) -> Vec<Finding> {
    let spec = known.spec;
    // The Go the builder has, when the spec says it: a `golang`-style tag, else `go:`.
    let pinned: Option<Located<GoVersion>> = spec
        .builder
        .as_ref()
        .and_then(|b| tag_go_version(&b.value).map(|value| Located { value, pos: b.pos }))
        .or_else(|| spec.go.clone());
    let Some(pinned) = pinned else {
        return Vec::new();
    };
    let facts = known.modules;
    let (file, go, toolchain) = match &facts.work {
        Some(work) => (&work.file, work.go, work.toolchain),
        None => (&facts.main.file, facts.main.go, facts.main.toolchain),
    };
    let older = |wanted: GoVersion| match pinned.value.patch {
        Some(_) => pinned.value < wanted,
        // `1.27` is that line's newest release.
        None => (pinned.value.major, pinned.value.minor) < (wanted.major, wanted.minor),
    };
    let at = Some((known.file_of(pinned.pos).to_string(), pinned.pos.line));
    let mut out = Vec::new();
    if let Some((wanted, line)) = go.filter(|(v, _)| older(*v)) {
        out.push(Finding {
            rule: Rule::GoVersionDrift,
            detail: format!(
                "{file}:{line} needs Go {wanted} or newer, but the builder has Go {}: the build fails (GOTOOLCHAIN=local)",
                pinned.value
            ),
            at,
        });
    } else if let Some((wanted, line)) = toolchain.filter(|(v, _)| older(*v)) {
        out.push(Finding {
            rule: Rule::GoVersionDrift,
            detail: format!(
                "{file}:{line} asks for toolchain go{wanted}, but the builder has Go {}, which builds it",
                pinned.value
            ),
            at,
        });
    } else if let (Some(go), Some(builder)) = (&spec.go, &spec.builder)
        && let Some(tag) = tag_go_version(&builder.value)
        && go.value.line() != tag.line()
    {
        out.push(Finding {
            rule: Rule::GoVersionDrift,
            detail: format!(
                "go: says {}, but the builder image's tag says {tag}",
                go.value
            ),
            at: Some((known.file_of(go.pos).to_string(), go.pos.line)),
        });
    }
    out
}

/// The Go version in an official-style image tag: `golang:1.27-bookworm`,
/// `mirror.corp/go:1.27.3`; none for tags that do not start with one (`stable`, a digest).
fn tag_go_version(reference: &str) -> Option<GoVersion> {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let name_end = without_digest.rfind('/').map_or(0, |i| i + 1);
    let tag = without_digest[name_end..].split_once(':')?.1;
    let version = tag.split('-').next().unwrap_or(tag);
    GoVersion::parse(version)
}

//! The `runtime:` and `build:` sections: the image we hand back and how binaries are built.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Located, Pos, Problems, Spanned, User, ident, parse_user};

/// Short names for common runtime bases. `GOBUILD_RUNTIME_BASE` (build arg) overrides any base.
pub const SHORT_BASES: &[(&str, &str)] = &[
    (
        "distroless-static",
        "gcr.io/distroless/static-debian12:nonroot",
    ),
    ("distroless-base", "gcr.io/distroless/base-debian12:nonroot"),
    ("alpine", "alpine:3.20"),
    ("debian-slim", "debian:bookworm-slim"),
];

/// The runtime image (`runtime:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runtime {
    /// `None` means the default: scratch, or debian-slim when cgo is on.
    pub base: Option<Located<Base>>,
    pub user: Located<User>,
    pub entrypoint: Option<Located<Entrypoint>>,
    pub cmd: Vec<String>,
    /// `KEY=VALUE`, in spec order.
    pub env: Vec<String>,
    pub workdir: Option<Located<String>>,
    /// Normalized as `PORT/PROTO`.
    pub ports: Vec<Located<String>>,
    pub volumes: Vec<Located<String>>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<Located<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Base {
    Scratch,
    /// An image reference as written, or what a short name stands for.
    Image(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Entrypoint {
    /// One of the binaries, by name.
    Binary(String),
    /// A full command.
    Command(Vec<String>),
}

/// How binaries are built (`build:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildSettings {
    pub tags: Vec<String>,
    /// May use `{{ .Version }}`, `{{ .Revision }}`, `{{ .Date }}`, `{{ .Arg.NAME }}`.
    pub ldflags: Option<Located<String>>,
    pub gcflags: Option<Located<String>>,
    pub trimpath: bool,
    /// Extra `go build` flags.
    pub flags: Vec<Located<String>>,
    pub env: BTreeMap<String, String>,
    pub cgo: Located<bool>,
    /// Stamp VCS information (needs .git in the context).
    pub vcs: bool,
    /// When the imported packages from outside the context's modules compile in a step of
    /// their own, whose layer seeds the build's GOCACHE ([`crate::plan::compiled`]).
    pub compiled_deps: CompiledDeps,
}

/// When the compiled-dependencies step runs (`build.compiled_deps`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompiledDeps {
    /// `auto` (the default): when the build imports a cache (`--cache-from`). The step's layer
    /// is worth its cost where it travels — a runner whose state comes from an imported
    /// cache; a builder with its own warm build cache pays it on every new import for
    /// nothing.
    Auto,
    /// `true`: on every build, e.g. a long-lived builder whose cache mounts BuildKit's GC
    /// drops long before its layers.
    Always,
    /// `false`.
    Never,
}

impl CompiledDeps {
    /// Whether the step runs, for a build that does or does not import a cache.
    pub fn runs(self, imports_cache: bool) -> bool {
        match self {
            Self::Auto => imports_cache,
            Self::Always => true,
            Self::Never => false,
        }
    }
}

/// Written as in the spec: `auto`, `true` or `false`.
impl Serialize for CompiledDeps {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => serializer.serialize_str("auto"),
            Self::Always => serializer.serialize_bool(true),
            Self::Never => serializer.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for CompiledDeps {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Words;
        impl serde::de::Visitor<'_> for Words {
            type Value = CompiledDeps;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("true, false or auto")
            }
            fn visit_bool<E: serde::de::Error>(self, on: bool) -> Result<CompiledDeps, E> {
                Ok(if on {
                    CompiledDeps::Always
                } else {
                    CompiledDeps::Never
                })
            }
            fn visit_str<E: serde::de::Error>(self, word: &str) -> Result<CompiledDeps, E> {
                match word {
                    "auto" => Ok(CompiledDeps::Auto),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(word), &self)),
                }
            }
        }
        deserializer.deserialize_any(Words)
    }
}

impl JsonSchema for CompiledDeps {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CompiledDeps".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "oneOf": [{ "type": "boolean" }, { "const": "auto" }]
        })
    }
}

/// The runtime image.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Runtime")]
pub(super) struct RawRuntime {
    /// `scratch` (default; `debian-slim` with cgo), `distroless-static`, `distroless-base`,
    /// `alpine`, `debian-slim`, or any image reference.
    base: Option<Spanned<String>>,
    /// `nonroot` (default, 65532:65532), `root`, `UID` or `UID:GID`.
    user: Option<Spanned<String>>,
    /// A binary's name, or a command list (default: the first binary).
    entrypoint: Option<Spanned<RawEntrypoint>>,
    /// Default arguments.
    cmd: Option<Vec<String>>,
    /// Environment variables, over the base image's.
    env: Option<Spanned<BTreeMap<String, String>>>,
    /// An absolute working directory.
    workdir: Option<Spanned<String>>,
    /// Exposed ports: `8080`, `8080/tcp`, `53/udp`.
    ports: Option<Vec<Spanned<RawPort>>>,
    /// Volumes: absolute paths.
    volumes: Option<Vec<Spanned<String>>>,
    /// Image labels; `--label` wins.
    labels: Option<Spanned<BTreeMap<String, String>>>,
    /// A Linux signal: `SIGTERM`, `INT`, `SIGRTMIN+3`, or 1–64.
    stop_signal: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Entrypoint")]
enum RawEntrypoint {
    Binary(String),
    Command(Vec<String>),
}

#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Port")]
enum RawPort {
    Number(#[schemars(range(min = 1, max = 65535))] u32),
    Text(#[schemars(regex(pattern = "^[0-9]+(/(tcp|udp|sctp))?$"))] String),
}

/// How `go build` runs.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Build")]
pub(super) struct RawBuild {
    /// Build tags.
    tags: Option<Vec<String>>,
    /// Linker flags; templates `{{ .Version }}`, `{{ .Revision }}`, `{{ .Date }}`,
    /// `{{ .Arg.NAME }}`.
    ldflags: Option<Spanned<String>>,
    /// Compiler flags.
    gcflags: Option<Spanned<String>>,
    /// `-trimpath` (default true).
    trimpath: Option<bool>,
    /// Other `go build` flags, one per item.
    flags: Option<Vec<Spanned<String>>>,
    /// Extra environment for the build.
    env: Option<Spanned<BTreeMap<String, String>>>,
    /// Build with cgo and the builder's C toolchain (default false).
    cgo: Option<Spanned<bool>>,
    /// Stamp VCS information; needs .git in the context (default false).
    vcs: Option<bool>,
    /// Compile the imported packages from outside the context in a step of their own whose
    /// layer travels with an exported cache: `auto` (default) when the build imports a cache
    /// (`--cache-from`), `true` always, `false` never.
    compiled_deps: Option<CompiledDeps>,
}

impl RawRuntime {
    /// The repository's section over the org's defaults ([`super::RawSpec::over`]).
    pub(super) fn over(self, defaults: RawRuntime) -> RawRuntime {
        RawRuntime {
            base: self.base.or(defaults.base),
            user: self.user.or(defaults.user),
            entrypoint: self.entrypoint.or(defaults.entrypoint),
            cmd: self.cmd.or(defaults.cmd),
            env: super::merge_maps(self.env, defaults.env),
            workdir: self.workdir.or(defaults.workdir),
            ports: self.ports.or(defaults.ports),
            volumes: self.volumes.or(defaults.volumes),
            labels: super::merge_maps(self.labels, defaults.labels),
            stop_signal: self.stop_signal.or(defaults.stop_signal),
        }
    }

    /// Each key of `env` and `labels`, as `runtime.env.KEY`, with where its map is.
    pub(super) fn map_keys(&self) -> Vec<(String, Pos)> {
        let env = self.env.iter().flat_map(|env| {
            env.value
                .keys()
                .map(|key| (format!("runtime.env.{key}"), env.pos))
        });
        let labels = self.labels.iter().flat_map(|labels| {
            labels
                .value
                .keys()
                .map(|key| (format!("runtime.labels.{key}"), labels.pos))
        });
        env.chain(labels).collect()
    }

    /// The fields set, as `runtime.NAME`, with where (the section's place for those that
    /// carry none).
    pub(super) fn fields_set(&self, section: Pos, out: &mut Vec<(&'static str, Pos)>) {
        let spanned = [
            ("runtime.base", self.base.as_ref().map(|v| v.pos)),
            ("runtime.user", self.user.as_ref().map(|v| v.pos)),
            (
                "runtime.entrypoint",
                self.entrypoint.as_ref().map(|v| v.pos),
            ),
            ("runtime.env", self.env.as_ref().map(|v| v.pos)),
            ("runtime.labels", self.labels.as_ref().map(|v| v.pos)),
            ("runtime.workdir", self.workdir.as_ref().map(|v| v.pos)),
            (
                "runtime.stop_signal",
                self.stop_signal.as_ref().map(|v| v.pos),
            ),
        ];
        let unspanned = [
            ("runtime.cmd", self.cmd.is_some()),
            ("runtime.ports", self.ports.is_some()),
            ("runtime.volumes", self.volumes.is_some()),
        ];
        super::record_set(out, section, spanned, unspanned);
    }
}

impl RawBuild {
    /// The repository's section over the org's defaults ([`super::RawSpec::over`]).
    pub(super) fn over(self, defaults: RawBuild) -> RawBuild {
        RawBuild {
            tags: self.tags.or(defaults.tags),
            ldflags: self.ldflags.or(defaults.ldflags),
            gcflags: self.gcflags.or(defaults.gcflags),
            trimpath: self.trimpath.or(defaults.trimpath),
            flags: self.flags.or(defaults.flags),
            env: super::merge_maps(self.env, defaults.env),
            cgo: self.cgo.or(defaults.cgo),
            vcs: self.vcs.or(defaults.vcs),
            compiled_deps: self.compiled_deps.or(defaults.compiled_deps),
        }
    }

    /// Each key of `env`, as `build.env.KEY`, with where the map is.
    pub(super) fn map_keys(&self) -> Vec<(String, Pos)> {
        self.env
            .iter()
            .flat_map(|env| {
                env.value
                    .keys()
                    .map(|key| (format!("build.env.{key}"), env.pos))
            })
            .collect()
    }

    /// Like [`RawRuntime::fields_set`], as `build.NAME`.
    pub(super) fn fields_set(&self, section: Pos, out: &mut Vec<(&'static str, Pos)>) {
        let spanned = [
            ("build.ldflags", self.ldflags.as_ref().map(|v| v.pos)),
            ("build.gcflags", self.gcflags.as_ref().map(|v| v.pos)),
            ("build.env", self.env.as_ref().map(|v| v.pos)),
            ("build.cgo", self.cgo.as_ref().map(|v| v.pos)),
            ("build.flags", super::list_pos(&self.flags, section)),
        ];
        let unspanned = [
            ("build.tags", self.tags.is_some()),
            ("build.trimpath", self.trimpath.is_some()),
            ("build.vcs", self.vcs.is_some()),
            ("build.compiled_deps", self.compiled_deps.is_some()),
        ];
        super::record_set(out, section, spanned, unspanned);
    }
}

pub(super) fn runtime(raw: Option<Spanned<RawRuntime>>, problems: &mut Problems) -> Runtime {
    let start = Pos::START;
    let raw = raw.map(|r| r.value);
    let Some(raw) = raw else {
        return Runtime {
            base: None,
            user: Located {
                value: User::NONROOT,
                pos: start,
            },
            entrypoint: None,
            cmd: Vec::new(),
            env: Vec::new(),
            workdir: None,
            ports: Vec::new(),
            volumes: Vec::new(),
            labels: BTreeMap::new(),
            stop_signal: None,
        };
    };

    let base = raw.base.map(|base| {
        let base = Located::from_spanned(base);
        let written = base.value.trim();
        let value = if written == "scratch" {
            Base::Scratch
        } else if let Some((_, reference)) = SHORT_BASES.iter().find(|(n, _)| *n == written) {
            Base::Image(reference.to_string())
        } else if written.is_empty() || written.contains(char::is_whitespace) {
            let names: Vec<&str> = SHORT_BASES.iter().map(|(n, _)| *n).collect();
            let hint = format!("use scratch, {}, or an image reference", names.join(", "));
            problems.push(
                base.pos,
                "runtime.base",
                format!("`{written}` is not an image"),
                Some(&hint),
            );
            Base::Scratch
        } else {
            Base::Image(written.to_string())
        };
        Located {
            value,
            pos: base.pos,
        }
    });

    let user = raw
        .user
        .map(|user| {
            let pos = super::Pos::of(&user);
            let value = parse_user(&user.value).unwrap_or_else(|| {
                problems.push(
                    pos,
                    "runtime.user",
                    format!("`{}` is not a user", user.value),
                    Some("use nonroot, root, a uid, or uid:gid"),
                );
                User::NONROOT
            });
            Located { value, pos }
        })
        .unwrap_or(Located {
            value: User::NONROOT,
            pos: start,
        });

    let entrypoint = raw.entrypoint.map(|e| {
        let pos = super::Pos::of(&e);
        let value = match e.value {
            RawEntrypoint::Binary(name) => Entrypoint::Binary(name),
            RawEntrypoint::Command(command) => {
                if command.is_empty() {
                    problems.push(
                        pos,
                        "runtime.entrypoint",
                        "the command is empty".to_string(),
                        Some("name a binary, or give the command as a list"),
                    );
                }
                Entrypoint::Command(command)
            }
        };
        Located { value, pos }
    });

    let mut env = Vec::new();
    let env_pos = raw.env.as_ref().map_or(start, super::Pos::of);
    for (key, value) in raw.env.map(|e| e.value).unwrap_or_default() {
        if !ident::is_env_name(&key) {
            problems.push(
                env_pos,
                &format!("runtime.env.{key}"),
                format!("`{key}` is not a variable name"),
                Some("letters, digits and _, not starting with a digit"),
            );
        }
        env.push(format!("{key}={value}"));
    }

    let workdir = raw.workdir.map(Located::from_spanned);
    if let Some(dir) = workdir.as_ref().filter(|d| !d.value.starts_with('/')) {
        problems.push(
            dir.pos,
            "runtime.workdir",
            format!("`{}` is not an absolute path", dir.value),
            None,
        );
    }

    let ports = raw
        .ports
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, port)| {
            let pos = super::Pos::of(&port);
            let text = match port.value {
                RawPort::Number(n) => n.to_string(),
                RawPort::Text(t) => t,
            };
            let value = normalize_port(&text).unwrap_or_else(|| {
                problems.push(
                    pos,
                    &format!("runtime.ports[{i}]"),
                    format!("`{text}` is not a port"),
                    Some("write 8080, 8080/tcp or 53/udp"),
                );
                text.clone()
            });
            Located { value, pos }
        })
        .collect();

    let volumes: Vec<Located<String>> = raw
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(Located::from_spanned)
        .collect();
    for (i, volume) in volumes.iter().enumerate() {
        if !volume.value.starts_with('/') {
            problems.push(
                volume.pos,
                &format!("runtime.volumes[{i}]"),
                format!("`{}` is not an absolute path", volume.value),
                None,
            );
        }
    }

    let stop_signal = raw.stop_signal.map(Located::from_spanned);
    if let Some(signal) = stop_signal.as_ref().filter(|s| !ident::is_signal(&s.value)) {
        problems.push(
            signal.pos,
            "runtime.stop_signal",
            format!("`{}` is not a signal", signal.value),
            Some("for example SIGTERM, SIGINT or 15"),
        );
    }

    Runtime {
        base,
        user,
        entrypoint,
        cmd: raw.cmd.unwrap_or_default(),
        env,
        workdir,
        ports,
        volumes,
        labels: raw.labels.map(|l| l.value).unwrap_or_default(),
        stop_signal,
    }
}

/// Variables the frontend sets from the platform or other settings: a `build.env` value would
/// silently override them (GOOS=windows would ship a Windows binary in a Linux image).
const RESERVED_BUILD_ENV: &[&str] = &[
    "GOOS",
    "GOARCH",
    "GOARM",
    "GOAMD64",
    "GOARM64",
    "GO386",
    "GOMIPS",
    "GOMIPS64",
    "GOPPC64",
    "GORISCV64",
    "GOWASM",
    "CGO_ENABLED",
    "GOFLAGS",
    "GOPROXY",
    "GOTOOLCHAIN",
    "GOCACHE",
    "GOMODCACHE",
];

pub(super) fn build(raw: Option<Spanned<RawBuild>>, problems: &mut Problems) -> BuildSettings {
    let start = raw.as_ref().map(super::Pos::of).unwrap_or(Pos::START);
    let raw = raw.map(|r| r.value);
    let flags: Vec<Located<String>> = raw
        .as_ref()
        .and_then(|r| r.flags.clone())
        .unwrap_or_default()
        .into_iter()
        .map(Located::from_spanned)
        .collect();
    for (i, flag) in flags.iter().enumerate() {
        let reserved = [
            "-o",
            "-mod",
            "-ldflags",
            "-gcflags",
            "-tags",
            "-trimpath",
            "-buildvcs",
        ];
        // Go takes `-flag` and `--flag` alike.
        let name = flag.value.split('=').next().unwrap_or_default();
        let name = format!("-{}", name.trim_start_matches('-'));
        if !flag.value.starts_with('-') {
            problems.push(
                flag.pos,
                &format!("build.flags[{i}]"),
                format!("`{}` is not a go build flag", flag.value),
                None,
            );
        } else if reserved.contains(&name.as_str()) {
            problems.push(
                flag.pos,
                &format!("build.flags[{i}]"),
                format!("`{}` has its own setting", flag.value),
                Some("use build.tags, build.ldflags, build.gcflags, build.trimpath or build.vcs"),
            );
        }
    }
    let Some(raw) = raw else {
        return BuildSettings {
            tags: Vec::new(),
            ldflags: None,
            gcflags: None,
            trimpath: true,
            flags,
            env: BTreeMap::new(),
            cgo: Located {
                value: false,
                pos: start,
            },
            vcs: false,
            compiled_deps: CompiledDeps::Auto,
        };
    };
    let env_pos = raw.env.as_ref().map_or(start, super::Pos::of);
    let env = raw.env.map(|e| e.value).unwrap_or_default();
    for key in env.keys() {
        let path = format!("build.env.{key}");
        if !ident::is_env_name(key) {
            problems.push(
                env_pos,
                &path,
                format!("`{key}` is not a variable name"),
                None,
            );
        } else if RESERVED_BUILD_ENV.contains(&key.as_str()) {
            problems.push(
                env_pos,
                &path,
                format!("`{key}` is set by the frontend"),
                Some("the target platform sets GOOS/GOARCH/GOARM…; use build.cgo, build.flags or modules settings for the others"),
            );
        }
    }
    BuildSettings {
        tags: raw.tags.unwrap_or_default(),
        ldflags: raw.ldflags.map(Located::from_spanned),
        gcflags: raw.gcflags.map(Located::from_spanned),
        trimpath: raw.trimpath.unwrap_or(true),
        flags,
        env,
        cgo: raw.cgo.map(Located::from_spanned).unwrap_or(Located {
            value: false,
            pos: start,
        }),
        vcs: raw.vcs.unwrap_or(false),
        compiled_deps: raw.compiled_deps.unwrap_or(CompiledDeps::Auto),
    }
}

/// `8080` → `8080/tcp`; `53/udp` stays.
fn normalize_port(text: &str) -> Option<String> {
    let (number, proto) = text.split_once('/').unwrap_or((text, "tcp"));
    let number: u16 = number.parse().ok().filter(|n| *n > 0)?;
    matches!(proto, "tcp" | "udp" | "sctp").then(|| format!("{number}/{proto}"))
}

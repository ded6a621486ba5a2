//! `go-build.yaml`: the user's spec, its model and its validation.
//!
//! Loading is pure and never panics. Every problem comes back as a [`Diagnostic`] naming the file,
//! line, column and field path. This module knows nothing about BuildKit.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::platform::Platform;

mod ident;
pub mod org;
mod spanned;
pub use ident::has_password;
use spanned::Spanned;
mod private;
mod runtime;
use private::RawPrivate;
pub use private::{Auth, KnownHosts, Private};
pub use runtime::{Base, BuildSettings, CompiledDeps, Entrypoint, Runtime, SHORT_BASES};
use runtime::{RawBuild, RawRuntime};

/// Where the spec lives when the user does not say otherwise.
pub const DEFAULT_FILENAME: &str = "go-build.yaml";

/// A 1-based line and column, and the file they are in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
    #[serde(skip_serializing_if = "Origin::is_spec")]
    pub origin: Origin,
}

impl Pos {
    /// Line 1, column 1 of the spec: where defaults are said to be.
    pub const START: Pos = Pos::at(1, 1);

    /// A place in the spec file.
    pub const fn at(line: u32, column: u32) -> Pos {
        Pos {
            line,
            column,
            origin: Origin::Spec,
        }
    }

    fn of<T>(spanned: &Spanned<T>) -> Pos {
        spanned.pos
    }
}

/// Which file a value comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The repository's spec.
    #[default]
    Spec,
    /// The organisation's baseline in the frontend image ([`org`]).
    Org,
    /// The shared file the spec's `extends:` names.
    Extends,
}

impl Origin {
    fn is_spec(&self) -> bool {
        *self == Origin::Spec
    }
}

/// A value together with where the spec says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Located<T> {
    pub value: T,
    pub pos: Pos,
}

impl<T> Located<T> {
    fn from_spanned(spanned: Spanned<T>) -> Self {
        let pos = Pos::of(&spanned);
        Located {
            value: spanned.value,
            pos,
        }
    }
}

/// A validated spec, version 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Spec {
    /// The shared spec this one extends, context-relative.
    pub extends: Option<Located<String>>,
    /// Directory of the main module's go.mod, relative to the build context (`.` by default).
    pub module: Located<String>,
    /// Go version to build with; `None` means "from go.mod".
    pub go: Option<Located<GoVersion>>,
    /// Builder image override; `None` means `golang:<go>-bookworm`.
    pub builder: Option<Located<String>>,
    pub binaries: Vec<Binary>,
    /// Default target platforms when the client names none; empty means the build platform.
    pub platforms: Vec<Located<Platform>>,
    pub modules: Modules,
    pub sources: Sources,
    pub build: BuildSettings,
    pub runtime: Runtime,
    pub private: Vec<Private>,
    /// Where each field set was written, by path (`modules.proxy`, `runtime.labels.KEY`): the
    /// spec, the shared spec it extends or the org's defaults. A field not here is built in.
    #[serde(skip)]
    pub written: BTreeMap<String, Pos>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binary {
    /// Go package to build, relative to the module directory (`.`, `./cmd/server`).
    pub package: Located<String>,
    /// File name of the binary; `None` derives it from the package path.
    pub name: Option<Located<String>>,
    /// Where this binary's entry starts in the spec.
    pub pos: Pos,
}

/// How modules are fetched and cached (`modules:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Modules {
    /// GOPROXY for the download.
    pub proxy: Option<Located<String>>,
    /// GOPRIVATE patterns (GONOPROXY/GONOSUMDB follow them unless set).
    pub private: Vec<Located<String>>,
    /// GOSUMDB.
    pub sumdb: Option<Located<String>>,
    /// Extra GOFLAGS for every Go command.
    pub goflags: Vec<Located<String>>,
    /// Run `go mod verify` after the download.
    pub verify: bool,
    /// Let the build step use the network (off: a module the deps step missed fails loudly).
    pub network: Located<bool>,
    pub cache: Located<ModuleCache>,
    pub vendor: Located<Vendor>,
}

/// Where downloaded modules live between the deps and build steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModuleCache {
    /// In the deps step's own layer (exportable with `--cache-to`, immune to cache-mount GC),
    /// filled from a persistent download cache mount.
    Layer,
    /// Only in a cache mount shared by deps and build.
    Mount,
}

/// Whether to build from `vendor/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// Vendor when `vendor/modules.txt` exists (what the Go command does by default).
    Auto,
    /// Always build with `-mod=vendor`.
    #[serde(rename = "true")]
    On,
    /// Never: ignore `vendor/` and download.
    #[serde(rename = "false")]
    Off,
}

/// Extra context patterns for the build step (`sources:`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Sources {
    pub include: Vec<Located<String>>,
    pub exclude: Vec<Located<String>>,
}

/// The user the program runs as in the runtime image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
}

impl User {
    /// The conventional unprivileged user (distroless and ko use the same ids).
    pub const NONROOT: User = User {
        uid: 65532,
        gid: 65532,
    };
    pub const ROOT: User = User { uid: 0, gid: 0 };
}

impl Serialize for User {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

/// A Go release version such as `1.27` or `1.27.3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: Option<u32>,
}

impl GoVersion {
    /// Parses `1.27`, `1.27.3`, `go1.27.3` and pre-release forms like `1.27rc1` (kept as `1.27`).
    pub fn parse(text: &str) -> Option<GoVersion> {
        let text = text.trim().strip_prefix("go").unwrap_or(text.trim());
        let mut parts = text.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor_part = parts.next()?;
        // Go pre-releases look like 1.27rc1 / 1.27beta2: only the numeric prefix names the line.
        let digits = minor_part
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(minor_part.len());
        let minor = minor_part[..digits].parse().ok()?;
        let patch = match parts.next() {
            Some(p) if digits == minor_part.len() => Some(p.parse().ok()?),
            Some(_) => return None,
            None => None,
        };
        Some(GoVersion {
            major,
            minor,
            patch,
        })
    }

    /// The `major.minor` release line, as official image tags use it.
    pub fn line(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

impl Serialize for GoVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for GoVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.patch {
            Some(patch) => write!(f, "{}.{}.{}", self.major, self.minor, patch),
            None => write!(f, "{}.{}", self.major, self.minor),
        }
    }
}

/// One problem in the spec, pointing at where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    /// Field path such as `binaries[0].name`; empty for problems with the document itself.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
    /// The org policy's rule this breaks, as the file and line stating it (a violation).
    pub broken_rule: Option<Box<(String, u32)>>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.line == 0 {
            write!(f, "{}: ", self.file)?;
        } else {
            write!(f, "{}:{}:{}: ", self.file, self.pos.line, self.pos.column)?;
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in one spec file, with the file's bytes for source excerpts.
#[derive(Debug, Clone)]
pub struct SpecError {
    pub file: String,
    pub source: Vec<u8>,
    /// Other files some diagnostics point into (the org baseline), with their bytes.
    pub also: Vec<(String, Vec<u8>)>,
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, diagnostic) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

// ---- the YAML shape, as written by users ----

/// go-build.yaml: how gobuild-frontend builds a container image for a Go program. Every
/// field is optional.
#[derive(Debug, Deserialize, Default, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "go-build.yaml")]
struct RawSpec {
    /// The spec version: 1.
    #[schemars(range(min = 1, max = 1))]
    version: Option<Spanned<u32>>,
    /// A shared spec in the build context this one sits on (a path in the context).
    extends: Option<Spanned<String>>,
    /// The directory of go.mod in the build context (default `.`).
    module: Option<Spanned<String>>,
    /// The Go version (`1.27`, `1.27.3`); default: go.mod's toolchain, else its go line.
    go: Option<Spanned<String>>,
    /// The builder image (default `golang:<go>-bookworm`).
    builder: Option<Spanned<String>>,
    /// The binaries to build; the first is the entrypoint (default: the module root).
    #[schemars(length(min = 1))]
    binaries: Option<Spanned<Vec<Spanned<RawBinary>>>>,
    /// Default target platforms, e.g. `[linux/amd64, linux/arm64]`; `--platform` wins.
    platforms: Option<Spanned<Vec<Spanned<String>>>>,
    /// How modules are fetched and cached.
    modules: Option<Spanned<RawModules>>,
    /// Extra context files the build step sees, or never sees.
    sources: Option<Spanned<RawSources>>,
    /// How `go build` runs.
    build: Option<Spanned<RawBuild>>,
    /// The runtime image.
    runtime: Option<Spanned<RawRuntime>>,
    /// Private modules and how to fetch them (SSH agent, token or .netrc secret).
    private: Option<Vec<Spanned<RawPrivate>>>,
}

/// How modules are fetched and cached.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Modules")]
struct RawModules {
    /// GOPROXY for the download.
    proxy: Option<Spanned<String>>,
    /// GOPRIVATE patterns; GONOPROXY and GONOSUMDB follow them.
    private: Option<Vec<Spanned<String>>>,
    /// GOSUMDB.
    sumdb: Option<Spanned<String>>,
    /// Extra GOFLAGS, one flag per item (`-tags=netgo`).
    goflags: Option<Vec<Spanned<String>>>,
    /// Run `go mod verify` after the download.
    verify: Option<bool>,
    /// Let the build step use the network (default: offline).
    network: Option<Spanned<bool>>,
    /// Where downloaded modules live: `layer` (default) or `mount`.
    cache: Option<Spanned<ModuleCache>>,
    /// Build from vendor/: `auto` (default: when vendor/modules.txt exists), `true`, `false`.
    vendor: Option<Spanned<VendorSetting>>,
}

/// `vendor:` accepts `auto` or a boolean.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(untagged)]
#[schemars(rename = "Vendor")]
enum VendorSetting {
    Flag(bool),
    Word(#[schemars(regex(pattern = "^auto$"))] String),
}

/// Extra context files for the build step.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Sources")]
struct RawSources {
    /// Context globs the build step sees besides what Go reads (e.g. `assets/**`).
    include: Option<Vec<Spanned<String>>>,
    /// Context globs it never sees.
    exclude: Option<Vec<Spanned<String>>>,
}

/// One binary.
#[derive(Debug, Deserialize, Clone, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Binary")]
struct RawBinary {
    /// The main package, relative to the module (`.`, `./cmd/server`).
    package: Spanned<String>,
    /// The file name under /usr/local/bin (default: what `go build` names it).
    #[schemars(regex(pattern = "^[A-Za-z0-9._-]+$"))]
    name: Option<Spanned<String>>,
}

impl RawSpec {
    /// A spec over defaults (the org's, or the shared spec it extends): a field the spec
    /// sets wins; sections merge field by field and maps (`env`, `labels`) key by key; lists
    /// replace. The spec's own fields (`version`, `extends`, `module`, `binaries`, `sources`)
    /// are never defaults.
    fn over(self, defaults: RawSpec) -> RawSpec {
        RawSpec {
            version: self.version,
            extends: self.extends,
            module: self.module,
            go: self.go.or(defaults.go),
            builder: self.builder.or(defaults.builder),
            binaries: self.binaries,
            platforms: self.platforms.or(defaults.platforms),
            modules: merge_sections(self.modules, defaults.modules, RawModules::over),
            sources: self.sources,
            build: merge_sections(self.build, defaults.build, RawBuild::over),
            runtime: merge_sections(self.runtime, defaults.runtime, RawRuntime::over),
            private: self.private.or(defaults.private),
        }
    }

    /// Every field this layer sets and each key of its maps, with where, into `written`
    /// unless a layer above set it first.
    fn record_written(&self, written: &mut BTreeMap<String, Pos>) {
        let own = [
            ("extends", self.extends.as_ref().map(|v| v.pos)),
            ("module", self.module.as_ref().map(|v| v.pos)),
            ("binaries", self.binaries.as_ref().map(|v| v.pos)),
            ("sources", self.sources.as_ref().map(|v| v.pos)),
        ];
        let fields = own
            .into_iter()
            .filter_map(|(field, pos)| Some((field.to_string(), pos?)))
            .chain(
                self.fields_set()
                    .into_iter()
                    .map(|(f, pos)| (f.to_string(), pos)),
            );
        let keys = self
            .runtime
            .iter()
            .flat_map(|r| r.value.map_keys())
            .chain(self.build.iter().flat_map(|b| b.value.map_keys()));
        for (field, pos) in fields.chain(keys) {
            written.entry(field).or_insert(pos);
        }
    }

    /// The fields the spec sets, as `section.name` paths, with where: what a locked field in
    /// the org's policy is checked against.
    fn fields_set(&self) -> Vec<(&'static str, Pos)> {
        let mut out: Vec<(&'static str, Pos)> = [
            ("go", self.go.as_ref().map(|v| v.pos)),
            ("builder", self.builder.as_ref().map(|v| v.pos)),
            ("platforms", self.platforms.as_ref().map(|v| v.pos)),
            (
                "private",
                self.private.as_ref().and_then(|v| v.first()).map(|v| v.pos),
            ),
        ]
        .into_iter()
        .filter_map(|(field, pos)| Some((field, pos?)))
        .collect();
        if let Some(modules) = &self.modules {
            modules.value.fields_set(modules.pos, &mut out);
        }
        if let Some(build) = &self.build {
            build.value.fields_set(build.pos, &mut out);
        }
        if let Some(runtime) = &self.runtime {
            runtime.value.fields_set(runtime.pos, &mut out);
        }
        out
    }
}

impl RawModules {
    fn over(self, defaults: RawModules) -> RawModules {
        RawModules {
            proxy: self.proxy.or(defaults.proxy),
            private: self.private.or(defaults.private),
            sumdb: self.sumdb.or(defaults.sumdb),
            goflags: self.goflags.or(defaults.goflags),
            verify: self.verify.or(defaults.verify),
            network: self.network.or(defaults.network),
            cache: self.cache.or(defaults.cache),
            vendor: self.vendor.or(defaults.vendor),
        }
    }

    fn fields_set(&self, section: Pos, out: &mut Vec<(&'static str, Pos)>) {
        let spanned = [
            ("modules.proxy", self.proxy.as_ref().map(|v| v.pos)),
            ("modules.private", list_pos(&self.private, section)),
            ("modules.sumdb", self.sumdb.as_ref().map(|v| v.pos)),
            ("modules.goflags", list_pos(&self.goflags, section)),
            ("modules.network", self.network.as_ref().map(|v| v.pos)),
            ("modules.cache", self.cache.as_ref().map(|v| v.pos)),
            ("modules.vendor", self.vendor.as_ref().map(|v| v.pos)),
        ];
        record_set(
            out,
            section,
            spanned,
            [("modules.verify", self.verify.is_some())],
        );
    }
}

/// Where a list is written: its first item, or its section's place when it is empty.
fn list_pos<T>(list: &Option<Vec<Spanned<T>>>, section: Pos) -> Option<Pos> {
    list.as_ref().map(|l| l.first().map_or(section, |v| v.pos))
}

/// Appends the fields set to `out`: those with a place of their own there, the others
/// (`true`: set) at their section's place.
fn record_set(
    out: &mut Vec<(&'static str, Pos)>,
    section: Pos,
    spanned: impl IntoIterator<Item = (&'static str, Option<Pos>)>,
    unspanned: impl IntoIterator<Item = (&'static str, bool)>,
) {
    out.extend(spanned.into_iter().filter_map(|(f, pos)| Some((f, pos?))));
    out.extend(
        unspanned
            .into_iter()
            .filter(|(_, set)| *set)
            .map(|(f, _)| (f, section)),
    );
}

/// Two sections merged by `over` when both are there; where the repository's is written.
fn merge_sections<T>(
    mine: Option<Spanned<T>>,
    defaults: Option<Spanned<T>>,
    over: fn(T, T) -> T,
) -> Option<Spanned<T>> {
    match (mine, defaults) {
        (Some(mine), Some(defaults)) => Some(Spanned {
            value: over(mine.value, defaults.value),
            pos: mine.pos,
        }),
        (mine, defaults) => mine.or(defaults),
    }
}

/// A map over the defaults' map, key by key.
fn merge_maps(
    mine: Option<Spanned<BTreeMap<String, String>>>,
    defaults: Option<Spanned<BTreeMap<String, String>>>,
) -> Option<Spanned<BTreeMap<String, String>>> {
    merge_sections(mine, defaults, |mine, mut defaults| {
        defaults.extend(mine);
        defaults
    })
}

/// The JSON Schema of go-build.yaml, generated from the types the loader reads: editors
/// complete and check specs with it (`gobuild-frontend schema`).
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RawSpec).to_value();
    schema["$id"] = SCHEMA_ID.into();
    scalars_as_text(&mut schema);
    schema
}

/// The loader reads any YAML scalar where it wants text (`go: 1.27`, `user: 1000`, a label
/// `replicas: 3`), so the schema takes numbers and booleans there too; a fixed word
/// (`const`) stays a word.
fn scalars_as_text(schema: &mut serde_json::Value) {
    use serde_json::Value;
    match schema {
        Value::Object(map) => {
            if !map.contains_key("const") {
                let widened = match map.get("type") {
                    Some(Value::String(t)) if t == "string" => {
                        Some(serde_json::json!(["string", "number", "boolean"]))
                    }
                    Some(Value::Array(types)) if types.iter().any(|t| t == "string") => {
                        let mut types = types.clone();
                        types.extend([Value::from("number"), Value::from("boolean")]);
                        Some(Value::Array(types))
                    }
                    _ => None,
                };
                if let Some(types) = widened {
                    map.insert("type".to_string(), types);
                }
            }
            map.values_mut().for_each(scalars_as_text);
        }
        Value::Array(items) => items.iter_mut().for_each(scalars_as_text),
        _ => {}
    }
}

/// Where the schema is published, in the repository.
pub const SCHEMA_ID: &str = "https://raw.githubusercontent.com/gobuild-frontend/gobuild-frontend/main/schema/go-build.schema.json";

/// Parses and validates a spec. `file` is the name used in diagnostics.
/// The largest spec read: far above any real one, and small enough that every error about it
/// (which carries the file for the excerpt) stays well inside a gRPC message.
pub const MAX_SPEC_BYTES: usize = 1 << 20;

pub fn load(file: &str, bytes: &[u8]) -> Result<Spec, SpecError> {
    load_under(file, bytes, None, None)
}

/// A shared spec in the build context that specs name in `extends:` (a monorepo's services
/// share one).
#[derive(Debug, Clone, Copy)]
pub struct SharedSpec<'a> {
    /// Its context-relative path, as `extends:` names it.
    pub file: &'a str,
    pub source: &'a [u8],
}

/// The shared spec a spec `extends:`, if it names one: what must be read before [`load_under`].
/// A spec that does not parse names none (loading it then says what is wrong).
pub fn extends_of(bytes: &[u8]) -> Option<Located<String>> {
    let raw = parse::<RawSpec>(bytes, Origin::Spec).ok()??;
    raw.extends.map(Located::from_spanned)
}

/// Like [`load`], over the shared spec it extends and then the org's defaults, and checked
/// against the org's policy, when there is an org baseline.
pub fn load_under(
    file: &str,
    bytes: &[u8],
    shared: Option<SharedSpec>,
    org: Option<&org::Org>,
) -> Result<Spec, SpecError> {
    let mut problems = Problems::new(file, shared.map(|s| s.file), org);
    // The other files the diagnostics point into, for their excerpts.
    let error = |problems: Problems, source: Vec<u8>| {
        let in_file = |name: &str| {
            problems.list.iter().any(|d| {
                d.file == name || d.broken_rule.as_ref().is_some_and(|rule| rule.0 == name)
            })
        };
        let shared = shared
            .filter(|s| in_file(s.file))
            .map(|s| (s.file.to_string(), s.source.to_vec()));
        let org = org
            .filter(|o| in_file(&o.file))
            .map(|o| (o.file.clone(), o.source.clone()));
        SpecError {
            file: file.to_string(),
            source,
            also: shared.into_iter().chain(org).collect(),
            diagnostics: problems.list,
        }
    };
    if bytes.len() > MAX_SPEC_BYTES {
        problems.push(
            Pos::default(),
            "",
            format!(
                "the spec is {} bytes or more; a spec may have at most {MAX_SPEC_BYTES}",
                bytes.len()
            ),
            None,
        );
        return Err(error(problems, Vec::new()));
    }
    let raw = match parse::<RawSpec>(bytes, Origin::Spec) {
        // An empty file is a valid spec: every field has a default.
        Ok(raw) => raw.unwrap_or_default(),
        Err(failure) => {
            problems.push(failure.0, &failure.1, failure.2, None);
            return Err(error(problems, bytes.to_vec()));
        }
    };
    // Every layer, the spec's own first: where each field comes from, then their merge.
    let mut written = BTreeMap::new();
    raw.record_written(&mut written);
    let raw = match shared {
        Some(shared) => match parse::<RawSpec>(shared.source, Origin::Extends) {
            Ok(base) => {
                let base = base.unwrap_or_default();
                check_shared(&base, &mut problems);
                base.record_written(&mut written);
                raw.over(base)
            }
            Err(failure) => {
                problems.push(failure.0, &failure.1, failure.2, None);
                return Err(error(problems, bytes.to_vec()));
            }
        },
        None => raw,
    };
    let raw = match org {
        Some(org) => {
            org.policy.check_locked(&raw.fields_set(), &mut problems);
            org.defaults.record_written(&mut written);
            raw.over(org.defaults.clone())
        }
        None => raw,
    };
    let spec = validate(raw, &mut problems).map(|spec| Spec { written, ..spec });
    if let (Some(spec), Some(org)) = (&spec, org) {
        org.policy.check(spec, &mut problems);
    }
    match spec {
        Some(spec) if problems.list.is_empty() => Ok(spec),
        _ => Err(error(problems, bytes.to_vec())),
    }
}

/// A shared spec says what services share, never what one of them builds.
fn check_shared(base: &RawSpec, problems: &mut Problems) {
    for (field, pos) in org::repository_fields(base) {
        let message =
            format!("`{field}` says what one service builds; a shared spec cannot set it");
        problems.push(
            pos,
            field,
            message,
            Some("set it in the spec that extends this one"),
        );
    }
}

/// A YAML or schema error: position, field path, message.
struct ParseFailure(Pos, String, String);

/// A spec-shaped YAML document, its values attributed to `origin`; `None` when it has
/// nothing but comments.
fn parse<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    origin: Origin,
) -> Result<Option<T>, ParseFailure> {
    let start = Pos {
        origin,
        ..Pos::START
    };
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ParseFailure(
            start,
            String::new(),
            format!("the file is not valid UTF-8 ({e})"),
        )
    })?;
    if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    }) {
        return Ok(None);
    }
    let mut path = String::new();
    let result = spanned::parsing(origin, || {
        serde_saphyr::with_deserializer_from_str(text, |de| {
            serde_path_to_error::deserialize(de).map_err(|e| {
                path = e.path().to_string();
                e.into_inner()
            })
        })
    });
    result.map(Some).map_err(|error| {
        let pos = error
            .location()
            .map(|at| Pos {
                line: u32::try_from(at.line()).unwrap_or(u32::MAX),
                column: u32::try_from(at.column()).unwrap_or(u32::MAX),
                origin,
            })
            .filter(|p| p.line > 0)
            .unwrap_or(start);
        ParseFailure(pos, field_path(&path), schema_message(&error))
    })
}

/// serde_path_to_error's path in the user's terms: `Spanned` wrappers show up as `.value`.
fn field_path(path: &str) -> String {
    if path == "." {
        return String::new();
    }
    path.split('.')
        .filter(|part| *part != "value")
        .map(|part| match part.strip_prefix("value[") {
            Some(index) => format!("[{index}"),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
        .replace(".[", "[")
}

/// The deserializer's message without its own location suffix or source snippet.
fn schema_message(error: &serde_saphyr::Error) -> String {
    let error = error.without_snippet();
    let text = match error {
        serde_saphyr::Error::Message { msg, .. } => msg.clone(),
        other => other.to_string(),
    };
    // Messages can span lines; the position is added by the caller.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = match text.find(" at line ") {
        Some(at) => &text[..at],
        None => text.as_str(),
    };
    // Spell serde's and the YAML library's vocabulary in the user's terms.
    const UNTAGGED: &str = "data did not match any variant of untagged enum ";
    if let Some(name) = text.strip_prefix(UNTAGGED) {
        return match name {
            "RawEntrypoint" => "expected a binary's name or a list of strings",
            "RawPort" => "expected a port: 8080, \"8080/tcp\" or \"53/udp\"",
            "VendorSetting" => "expected auto, true or false",
            _ => "this value has the wrong type",
        }
        .to_string();
    }
    if let Some(rest) = text.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest);
        return format!("`{key}` appears twice");
    }
    if text.starts_with("multiple YAML documents detected") {
        return "a spec is one YAML document: remove the `---` that starts another".to_string();
    }
    if text.contains("recursive references require") {
        return "a YAML alias refers to itself".to_string();
    }
    // `expected string scalar (defined at line 2, column 13) (used …)`: the alias detail
    // repeats the position.
    let text = text.split(" (defined at ").next().unwrap_or(text);
    text.replace("struct RawSpec", "spec")
        .replace("struct RawBinary", "binary")
        .replace("struct RawRuntime", "runtime")
        .replace("struct RawBuild", "build")
        .replace("struct RawPrivate", "private entry")
        .replace("struct RawSsh", "ssh")
        .replace("struct RawToken", "token")
        .replace("struct RawNetrc", "netrc")
        .replace("struct RawModules", "modules")
        .replace("struct RawSources", "sources")
}

#[derive(Clone)]
struct Problems {
    file: String,
    /// The org baseline's file, for what its defaults and policy say.
    org_file: String,
    /// The shared spec's file (`extends:`), for what it says.
    shared_file: String,
    list: Vec<Diagnostic>,
}

impl Problems {
    fn new(file: &str, shared: Option<&str>, org: Option<&org::Org>) -> Self {
        Problems {
            file: file.to_string(),
            org_file: org.map_or_else(|| org::ORG_FILE.to_string(), |o| o.file.clone()),
            shared_file: shared.unwrap_or_default().to_string(),
            list: Vec::new(),
        }
    }

    fn push(&mut self, pos: Pos, path: &str, message: String, hint: Option<&str>) {
        let file = match pos.origin {
            Origin::Spec => &self.file,
            Origin::Org => &self.org_file,
            Origin::Extends => &self.shared_file,
        };
        self.list.push(Diagnostic {
            file: file.clone(),
            pos,
            path: path.to_string(),
            message,
            hint: hint.map(str::to_string),
            broken_rule: None,
        });
    }

    /// A violation of the org policy's rule written at `rule`; `hint` names it.
    fn violation(&mut self, pos: Pos, path: &str, message: String, hint: &str, rule: Pos) {
        self.push(pos, path, message, Some(hint));
        if let Some(last) = self.list.last_mut() {
            last.broken_rule = Some(Box::new((self.org_file.clone(), rule.line)));
        }
    }
}

fn validate(raw: RawSpec, problems: &mut Problems) -> Option<Spec> {
    if let Some(version) = raw.version.as_ref().filter(|v| v.value != 1) {
        problems.push(
            Pos::of(version),
            "version",
            format!("unsupported spec version {}", version.value),
            Some("this frontend understands version 1"),
        );
    }

    let extends = raw.extends.map(Located::from_spanned);
    if let Some(extends) = &extends {
        check_relative_path(extends, "extends", problems);
    }

    let module = match raw.module {
        Some(module) => {
            let module = Located::from_spanned(module);
            check_relative_path(&module, "module", problems);
            // A context path as the scan lists them (`services/api`), never `./services/api`.
            let cleaned = clean_relative(&module.value);
            Located {
                value: cleaned.strip_prefix("./").unwrap_or(&cleaned).to_string(),
                pos: module.pos,
            }
        }
        None => Located {
            value: ".".to_string(),
            pos: Pos::START,
        },
    };

    let go = raw.go.and_then(|go| {
        let pos = Pos::of(&go);
        match GoVersion::parse(&go.value) {
            Some(version) => Some(Located {
                value: version,
                pos,
            }),
            None => {
                problems.push(
                    pos,
                    "go",
                    format!("`{}` is not a Go version", go.value),
                    Some("write it like 1.27 or 1.27.3"),
                );
                None
            }
        }
    });

    let builder = raw.builder.map(Located::from_spanned);
    let blank_or_spaced =
        |b: &&Located<String>| b.value.is_empty() || b.value.contains(char::is_whitespace);
    if let Some(builder) = builder.as_ref().filter(blank_or_spaced) {
        problems.push(
            builder.pos,
            "builder",
            format!("`{}` is not an image reference", builder.value),
            Some("for example golang:1.27-bookworm"),
        );
    }

    let binaries = match raw.binaries {
        Some(list) => {
            if list.value.is_empty() {
                problems.push(
                    Pos::of(&list),
                    "binaries",
                    "the list is empty".to_string(),
                    Some("list at least one binary, or leave `binaries` out to build the module root"),
                );
            }
            list.value
                .into_iter()
                .enumerate()
                .map(|(i, entry)| binary(i, entry, problems))
                .collect()
        }
        None => vec![Binary {
            package: Located {
                value: ".".to_string(),
                pos: Pos::START,
            },
            name: None,
            pos: Pos::START,
        }],
    };
    check_unique_names(&binaries, problems);

    let mut platforms: Vec<Located<Platform>> = Vec::new();
    for (i, entry) in raw
        .platforms
        .map(|p| p.value)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let entry = Located::from_spanned(entry);
        let path = format!("platforms[{i}]");
        match Platform::parse(&entry.value) {
            Ok(platform) => match platforms.iter().find(|p| p.value == platform) {
                Some(earlier) => {
                    let hint = format!(
                        "{} is already listed on line {}",
                        platform, earlier.pos.line
                    );
                    problems.push(
                        entry.pos,
                        &path,
                        format!("`{}` is listed twice", entry.value),
                        Some(&hint),
                    );
                }
                None => platforms.push(Located {
                    value: platform,
                    pos: entry.pos,
                }),
            },
            Err(message) => problems.push(entry.pos, &path, message, None),
        }
    }

    let runtime = runtime::runtime(raw.runtime, problems);
    let private = private::private(raw.private, problems);
    let build = runtime::build(raw.build, problems);

    let modules = modules(raw.modules, problems);
    let sources = raw
        .sources
        .map(|s| {
            let list = |l: Option<Vec<Spanned<String>>>| -> Vec<Located<String>> {
                l.unwrap_or_default()
                    .into_iter()
                    .map(Located::from_spanned)
                    .collect()
            };
            Sources {
                include: list(s.value.include),
                exclude: list(s.value.exclude),
            }
        })
        .unwrap_or_default();
    for (kind, list) in [("include", &sources.include), ("exclude", &sources.exclude)] {
        for (i, pattern) in list.iter().enumerate() {
            let path = format!("sources.{kind}[{i}]");
            check_relative_path(pattern, &path, problems);
            if let Err(error) = globset::Glob::new(&pattern.value) {
                problems.push(
                    pattern.pos,
                    &path,
                    format!(
                        "`{}` is not a valid pattern: {}",
                        pattern.value,
                        error.kind()
                    ),
                    Some("`*` matches within a directory, `**` across directories"),
                );
            }
        }
    }

    Some(Spec {
        written: BTreeMap::new(),
        extends,
        module,
        go,
        builder,
        binaries,
        platforms,
        modules,
        sources,
        build,
        runtime,
        private,
    })
}

fn modules(raw: Option<Spanned<RawModules>>, problems: &mut Problems) -> Modules {
    let start = raw.as_ref().map(Pos::of).unwrap_or(Pos::START);
    let Some(raw) = raw.map(|r| r.value) else {
        return Modules {
            proxy: None,
            private: Vec::new(),
            sumdb: None,
            goflags: Vec::new(),
            verify: false,
            network: Located {
                value: false,
                pos: start,
            },
            cache: Located {
                value: ModuleCache::Layer,
                pos: start,
            },
            vendor: Located {
                value: Vendor::Auto,
                pos: start,
            },
        };
    };
    let list = |l: Option<Vec<Spanned<String>>>| -> Vec<Located<String>> {
        l.unwrap_or_default()
            .into_iter()
            .map(Located::from_spanned)
            .collect()
    };
    let goflags = list(raw.goflags);
    for (i, flag) in goflags.iter().enumerate() {
        if !flag.value.starts_with('-') || flag.value.contains(char::is_whitespace) {
            problems.push(
                flag.pos,
                &format!("modules.goflags[{i}]"),
                format!("`{}` is not one Go flag", flag.value),
                Some("write each flag as its own item, e.g. -tags=netgo"),
            );
        } else if flag.value.trim_start_matches('-').starts_with("mod=") {
            problems.push(
                flag.pos,
                &format!("modules.goflags[{i}]"),
                format!("`{}` is chosen by the frontend", flag.value),
                Some("use `modules.vendor` to build from vendor/"),
            );
        }
    }
    let vendor = match raw.vendor {
        None => Located {
            value: Vendor::Auto,
            pos: start,
        },
        Some(spanned) => {
            let pos = Pos::of(&spanned);
            let value = match spanned.value {
                VendorSetting::Flag(true) => Vendor::On,
                VendorSetting::Flag(false) => Vendor::Off,
                VendorSetting::Word(word) if word == "auto" => Vendor::Auto,
                VendorSetting::Word(word) => {
                    problems.push(
                        pos,
                        "modules.vendor",
                        format!("`{word}` is not auto, true or false"),
                        None,
                    );
                    Vendor::Auto
                }
            };
            Located { value, pos }
        }
    };
    let proxy = raw.proxy.map(Located::from_spanned);
    if let Some(proxy) = proxy.as_ref().filter(|p| ident::has_password(&p.value)) {
        problems.push(
            proxy.pos,
            "modules.proxy",
            "has a password in it, which would be stored in the build graph and its cache keys"
                .to_string(),
            Some("give the proxy's credentials as a .netrc build secret: `private: [{modules: …, netrc: {secret: netrc}}]`"),
        );
    }
    Modules {
        proxy,
        private: list(raw.private),
        sumdb: raw.sumdb.map(Located::from_spanned),
        goflags,
        verify: raw.verify.unwrap_or(false),
        network: raw.network.map(Located::from_spanned).unwrap_or(Located {
            value: false,
            pos: start,
        }),
        cache: raw.cache.map(Located::from_spanned).unwrap_or(Located {
            value: ModuleCache::Layer,
            pos: start,
        }),
        vendor,
    }
}

fn binary(index: usize, entry: Spanned<RawBinary>, problems: &mut Problems) -> Binary {
    let pos = Pos::of(&entry);
    let package = Located::from_spanned(entry.value.package);
    let path = format!("binaries[{index}].package");
    if package.value == "..." || package.value.ends_with("/...") {
        problems.push(
            package.pos,
            &path,
            format!("`{}` is a pattern, not one package", package.value),
            Some("list each main package as its own binary"),
        );
    } else if !(package.value == "." || package.value.starts_with("./")) {
        let hint = format!("did you mean ./{}?", package.value.trim_start_matches('/'));
        problems.push(
            package.pos,
            &path,
            format!(
                "`{}` must be a path relative to the module directory",
                package.value
            ),
            Some(&hint),
        );
    } else {
        check_relative_path(&package, &path, problems);
    }
    let name = entry.value.name.map(Located::from_spanned);
    if let Some(name) = &name {
        let valid = !name.value.is_empty()
            && name.value != "."
            && name.value != ".."
            && name
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            problems.push(
                name.pos,
                &format!("binaries[{index}].name"),
                format!("`{}` is not a valid file name", name.value),
                Some("use letters, digits, '.', '_' and '-'"),
            );
        }
    }
    Binary {
        package: Located {
            value: clean_relative(&package.value),
            pos: package.pos,
        },
        name,
        pos,
    }
}

fn check_unique_names(binaries: &[Binary], problems: &mut Problems) {
    for (i, later) in binaries.iter().enumerate() {
        let Some(name) = &later.name else { continue };
        let earlier = binaries[..i]
            .iter()
            .filter_map(|b| b.name.as_ref())
            .find(|n| n.value == name.value);
        if let Some(earlier) = earlier {
            let hint = format!("first used on line {}", earlier.pos.line);
            problems.push(
                name.pos,
                &format!("binaries[{i}].name"),
                format!("the name `{}` is used twice", name.value),
                Some(&hint),
            );
        }
    }
}

/// A relative path that stays inside the build context (no leading `/`, no `..`).
pub fn inside_context(path: &str) -> bool {
    !path.starts_with('/') && !path.split('/').any(|part| part == "..")
}

fn check_relative_path(path: &Located<String>, field: &str, problems: &mut Problems) {
    let value = &path.value;
    if inside_context(value) {
        return;
    }
    if value.starts_with('/') {
        problems.push(
            path.pos,
            field,
            format!("`{value}` is absolute"),
            Some("paths are relative to the build context"),
        );
    } else {
        problems.push(
            path.pos,
            field,
            format!("`{value}` leaves the build context"),
            Some("the build only sees files inside the context directory"),
        );
    }
}

/// `./cmd/server/` → `./cmd/server`, `./` → `.`, `a//b` → `a/b`.
fn clean_relative(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    match (path.starts_with("./") || path == ".", parts.is_empty()) {
        (_, true) => ".".to_string(),
        (true, false) => format!("./{}", parts.join("/")),
        (false, false) => parts.join("/"),
    }
}

fn parse_user(text: &str) -> Option<User> {
    match text.trim() {
        "nonroot" => Some(User::NONROOT),
        "root" => Some(User::ROOT),
        other => {
            let (uid, gid) = match other.split_once(':') {
                Some((uid, gid)) => (uid.parse().ok()?, gid.parse().ok()?),
                None => {
                    let uid = other.parse().ok()?;
                    (uid, uid)
                }
            };
            Some(User { uid, gid })
        }
    }
}

#[cfg(test)]
mod tests;

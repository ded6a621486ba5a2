//! The planner: spec + facts from the context + frontend options → a build plan.
//!
//! Pure and deterministic. This is the one place that knows how Go builds should run: which
//! stages exist, what each step sees, its environment, mounts and network. Renderers (LLB today)
//! translate a [`Plan`] mechanically.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::gosource::{BuildContext, Header};
use crate::image::{ResolvedImage, normalize_reference};
use crate::llb::NetMode;
use crate::options::Options;
use crate::platform::Platform;
use crate::spec::{Diagnostic, GoVersion, ModuleCache, Origin, Pos, Spec, Vendor};
use script::{Line, Script, Word, say};

pub(crate) mod build;
pub mod compiled;
pub mod effective;
pub mod layers;
pub mod lint;
pub mod modules;
mod private;
mod runtime;
pub(crate) mod script;
pub mod select;
pub use modules::{EmbedDirective, ModuleFacts};
pub use runtime::{DEFAULT_PATH, Runtime, RuntimeBase};

/// Where the Go module cache lives in builder containers.
pub const GOMODCACHE: &str = "/go/pkg/mod";
/// Where the Go build cache lives in builder containers.
pub const GOCACHE: &str = "/root/.cache/go-build";
/// Where the build context is mounted in builder containers.
pub const SRC: &str = "/src";
/// Where build steps write binaries.
pub const OUT: &str = "/out";
/// Where binaries go in the runtime image.
pub const BIN_DIR: &str = "/usr/local/bin";
/// The CA bundle copied from the builder into scratch images.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where the persistent download cache is mounted in `layer` mode.
pub const DOWNLOAD_CACHE: &str = "/var/cache/gobuild/gomod";

/// Extensions of the files `go build` reads besides module files and embedded files.
pub(crate) const GO_SOURCE_EXTENSIONS: &[&str] = &[
    "go", "s", "S", "sx", "c", "h", "cc", "cpp", "cxx", "hh", "hpp", "hxx", "m", "f", "F", "for",
    "f90", "swig", "swigcxx", "syso",
];

/// Module files the Go command reads wherever they are.
const MODULE_FILE_NAMES: &[&str] = &["go.mod", "go.sum", "go.work", "go.work.sum"];

/// Everything the planner reads.
pub struct Known<'a> {
    pub spec: &'a Spec,
    /// The spec's file name, for messages.
    pub spec_file: &'a str,
    /// The org baseline's file name, when there is one ([`crate::spec::org`]).
    pub org_file: Option<&'a str>,
    pub modules: &'a ModuleFacts,
    pub options: &'a Options,
    pub build_platform: &'a Platform,
    /// Patterns from `.dockerignore` (or `<spec>.dockerignore`).
    pub dockerignore: &'a [String],
    pub daemon: Daemon,
}

impl Known<'_> {
    /// The file a position is in.
    fn file_of(&self, pos: Pos) -> &str {
        match pos.origin {
            Origin::Spec => self.spec_file,
            Origin::Org => self.org_file.unwrap_or(crate::spec::org::ORG_FILE),
            Origin::Extends => self.spec.extends.as_ref().map_or("", |e| e.value.as_str()),
        }
    }
}

/// What the daemon can do, from its capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Daemon {
    /// Mounts keyed by their definition (cap `exec.mount.cache.content`): the compiled
    /// dependencies and the module layers, mounted into the build step, are never
    /// checksummed. Elsewhere (BuildKit v0.8) the module layers are mounted writable.
    pub mounts_by_definition: bool,
    /// Copies filtered by include patterns (cap `file.copy.includeexcludepatterns`, BuildKit
    /// v0.9 on): steps take their files by copies, so the context transfer takes only what
    /// Go may read ([`select::transfer_includes`]). BuildKit v0.8 gets the whole context:
    /// its client, docker 20.10, reads `**` as `*` and drops what sits two directories down.
    pub filtered_copies: bool,
}

/// The context transfer's include patterns on `daemon` for `spec` and the target (`None`:
/// the whole context minus `.dockerignore`).
pub fn transfer_includes(spec: &Spec, options: &Options, daemon: Daemon) -> Option<Vec<String>> {
    daemon
        .filtered_copies
        .then(|| select::transfer_includes(spec, runs_tests(options)))
        .flatten()
}

/// Whether the build runs `go test` (`--target test`) rather than `go build`.
fn runs_tests(options: &Options) -> bool {
    options.target.as_deref() == Some(TEST_TARGET)
}

/// What decides which files Go compiles for `platform` under the spec's build settings.
fn build_context(spec: &Spec, platform: &Platform, go: GoVersion) -> BuildContext {
    BuildContext {
        goos: platform.os.clone(),
        goarch: platform.architecture.clone(),
        cgo: spec.build.cgo.value,
        go_minor: go.minor,
        tags: spec.build.tags.clone(),
    }
}

/// Everything the plan is made from: what is [`Known`] from the spec, the module files and the
/// options, and what was resolved for [`Needs`] (the context's files, base images).
pub struct Inputs<'a> {
    pub known: Known<'a>,
    /// Every file of the context transfer (minus .dockerignore), from the source scan, and
    /// of the embedded files' transfer; sorted.
    pub context_files: &'a [String],
    /// The files only the embedded files' transfer has (sorted; empty without one).
    pub embedded_files: &'a [String],
    /// The include patterns of the context transfer the scan saw (`None`: the whole
    /// context).
    pub context_includes: Option<&'a [String]>,
    /// The include patterns of the embedded files' transfer (empty without one).
    pub embed_includes: &'a [String],
    /// `//go:embed` directives in the context's Go files.
    pub embeds: &'a [EmbedDirective],
    /// The headers (constraints, imports) of the context's Go files, by file name.
    pub headers: &'a BTreeMap<String, Header>,
    /// The runtime base image, resolved for each target platform (none for scratch).
    pub runtime_bases: &'a BTreeMap<Platform, ResolvedImage>,
    /// The build-cache seed image (`--target gocache` of an earlier build), per platform.
    pub gocache_seeds: &'a BTreeMap<Platform, ResolvedImage>,
}

impl<'a> std::ops::Deref for Inputs<'a> {
    type Target = Known<'a>;

    fn deref(&self) -> &Known<'a> {
        &self.known
    }
}

/// What must be resolved before planning (phase 1, from what is [`Known`]): the builder image,
/// the runtime base (none for scratch) and the target platforms it is needed for.
#[derive(Debug, Clone)]
pub struct Needs {
    pub builder: BuilderChoice,
    pub runtime_base: Option<String>,
    /// The image that seeds the build cache (`--build-context gocache=…`), normalized.
    pub gocache_from: Option<String>,
    pub platforms: Vec<Platform>,
}

/// Phase 1: decides what the host must resolve.
pub fn needs(known: &Known) -> Result<Needs, Diagnostic> {
    Ok(Needs {
        builder: builder_choice(known)?,
        runtime_base: runtime::runtime_base(known)?,
        gocache_from: gocache_from(known)?,
        platforms: target_platforms(known)?,
    })
}

/// The build-cache seed's reference, normalized; the option is to blame for a bad one.
fn gocache_from(known: &Known) -> Result<Option<String>, Diagnostic> {
    known
        .options
        .gocache_from
        .as_deref()
        .map(|reference| {
            normalize_reference(reference).map_err(|message| Diagnostic {
                file: "--build-context gocache (or --build-arg GOBUILD_GOCACHE_FROM)".to_string(),
                pos: Pos::default(),
                path: String::new(),
                message,
                hint: None,
                broken_rule: None,
            })
        })
        .transpose()
}

/// The builder image a spec needs, before it is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuilderChoice {
    /// Normalized reference, e.g. `docker.io/library/golang:1.27-bookworm`.
    pub reference: String,
    pub go: GoVersion,
    /// Why this version: the file and line that chose it (`go-build.yaml`, `go.work` or
    /// `go.mod`).
    pub chosen_at: (String, u32),
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub go: GoVersion,
    pub builder: ResolvedImage,
    pub build_platform: Platform,
    /// Directory of go.mod relative to the context (`.` or `services/api`).
    pub module_dir: String,
    /// `.dockerignore` patterns: the context transfer leaves these files out.
    pub dockerignore: Vec<String>,
    /// Context paths the deps steps see, whether or not they exist ([`Deps::mod_files`]);
    /// editing anything else leaves them cached.
    pub mod_files: Vec<String>,
    /// The context files the build step sees: what Go reads, nothing else.
    #[serde(skip)]
    pub sources: Vec<String>,
    /// How the build step gets `sources` out of the context.
    pub source_selection: SourceSelection,
    /// The context transfer's include patterns (`None`: the whole context).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_includes: Option<Vec<String>>,
    /// The embedded files' transfer's include patterns (empty: no such transfer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub embed_includes: Vec<String>,
    /// The step that downloads the modules (and fills the one-step layer); `None` when
    /// building from `vendor/` and when the module layers are in parts (their steps download).
    pub deps: Option<Step>,
    /// `layer` mode in parts ([`layers`]): the layers and their links are mounted into the
    /// build steps, which then run on the builder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_layers: Option<layers::ModuleLayers>,
    pub output: Output,
    pub targets: Vec<Target>,
    /// The `go build` every target runs, for renderers that write their own steps (`eject`).
    #[serde(skip)]
    pub go_build: GoBuild,
}

impl Plan {
    /// The step whose environment, directory and credentials fetch the modules: the deps
    /// step, or the module graph's when the layers are in parts; `None` from `vendor/`.
    pub fn module_fetch(&self) -> Option<&Step> {
        self.deps
            .as_ref()
            .or_else(|| self.module_layers.as_ref()?.steps.first())
    }
}

/// What `go build` is asked, whatever the step around it.
#[derive(Debug, Clone)]
pub struct GoBuild {
    /// `(name, package, Go's default name)` of each binary built.
    pub binaries: Vec<(String, String, String)>,
    /// The flags, `-ldflags` expanded with this build's values.
    pub flags: Vec<String>,
    /// `build.ldflags` as written, when the spec has it.
    pub ldflags: Option<LdflagsTemplate>,
}

/// `build.ldflags` as written, and where its flag is (or would be: a template that expands to
/// nothing adds none) in [`GoBuild::flags`].
#[derive(Debug, Clone)]
pub struct LdflagsTemplate {
    pub template: String,
    pub index: usize,
    pub in_flags: bool,
}

/// One exec step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub root: StepRoot,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: String,
    #[serde(serialize_with = "net_mode_name")]
    pub network: NetMode,
    pub mounts: Vec<StepMount>,
    /// The spec position this step comes from, for error excerpts.
    pub at: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StepRoot {
    /// The builder image as it is.
    Builder,
    /// The deps step's root: orders the build after the download and, in the one-step
    /// `layer` mode, carries the modules; the builder when the module layers are in parts
    /// (their mounts order the build).
    Deps,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepMount {
    pub dest: String,
    pub source: MountSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MountSource {
    /// The module files (`mod_files`), read-only.
    ModFiles,
    /// The context files in `sources`, read-only.
    Sources,
    /// What the context transfer took (minus .dockerignore), read-only.
    Context,
    /// What the embedded files' transfer took ([`select::embed_includes`]), read-only.
    Embedded,
    /// A persistent cache directory.
    Cache { id: String },
    /// Another step's persistent cache directory, read-only.
    ReadOnlyCache { id: String },
    /// The target's compiled dependencies ([`compiled`]), read-only; keyed by definition
    /// where the daemon can, never by checksumming a build cache.
    CompiledDeps { by_definition: bool },
    /// A persistent cache directory that starts from an image's files (the build-cache
    /// seed): one directory per seed image, no copy.
    SeededCache { id: String, image: String },
    /// An empty, writable directory whose contents are the step's result.
    Output,
    /// The target's scratch runtime base (users, CA bundle, /tmp), writable: the step's
    /// result is the image, with the binaries in a layer of their own.
    ScratchRuntime,
    /// Layer `index` of the module cache ([`layers`]), read-only; keyed by its definition
    /// where the daemon can.
    ModuleLayer { index: usize, by_definition: bool },
    /// The module cache's links in a layer of their own ([`layers::ModuleLayers::links_step`]).
    ModuleLinks,
    /// The client's SSH agent (`--ssh ID`), if it forwards one.
    Ssh { id: String },
    /// A build secret file (`--secret id=ID`), if the client gives it.
    Secret { id: String },
    /// The target's result (its image), read-only.
    Target,
    /// A read-only directory holding one file written by the frontend.
    File { name: String, contents: String },
}

/// How the build step gets its files out of the context.
#[derive(Debug, Clone, Serialize)]
pub enum SourceSelection {
    /// Copies filtered by name out of the transfers, in parts by directory
    /// ([`select::parts`]): daemons with filtered copies ([`Daemon::filtered_copies`]).
    Parts(Vec<select::SourcePart>),
    /// BuildKit v0.8, which gets the whole context: a step that copies the files by path
    /// out of it ([`select_sources_step`]).
    Step(Step),
}

/// What the build hands back (`--target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Output {
    /// The runtime image (all binaries, or the one `--target NAME` names).
    Image,
    /// Only the built files, for `--output type=local`.
    Binaries,
    /// `go test ./...`; fails the build when a test fails.
    Test,
    /// The build cache after the build (`--target gocache`): an image that seeds later
    /// builds (`--build-context gocache=docker-image://…`).
    GoCache,
}

/// What one target platform gets.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub platform: Platform,
    /// The binaries built, in spec order; they land in [`binaries_dir`] under `/out`.
    pub binaries: Vec<String>,
    /// `go build` (or `go test` for [`Output::Test`]).
    pub step: Step,
    /// Compiles the imported packages from outside the context ahead ([`compiled`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile: Option<Step>,
    /// The runtime image, for [`Output::Image`].
    pub runtime: Option<Runtime>,
}

/// Picks the builder image: the spec's override, else `golang:<go line>-bookworm` with the Go
/// version from the spec, else go.work, else go.mod.
fn builder_choice(inputs: &Known) -> Result<BuilderChoice, Diagnostic> {
    let facts = inputs.modules;
    let from_files = facts
        .work
        .as_ref()
        .and_then(|w| w.wanted_go().map(|(v, line)| (v, &w.file, line)))
        .or_else(|| {
            facts
                .main
                .wanted_go()
                .map(|(v, line)| (v, &facts.main.file, line))
        });
    let (go, chosen_at) = match (&inputs.spec.go, from_files) {
        (Some(go), _) => (go.value, (inputs.file_of(go.pos).to_string(), go.pos.line)),
        (None, Some((go, file, line))) => (go, (file.clone(), line)),
        (None, None) => {
            return Err(diagnostic(
                inputs,
                Pos::START,
                "go",
                format!(
                    "{} has no `go` line, so the Go version is unknown",
                    facts.main.file
                ),
                Some("add `go: \"1.27\"` to the spec or a go line to go.mod"),
            ));
        }
    };
    let (written, at, field) = match &inputs.spec.builder {
        Some(builder) => (builder.value.clone(), builder.pos, "builder"),
        None => (
            format!("golang:{}-bookworm", go.line()),
            Pos::default(),
            "go",
        ),
    };
    let reference = normalize_reference(&written)
        .map_err(|message| diagnostic(inputs, at, field, message, None))?;
    Ok(BuilderChoice {
        reference,
        go,
        chosen_at,
    })
}

/// The step that lists the context's files and `//go:embed` directives, run before planning
/// so that the build step can see exactly the files Go reads. Its output changes only when a
/// file is added, removed or renamed, or an embed directive changes.
pub fn source_scan() -> Step {
    let script = Script::new()
        .syntax("set -e")
        .line(Line::command("cd", [SRC]))
        // Three walks of the tree side by side (on Gitea 0.14 s one after another, 0.085 s
        // together); `wait` fails the script if the list or the grep failed.
        // NUL-separated: any byte but NUL and / may be in a file name, newlines included.
        .line(
            Line::syntax("find . \\( -type f -o -type l \\) -print0 >")
                .value(format!("{OUT}/files"))
                .then("& files=$!"),
        )
        // grep exits 1 when nothing matches: that is an empty list, not a failure.
        .line(
            Line::syntax("{ grep -rH --include='*.go' -e '^//go:embed' . >")
                .value(format!("{OUT}/embeds"))
                .then("|| [ $? -eq 1 ] ; } & embeds=$!"),
        )
        // Each Go file's header, for the imports (`gosource`). Only an optimisation: a
        // builder without awk gets no headers, not a failed build.
        .line(
            Line::syntax("find . -type f -name '*.go' -exec awk")
                .value(crate::gosource::HEADER_AWK)
                .then("{} + >")
                .value(format!("{OUT}/headers"))
                .then("|| true"),
        )
        .syntax("wait $files")
        .syntax("wait $embeds");
    listing_step(
        "[internal] list sources and //go:embed patterns",
        script.argv(),
        MountSource::Context,
    )
}

/// The step that lists what the embedded files' transfer took (`files` in its output, like
/// the source scan's).
pub fn embedded_listing() -> Step {
    let script = Script::new()
        .syntax("set -e")
        .line(Line::command("cd", [SRC]))
        .line(
            Line::syntax("find . \\( -type f -o -type l \\) -print0 >")
                .value(format!("{OUT}/files")),
        );
    listing_step(
        "[internal] list embedded files",
        script.argv(),
        MountSource::Embedded,
    )
}

/// The step that copies `sources` by path out of the whole context into its output
/// (BuildKit v0.8). Read-only mounts are keyed by their content there too: an edit to a
/// file it does not copy runs it again and leaves the build cached. Its file ops fail large
/// selections ("flightcontrol: exceeded retry timeout"), and a second transfer filtered by
/// the list cost 0.2 s on every Gitea build, nothing changed or not; this step is cached
/// when the context is unchanged. The list travels as a file: one argument to a shell could
/// not hold a large repository's paths. No shell: `xargs` gives them to `cp` as they are.
fn select_sources_step(sources: &[String]) -> Step {
    const LIST_DIR: &str = "/gobuild/sources";
    const LIST: &str = "list";
    // NUL-separated: a file name may hold a newline.
    let list = sources.iter().map(|file| format!("{file}\0")).collect();
    let args = [
        "xargs",
        "--null",
        "--no-run-if-empty",
        &format!("--arg-file={LIST_DIR}/{LIST}"),
        "cp",
        "--no-dereference",
        // Times too: `git status` (VCS stamping) re-reads files whose times its index does
        // not match.
        "--preserve=mode,timestamps",
        "--parents",
        &format!("--target-directory={OUT}"),
        "--",
    ];
    let mut step = listing_step(
        &format!("[internal] select Go sources ({} files)", sources.len()),
        args.map(str::to_string).to_vec(),
        MountSource::Context,
    );
    step.mounts.push(StepMount {
        dest: LIST_DIR.to_string(),
        source: MountSource::File {
            name: LIST.to_string(),
            contents: list,
        },
    });
    step
}

/// A step on the builder, offline, that runs `args` over a transfer mounted at [`SRC`] and
/// writes what it finds to [`OUT`].
fn listing_step(name: &str, args: Vec<String>, transfer: MountSource) -> Step {
    Step {
        name: name.to_string(),
        root: StepRoot::Builder,
        args,
        env: BTreeMap::new(),
        cwd: SRC.to_string(),
        network: NetMode::None,
        mounts: vec![
            StepMount {
                dest: SRC.to_string(),
                source: transfer,
            },
            StepMount {
                dest: OUT.to_string(),
                source: MountSource::Output,
            },
        ],
        at: Pos::default(),
    }
}

/// An image's environment (`PATH` to Go, `GOPATH`) as a map.
fn image_env(image: &ResolvedImage) -> BTreeMap<String, String> {
    image
        .facts
        .env
        .iter()
        .map(|entry| {
            let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Where the SBOM's step mounts the image it reads.
pub const IMAGE: &str = "/gobuild/image";

/// The step that reads the build information Go embedded in a target's `binaries` (`go
/// version -m`, into `buildinfo` in its output) from the target's image, for the SBOM
/// ([`crate::sbom`]). It reads files, so it runs on the builder whatever the target platform.
pub fn buildinfo_step(builder: &ResolvedImage, binaries: &[String]) -> Step {
    let files: Vec<String> = binaries
        .iter()
        .map(|name| format!("{IMAGE}{BIN_DIR}/{name}"))
        .collect();
    let script = Script::new().line(
        Line::syntax("go version -m")
            .values(&files)
            .then(">")
            .value(format!("{OUT}/buildinfo")),
    );
    Step {
        name: format!("[sbom] go version -m {}", binaries.join(" ")),
        root: StepRoot::Builder,
        args: script.argv(),
        env: image_env(builder)
            .into_iter()
            .chain([("GOTOOLCHAIN".to_string(), "local".to_string())])
            .collect(),
        cwd: "/".to_string(),
        network: NetMode::None,
        mounts: vec![
            StepMount {
                dest: IMAGE.to_string(),
                source: MountSource::Target,
            },
            StepMount {
                dest: OUT.to_string(),
                source: MountSource::Output,
            },
        ],
        at: Pos::default(),
    }
}

/// The module settings as Go variables: the spec's, overridden by build args.
fn module_env(spec: &Spec, options: &Options) -> BTreeMap<String, String> {
    let settings = &spec.modules;
    let mut env = BTreeMap::new();
    if let Some(proxy) = &settings.proxy {
        env.insert("GOPROXY".to_string(), proxy.value.clone());
    }
    let private: Vec<String> = settings
        .private
        .iter()
        .map(|p| p.value.clone())
        .chain(private::patterns(&spec.private))
        .collect();
    if !private.is_empty() {
        let private = private.join(",");
        // What Go would derive anyway, written out so the plan shows it.
        for key in ["GOPRIVATE", "GONOPROXY", "GONOSUMDB"] {
            env.insert(key.to_string(), private.clone());
        }
    }
    if let Some(sumdb) = &settings.sumdb {
        env.insert("GOSUMDB".to_string(), sumdb.value.clone());
    }
    env.extend(options.args.go_env.clone());
    env
}

/// The script of a step that fetches modules: credential checks that name the missing
/// `docker build` flag, the commands (stopping at the first failure), then an explanation
/// when git failed in a way the spec can fix.
fn fetch_script(access: &private::Access, commands: Vec<Line>) -> Script {
    let mut script = Script::new()
        .lines(access.checks.iter().cloned())
        .syntax("( set -e")
        .lines(commands)
        .syntax(") 2>/tmp/gobuild-fetch; rc=$?")
        .syntax("cat /tmp/gobuild-fetch >&2");
    if !access.hints.is_empty() {
        // Go shows a failed ping's git error only with -v: ask git again, as Go pinged.
        script = script.syntax(
            "[ $rc -ne 0 ] && sed -n 's|^go: \\([^@ ]*\\)\\.git\\(/[^@]*\\)\\{0,1\\}@[^:]*: no secure protocol found for repository$|\\1|p' /tmp/gobuild-fetch | sort -u | while read -r repo; do echo \"gobuild-frontend: git ls-remote https://$repo says:\" >&2; git ls-remote -q \"https://$repo\" 2>&1 >/dev/null | tee -a /tmp/gobuild-fetch >&2; done",
        );
    }
    for (symptom, hint) in &access.hints {
        script = script.line(
            Line::syntax("if [ $rc -ne 0 ] && grep -qF")
                .value(symptom)
                .then("/tmp/gobuild-fetch; then")
                .line(say(format!("gobuild-frontend: {hint}")))
                .then("; fi"),
        );
    }
    script.syntax("exit $rc")
}

/// What every step of one plan shares.
struct Shared {
    /// Where the module is inside the context mount.
    workdir: String,
    /// `[NS/]gobuild/[private-HASH/]`: the start of every cache id.
    cache_prefix: String,
    /// The builder's environment with Go's cache locations, no toolchain switching.
    base_env: BTreeMap<String, String>,
    /// The module settings as Go variables (spec, then build args).
    module_env: BTreeMap<String, String>,
    /// `modules.goflags`.
    user_flags: Vec<String>,
    /// Credentials and checks for private modules.
    access: private::Access,
    vendor: bool,
}

impl Shared {
    fn new(inputs: &Known, builder: &ResolvedImage) -> Result<Shared, Diagnostic> {
        let spec = inputs.spec;
        let module_dir = &spec.module.value;
        let ns = inputs
            .options
            .args
            .cache_mount_ns
            .as_ref()
            .map(|ns| format!("{ns}/"))
            .unwrap_or_default();
        let mut base_env = image_env(builder);
        base_env.insert("GOMODCACHE".into(), GOMODCACHE.into());
        base_env.insert("GOCACHE".into(), GOCACHE.into());
        // Never let go.mod's toolchain line download another Go inside the build.
        base_env.insert("GOTOOLCHAIN".into(), "local".into());
        Ok(Shared {
            workdir: if module_dir == "." {
                SRC.to_string()
            } else {
                format!("{SRC}/{module_dir}")
            },
            cache_prefix: format!("{ns}gobuild/{}", private::cache_scope(&spec.private)),
            base_env,
            module_env: module_env(spec, inputs.options),
            user_flags: spec
                .modules
                .goflags
                .iter()
                .map(|f| f.value.clone())
                .collect(),
            access: private::access(inputs)?,
            vendor: vendoring(inputs)?,
        })
    }

    /// The environment of a step that downloads modules: the module settings and the
    /// private modules' git settings over the image's.
    fn fetching_env(&self) -> BTreeMap<String, String> {
        let mut env = self.base_env.clone();
        if !self.user_flags.is_empty() {
            // modules.goflags reach the download too (a build arg GOFLAGS still wins).
            env.insert("GOFLAGS".into(), self.user_flags.join(" "));
        }
        env.extend(self.module_env.clone());
        env.extend(self.access.env.clone());
        env
    }

    fn cache(&self, dest: &str, id: &str) -> StepMount {
        StepMount {
            dest: dest.to_string(),
            source: MountSource::Cache {
                id: format!("{}{id}", self.cache_prefix),
            },
        }
    }
}

/// What fetches the modules: planned from go.mod and go.sum alone (no source scan), so the
/// frontend can run it while the context still moves.
pub struct Deps {
    shared: Shared,
    /// Context paths the deps steps see, whether or not they exist (a go.sum without
    /// requirements does not); their own transfer ([`crate::render::mod_files`]) takes
    /// those that do.
    pub mod_files: Vec<String>,
    /// The step that downloads the modules (and fills the one-step layer), when there is
    /// one ([`Plan::deps`]).
    pub step: Option<Step>,
    /// The module cache in layers ([`Plan::module_layers`]).
    pub module_layers: Option<layers::ModuleLayers>,
}

/// Plans the steps that fetch the modules once the builder image is resolved.
pub fn deps(known: &Known, builder: &ResolvedImage) -> Result<Deps, Diagnostic> {
    let shared = Shared::new(known, builder)?;
    let mod_files = modules::mod_files(known.modules).map_err(|e| Diagnostic {
        file: e.file.clone(),
        pos: Pos::at(e.line, 1),
        path: String::new(),
        message: e.message.clone(),
        hint: None,
        broken_rule: None,
    })?;
    let settings = &known.spec.modules;
    let module_layers = match settings.cache.value {
        ModuleCache::Layer if !shared.vendor && !settings.verify => layers::plan(known, &shared),
        _ => None,
    };
    let step = (!shared.vendor && module_layers.is_none()).then(|| deps_step(known, &shared));
    Ok(Deps {
        shared,
        mod_files,
        step,
        module_layers,
    })
}

/// Plans the whole build once the builder image is resolved and the modules' steps are
/// planned ([`deps`]).
pub fn plan(
    inputs: &Inputs,
    choice: &BuilderChoice,
    builder: ResolvedImage,
    deps: Deps,
) -> Result<Plan, Diagnostic> {
    let Deps {
        shared,
        mod_files,
        step: deps,
        module_layers,
    } = deps;
    let (command, targets) = build_command(inputs, &shared)?;
    let named = targets.len() > 1 || targets[0].0 != *inputs.build_platform;
    let sources = sources(inputs, shared.vendor, command.output == Output::Test);
    let common = Common {
        choice,
        command: &command,
        sources: &sources,
        named,
    };
    let mut targets = targets
        .iter()
        .map(|(platform, go_env)| target(inputs, &shared, &common, platform, go_env))
        .collect::<Result<Vec<_>, Diagnostic>>()?;
    if let Some(layers) = &module_layers {
        let by_definition = inputs.daemon.mounts_by_definition;
        for target in &mut targets {
            target.step.mounts.extend(layers.mounts(by_definition));
            if let Some(compile) = &mut target.compile {
                compile.mounts.extend(layers.mounts(by_definition));
            }
        }
    }
    Ok(Plan {
        go: choice.go,
        builder,
        build_platform: inputs.build_platform.clone(),
        source_selection: if inputs.daemon.filtered_copies {
            SourceSelection::Parts(source_parts(inputs, &sources))
        } else {
            SourceSelection::Step(select_sources_step(&sources))
        },
        context_includes: inputs.context_includes.map(<[String]>::to_vec),
        embed_includes: inputs.embed_includes.to_vec(),
        sources,
        dockerignore: inputs.dockerignore.to_vec(),
        mod_files,
        module_dir: inputs.spec.module.value.clone(),
        deps,
        module_layers,
        output: command.output,
        targets,
        go_build: GoBuild {
            ldflags: command.ldflags,
            binaries: command.chosen,
            flags: command.flags,
        },
    })
}

/// Fills the one-step layer (`GOMODCACHE`) from the download cache the deps step has just
/// filled and checked against go.sum: the trees it extracted (the `Dir`s a second, offline
/// `go mod download -json` reports; `go list -m all` would want go.mod files of modules the
/// download never needed), and its index of small files Go reads beside them (every go.mod,
/// .info and .ziphash it holds, other versions' too; no zip), copied instead of extracted
/// again. If any of that fails, the layer
/// is emptied and filled as before: offline from the cache's zips, each checked against go.sum.
fn fill_layer_from_download_cache() -> Line {
    const LISTED: &str = "/tmp/gobuild-downloaded.json";
    const COPIED: &str = "/tmp/gobuild-module-files";
    let extract = Line::default()
        .assign("GOMODCACHE", GOMODCACHE)
        .assign("GOPROXY", format!("file://{DOWNLOAD_CACHE}/cache/download"))
        .then("GOSUMDB=off GOPRIVATE= GONOPROXY= GONOSUMDB= go mod download");
    Line::syntax("{")
        .assign("GOMODCACHE", DOWNLOAD_CACHE)
        .then("GOFLAGS=-mod=mod GOPROXY=off go mod download -json >")
        .value(LISTED)
        .then("&& sed -n")
        .value(format!(
            "s|^[[:space:]]*\"Dir\": \"{DOWNLOAD_CACHE}/\\([^\"]*\\)\".*|\\1|p"
        ))
        .value(LISTED)
        .then(">")
        .value(COPIED)
        .then("&& ( cd")
        .value(DOWNLOAD_CACHE)
        .then("&& find cache/download -type f ! -name '*.zip' ! -name '*.lock' ! -name '*.partial' >>")
        .value(COPIED)
        .then("&& mkdir -p")
        .value(GOMODCACHE)
        .then("&& xargs -r -d '\\n' cp -a --parents -t")
        .value(GOMODCACHE)
        .then("<")
        .value(COPIED)
        .then(") ; } || {")
        .line(say("gobuild-frontend: copying from the download cache failed, extracting again"))
        .then("; rm -rf")
        .value(GOMODCACHE)
        .then(";")
        .line(extract)
        .then("; }")
}

/// The step that downloads the modules go.mod and go.sum name (`[deps 1/1]`).
fn deps_step(inputs: &Known, shared: &Shared) -> Step {
    let settings = &inputs.spec.modules;
    let env = shared.fetching_env();
    let verify = settings.verify.then(|| Line::syntax("go mod verify"));
    let (lines, mounts) = match settings.cache.value {
        // Download into the persistent cache mount, then fill the layer from it: the layer
        // survives cache-mount GC and is what --cache-to exports; the mount keeps a go.mod
        // change from downloading everything again.
        ModuleCache::Layer => (
            [
                Some(
                    Line::default()
                        .assign("GOMODCACHE", DOWNLOAD_CACHE)
                        .then("go mod download"),
                ),
                Some(fill_layer_from_download_cache()),
                verify,
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
            vec![shared.cache(DOWNLOAD_CACHE, "gomod-download")],
        ),
        ModuleCache::Mount => (
            [Some(Line::syntax("go mod download")), verify]
                .into_iter()
                .flatten()
                .collect(),
            vec![shared.cache(GOMODCACHE, "gomodcache")],
        ),
    };
    let mut name = "[deps 1/1] go mod download".to_string();
    if settings.verify {
        name.push_str(" && go mod verify");
    }
    Step {
        name,
        root: StepRoot::Builder,
        args: fetch_script(&shared.access, lines).argv(),
        env,
        cwd: shared.workdir.clone(),
        network: inputs.options.network.unwrap_or(NetMode::Sandbox),
        mounts: std::iter::once(StepMount {
            dest: SRC.to_string(),
            source: MountSource::ModFiles,
        })
        .chain(mounts)
        .chain(shared.access.mounts.iter().cloned())
        .collect(),
        at: inputs.spec.module.pos,
    }
}

/// What the build (or test) step runs, the same for every platform.
struct BuildCommand {
    output: Output,
    /// `(name, package, Go's default name)` of each binary built.
    chosen: Vec<(String, String, String)>,
    flags: Vec<String>,
    /// `build.ldflags` as written, for renderers that expand it themselves.
    ldflags: Option<LdflagsTemplate>,
    /// `GOFLAGS`: the module mode, then `modules.goflags`.
    goflags: String,
    /// Where in the spec the step comes from.
    at: Pos,
    epoch: Option<i64>,
    date: Option<String>,
}

/// The build command, and the target platforms it runs for (checked once, against cgo).
fn build_command(
    inputs: &Inputs,
    shared: &Shared,
) -> Result<(BuildCommand, Vec<(Platform, GoEnv)>), Diagnostic> {
    let spec = inputs.spec;
    let settings = &spec.build;
    let binaries = binary_names(inputs)?;
    let (output, selected) = output(inputs, &binaries)?;
    let targets = targets(inputs)?;
    let cross = targets.iter().find(|(p, _)| p != inputs.build_platform);
    if let Some((platform, _)) = cross.filter(|_| settings.cgo.value) {
        return Err(diagnostic(
            inputs,
            settings.cgo.pos,
            "build.cgo",
            format!(
                "cgo for {platform} means cross-compiling C, and the builder has no C cross toolchain for it"
            ),
            Some("build that platform without cgo, or on a machine of that platform"),
        ));
    }
    let epoch = inputs.options.args.source_date_epoch;
    let date = epoch.map(rfc3339);
    let ldflags = match &settings.ldflags {
        Some(ldflags) => {
            let values = build::TemplateValues {
                args: &inputs.options.args,
                build_args: &inputs.options.build_args,
                date: date.as_deref(),
            };
            Some(build::expand(&ldflags.value, &values).map_err(|message| {
                diagnostic(inputs, ldflags.pos, "build.ldflags", message, None)
            })?)
        }
        None => None,
    };
    let mod_flag = if shared.vendor {
        "-mod=vendor"
    } else {
        "-mod=readonly"
    };
    let goflags = std::iter::once(mod_flag)
        .chain(shared.user_flags.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let chosen = selected
        .iter()
        .map(|&i| {
            let package = spec.binaries[i].package.value.clone();
            let default = build::default_name(&package, &inputs.modules.main.module);
            (binaries[i].clone(), package, default)
        })
        .collect();
    let command = BuildCommand {
        output,
        chosen,
        flags: build::go_flags(settings, ldflags.as_deref()),
        ldflags: settings.ldflags.as_ref().map(|template| LdflagsTemplate {
            template: template.value.clone(),
            index: build::flags_before_ldflags(settings).len(),
            in_flags: ldflags.as_deref().is_some_and(|l| !l.is_empty()),
        }),
        goflags,
        at: spec.binaries[selected[0]].pos,
        epoch,
        date,
    };
    Ok((command, targets))
}

/// What every target's steps share.
struct Common<'a> {
    choice: &'a BuilderChoice,
    command: &'a BuildCommand,
    /// The files the build step sees.
    sources: &'a [String],
    /// Whether step names name the platform.
    named: bool,
}

/// One platform's build (or test) step, its compiled dependencies and runtime image.
fn target(
    inputs: &Inputs,
    shared: &Shared,
    common: &Common,
    platform: &Platform,
    go_env: &GoEnv,
) -> Result<Target, Diagnostic> {
    let Common {
        choice,
        command,
        named,
        ..
    } = *common;
    let settings = &inputs.spec.build;
    let modules = &inputs.spec.modules;
    // Name the platform in progress output whenever it is not simply the build platform.
    let prefix = |stage: &str| {
        if named {
            format!("{platform} {stage}")
        } else {
            stage.to_string()
        }
    };
    let mut env = shared.base_env.clone();
    env.extend(go_env.clone());
    env.insert(
        "CGO_ENABLED".into(),
        if settings.cgo.value { "1" } else { "0" }.into(),
    );
    env.extend(settings.env.clone());
    let network = if modules.network.value {
        env.extend(shared.module_env.clone());
        env.extend(shared.access.env.clone());
        inputs.options.network.unwrap_or(NetMode::Sandbox)
    } else {
        // Offline: a module the deps step missed fails here, loudly.
        env.insert("GOPROXY".into(), "off".into());
        NetMode::None
    };
    if settings.vcs {
        // The context's files belong to the client's user, not root: let git read them.
        // Appended to any git configuration the private modules set.
        private::add_git_config(&mut env, "safe.directory", "*");
    }
    env.insert("GOFLAGS".into(), command.goflags.clone());
    env.insert("GOTMPDIR".into(), build::WORK_DIR.into());
    let mut mounts = vec![StepMount {
        dest: SRC.to_string(),
        source: MountSource::Sources,
    }];
    if !shared.vendor && modules.cache.value == ModuleCache::Mount {
        mounts.push(shared.cache(GOMODCACHE, "gomodcache"));
    }
    let platform_id = platform.to_string().replace('/', "-");
    mounts.push(shared.cache(
        GOCACHE,
        &format!("gocache/{}/{platform_id}", choice.go.line()),
    ));
    mounts.push(StepMount {
        dest: OUT.to_string(),
        source: MountSource::Output,
    });
    if modules.network.value {
        mounts.extend(shared.access.mounts.iter().cloned());
    }
    let vendored = if shared.vendor { " -mod=vendor" } else { "" };
    let chosen = &command.chosen;
    let (name, commands) = match command.output {
        Output::Test => {
            let test = Line::syntax("go test").values(&command.flags).then("./...");
            (
                format!("[{} 1/1] go test{vendored} ./...", prefix("test")),
                vec![test],
            )
        }
        _ => {
            let packages: Vec<&str> = chosen.iter().map(|(_, p, _)| p.as_str()).collect();
            let dir = binaries_dir(command.output);
            let target = match chosen.as_slice() {
                [(name, _, _)] => format!("{dir}/{name}"),
                _ => format!("{dir}/"),
            };
            let flags: Vec<Word> = command.flags.iter().cloned().map(Word::Value).collect();
            let commands = build::build_commands(chosen, &flags, &dir);
            (
                format!(
                    "[{} 1/1] go build{vendored} -o {target} {}",
                    prefix("build"),
                    packages.join(" ")
                ),
                commands,
            )
        }
    };
    let mut step = Step {
        name,
        root: if shared.vendor {
            StepRoot::Builder
        } else {
            StepRoot::Deps
        },
        args: Vec::new(),
        env,
        cwd: shared.workdir.clone(),
        network,
        mounts,
        at: command.at,
    };
    // The build cache starts from what earlier work left: a seed image, else compiled
    // dependencies (the seed has them: a new import compiles in the build step);
    // `--target gocache` hands the cache back after the build.
    let seed_image = inputs.gocache_seeds.get(platform);
    let compile = match seed_image {
        Some(_) => None,
        None => compile_step(
            inputs,
            shared,
            common,
            &mut step,
            (&prefix("compile"), platform),
        ),
    };
    // The seed becomes the base of the build's GOCACHE cache mount.
    if let Some(image) = seed_image {
        for mount in step.mounts.iter_mut().filter(|m| m.dest == GOCACHE) {
            let MountSource::Cache { id } = &mount.source else {
                continue;
            };
            mount.source = MountSource::SeededCache {
                id: id.clone(),
                image: image.reference.clone(),
            };
        }
    }
    let compiled_seed = compile.as_ref().map(|_| compiled::take_compiled());
    let export = (command.output == Output::GoCache).then(compiled::export_gocache);
    let commands = build::in_work_dir(compiled_seed.into_iter().chain(commands).chain(export));
    step.args = build::offline_script(commands).argv();
    if let Some(long) = step.args.iter().find(|a| a.len() >= MAX_ARG_BYTES) {
        return Err(diagnostic(
            inputs,
            command.at,
            "binaries",
            format!(
                "the build command for {} binaries is {} KiB, over Linux's limit of 128 KiB for one argument",
                chosen.len(),
                long.len() / 1024
            ),
            Some("split the binaries over several specs, or build them with `--target NAME`"),
        ));
    }
    let names: Vec<String> = chosen.iter().map(|(n, _, _)| n.clone()).collect();
    let runtime = match command.output {
        Output::Image => Some(runtime::plan(
            inputs,
            platform,
            &names,
            &prefix("runtime"),
            command.epoch,
            command.date.clone(),
        )?),
        _ => None,
    };
    if let Some(runtime) = &runtime {
        write_binaries_in_place(runtime, &mut step);
    }
    Ok(Target {
        platform: platform.clone(),
        binaries: names,
        step,
        compile,
        runtime,
    })
}

/// The `//go:embed` lines (the scan's `grep -rH` output) of the Go files some target
/// compiles: the files only other lines name (a `//go:build bindata` file's, a test's
/// outside `go test`) are neither transferred nor seen. A file the scan printed no header
/// for (a builder without awk) counts as compiled.
pub fn compiled_embed_lines(
    known: &Known,
    needs: &Needs,
    headers: &BTreeMap<String, Header>,
    scan: &str,
) -> String {
    let tests = runs_tests(known.options);
    let contexts: Vec<BuildContext> = needs
        .platforms
        .iter()
        .map(|platform| build_context(known.spec, platform, needs.builder.go))
        .collect();
    let compiled = |file: &str| {
        let file = file.strip_prefix("./").unwrap_or(file);
        (tests || !file.ends_with("_test.go"))
            && headers
                .get(file)
                .is_none_or(|header| contexts.iter().any(|c| c.includes(file, header)))
    };
    scan.lines()
        .filter(|line| {
            line.split_once(".go:")
                .is_none_or(|(stem, _)| compiled(&format!("{stem}.go")))
        })
        .flat_map(|line| [line, "\n"])
        .collect()
}

/// The step that compiles what `build` imports from outside the context ahead
/// ([`compiled`]), its layer mounted into `build`; `None` when there is nothing to compile,
/// when the spec turns it off or the build is from `vendor/`.
fn compile_step(
    inputs: &Inputs,
    shared: &Shared,
    common: &Common,
    build: &mut Step,
    (stage, platform): (&str, &Platform),
) -> Option<Step> {
    let Common {
        choice,
        command,
        sources,
        ..
    } = *common;
    let settings = &inputs.spec.build;
    let imports_cache = !inputs.known.options.cache_imports.is_empty();
    if !settings.compiled_deps.runs(imports_cache) || shared.vendor {
        return None;
    }
    let target = build_context(inputs.spec, platform, choice.go);
    let module_dir = &inputs.spec.module.value;
    let tests = command.output == Output::Test;
    let dirs = if tests {
        // `go test ./...`: every package of the module.
        let prefix = modules::in_dir(module_dir, "");
        sources
            .iter()
            .filter(|f| f.ends_with(".go") && (module_dir == "." || f.starts_with(&prefix)))
            .map(|f| modules::dir_of(f).to_string())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    } else {
        command
            .chosen
            .iter()
            .map(|(_, package, _)| match package.trim_start_matches("./") {
                "." => module_dir.clone(),
                relative => modules::in_dir(module_dir, relative),
            })
            .collect()
    };
    let facts = inputs.modules;
    let required = std::iter::once(&facts.main)
        .chain(&facts.work_modules)
        .flat_map(|m| &m.requires)
        .map(|r| (r.path.clone(), None));
    // Local ones last: on a tie (a requirement replaced by a directory) the last one wins.
    let build_list: Vec<(String, Option<String>)> = required
        .chain(
            modules::local_modules(facts)
                .into_iter()
                .map(|(path, dir)| (path, Some(dir))),
        )
        .collect();
    let roots = compiled::Roots {
        dirs,
        tests,
        modules: &build_list,
    };
    let packages = compiled::imported_packages(sources, inputs.headers, &roots, &target);
    if packages.is_empty() {
        return None;
    }
    let build_cache = match &build.mounts.iter().find(|m| m.dest == GOCACHE)?.source {
        MountSource::Cache { id } => id.clone(),
        _ => return None,
    };
    // -ldflags and -buildvcs change only the link: a new version must not re-run the step.
    let flags: Vec<String> = command
        .flags
        .iter()
        .filter(|f| !f.starts_with("-ldflags=") && !f.starts_with("-buildvcs="))
        .cloned()
        .collect();
    let name = format!(
        "[{stage} 1/1] go build {} imported packages ahead",
        packages.len()
    );
    let step = compiled::step(build, name, &packages, &flags, &build_cache);
    build.mounts.push(StepMount {
        dest: compiled::COMPILED.to_string(),
        source: MountSource::CompiledDeps {
            by_definition: inputs.daemon.mounts_by_definition,
        },
    });
    Some(step)
}

/// Gives the build step the runtime as its output where the binaries go in place.
fn write_binaries_in_place(runtime: &Runtime, build: &mut Step) {
    if !runtime.binaries_in_place {
        return;
    }
    for mount in build.mounts.iter_mut().filter(|m| m.dest == OUT) {
        mount.source = MountSource::ScratchRuntime;
    }
}

/// Where the build step writes the binaries. For an image, the output already has the
/// runtime layer's layout: it is the image (binaries in place), or one copy (which also sets
/// every time) makes the layer; for
/// `--target binaries`, the output is the result.
fn binaries_dir(output: Output) -> String {
    match output {
        Output::Image => format!("{OUT}{BIN_DIR}"),
        Output::Binaries | Output::Test => OUT.to_string(),
        // The binaries are not the result: only the cache is.
        Output::GoCache => compiled::DISCARDED.to_string(),
    }
}

/// What `--target` asks for, and which binaries (indexes into the spec) it builds.
fn output(inputs: &Inputs, names: &[String]) -> Result<(Output, Vec<usize>), Diagnostic> {
    let all: Vec<usize> = (0..names.len()).collect();
    match inputs.options.target.as_deref() {
        None | Some("image") => Ok((Output::Image, all)),
        Some("binaries") => Ok((Output::Binaries, all)),
        Some(TEST_TARGET) => Ok((Output::Test, all)),
        Some("gocache") => Ok((Output::GoCache, all)),
        Some(name) => match names.iter().position(|n| n == name) {
            Some(i) => Ok((Output::Image, vec![i])),
            None => Err(Diagnostic {
                file: "--target".to_string(),
                pos: Pos::default(),
                path: String::new(),
                message: format!(
                    "`{name}` is not a target; this spec has {}",
                    BUILTIN_TARGETS
                        .iter()
                        .map(|(target, _)| *target)
                        .chain(names.iter().map(String::as_str))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                hint: None,
                broken_rule: None,
            }),
        },
    }
}

/// `2024-01-01T00:00:00Z` for a Unix time.
pub fn rfc3339(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Whether the build uses `vendor/`: the spec decides, else the Go command's own rule (a
/// vendor/modules.txt and `go 1.14` or later, outside workspaces).
fn vendoring(inputs: &Known) -> Result<bool, Diagnostic> {
    let facts = inputs.modules;
    let setting = &inputs.spec.modules.vendor;
    match setting.value {
        Vendor::Off => Ok(false),
        Vendor::On if facts.vendor_manifest => Ok(true),
        Vendor::On => Err(diagnostic(
            inputs,
            setting.pos,
            "modules.vendor",
            format!(
                "there is no {}",
                modules::in_dir(&inputs.spec.module.value, "vendor/modules.txt")
            ),
            Some("run `go mod vendor` and commit vendor/, or set vendor: auto"),
        )),
        Vendor::Auto => {
            let modern = facts
                .main
                .go
                .is_some_and(|(go, _)| (go.major, go.minor) >= (1, 14));
            Ok(facts.vendor_manifest && facts.work.is_none() && modern)
        }
    }
}

/// What the build step sees: Go sources, module files, vendor/ when vendoring, embedded
/// files and the spec's `sources.include`, minus `sources.exclude`. Exact paths, so that a
/// change to any other file leaves the build step cached.
fn sources(inputs: &Inputs, vendor: bool, with_testdata: bool) -> Vec<String> {
    let spec = inputs.spec;
    let vendor_dir = modules::in_dir(&spec.module.value, "vendor/");
    let globs = |patterns: &[crate::spec::Located<String>]| {
        modules::glob_set(patterns.iter().map(|p| p.value.as_str()))
    };
    let (extra, excluded) = (globs(&spec.sources.include), globs(&spec.sources.exclude));
    let embedded = modules::embedded_files(inputs.embeds, inputs.context_files);
    inputs
        .context_files
        .iter()
        .filter(|file| {
            let name = file.rsplit('/').next().unwrap_or(file);
            let in_vendor = file.starts_with(&vendor_dir);
            // Go never compiles testdata/, nor vendor/ unless it builds from it.
            let in_testdata = file.split('/').any(|part| part == "testdata");
            let ignored_dir = (in_testdata && !with_testdata) || in_vendor;
            let go_reads = (vendor && in_vendor)
                || (with_testdata && in_testdata && !in_vendor)
                || (!ignored_dir
                    && (name
                        .rsplit_once('.')
                        .is_some_and(|(_, ext)| GO_SOURCE_EXTENSIONS.contains(&ext))
                        || MODULE_FILE_NAMES.contains(&name)));
            // VCS stamping reads the repository the context is in.
            let vcs = spec.build.vcs && file.starts_with(".git/");
            (go_reads || vcs || embedded.contains(file.as_str()) || extra.is_match(file.as_str()))
                && !excluded.is_match(file.as_str())
        })
        .cloned()
        .collect()
}

/// `sources` in parts, each copied from the transfer it arrived in: the context's, or the
/// embedded files' for those only it has.
fn source_parts(inputs: &Inputs, sources: &[String]) -> Vec<select::SourcePart> {
    let embedded_only = |file: &String| inputs.embedded_files.binary_search(file).is_ok();
    let (embedded, from_context): (Vec<String>, Vec<String>) =
        sources.iter().cloned().partition(embedded_only);
    let context: Vec<String> = match inputs.embedded_files.is_empty() {
        true => inputs.context_files.to_vec(),
        false => inputs
            .context_files
            .iter()
            .filter(|file| !embedded_only(file))
            .cloned()
            .collect(),
    };
    select::parts(
        sources,
        &select::copies(&context, &from_context),
        &select::copies(inputs.embedded_files, &embedded),
    )
}

/// Names of the binaries, in spec order: the given name or what `go build` would call it.
fn binary_names(inputs: &Inputs) -> Result<Vec<String>, Diagnostic> {
    let mut names: Vec<String> = Vec::new();
    for (i, binary) in inputs.spec.binaries.iter().enumerate() {
        let name = binary_name(binary, &inputs.modules.main.module);
        if BUILTIN_TARGETS.iter().any(|(target, _)| *target == name) {
            return Err(diagnostic(
                inputs,
                binary.pos,
                &format!("binaries[{i}]"),
                format!(
                    "a binary called `{name}` could not be chosen with --target: `{name}` means something else there"
                ),
                Some("give it another `name`"),
            ));
        }
        if names.contains(&name) {
            return Err(diagnostic(
                inputs,
                binary.pos,
                &format!("binaries[{i}]"),
                format!("two binaries would both be called `{name}`"),
                Some("give one of them a `name`"),
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// One thing `--target` can name, for `--call targets`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetInfo {
    pub name: String,
    pub description: String,
    pub default: bool,
    /// The spec line that declares it (a binary's entry); 0 for the built-in ones.
    pub line: u32,
}

/// Every `--target` a spec offers: the built-in outputs, then one image per binary. Names
/// as [`binary_names`] gives them, `module` being the main module's path.
pub fn target_list(spec: &Spec, module: &str) -> Vec<TargetInfo> {
    let builtin = BUILTIN_TARGETS
        .iter()
        .map(|(name, description)| TargetInfo {
            name: name.to_string(),
            description: description.to_string(),
            default: *name == "image",
            line: 0,
        });
    let binaries = spec.binaries.iter().map(|binary| {
        let name = binary_name(binary, module);
        TargetInfo {
            description: format!(
                "the runtime image with only {name} ({})",
                binary.package.value
            ),
            name,
            default: false,
            line: binary.pos.line,
        }
    });
    builtin.chain(binaries).collect()
}

/// A binary's file name: the spec's `name`, else what `go build` would call it, `module`
/// being the main module's path.
fn binary_name(binary: &crate::spec::Binary, module: &str) -> String {
    match &binary.name {
        Some(name) => name.value.clone(),
        None => build::default_name(&binary.package.value, module),
    }
}

/// What a build takes from outside the spec, for `--call outline`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outline {
    pub args: Vec<OutlineEntry>,
    pub secrets: Vec<OutlineEntry>,
    pub ssh: Vec<OutlineEntry>,
}

/// One build arg, secret or SSH agent: its name, what it is for, its value (build args: as
/// given, else the default) and the spec line that uses it (0: the frontend itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlineEntry {
    pub name: String,
    pub description: String,
    pub value: String,
    pub line: u32,
}

/// The build args the frontend reads, those the spec's templates name, and the secrets and
/// SSH agents its private modules need.
pub fn outline(spec: &Spec, build_args: &BTreeMap<String, String>) -> Outline {
    let given = |name: &str, default: &str| {
        build_args
            .get(name)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let proxy = spec.modules.proxy.as_ref().map(|p| p.value.as_str());
    let base = match spec.runtime.base.as_ref().map(|b| &b.value) {
        Some(crate::spec::Base::Image(image)) => image.as_str(),
        Some(crate::spec::Base::Scratch) => "scratch",
        None => "",
    };
    let known = [
        (
            "VERSION",
            "{{ .Version }} and the image's version label",
            "dev",
        ),
        (
            "REVISION",
            "{{ .Revision }} and the image's revision label",
            "",
        ),
        (
            "SOURCE",
            "the image's source label (credentials removed)",
            "",
        ),
        ("SOURCE_DATE_EPOCH", "every timestamp, and {{ .Date }}", ""),
        ("GOBUILD_RUNTIME_BASE", "replaces runtime.base", base),
        (
            "GOBUILD_GOCACHE_FROM",
            "an image from --target gocache that starts the build cache",
            "",
        ),
        (
            "GOPROXY",
            "the module proxy, over modules.proxy",
            proxy.unwrap_or(""),
        ),
        ("GOSUMDB", "the checksum database, over modules.sumdb", ""),
        (
            "GOPRIVATE",
            "private module patterns, over modules.private",
            "",
        ),
        ("GOFLAGS", "flags for every go command of the download", ""),
        (
            "BUILDKIT_CACHE_MOUNT_NS",
            "a prefix for every cache mount id",
            "",
        ),
    ];
    // The fields whose value is an arg's default: where that value is written.
    let written = [
        ("GOPROXY", spec.modules.proxy.as_ref().map(|p| p.pos)),
        (
            "GOBUILD_RUNTIME_BASE",
            spec.runtime.base.as_ref().map(|b| b.pos),
        ),
    ];
    let mut args: Vec<OutlineEntry> = known
        .into_iter()
        .map(|(name, description, default)| {
            let pos = written
                .iter()
                .find(|(arg, _)| *arg == name)
                .and_then(|w| w.1);
            let (line, note) = pos.map(|p| outline_source(spec, p)).unwrap_or_default();
            OutlineEntry {
                name: name.to_string(),
                description: format!("{description}{note}"),
                value: given(name, default),
                line,
            }
        })
        .collect();
    if let Some(ldflags) = &spec.build.ldflags {
        let (line, note) = outline_source(spec, ldflags.pos);
        args.extend(
            build::template_args(&ldflags.value)
                .into_iter()
                .map(|name| OutlineEntry {
                    value: given(&name, ""),
                    name,
                    description: format!("a value build.ldflags uses{note}"),
                    line,
                }),
        );
    }
    let mut outline = Outline {
        args,
        ..Outline::default()
    };
    for private in &spec.private {
        let entry = |name: &str, description: String| OutlineEntry {
            name: name.to_string(),
            description,
            value: String::new(),
            line: private.pos.line,
        };
        let what = format!("private modules {}", private.modules.value);
        match &private.auth {
            crate::spec::Auth::Ssh { id, known_hosts } => {
                outline.ssh.push(entry(id, what.clone()));
                if let crate::spec::KnownHosts::Secret(secret) = known_hosts {
                    outline
                        .secrets
                        .push(entry(secret, format!("known_hosts for {what}")));
                }
            }
            crate::spec::Auth::Token { secret, .. } | crate::spec::Auth::Netrc { secret } => {
                outline.secrets.push(entry(secret, what));
            }
        }
    }
    outline
}

/// Where an outline entry's value is written: a line of the spec (its location, source 0),
/// or a note naming the shared spec's or the org file's line.
fn outline_source(spec: &Spec, pos: Pos) -> (u32, String) {
    let file = match pos.origin {
        Origin::Spec => return (pos.line, String::new()),
        Origin::Org => crate::spec::org::ORG_FILE,
        Origin::Extends => spec.extends.as_ref().map_or("", |e| e.value.as_str()),
    };
    (0, format!(" (default from {file}:{})", pos.line))
}

/// Linux's limit for one argument of a process (`MAX_ARG_STRLEN`, with its NUL).
const MAX_ARG_BYTES: usize = 128 * 1024;

/// `--target test`: `go test ./...`.
const TEST_TARGET: &str = "test";

/// `--target` values that are not binary names, with what each gives.
const BUILTIN_TARGETS: &[(&str, &str)] = &[
    ("image", "the runtime image with every binary"),
    ("binaries", "the binaries alone, for --output type=local"),
    (
        TEST_TARGET,
        "go test ./... of the module; fails when a test fails",
    ),
    (
        "gocache",
        "the build cache after the build, to seed later builds",
    ),
];

/// Go environment variables by name.
type GoEnv = BTreeMap<String, String>;

/// Architectures Go builds Linux binaries for (`go tool dist list`).
const GO_LINUX_ARCHES: &[&str] = &[
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64",
    "ppc64le", "riscv64", "s390x",
];

/// `GOOS`/`GOARCH` and the variant's Go variable for cross-compiling to `platform`, or why Go
/// cannot build for it.
pub fn go_target_env(platform: &Platform) -> Result<GoEnv, String> {
    if platform.os != "linux" {
        return Err(format!(
            "`{platform}`: only linux images can be built (containers run Linux binaries)"
        ));
    }
    let arch = platform.architecture.as_str();
    if !GO_LINUX_ARCHES.contains(&arch) {
        return Err(format!(
            "`{platform}`: Go does not build for the `{arch}` architecture (it does for {})",
            GO_LINUX_ARCHES.join(", ")
        ));
    }
    let mut env = BTreeMap::from([
        ("GOOS".to_string(), platform.os.clone()),
        ("GOARCH".to_string(), arch.to_string()),
    ]);
    if let Some(variant) = &platform.variant {
        let (key, value) = variant_env(arch, variant).ok_or_else(|| {
            format!("`{platform}`: the `{variant}` variant of {arch} has no Go setting")
        })?;
        env.insert(key.to_string(), value);
    }
    Ok(env)
}

/// The Go variable an OCI platform variant maps to (`arm/v7` → `GOARM=7`).
fn variant_env(arch: &str, variant: &str) -> Option<(&'static str, String)> {
    let arm64_level = |v: &str| {
        let (major, minor) = v
            .strip_prefix('v')?
            .split_once('.')
            .unwrap_or((&v[1..], "0"));
        let minor: u8 = minor.parse().ok()?;
        match major {
            "8" if minor <= 9 => Some(format!("v8.{minor}")),
            "9" if minor <= 5 => Some(format!("v9.{minor}")),
            _ => None,
        }
    };
    match (arch, variant) {
        ("arm", "v5" | "v6" | "v7") => Some(("GOARM", variant[1..].to_string())),
        ("amd64", "v2" | "v3" | "v4") => Some(("GOAMD64", variant.to_string())),
        ("arm64", v) => arm64_level(v).map(|level| ("GOARM64", level)),
        ("riscv64", "rva20u64" | "rva22u64" | "rva23u64") => {
            Some(("GORISCV64", variant.to_string()))
        }
        ("ppc64" | "ppc64le", "power8" | "power9" | "power10") => {
            Some(("GOPPC64", variant.to_string()))
        }
        _ => None,
    }
}

/// The target platforms (see [`targets`]), for resolving per-platform base images.
fn target_platforms(inputs: &Known) -> Result<Vec<Platform>, Diagnostic> {
    Ok(targets(inputs)?.into_iter().map(|(p, _)| p).collect())
}

/// Target platforms with their Go environment: `--platform` wins over the spec's `platforms`,
/// and with neither the build platform is the target.
fn targets(inputs: &Known) -> Result<Vec<(Platform, GoEnv)>, Diagnostic> {
    let requested: Vec<(Platform, Pos, String)> = if !inputs.options.platforms.is_empty() {
        inputs
            .options
            .platforms
            .iter()
            .map(|p| (p.clone(), Pos::default(), String::new()))
            .collect()
    } else if !inputs.spec.platforms.is_empty() {
        inputs
            .spec
            .platforms
            .iter()
            .enumerate()
            .map(|(i, p)| (p.value.clone(), p.pos, format!("platforms[{i}]")))
            .collect()
    } else {
        vec![(inputs.build_platform.clone(), Pos::default(), String::new())]
    };
    requested
        .into_iter()
        .map(|(platform, pos, path)| match go_target_env(&platform) {
            Ok(env) => Ok((platform, env)),
            Err(message) if pos.line == 0 => Err(Diagnostic {
                file: "--platform".to_string(),
                pos,
                path,
                message,
                hint: None,
                broken_rule: None,
            }),
            Err(message) => Err(diagnostic(inputs, pos, &path, message, None)),
        })
        .collect()
}

fn diagnostic(
    inputs: &Known,
    pos: Pos,
    path: &str,
    message: String,
    hint: Option<&str>,
) -> Diagnostic {
    Diagnostic {
        file: inputs.file_of(pos).to_string(),
        pos: if pos.line == 0 { Pos::START } else { pos },
        path: path.to_string(),
        message,
        hint: hint.map(str::to_string),
        broken_rule: None,
    }
}

fn net_mode_name<S: serde::Serializer>(mode: &NetMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match mode {
        NetMode::Sandbox => "sandbox",
        NetMode::Host => "host",
        NetMode::None => "none",
    })
}

#[cfg(test)]
mod tests;

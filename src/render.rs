//! Plan → LLB. A mechanical translation: every decision was made by the planner.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;

use crate::image::ResolvedImage;
use crate::llb::{
    CacheSharing, CopyOptions, Exec, FileOp, Image, Local, Mount, OpMeta, ResolveMode, SourceFile,
    SourceLocation, State,
};
use crate::plan::select::{ContextCopy, SourcePart};
use crate::plan::{
    self, CA_BUNDLE, MountSource, OUT, Output, Plan, Runtime, RuntimeBase, SourceSelection, Step,
    StepMount, StepRoot, compiled, layers,
};
use crate::platform::Platform;
use crate::spec::Pos;

/// The local that holds the build context.
pub const CONTEXT_LOCAL: &str = "context";

/// What rendering needs besides the plan.
pub struct RenderContext {
    /// Client session holding the local directories.
    pub session_id: String,
    /// The spec file, so ops can point back at the lines they come from.
    pub spec: Arc<SourceFile>,
    pub resolve_mode: ResolveMode,
    pub no_cache: bool,
}

/// One target platform's result.
pub struct RenderedTarget {
    pub platform: Platform,
    pub state: State,
    /// The image config JSON for `containerimage.config` (images only).
    pub config: Option<Vec<u8>>,
}

/// The build context minus `.dockerignore`, transferred incrementally: whole, or what
/// `includes` take ([`plan::select::transfer_includes`]). Steps see parts of it through
/// [`part`], never the local itself, except the source scan.
pub fn context(dockerignore: &[String], includes: Option<&[String]>, session_id: &str) -> State {
    context_local(
        includes.unwrap_or_default(),
        dockerignore,
        CONTEXT_LOCAL,
        session_id,
    )
    .state(OpMeta::new().name("[internal] load build context"))
}

/// A transfer of the build context: what `includes` take (everything, when empty) minus
/// `excludes`, kept on the daemon under `shared_key` for the next transfer with that key.
fn context_local(
    includes: &[String],
    excludes: &[String],
    shared_key: &str,
    session_id: &str,
) -> Local {
    Local::new(CONTEXT_LOCAL)
        .session(session_id)
        .include_patterns(includes)
        .exclude_patterns(excludes)
        .shared_key_hint(shared_key)
}

/// The files `//go:embed` lines name that the context transfer left out: the context
/// again, taking only `includes` ([`plan::select::embed_includes`]), in a cache of its own
/// on the daemon (a shared key with another pattern set would move files back and forth).
pub fn embedded(dockerignore: &[String], includes: &[String], session_id: &str) -> State {
    context_local(includes, dockerignore, EMBEDDED_SHARED_KEY, session_id)
        .state(OpMeta::new().name("[internal] load embedded files"))
}

/// The embedded files' transfer's cache on the daemon.
const EMBEDDED_SHARED_KEY: &str = "gobuild-embedded";

/// One part of the build step's files: one copy per context directory its files come from,
/// filtered by their names (BuildKit v0.9+), plus the mount points of deeper parts.
/// Content-keyed: an edit to a file it does not take leaves it cached. BuildKit keys a
/// filtered copy on every build, even a cached one, by matching every path under the copy's
/// source against every one of its patterns:
/// one copy per directory, with that directory's few names, walks each of Gitea's paths once
/// or twice instead of matching them 420,000 times; `ContextCopy::ByPath` copies (where a
/// filter would walk far more than it takes) are copied on their own, unfiltered. Together:
/// the daemon's checksum CPU per cached Gitea build 51 → 22 ms. Wildcard sources
/// (`dir/*.go`) would be worse still: BuildKit walks from them to the end of the context.
fn part(context: &State, embedded: &State, part: &SourcePart, meta: OpMeta) -> State {
    let op = copy_all(FileOp::new(), context, &part.copies, &part.dir);
    let op = copy_all(op, embedded, &part.embedded, &part.dir);
    let op = part
        .mountpoints
        .iter()
        .fold(op, |op, dir| op.mkdir(format!("/{dir}"), 0o755));
    if op.is_empty() {
        return State::scratch();
    }
    State::scratch().file(op, meta)
}

/// `copies` from `source` added to `op`, into a part rooted at `part_dir`: one copy per
/// directory filtered by its names, and the copies by path on their own.
fn copy_all(op: FileOp, source: &State, copies: &[ContextCopy], part_dir: &str) -> FileOp {
    let mut names_by_dir: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut by_path: Vec<&str> = Vec::new();
    for copy in copies {
        match copy {
            ContextCopy::ByPath(path) => by_path.push(path),
            _ => names_by_dir
                .entry(copy.dir())
                .or_default()
                .push(copy_pattern(copy, copy.dir())),
        }
    }
    let literally = |include_patterns| CopyOptions {
        follow_symlinks: false,
        wildcard: false,
        include_patterns,
        ..CopyOptions::default()
    };
    let op = names_by_dir.into_iter().fold(op, |op, (dir, names)| {
        op.copy(
            source,
            format!("/{dir}"),
            format!("/{}", relative_to(dir, part_dir)),
            literally(names),
        )
    });
    by_path.into_iter().fold(op, |op, path| {
        op.copy(
            source,
            format!("/{path}"),
            format!("/{}", relative_to(path, part_dir)),
            literally(Vec::new()),
        )
    })
}

/// The include pattern that selects what `copy` copies, relative to the context's directory
/// `base` (which holds it). A wildcard group's directory and extension hold no pattern
/// characters (`plan::select`), but a leading `!` would still turn it into an exception.
fn copy_pattern(copy: &ContextCopy, base: &str) -> String {
    let path = relative_to(copy.pattern(), base);
    match copy {
        ContextCopy::File(_) | ContextCopy::ByPath(_) => literal_pattern(path),
        ContextCopy::Glob(_) => match path.rsplit_once('/') {
            Some((dir, name)) => format!("{}/{name}", literal_pattern(dir)),
            None => path.to_string(),
        },
    }
}

/// `path` relative to its ancestor directory `base` (`""`: the context root).
fn relative_to<'a>(path: &'a str, base: &str) -> &'a str {
    if base.is_empty() {
        return path;
    }
    match path.strip_prefix(base) {
        Some("") => "",
        Some(rest) => rest.strip_prefix('/').unwrap_or(path),
        None => path,
    }
}

/// A pattern that matches exactly `path`: BuildKit patterns treat `*?[]\` as special and a
/// leading `!` as an exception. A control character (a newline in a file name) cannot travel
/// in the HTTP/2 header that carries the pattern: `?` stands in for it, which may also match a
/// sibling that differs in that one character.
fn literal_pattern(path: &str) -> String {
    let mut pattern = String::with_capacity(path.len());
    for (i, c) in path.chars().enumerate() {
        if c.is_control() {
            pattern.push('?');
            continue;
        }
        if matches!(c, '*' | '?' | '[' | ']' | '\\') || (i == 0 && c == '!') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern
}

/// What the deps steps see of the context: the module files at `paths` that exist, minus
/// `dockerignore`. A transfer of its own, so those steps can run while the context moves.
pub fn mod_files(paths: &[String], dockerignore: &[String], session_id: &str) -> State {
    exact_paths(paths, dockerignore, "gobuild-mod-files", session_id)
        .state(OpMeta::new().name("[internal] load go.mod and go.sum"))
}

/// Module files of the context at exactly `paths` (those that exist), which the frontend reads
/// before planning. `shared_key` names the transfer BuildKit may update incrementally.
pub fn module_files(paths: &[String], shared_key: &str, session_id: &str) -> State {
    exact_paths(paths, &[], shared_key, session_id)
        .state(OpMeta::new().name("[internal] load module files"))
}

/// The context's files at exactly `paths` (those that exist), minus `excludes`: a few paths
/// only, since each travels in the session request.
fn exact_paths(paths: &[String], excludes: &[String], shared_key: &str, session_id: &str) -> Local {
    let patterns: Vec<String> = paths.iter().map(|path| literal_pattern(path)).collect();
    context_local(&patterns, excludes, shared_key, session_id)
}

/// What fetches the modules, as [`render`] makes it from the same [`plan::Deps`]: the
/// module-files transfer, then each module layer and the links, or the deps step.
pub fn deps(
    deps: &plan::Deps,
    builder: &ResolvedImage,
    build_platform: &Platform,
    dockerignore: &[String],
    ctx: &RenderContext,
) -> Vec<State> {
    let r = Renderer {
        build_platform,
        ctx,
    };
    let stages = Stages {
        mod_files: mod_files(&deps.mod_files, dockerignore, &ctx.session_id),
        ..Stages::on(r.builder(builder))
    };
    let (after_deps, stages) = r.deps(deps.module_layers.as_ref(), deps.step.as_ref(), stages);
    let mut states = vec![stages.mod_files];
    match (&deps.module_layers, &deps.step) {
        (Some(_), _) => {
            states.extend(stages.module_layers);
            states.push(stages.module_links);
        }
        (None, Some(_)) => states.push(after_deps),
        // Vendoring: nothing to fetch.
        (None, None) => {}
    }
    states
}

/// The output directory of the source scan (files `files`, `embeds` and `headers`), run on
/// the builder image over the [`context`] transfer.
pub fn source_scan(
    builder: &ResolvedImage,
    build_platform: &Platform,
    dockerignore: &[String],
    includes: Option<&[String]>,
    ctx: &RenderContext,
) -> State {
    let context = context(dockerignore, includes, &ctx.session_id);
    let listing = plan::source_scan();
    output_of(&listing, builder, build_platform, ctx, |stages| Stages {
        context,
        ..stages
    })
}

/// The output directory (`files`) of the listing of the [`embedded`] transfer, on the
/// builder image.
pub fn embedded_listing(
    builder: &ResolvedImage,
    build_platform: &Platform,
    dockerignore: &[String],
    includes: &[String],
    ctx: &RenderContext,
) -> State {
    let embedded = embedded(dockerignore, includes, &ctx.session_id);
    let listing = plan::embedded_listing();
    output_of(&listing, builder, build_platform, ctx, |stages| Stages {
        embedded,
        ..stages
    })
}

/// The output of the one-step graph running `step` on `builder`, with what `with` adds to
/// the stages it mounts.
fn output_of(
    step: &Step,
    builder: &ResolvedImage,
    build_platform: &Platform,
    ctx: &RenderContext,
    with: impl FnOnce(Stages) -> Stages,
) -> State {
    let r = Renderer {
        build_platform,
        ctx,
    };
    let stages = with(Stages::on(r.builder(builder)));
    r.exec(step, &stages, &stages.builder).output(OUT)
}

/// The build information of the `binaries` in a target's `image` (`buildinfo` in the
/// output), read on the builder for the SBOM.
pub fn buildinfo(plan: &Plan, image: &State, binaries: &[String], ctx: &RenderContext) -> State {
    let step = plan::buildinfo_step(&plan.builder, binaries);
    output_of(&step, &plan.builder, &plan.build_platform, ctx, |stages| {
        Stages {
            target: image.clone(),
            ..stages
        }
    })
}

/// A directory holding the SPDX document at [`crate::gateway::SBOM_FILE`].
pub fn sbom_file(document: String, platform: &Platform) -> State {
    State::scratch().file(
        FileOp::new().mkfile(crate::gateway::SBOM_FILE.to_string(), 0o644, document),
        OpMeta::new().platform(platform).name(format!(
            "[sbom] {platform}: modules from the binaries' build information"
        )),
    )
}

pub fn render(plan: &Plan, ctx: &RenderContext) -> Result<Vec<RenderedTarget>> {
    let r = Renderer {
        build_platform: &plan.build_platform,
        ctx,
    };
    let context = context(
        &plan.dockerignore,
        plan.context_includes.as_deref(),
        &ctx.session_id,
    );
    let embedded = match plan.embed_includes.is_empty() {
        true => State::scratch(),
        false => embedded(&plan.dockerignore, &plan.embed_includes, &ctx.session_id),
    };
    let stages = Stages {
        builder: r.builder(&plan.builder),
        target: State::scratch(),
        mod_files: mod_files(&plan.mod_files, &plan.dockerignore, &ctx.session_id),
        sources: match &plan.source_selection {
            SourceSelection::Parts(parts) => {
                let n = parts.len();
                parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let name = format!(
                            "[internal] select Go sources {}/{n}: {}/",
                            i + 1,
                            if p.dir.is_empty() { "." } else { &p.dir }
                        );
                        let meta = r.meta(Pos::default(), &plan.build_platform).name(name);
                        (p.dir.clone(), part(&context, &embedded, p, meta))
                    })
                    .collect()
            }
            SourceSelection::Step(step) => {
                let copied = output_of(step, &plan.builder, &plan.build_platform, ctx, |stages| {
                    Stages {
                        context: context.clone(),
                        ..stages
                    }
                });
                vec![(String::new(), copied)]
            }
        },
        context,
        embedded,
        module_layers: Vec::new(),
        module_links: State::scratch(),
        compiled: None,
        runtime_base: State::scratch(),
    };
    let (after_deps, stages) = r.deps(plan.module_layers.as_ref(), plan.deps.as_ref(), stages);

    plan.targets
        .iter()
        .map(|target| {
            let compiled = target.compile.as_ref().map(|step| {
                r.exec(step, &stages, &after_deps)
                    .output(compiled::LAYER_GOCACHE)
            });
            let runtime_base = target
                .runtime
                .as_ref()
                .map(|runtime| r.runtime_base(runtime, &target.platform, &stages.builder));
            let stages = Stages {
                compiled,
                runtime_base: runtime_base.clone().unwrap_or_else(State::scratch),
                ..stages.clone()
            };
            let out = r.exec(&target.step, &stages, &after_deps).output(OUT);
            let (state, config) = match (plan.output, &target.runtime, runtime_base) {
                (Output::Image, Some(runtime), Some(base)) => (
                    match runtime.binaries_in_place {
                        true => out,
                        false => r.settle(
                            runtime,
                            &target.platform,
                            &base,
                            &out,
                            &runtime.binaries_name,
                        ),
                    },
                    Some(runtime.config.to_json()?),
                ),
                // Only the built files, at the root.
                (Output::Binaries, ..) => (out, None),
                // The build cache (`--target gocache`), or the test step's (empty) output:
                // the build succeeds only when the tests do.
                _ => (out, None),
            };
            Ok(RenderedTarget {
                platform: target.platform.clone(),
                state,
                config,
            })
        })
        .collect()
}

/// The states every step may mount.
#[derive(Clone)]
struct Stages {
    builder: State,
    /// The target's result, for the steps that read it (the SBOM's).
    target: State,
    mod_files: State,
    /// The build step's files, part by part: (directory under the mount, part).
    sources: Vec<(String, State)>,
    context: State,
    /// The embedded files' transfer ([`embedded`]), or scratch.
    embedded: State,
    /// The module cache's layers ([`layers`]).
    module_layers: Vec<State>,
    /// The layer of the module cache's links ([`layers::ModuleLayers::links_step`]).
    module_links: State,
    /// The target's compiled dependencies ([`compiled`]).
    compiled: Option<State>,
    /// The target's runtime base, for a build step writing the binaries into it.
    runtime_base: State,
}

impl Stages {
    /// The builder and nothing else: for the one-step graphs (the source scan, the SBOM's
    /// build information), which set what their step mounts.
    fn on(builder: State) -> Stages {
        Stages {
            builder,
            target: State::scratch(),
            mod_files: State::scratch(),
            sources: Vec::new(),
            context: State::scratch(),
            embedded: State::scratch(),
            module_layers: Vec::new(),
            module_links: State::scratch(),
            compiled: None,
            runtime_base: State::scratch(),
        }
    }
}

struct Renderer<'a> {
    build_platform: &'a Platform,
    ctx: &'a RenderContext,
}

impl Renderer<'_> {
    /// The module steps over `stages`: the state later steps run on (the deps step's root,
    /// else the builder) and the stages with the module layers.
    fn deps(
        &self,
        module_layers: Option<&layers::ModuleLayers>,
        deps: Option<&Step>,
        stages: Stages,
    ) -> (State, Stages) {
        match (module_layers, deps) {
            (Some(layers), _) => {
                let module_layers = layers
                    .steps
                    .iter()
                    .map(|step| {
                        self.exec(step, &stages, &stages.builder)
                            .output(layers::LAYER_DIR)
                    })
                    .collect();
                let module_links = self
                    .exec(&layers.links_step, &stages, &stages.builder)
                    .output(layers::LINKS_DIR);
                (
                    stages.builder.clone(),
                    Stages {
                        module_layers,
                        module_links,
                        ..stages
                    },
                )
            }
            (None, Some(step)) => (self.exec(step, &stages, &stages.builder).root(), stages),
            (None, None) => (stages.builder.clone(), stages),
        }
    }

    fn meta(&self, at: Pos, platform: &Platform) -> OpMeta {
        let location = (at.line > 0).then(|| SourceLocation {
            file: self.ctx.spec.clone(),
            line: at.line,
            column: at.column,
        });
        OpMeta::new()
            .platform(platform)
            .location(location)
            .ignore_cache(self.ctx.no_cache)
    }

    fn builder(&self, image: &ResolvedImage) -> State {
        Image::new(&image.reference)
            .resolve_mode(self.ctx.resolve_mode)
            .state(
                self.meta(Pos::default(), self.build_platform)
                    .name(format!("[builder] FROM {}", image.reference)),
            )
    }

    fn exec(&self, step: &Step, stages: &Stages, after_deps: &State) -> crate::llb::ExecState {
        let mut exec = Exec::new(step.args.clone())
            .cwd(step.cwd.clone())
            .network(step.network);
        for (key, value) in &step.env {
            exec = exec.env(key, value);
        }
        for mount in step.mounts.iter().flat_map(|m| self.mounts(m, stages)) {
            exec = exec.mount(mount);
        }
        let root = match step.root {
            StepRoot::Builder => &stages.builder,
            StepRoot::Deps => after_deps,
        };
        root.run(
            exec,
            self.meta(step.at, self.build_platform)
                .name(step.name.clone()),
        )
    }

    /// The mounts that give a step `mount`: one per part for the sources, else one.
    fn mounts(&self, mount: &StepMount, stages: &Stages) -> Vec<Mount> {
        let one = match &mount.source {
            MountSource::Sources => {
                return stages
                    .sources
                    .iter()
                    .map(|(dir, part)| {
                        let dest = match dir.as_str() {
                            "" => mount.dest.clone(),
                            dir => format!("{}/{dir}", mount.dest),
                        };
                        Mount::bind(part, dest).readonly()
                    })
                    .collect();
            }
            MountSource::ModFiles => Mount::bind(&stages.mod_files, &mount.dest).readonly(),
            MountSource::Context => Mount::bind(&stages.context, &mount.dest).readonly(),
            MountSource::Embedded => Mount::bind(&stages.embedded, &mount.dest).readonly(),
            MountSource::Target => Mount::bind(&stages.target, &mount.dest).readonly(),
            // Go locks its caches itself, so concurrent builds can share them.
            MountSource::Cache { id } => Mount::cache(&mount.dest, id, CacheSharing::Shared),
            MountSource::ReadOnlyCache { id } => {
                Mount::cache(&mount.dest, id, CacheSharing::Shared).readonly()
            }
            MountSource::CompiledDeps { by_definition } => {
                let compiled = stages.compiled.clone().unwrap_or_else(State::scratch);
                by_definition_if(
                    Mount::bind(&compiled, &mount.dest).readonly(),
                    *by_definition,
                )
            }
            MountSource::SeededCache { id, image } => {
                let image = Image::new(image)
                    .resolve_mode(self.ctx.resolve_mode)
                    .state(OpMeta::new().name(format!("[internal] FROM {image}")));
                Mount::seeded_cache(&mount.dest, id, CacheSharing::Shared, &image)
            }
            MountSource::Output => Mount::bind(&State::scratch(), &mount.dest),
            MountSource::ScratchRuntime => Mount::bind(&stages.runtime_base, &mount.dest),
            // The layers' own keys already say what they hold.
            MountSource::ModuleLayer {
                index,
                by_definition,
            } => {
                let scratch = State::scratch();
                let layer = stages.module_layers.get(*index).unwrap_or(&scratch);
                match by_definition {
                    true => Mount::bind(layer, &mount.dest)
                        .readonly()
                        .keyed_by_definition(),
                    // BuildKit v0.8 checksums a read-only mount's whole layer for its cache
                    // key (seconds for Gitea's modules, on edits too), but never a writable
                    // one: an unused copy-on-write output is the cheaper key.
                    false => Mount::bind(layer, &mount.dest),
                }
            }
            MountSource::ModuleLinks => Mount::bind(&stages.module_links, &mount.dest).readonly(),
            // Optional: the step's own check names the missing --ssh / --secret flag.
            MountSource::Ssh { id } => Mount::ssh(&mount.dest, id, true),
            MountSource::Secret { id } => Mount::secret(&mount.dest, id, true),
            MountSource::File { name, contents } => {
                let dir = State::scratch().file(
                    FileOp::new().mkfile(format!("/{name}"), 0o644, contents.clone()),
                    // Read by steps, which run on the build platform.
                    self.meta(Pos::default(), self.build_platform)
                        .name(format!("[internal] write {name}")),
                );
                Mount::bind(&dir, &mount.dest).readonly()
            }
        };
        vec![one]
    }

    /// The runtime image's base: scratch with users, CA bundle and /tmp, or an image. The
    /// binaries' layer goes on top ([`Self::settle`], or the build step writes it). Each
    /// layer of ours is assembled in a staging state and copied in whole with the spec's
    /// timestamp: a copy sets a directory's time after filling it, so every path of the layer
    /// (directories too) gets that time and the layers are reproducible.
    fn runtime_base(&self, runtime: &Runtime, platform: &Platform, builder: &State) -> State {
        let meta = |name: &str| self.meta(Pos::default(), platform).name(name.to_string());
        match &runtime.base {
            RuntimeBase::Scratch {
                name,
                passwd,
                group,
            } => {
                let staging = State::scratch().file(
                    FileOp::new()
                        .mkdir("/etc/ssl/certs", 0o755)
                        .mkfile("/etc/passwd", 0o644, passwd.clone())
                        .mkfile("/etc/group", 0o644, group.clone())
                        .copy(builder, CA_BUNDLE, CA_BUNDLE, CopyOptions::default())
                        // BuildKit's mkdir drops the sticky bit; copying the builder's (empty)
                        // /tmp keeps its 1777 mode.
                        .copy(
                            builder,
                            "/tmp",
                            "/tmp",
                            CopyOptions {
                                dir_copy_contents: false,
                                ..CopyOptions::default()
                            },
                        ),
                    meta("[runtime] stage users, CA certificates and /tmp"),
                );
                self.settle(runtime, platform, &State::scratch(), &staging, name)
            }
            RuntimeBase::Image { reference } => Image::new(reference)
                .resolve_mode(self.ctx.resolve_mode)
                .state(meta(&format!("[runtime] FROM {reference}"))),
        }
    }

    /// `staging` copied onto `onto` in whole, as one layer with the spec's timestamp.
    fn settle(
        &self,
        runtime: &Runtime,
        platform: &Platform,
        onto: &State,
        staging: &State,
        name: &str,
    ) -> State {
        onto.file(
            FileOp::new().timestamp(runtime.timestamp).copy(
                staging,
                "/",
                "/",
                CopyOptions::default(),
            ),
            self.meta(Pos::default(), platform).name(name.to_string()),
        )
    }
}

/// Keys a read-only mount of a build cache by its definition where the daemon can:
/// checksumming thousands of cache files on every build would cost more than it saves.
fn by_definition_if(mount: Mount, by_definition: bool) -> Mount {
    match by_definition {
        true => mount.keyed_by_definition(),
        false => mount,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_patterns_escape_and_carry_no_control_characters() {
        assert_eq!(literal_pattern("a[1]/*.go"), r"a\[1\]/\*.go");
        assert_eq!(literal_pattern("!bang.txt"), r"\!bang.txt");
        assert_eq!(literal_pattern("dir/!x"), "dir/!x");
        assert_eq!(literal_pattern("new\nline.txt"), "new?line.txt");
    }

    #[test]
    fn a_part_is_one_filtered_copy_per_directory() {
        let part = SourcePart {
            dir: "svc".into(),
            copies: vec![
                ContextCopy::ByPath("svc/api/ lead.go".into()),
                ContextCopy::File("svc/api/x[1].go".into()),
                ContextCopy::Glob("svc/*.go".into()),
                ContextCopy::Glob("svc/api/v1/*.go".into()),
            ],
            embedded: vec![ContextCopy::File("svc/web/index.html".into())],
            mountpoints: vec!["deep".into()],
        };
        assert_eq!(
            actions(&part),
            [
                "copy input 0:/svc -> / include=*.go",
                r"copy input 0:/svc/api -> /api include=x\[1\].go",
                "copy input 0:/svc/api/v1 -> /api/v1 include=*.go",
                "copy input 0:/svc/api/ lead.go -> /api/ lead.go",
                "copy input 1:/svc/web -> /web include=index.html",
                "mkdir /deep mode=755",
            ]
        );
        let root = SourcePart {
            dir: String::new(),
            copies: vec![
                ContextCopy::ByPath("go.mod".into()),
                ContextCopy::ByPath("main.go".into()),
                ContextCopy::Glob("cmd/*.go".into()),
            ],
            embedded: vec![],
            mountpoints: vec![],
        };
        assert_eq!(
            actions(&root),
            [
                "copy input 0:/cmd -> /cmd include=*.go",
                "copy input 0:/go.mod -> /go.mod",
                "copy input 0:/main.go -> /main.go",
            ]
        );
    }

    /// The actions of `part`'s file op, as the LLB dump shows them.
    fn actions(part: &SourcePart) -> Vec<String> {
        let context = context(&[], None, "session");
        let embedded = embedded(&[], &["svc/web/*.html".to_string()], "session");
        let dump =
            crate::llb::dump(&super::part(&context, &embedded, part, OpMeta::new()).marshal());
        dump.lines()
            .filter(|line| line.trim_start().starts_with('['))
            .map(|line| line.split_once("] ").map_or(line, |(_, a)| a).to_string())
            .collect()
    }

    #[test]
    fn copies_become_the_same_selection_as_patterns() {
        let pattern = |copy| copy_pattern(&copy, "");
        assert_eq!(pattern(ContextCopy::Glob("*.go".into())), "*.go");
        assert_eq!(
            pattern(ContextCopy::Glob("cmd/api/*.go".into())),
            "cmd/api/*.go"
        );
        assert_eq!(pattern(ContextCopy::Glob("!x/*.go".into())), r"\!x/*.go");
        assert_eq!(
            pattern(ContextCopy::File("a[1]/b.go".into())),
            r"a\[1\]/b.go"
        );
        // Relative to a part's directory, whose own name may hold pattern characters.
        let within = |copy, base| copy_pattern(&copy, base);
        assert_eq!(
            within(ContextCopy::Glob("svc[1]/api/*.go".into()), "svc[1]"),
            "api/*.go"
        );
        assert_eq!(within(ContextCopy::Glob("a/*.go".into()), "a"), "*.go");
        assert_eq!(
            within(ContextCopy::File("svc[1]/x[2].go".into()), "svc[1]"),
            r"x\[2\].go"
        );
    }
}

//! The one pipeline from a build's inputs to its plan, whatever the host: BuildKit's gateway
//! (the frontend) or a directory on disk (`render` and the snapshot tests). Phases, like
//! BuildKit's dockerfile2llb:
//!
//! 1. read: the spec, the ignore file, the module files (go.mod, go.work, vendor manifest),
//!    while the context moves to the daemon;
//! 2. decide (`plan::needs`, pure): which builder and runtime base images, which platforms;
//! 3. resolve (the host): those images, and the context's file list, `//go:embed` lines and
//!    Go file headers (imports);
//! 4. plan (`plan::plan`, pure).
//!
//! Errors leave here knowing their origin: a spec or go.mod/go.work diagnostic carries the
//! bytes of the file it points into, so the client shows the right excerpt.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Result, anyhow};
use tracing::Instrument as _;

use crate::gomod::{GoMod, GoModError};
use crate::gosource;
use crate::ignore;
use crate::image::ResolvedImage;
use crate::llb::SourceFile;
use crate::options::Options;
use crate::plan::effective::Setting;
use crate::plan::lint::Finding;
use crate::plan::modules::{self, ContextFiles, ModuleFacts};
use crate::plan::{self, Daemon, Inputs, Known, Plan, select};
use crate::platform::Platform;
use crate::spec::org::Org;
use crate::spec::{self, Diagnostic, Located, Pos, SharedSpec, Spec, SpecError};

/// Where a build's inputs come from.
pub trait Host {
    /// Reads the context's module files (go.mod, go.sum, go.work, vendor/modules.txt).
    type ModuleFiles: ContextFiles;

    /// The spec file's bytes.
    fn read_spec(&self, filename: &str) -> impl Future<Output = Result<Vec<u8>>>;

    /// A file of the context (the shared spec a spec `extends:`), if it exists.
    fn read_context_file(&self, path: &str) -> impl Future<Output = Result<Option<Vec<u8>>>>;

    /// `<spec>.dockerignore` beside the spec, else the context's `.dockerignore`, if any.
    fn read_dockerignore(&self, filename: &str) -> impl Future<Output = Result<Option<Vec<u8>>>>;

    /// Access to the module files for a module in `module_dir`: those at
    /// [`modules::fact_paths`], and any other file on request.
    fn module_files(&self, module_dir: &str) -> impl Future<Output = Result<Self::ModuleFiles>>;

    /// Moves the context (minus `dockerignore`; only `includes`, if given) to where
    /// [`Host::scan`] reads it, so the transfer overlaps the module files' reads.
    fn load_context(
        &self,
        dockerignore: &[String],
        includes: Option<&[String]>,
    ) -> impl Future<Output = Result<()>>;

    /// What the source scan finds in the context [`Host::load_context`] moved.
    fn scan(
        &self,
        builder: &ResolvedImage,
        build_platform: &Platform,
        dockerignore: &[String],
        includes: Option<&[String]>,
        spec: &Arc<SourceFile>,
    ) -> impl Future<Output = Result<Scan>>;

    /// The files of the context (minus `dockerignore`) that `includes` take: the embedded
    /// files' transfer ([`plan::select::embed_includes`]), moved and listed.
    fn list_embedded(
        &self,
        builder: &ResolvedImage,
        build_platform: &Platform,
        dockerignore: &[String],
        includes: &[String],
        spec: &Arc<SourceFile>,
    ) -> impl Future<Output = Result<Vec<String>>>;

    /// Runs what fetches the modules ([`plan::deps`]), on `builder`, to its end: with the
    /// context still moving, that is no longer the build step's wait.
    fn fetch_modules(
        &self,
        deps: &plan::Deps,
        builder: &ResolvedImage,
        build_platform: &Platform,
        dockerignore: &[String],
        spec: &Arc<SourceFile>,
    ) -> impl Future<Output = Result<()>>;

    /// An image's digest-pinned reference and config facts for a platform.
    fn resolve_image(
        &self,
        reference: &str,
        platform: &Platform,
    ) -> impl Future<Output = Result<ResolvedImage>>;
}

/// What the source scan finds in the context (minus `.dockerignore`).
pub struct Scan {
    /// Every file, context-relative, sorted.
    pub files: Vec<String>,
    /// The `//go:embed` lines of the Go files, as `grep -rH` prints them (`./path:line`).
    pub embeds: String,
    /// The Go files' headers, as [`gosource::HEADER_AWK`] prints them.
    pub headers: String,
}

/// A planned build, the spec it came from (ops point back into it) and what the build
/// should still be told ([`plan::lint`]).
pub struct Planned {
    pub plan: Plan,
    pub spec: Arc<SourceFile>,
    pub findings: Vec<Finding>,
    /// Every value the build uses and where it comes from.
    pub effective: Vec<Setting>,
}

/// Runs phases 1–4 against `host`.
pub async fn plan(
    host: &impl Host,
    options: &Options,
    org: Option<&Org>,
    build_platform: &Platform,
    daemon: Daemon,
) -> Result<Planned> {
    // 2. decide, and 3. resolve, while the context still moves: the builder image, then at
    //    once the scan on it (BuildKit runs it the moment the transfer ends, no round trip
    //    to us in between), the modules' steps (planned from go.mod and go.sum alone), the
    //    runtime bases and the build-cache seed.
    let (read, (needs, builder, deps, (scan, (), runtime_bases, gocache_seeds))) =
        read(host, options, org, Some(daemon), async |read: &Read| {
            let known = read.known(options, org, build_platform, daemon);
            let needs = tracing::debug_span!("decide").in_scope(|| decide(read, &known, org))?;
            let builder = host
                .resolve_image(&needs.builder.reference, build_platform)
                .await?;
            let deps = plan::deps(&known, &builder).map_err(|d| read.error(d))?;
            let resolved = tokio::try_join!(
                host.scan(
                    &builder,
                    build_platform,
                    &read.dockerignore,
                    read.context_includes.as_deref(),
                    &read.spec_file
                ),
                host.fetch_modules(
                    &deps,
                    &builder,
                    build_platform,
                    &read.dockerignore,
                    &read.spec_file
                ),
                per_platform(host, needs.runtime_base.as_deref(), &needs.platforms),
                per_platform(host, needs.gocache_from.as_deref(), &needs.platforms)
            )?;
            anyhow::Ok((needs, builder, deps, resolved))
        })
        .await?;
    let known = read.known(options, org, build_platform, daemon);
    let needs = &needs;
    // A client whose fsutil predates `**` (docker 20.10's) cuts a filtered transfer short:
    // then the scan runs again over the whole context.
    let (scan, context_includes) = match read.context_includes.as_deref() {
        Some(includes) if select::transfer_cut_short(&scan.files, includes) => {
            tracing::info!("an old client cut the context transfer short: moving it whole");
            let whole = host
                .scan(
                    &builder,
                    build_platform,
                    &read.dockerignore,
                    None,
                    &read.spec_file,
                )
                .await?;
            (whole, None)
        }
        includes => (scan, includes.map(<[String]>::to_vec)),
    };
    let headers = gosource::parse_scan(&scan.headers);
    let embeds = modules::parse_embed_scan(
        &plan::compiled_embed_lines(&known, needs, &headers, &scan.embeds),
        ".",
    );
    // The files `//go:embed` lines name, where the context's transfer left them out: a
    // second, small transfer, planned from the Go files; kept if it brought any.
    let mut context_files = scan.files;
    let mut embedded_files = Vec::new();
    let mut embed_includes = Vec::new();
    if context_includes.is_some() && !embeds.is_empty() {
        let includes = select::embed_includes(&embeds);
        let listed = host
            .list_embedded(
                &builder,
                build_platform,
                &read.dockerignore,
                &includes,
                &read.spec_file,
            )
            .await?;
        embedded_files = listed
            .into_iter()
            .filter(|file| context_files.binary_search(file).is_err())
            .collect();
        embedded_files.sort();
        context_files.extend(embedded_files.iter().cloned());
        context_files.sort();
        if !embedded_files.is_empty() {
            embed_includes = includes;
        }
    }

    // 4. plan
    let findings = plan::lint::findings(&known);
    let effective = plan::effective::settings(&known, &needs.builder);
    let inputs = Inputs {
        known,
        context_files: &context_files,
        embedded_files: &embedded_files,
        context_includes: context_includes.as_deref(),
        embed_includes: &embed_includes,
        embeds: &embeds,
        headers: &headers,
        runtime_bases: &runtime_bases,
        gocache_seeds: &gocache_seeds,
    };
    let plan = tracing::debug_span!("plan")
        .in_scope(|| plan::plan(&inputs, &needs.builder, builder, deps))
        .map_err(|d| read.error(d))?;
    Ok(Planned {
        plan,
        spec: read.spec_file.clone(),
        findings,
        effective,
    })
}

/// What `--check` reports: the findings of phases 1–2, or the problems that would stop the
/// build there, with the files they point into.
pub struct Lint {
    pub findings: Vec<Finding>,
    /// The first problem that stops the build, if one does.
    pub error: Option<Finding>,
    /// The spec first, then every other file a finding points into.
    pub files: Vec<(String, Vec<u8>)>,
}

/// Phases 1–2 without moving the context, and the findings a build would show.
pub async fn lint(
    host: &impl Host,
    options: &Options,
    org: Option<&Org>,
    build_platform: &Platform,
    daemon: Daemon,
) -> Result<Lint> {
    let checked = read(host, options, org, None, async |read: &Read| {
        decide(read, &read.known(options, org, build_platform, daemon), org).map(drop)
    });
    match checked.await {
        Ok((read, ())) => {
            let known = read.known(options, org, build_platform, daemon);
            let findings = plan::lint::findings(&known);
            let mut files = vec![(read.spec_file.filename.clone(), read.spec_file.data.clone())];
            files.extend(read.excerpts.iter().cloned());
            Ok(Lint {
                findings,
                error: None,
                files,
            })
        }
        Err(error) => {
            let failure = error.downcast::<SpecError>()?;
            let findings: Vec<Finding> = failure
                .diagnostics
                .iter()
                .map(Finding::from_error)
                .collect();
            let mut files = vec![(failure.file, failure.source)];
            files.extend(failure.also);
            Ok(Lint {
                error: findings.first().cloned(),
                findings,
                files,
            })
        }
    }
}

/// What phase 1 reads.
struct Read {
    spec: Spec,
    spec_file: Arc<SourceFile>,
    dockerignore: Vec<String>,
    /// The context transfer's include patterns (`None`: the whole context).
    context_includes: Option<Vec<String>>,
    facts: ModuleFacts,
    /// The files besides the spec a diagnostic may point into: go.mod, the org file.
    excerpts: Vec<(String, Vec<u8>)>,
}

impl Read {
    fn known<'a>(
        &'a self,
        options: &'a Options,
        org: Option<&'a Org>,
        build_platform: &'a Platform,
        daemon: Daemon,
    ) -> Known<'a> {
        Known {
            spec: &self.spec,
            spec_file: &options.filename,
            org_file: org.map(|o| o.file.as_str()),
            modules: &self.facts,
            options,
            build_platform,
            dockerignore: &self.dockerignore,
            daemon,
        }
    }

    /// The error for a diagnostic, with the bytes of the file it points into.
    fn error(&self, diagnostic: Diagnostic) -> anyhow::Error {
        at_origin(diagnostic, &self.spec_file, &self.excerpts)
    }
}

/// Phase 1: the spec, the ignore file and the module files, then `then` on what was read;
/// with `move_context_to` a daemon, the context moves to it meanwhile.
async fn read<T>(
    host: &impl Host,
    options: &Options,
    org: Option<&Org>,
    move_context_to: Option<Daemon>,
    then: impl AsyncFnOnce(&Read) -> Result<T>,
) -> Result<(Read, T)> {
    // 1. read
    let filename = &options.filename;
    let (spec, spec_file, shared) = read_spec(host, options, org).await?;
    if let Some(org) = org {
        org.policy.check_build_args(&options.args, &org.file)?;
    }
    // A value the shared spec or the org's defaults gave points into their file.
    let defaults: Vec<(String, Vec<u8>)> = shared
        .into_iter()
        .chain(org.map(|o| (o.file.clone(), o.source.clone())))
        .collect();
    let in_spec = |diagnostic: Diagnostic| at_origin(diagnostic, &spec_file, &defaults);
    let dockerignore = host
        .read_dockerignore(filename)
        .await?
        .map(|bytes| ignore::parse(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default();
    let ignored = ignore::Matcher::new(&dockerignore);
    let go_mod_path = modules::in_dir(&spec.module.value, "go.mod");
    if ignored.excludes(&go_mod_path) {
        return Err(in_spec(excluded_go_mod(filename, &spec, &go_mod_path)));
    }
    let context_includes =
        move_context_to.and_then(|daemon| plan::transfer_includes(&spec, options, daemon));
    let read_module_files = async {
        // The module files as the build sees them: an ignored go.work does not exist for it.
        let files = Unignored {
            files: host.module_files(&spec.module.value).await?,
            ignored: &ignored,
        };
        let (go_mod_text, go_mod) = read_go_mod(&files, &go_mod_path, &spec, &spec_file)
            .instrument(tracing::debug_span!("read_go_mod"))
            .await?;
        let facts = modules::gather(&files, go_mod)
            .instrument(tracing::debug_span!("gather"))
            .await?;
        // From here on a diagnostic may point into go.mod too.
        let mut excerpts = vec![(go_mod_path.clone(), go_mod_text.into_bytes())];
        excerpts.extend(defaults.iter().cloned());
        let read = Read {
            spec: spec.clone(),
            spec_file: spec_file.clone(),
            dockerignore: dockerignore.clone(),
            context_includes: context_includes.clone(),
            facts,
            excerpts,
        };
        let then = then(&read).await?;
        anyhow::Ok((read, then))
    };
    // The context transfer needs only the ignore file: it runs while the module files are
    // fetched and read and `then` resolves images, and the scan finds it done. It is the
    // longest read (0.4 s for Gitea unchanged), so only the ignore file goes before it.
    let move_context = async {
        match move_context_to {
            Some(_) => {
                host.load_context(&dockerignore, context_includes.as_deref())
                    .await
            }
            None => Ok(()),
        }
    };
    let (read, ()) = tokio::try_join!(read_module_files, move_context)?;
    Ok(read)
}

/// Phase 2: the images and platforms the build needs, and the org's minimum Go.
fn decide(read: &Read, known: &Known, org: Option<&Org>) -> Result<plan::Needs> {
    let needs = plan::needs(known).map_err(|d| read.error(d))?;
    if let Some(org) = org {
        let (file, line) = &needs.builder.chosen_at;
        let too_old = org
            .policy
            .check_go(needs.builder.go, (file, *line), &org.file);
        if let Some(diagnostic) = too_old {
            return Err(read.error(diagnostic));
        }
    }
    Ok(needs)
}

/// The spec over the shared spec it extends and the org baseline; its file (ops and
/// subrequests point into it) and the shared spec's path and bytes.
async fn read_spec(
    host: &impl Host,
    options: &Options,
    org: Option<&Org>,
) -> Result<(Spec, Arc<SourceFile>, Option<(String, Vec<u8>)>)> {
    let filename = &options.filename;
    let spec_bytes = host.read_spec(filename).await?;
    let spec_file = Arc::new(SourceFile {
        filename: filename.clone(),
        data: spec_bytes,
        language: "YAML".to_string(),
    });
    // A path that leaves the context is the spec's mistake, which loading reports.
    let extends = spec::extends_of(&spec_file.data).filter(|e| spec::inside_context(&e.value));
    let shared = match extends {
        Some(extends) => match host.read_context_file(&extends.value).await? {
            Some(bytes) => Some((extends.value, bytes)),
            None => {
                return Err(at_origin(
                    missing_shared_spec(filename, &extends),
                    &spec_file,
                    &[],
                ));
            }
        },
        None => None,
    };
    let spec = spec::load_under(
        filename,
        &spec_file.data,
        shared
            .as_ref()
            .map(|(file, source)| SharedSpec { file, source }),
        org,
    )?;
    Ok((spec, spec_file, shared))
}

fn missing_shared_spec(file: &str, extends: &Located<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_string(),
        pos: extends.pos,
        path: "extends".to_string(),
        message: format!("the build context has no {}", extends.value),
        hint: Some("`extends:` names a file relative to the build context".to_string()),
        broken_rule: None,
    }
}

/// What `--call outline` lists: the spec is all it needs.
pub async fn outline(
    host: &impl Host,
    options: &Options,
    org: Option<&Org>,
) -> Result<(plan::Outline, Arc<SourceFile>)> {
    let (spec, spec_file, _) = read_spec(host, options, org).await?;
    Ok((plan::outline(&spec, &options.build_args), spec_file))
}

/// What `--call targets` lists: the spec (under the org baseline) and the main module's path
/// are all it needs, so only those are read.
pub async fn targets(
    host: &impl Host,
    options: &Options,
    org: Option<&Org>,
) -> Result<(Vec<plan::TargetInfo>, Arc<SourceFile>)> {
    let (spec, spec_file, _) = read_spec(host, options, org).await?;
    let files = host.module_files(&spec.module.value).await?;
    let go_mod_path = modules::in_dir(&spec.module.value, "go.mod");
    let (_, go_mod) = read_go_mod(&files, &go_mod_path, &spec, &spec_file).await?;
    Ok((plan::target_list(&spec, &go_mod.module), spec_file))
}

/// The main module's go.mod at `path`, as text and parsed; a missing one is the spec's
/// mistake (its `module`), a malformed one points into go.mod.
async fn read_go_mod(
    files: &impl ContextFiles,
    path: &str,
    spec: &Spec,
    spec_file: &SourceFile,
) -> Result<(String, GoMod)> {
    let text = files.read(path).await?.ok_or_else(|| {
        at_origin(
            missing_go_mod(&spec_file.filename, spec, path),
            spec_file,
            &[],
        )
    })?;
    let go_mod = GoMod::parse(path, &text).map_err(|error: GoModError| {
        let diagnostic = Diagnostic {
            file: error.file.clone(),
            pos: Pos::at(error.line, 1),
            path: String::new(),
            message: error.message.clone(),
            hint: None,
            broken_rule: None,
        };
        at_origin(
            diagnostic,
            spec_file,
            &[(error.file.clone(), text.as_bytes().to_vec())],
        )
    })?;
    Ok((text, go_mod))
}

/// `reference` resolved for each platform; none without a reference.
async fn per_platform(
    host: &impl Host,
    reference: Option<&str>,
    platforms: &[Platform],
) -> Result<BTreeMap<Platform, ResolvedImage>> {
    let mut images = BTreeMap::new();
    if let Some(reference) = reference {
        for platform in platforms {
            images.insert(
                platform.clone(),
                host.resolve_image(reference, platform).await?,
            );
        }
    }
    Ok(images)
}

/// The error for `diagnostic`, with the bytes of the file it points into: the spec, one of
/// `module_files`, or none (an option or build arg has no file to excerpt).
fn at_origin(
    diagnostic: Diagnostic,
    spec: &SourceFile,
    module_files: &[(String, Vec<u8>)],
) -> anyhow::Error {
    let source = if diagnostic.file == spec.filename {
        Some(spec.data.clone())
    } else {
        module_files
            .iter()
            .find(|(name, _)| *name == diagnostic.file)
            .map(|(_, bytes)| bytes.clone())
    };
    // A broken org rule's file, for the excerpt of the rule's line.
    let also = module_files
        .iter()
        .filter(|(name, _)| {
            diagnostic
                .broken_rule
                .as_ref()
                .is_some_and(|rule| rule.0 == *name)
        })
        .cloned()
        .collect();
    match source {
        Some(source) => SpecError {
            file: diagnostic.file.clone(),
            source,
            also,
            diagnostics: vec![diagnostic],
        }
        .into(),
        None => anyhow!("{diagnostic}"),
    }
}

/// Context files minus those `.dockerignore` excludes.
struct Unignored<'a, F> {
    files: F,
    ignored: &'a ignore::Matcher,
}

impl<F: ContextFiles> ContextFiles for Unignored<'_, F> {
    async fn read(&self, path: &str) -> Result<Option<String>> {
        if self.ignored.excludes(path) {
            return Ok(None);
        }
        self.files.read(path).await
    }

    async fn read_all(&self, paths: &[String]) -> Result<Vec<Option<String>>> {
        let wanted: Vec<String> = paths
            .iter()
            .filter(|path| !self.ignored.excludes(path))
            .cloned()
            .collect();
        let mut texts = self.files.read_all(&wanted).await?.into_iter();
        Ok(paths
            .iter()
            .map(|path| match self.ignored.excludes(path) {
                true => None,
                false => texts.next().flatten(),
            })
            .collect())
    }
}

fn excluded_go_mod(file: &str, spec: &Spec, path: &str) -> Diagnostic {
    Diagnostic {
        hint: Some(format!(
            "remove the pattern that matches {path} from .dockerignore (or {file}.dockerignore), or add `!{path}`"
        )),
        message: format!("{path} is excluded from the build context by .dockerignore"),
        ..missing_go_mod(file, spec, path)
    }
}

fn missing_go_mod(file: &str, spec: &Spec, path: &str) -> Diagnostic {
    let pos = if spec.module.pos.line > 0 {
        spec.module.pos
    } else {
        Pos::START
    };
    Diagnostic {
        file: file.to_string(),
        pos,
        path: "module".to_string(),
        message: format!("the build context has no {path}"),
        hint: Some(
            "run the build from the module's directory, or set `module:` to the directory holding go.mod"
                .to_string(),
        ),
        broken_rule: None,
    }
}

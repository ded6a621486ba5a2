//! Frontend mode: read the spec and go.mod through the gateway, plan, render, solve, return.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result, bail};
use sha2::Digest as _;
use tracing::Instrument as _;

use crate::gateway::{FrontendResult, PlatformResult, Ref, Session, UnsupportedSubrequest};
use crate::image::{ImageFacts, ResolvedImage, pin_reference};
use crate::llb::{FileOp, Local, OpMeta, SourceFile, State};
use crate::options::{CacheImport, FrontendEnv, Options};
use crate::pipeline::{self, Host, Planned, Scan};
use crate::plan;
use crate::plan::lint::Finding;
use crate::plan::modules::{self, ContextFiles};
use crate::plan::{Daemon, Plan, Target};
use crate::platform::Platform;
use crate::render::{self, CONTEXT_LOCAL, RenderContext};
use crate::spec::org::Org;

/// Runs as a BuildKit frontend and exits: 0 once a result or an error was handed to BuildKit.
pub fn main() -> ! {
    let code = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(serve()),
        Err(error) => {
            tracing::error!("cannot start the async runtime: {error}");
            1
        }
    };
    // Exit at once: nothing may keep running (or write to stdout) after `Return`.
    std::process::exit(code)
}

async fn serve() -> i32 {
    let session = match Session::connect_stdio().await {
        Ok(session) => session,
        Err(error) => {
            tracing::error!("cannot talk to BuildKit: {error:#}");
            return 1;
        }
    };
    let outcome = match FrontendEnv::from_vars(std::env::vars()) {
        Ok(env) => build(&session, &env).await,
        Err(error) => Err(error),
    };
    let returned = match outcome {
        Ok(result) => {
            session
                .return_result(result)
                .instrument(tracing::debug_span!("return"))
                .await
        }
        Err(error) => {
            tracing::info!("build failed: {error:#}");
            session.return_error(&error).await
        }
    };
    match returned {
        Ok(()) => 0,
        Err(error) => {
            tracing::error!("cannot return the result to BuildKit: {error:#}");
            1
        }
    }
}

/// The whole frontend run against a gateway session.
pub async fn build(session: &Session, env: &FrontendEnv) -> Result<FrontendResult> {
    tracing::info!(opts = ?env.opts.keys().collect::<Vec<_>>(), worker = %env.worker_id, platforms = ?env.worker_platforms, "frontend started");
    let options = Options::parse(&env.opts)?;
    let org = crate::cli::installed_org()?;
    let build_platform = env
        .worker_platforms
        .first()
        .or(session.caps.worker_platforms.first())
        .cloned()
        .unwrap_or_else(Platform::host);

    let host = GatewayHost {
        session,
        env,
        options: &options,
        spec_ref: OnceLock::new(),
        spec_vertex: OnceLock::new(),
    };
    let caps = &session.caps.llb;
    let daemon = Daemon {
        mounts_by_definition: caps.contains("exec.mount.cache.content"),
        filtered_copies: caps.contains("file.copy.includeexcludepatterns"),
    };
    if let Some(request) = &options.request_id {
        return match request.as_str() {
            LINT => lint(&host, org.as_ref(), &build_platform, daemon).await,
            other => subrequest(&host, org.as_ref(), other).await,
        };
    }
    let Planned {
        plan,
        spec,
        findings,
        ..
    } = pipeline::plan(&host, &options, org.as_ref(), &build_platform, daemon).await?;
    show_findings(&host, &spec, &findings).await?;
    let ctx = RenderContext {
        session_id: env.session_id.clone(),
        spec,
        resolve_mode: options.image_resolve_mode,
        no_cache: options.no_cache,
    };

    let multi = match options.multi_platform {
        Some(false) if plan.targets.len() > 1 => bail!(
            "multi-platform=false, but {} platforms were requested",
            plan.targets.len()
        ),
        Some(wanted) => wanted,
        None => plan.targets.len() > 1,
    };
    if multi && env.worker_id == DOCKERD_WORKER {
        let message = format!(
            "[warning] dockerd's image store takes one platform per build; to get all {} platforms use --output type=oci,dest=FILE or type=local,dest=DIR, or docker buildx",
            plan.targets.len()
        );
        show_warning(session, &options, &message).await?;
    }
    // Where the daemon takes attestations from frontends; dockerd 20.10's does not.
    let sbom_wanted = options.sbom && session.caps.gateway.contains(CAP_ATTESTATIONS);
    let mut platforms = Vec::new();
    let rendered = tracing::debug_span!("render").in_scope(|| render::render(&plan, &ctx))?;
    for (target, rendered) in plan.targets.iter().zip(rendered) {
        let reference = session
            .solve(rendered.state.marshal(), &options.cache_imports, false)
            .instrument(tracing::debug_span!("solve", platform = %rendered.platform))
            .await?;
        let sbom = match sbom_wanted && rendered.config.is_some() {
            true => Some(sbom(session, &plan, &ctx, &options, target, &rendered.state).await?),
            false => None,
        };
        platforms.push(PlatformResult {
            platform: rendered.platform,
            reference,
            config: rendered.config,
            sbom,
        });
    }
    match <[_; 1]>::try_from(platforms) {
        Ok([one]) if !multi => Ok(FrontendResult::Single(one)),
        Ok(one) => Ok(FrontendResult::Multi {
            platforms: one.into(),
        }),
        Err(platforms) => Ok(FrontendResult::Multi { platforms }),
    }
}

/// The SBOM of one target's image: `go version -m` on its binaries, as an SPDX document in a
/// ref of its own.
async fn sbom(
    session: &Session,
    plan: &Plan,
    ctx: &RenderContext,
    options: &Options,
    target: &Target,
    image: &State,
) -> Result<Ref> {
    let buildinfo = render::buildinfo(plan, image, &target.binaries, ctx);
    let reference = session
        .solve(buildinfo.marshal(), &options.cache_imports, true)
        .await?;
    let output = session
        .read_file(&reference, "buildinfo")
        .await?
        .context("the SBOM step wrote no build information")?;
    let output = String::from_utf8_lossy(&output);
    let binaries = crate::sbom::parse(&output, plan::IMAGE)?;
    let epoch = options
        .args
        .source_date_epoch
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().unix_timestamp());
    let key = format!("{:x}", sha2::Sha256::digest(output.as_bytes()));
    let document = crate::sbom::document(
        &target.binaries.join(", "),
        &target.platform.to_string(),
        &binaries,
        &plan::rfc3339(epoch),
        &key,
    )?;
    let file = render::sbom_file(serde_json::to_string_pretty(&document)?, &target.platform);
    session.solve(file.marshal(), &[], false).await
}

/// The gateway cap of daemons that take attestations in a frontend's result.
const CAP_ATTESTATIONS: &str = "reference.attestations";
const DESCRIBE: &str = "frontend.subrequests.describe";
const TARGETS: &str = "frontend.targets";
const OUTLINE: &str = "frontend.outline";
const LINT: &str = "frontend.lint";
/// The worker id of the BuildKit embedded in dockerd, whose image store exporter takes one
/// platform per build.
const DOCKERD_WORKER: &str = "moby";

/// What the build should still be told ([`plan::lint`]): warnings in the progress where the
/// daemon takes them (cap `gateway.warnings`), on the spec's vertex like the Dockerfile
/// frontend's checks; elsewhere (v0.8) a `[warning]` vertex each.
async fn show_findings(
    host: &GatewayHost<'_>,
    spec: &SourceFile,
    findings: &[Finding],
) -> Result<()> {
    let session = host.session;
    let vertex = host.spec_vertex.get();
    for finding in findings {
        let rule = finding.rule.name();
        let line = finding
            .at
            .as_ref()
            .filter(|(file, _)| *file == spec.filename)
            .map(|(_, line)| *line);
        let place = match &finding.at {
            Some((file, line)) => format!(" ({file}:{line})"),
            None => String::new(),
        };
        let short = format!("{rule}: {}{place}", finding.detail);
        match vertex {
            Some(digest) if session.caps.gateway.contains("gateway.warnings") => {
                let source = line.map(|line| (spec, line));
                session
                    .warn(digest, &short, finding.rule.description(), source)
                    .await?
            }
            _ => show_warning(session, host.options, &format!("[warning] {short}")).await?,
        }
    }
    Ok(())
}

/// Shows a message as its own vertex in the build's progress: the frontend's stderr only
/// reaches the daemon log, and v0.8 has no Warn RPC. The frontend cannot see the exporter, so
/// it warns rather than fails.
async fn show_warning(session: &Session, options: &Options, message: &str) -> Result<()> {
    let note = State::scratch().file(
        FileOp::new().mkfile("/warning", 0o644, message.as_bytes().to_vec()),
        OpMeta::new().name(message),
    );
    session
        .solve(note.marshal(), &options.cache_imports, true)
        .await?;
    Ok(())
}

/// Answers `--call`/`--print` style subrequests: `describe`, `targets` and `outline`;
/// anything else is refused with BuildKit's typed detail so clients can fall back.
async fn subrequest(
    host: &GatewayHost<'_>,
    org: Option<&Org>,
    request: &str,
) -> Result<FrontendResult> {
    match request {
        DESCRIBE => describe(),
        TARGETS => targets(host, org).await,
        OUTLINE => outline(host, org).await,
        other => Err(UnsupportedSubrequest(other.to_string()).into()),
    }
}

fn describe() -> Result<FrontendResult> {
    let requests = [
        (DESCRIBE, "List available subrequest types"),
        (TARGETS, "List all targets current build supports"),
        (OUTLINE, "List all parameters current build takes"),
        (LINT, "Lint a go-build.yaml"),
    ];
    let list: Vec<serde_json::Value> = requests
        .iter()
        .map(|(name, description)| {
            serde_json::json!({
                "name": name,
                "version": "1.0.0",
                "type": "rpc",
                "description": description,
                "metadata": metadata(name),
            })
        })
        .collect();
    let mut text = "NAME\tVERSION\tDESCRIPTION\n".to_string();
    for (name, description) in requests {
        text.push_str(&format!("{name}\t1.0.0\t{description}\n"));
    }
    subrequest_result(serde_json::to_vec(&list)?, text)
}

/// What a subrequest's answer holds: lint says also whether it found anything.
fn metadata(request: &str) -> Vec<serde_json::Value> {
    let mut names = vec!["result.json", "result.txt"];
    if request == LINT {
        names.push("result.statuscode");
    }
    names
        .into_iter()
        .map(|name| serde_json::json!({ "name": name }))
        .collect()
}

/// A subrequest's answer as clients read it: JSON, text to print, the version (1.0.0 for
/// every subrequest so far).
fn subrequest_result(json: Vec<u8>, text: String) -> Result<FrontendResult> {
    Ok(FrontendResult::Metadata(subrequest_metadata(json, text)))
}

fn subrequest_metadata(json: Vec<u8>, text: String) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        ("result.json".to_string(), json),
        ("result.txt".to_string(), text.into_bytes()),
        ("version".to_string(), b"1.0.0".to_vec()),
    ])
}

/// The spec as a subrequest's source 0 (Go's `[]byte` in JSON: base64).
fn spec_source(spec: &SourceFile) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &spec.data)
}

/// A place in the spec (source 0) as BuildKit's `pb.Location`; none for line 0.
fn spec_location(line: u32) -> Option<serde_json::Value> {
    source_location(0, line)
}

/// A line of a subrequest's source `index` as BuildKit's `pb.Location`; none for line 0.
fn source_location(index: usize, line: u32) -> Option<serde_json::Value> {
    let at = serde_json::json!({ "line": line });
    (line > 0).then(
        || serde_json::json!({ "sourceIndex": index, "ranges": [{ "start": at, "end": at }] }),
    )
}

/// `frontend.outline` in the shape of BuildKit's `subrequests/outline.Outline`: build args
/// with their values, secrets and SSH agents, each at the spec line that uses it.
async fn outline(host: &GatewayHost<'_>, org: Option<&Org>) -> Result<FrontendResult> {
    let (outline, spec) = pipeline::outline(host, host.options, org).await?;
    let args: Vec<serde_json::Value> = outline
        .args
        .iter()
        .map(|a| {
            serde_json::json!({
                "Name": a.name,
                "Description": a.description,
                "Value": a.value,
                "Location": spec_location(a.line),
            })
        })
        .collect();
    let needed = |list: &[plan::OutlineEntry]| -> Vec<serde_json::Value> {
        list.iter()
            .map(|e| {
                serde_json::json!({
                    "Name": e.name,
                    "Required": true,
                    "Location": spec_location(e.line),
                })
            })
            .collect()
    };
    let result = serde_json::json!({
        "args": args,
        "secrets": needed(&outline.secrets),
        "ssh": needed(&outline.ssh),
        "sources": [spec_source(&spec)],
    });
    let mut text = "BUILD ARG\tVALUE\tDESCRIPTION\n".to_string();
    for a in &outline.args {
        text.push_str(&format!("{}\t{}\t{}\n", a.name, a.value, a.description));
    }
    for (kind, list) in [("SECRET", &outline.secrets), ("SSH", &outline.ssh)] {
        for e in list {
            text.push_str(&format!("{kind} {}\trequired\t{}\n", e.name, e.description));
        }
    }
    subrequest_result(serde_json::to_vec_pretty(&result)?, text)
}

/// `frontend.targets` in the shape of BuildKit's `subrequests/targets.List`: each binary
/// points at its entry in the spec (source 0).
async fn targets(host: &GatewayHost<'_>, org: Option<&Org>) -> Result<FrontendResult> {
    let (targets, spec) = pipeline::targets(host, host.options, org).await?;
    let list: Vec<serde_json::Value> = targets
        .iter()
        .map(|t| {
            let mut target = serde_json::json!({ "name": t.name, "description": t.description });
            if t.default {
                target["default"] = true.into();
            }
            if let Some(location) = spec_location(t.line) {
                target["Location"] = location;
            }
            target
        })
        .collect();
    let result = serde_json::json!({
        "targets": list,
        "sources": [spec_source(&spec)],
    });
    let mut text = "TARGET\tDESCRIPTION\n".to_string();
    for t in &targets {
        let default = if t.default { " (default)" } else { "" };
        text.push_str(&format!("{}{default}\t{}\n", t.name, t.description));
    }
    subrequest_result(serde_json::to_vec_pretty(&result)?, text)
}

/// `frontend.lint` (`docker buildx build --check`) in the shape of BuildKit's
/// `subrequests/lint.LintResults`: each finding with its rule and location, the files they
/// point into, and the problem that would stop the build; status 1 when anything was found,
/// which buildx turns into its exit code.
async fn lint(
    host: &GatewayHost<'_>,
    org: Option<&Org>,
    build_platform: &Platform,
    daemon: Daemon,
) -> Result<FrontendResult> {
    let lint = pipeline::lint(host, host.options, org, build_platform, daemon).await?;
    let location = |finding: &Finding| {
        finding
            .at
            .as_ref()
            .and_then(|(file, line)| {
                let index = lint.files.iter().position(|(name, _)| name == file)?;
                source_location(index, *line)
            })
            .unwrap_or_else(|| serde_json::json!({ "sourceIndex": -1 }))
    };
    let warnings: Vec<serde_json::Value> = lint
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "ruleName": f.rule.name(),
                "description": f.rule.description(),
                "detail": f.detail,
                "location": location(f),
            })
        })
        .collect();
    let sources: Vec<serde_json::Value> = lint
        .files
        .iter()
        .map(|(name, data)| {
            serde_json::json!({
                "filename": name,
                "data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data),
                "language": crate::gateway::language_of(name),
            })
        })
        .collect();
    let mut result = serde_json::json!({ "warnings": warnings, "sources": sources });
    if let Some(error) = &lint.error {
        // buildx prints the error's excerpt from the source it names: the spec when the
        // error has no file of its own.
        let mut at = location(error);
        if at["sourceIndex"] == -1 {
            at = serde_json::json!({ "sourceIndex": 0 });
        }
        result["buildError"] = serde_json::json!({
            "message": format!("{}: {}", error.rule.name(), error.detail),
            "location": at,
        });
    }
    let mut text = String::new();
    for f in &lint.findings {
        let place = match &f.at {
            Some((file, line)) => format!("{file}:{line}: "),
            None => String::new(),
        };
        text.push_str(&format!("{place}{}: {}\n", f.rule.name(), f.detail));
    }
    if lint.findings.is_empty() {
        text.push_str("Check complete, no warnings found.\n");
    }
    let status = u8::from(!lint.findings.is_empty());
    let mut metadata = subrequest_metadata(serde_json::to_vec_pretty(&result)?, text);
    metadata.insert(
        "result.statuscode".to_string(),
        status.to_string().into_bytes(),
    );
    Ok(FrontendResult::Metadata(metadata))
}

/// The frontend's host: BuildKit's gateway, through the client's session.
struct GatewayHost<'a> {
    session: &'a Session,
    env: &'a FrontendEnv,
    options: &'a Options,
    /// The local holding the spec (and `<spec>.dockerignore`), once read.
    spec_ref: OnceLock<Ref>,
    /// That local's vertex digest: where warnings about the spec show.
    spec_vertex: OnceLock<String>,
}

impl GatewayHost<'_> {
    async fn solve(&self, state: State) -> Result<Ref> {
        self.session
            .solve(state.marshal(), &self.options.cache_imports, false)
            .await
    }

    fn render_context(&self, spec: &Arc<SourceFile>) -> RenderContext {
        RenderContext {
            session_id: self.env.session_id.clone(),
            spec: spec.clone(),
            resolve_mode: self.options.image_resolve_mode,
            no_cache: self.options.no_cache,
        }
    }
}

impl<'a> Host for GatewayHost<'a> {
    type ModuleFiles = GatewayFiles<'a>;

    /// Reads the spec the way the Dockerfile frontend reads a Dockerfile, so BuildKit reuses
    /// the transfer it already made for `# syntax=` detection.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn read_spec(&self, filename: &str) -> Result<Vec<u8>> {
        let state = Local::new(&self.options.spec_local)
            .session(&self.env.session_id)
            .follow_paths(&[filename.to_string(), format!("{filename}.dockerignore")])
            .shared_key_hint(&self.options.spec_local)
            .state(OpMeta::new().name(format!("[internal] load build definition from {filename}")));
        if let Some(digest) = state.digest() {
            let _ = self.spec_vertex.set(digest.to_string());
        }
        let reference = self.solve(state).await?;
        // One byte over the limit is enough for spec::load to refuse the file.
        let bytes = self
            .session
            .read_file_prefix(&reference, filename, crate::spec::MAX_SPEC_BYTES + 1)
            .await?
            .with_context(|| format!("{filename} was not found next to the -f path"))?;
        let _ = self.spec_ref.set(reference);
        Ok(bytes)
    }

    #[tracing::instrument(level = "debug", skip_all, fields(path))]
    async fn read_context_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let state = Local::new(CONTEXT_LOCAL)
            .session(&self.env.session_id)
            .follow_paths(&[path.to_string()])
            .shared_key_hint(&format!("context-{path}"))
            .state(OpMeta::new().name(format!("[internal] load {path}")));
        let context_ref = self.solve(state).await?;
        self.session
            .read_file_prefix(&context_ref, path, crate::spec::MAX_SPEC_BYTES)
            .await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn read_dockerignore(&self, filename: &str) -> Result<Option<Vec<u8>>> {
        let beside_spec = format!("{filename}.dockerignore");
        if let Some(spec_ref) = self.spec_ref.get()
            && let Some(bytes) = self.session.read_file(spec_ref, &beside_spec).await?
        {
            return Ok(Some(bytes));
        }
        let state = Local::new(CONTEXT_LOCAL)
            .session(&self.env.session_id)
            .follow_paths(&[".dockerignore".to_string()])
            .shared_key_hint("context-.dockerignore")
            .state(OpMeta::new().name("[internal] load .dockerignore"));
        let context_ref = self.solve(state).await?;
        self.session.read_file(&context_ref, ".dockerignore").await
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn module_files(&self, module_dir: &str) -> Result<GatewayFiles<'a>> {
        let held = modules::fact_paths(module_dir);
        let fetched = self
            .solve(render::module_files(
                &held,
                "gobuild-modulefacts",
                &self.env.session_id,
            ))
            .await?;
        Ok(GatewayFiles {
            session: self.session,
            session_id: &self.env.session_id,
            cache_imports: &self.options.cache_imports,
            held,
            fetched,
        })
    }

    /// Evaluated now (a solve is lazy otherwise), so the transfer starts while images
    /// resolve; the scan, asked for before it ends, shares its vertex.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn load_context(
        &self,
        dockerignore: &[String],
        includes: Option<&[String]>,
    ) -> Result<()> {
        let state = render::context(dockerignore, includes, &self.env.session_id);
        self.session
            .solve(state.marshal(), &self.options.cache_imports, true)
            .await
            .map(drop)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn scan(
        &self,
        builder: &ResolvedImage,
        build_platform: &Platform,
        dockerignore: &[String],
        includes: Option<&[String]>,
        spec: &Arc<SourceFile>,
    ) -> Result<Scan> {
        let ctx = self.render_context(spec);
        let scan = self
            .solve(render::source_scan(
                builder,
                build_platform,
                dockerignore,
                includes,
                &ctx,
            ))
            .await?;
        let (files, embeds, headers) = tokio::try_join!(
            self.session.read_file(&scan, "files"),
            self.session.read_file(&scan, "embeds"),
            self.session.read_file(&scan, "headers")
        )?;
        Ok(Scan {
            files: file_list(&files.unwrap_or_default()),
            embeds: String::from_utf8_lossy(&embeds.unwrap_or_default()).into_owned(),
            headers: String::from_utf8_lossy(&headers.unwrap_or_default()).into_owned(),
        })
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list_embedded(
        &self,
        builder: &ResolvedImage,
        build_platform: &Platform,
        dockerignore: &[String],
        includes: &[String],
        spec: &Arc<SourceFile>,
    ) -> Result<Vec<String>> {
        let ctx = self.render_context(spec);
        let listing = self
            .solve(render::embedded_listing(
                builder,
                build_platform,
                dockerignore,
                includes,
                &ctx,
            ))
            .await?;
        let files = self.session.read_file(&listing, "files").await?;
        Ok(file_list(&files.unwrap_or_default()))
    }

    /// Each evaluated now and side by side: a changed module group runs while the context
    /// moves, and what is cached is found before the build needs it. With an imported cache
    /// only the module files move early: a layer found there is fetched only if the build
    /// step misses.
    #[tracing::instrument(level = "debug", skip_all)]
    async fn fetch_modules(
        &self,
        deps: &plan::Deps,
        builder: &ResolvedImage,
        build_platform: &Platform,
        dockerignore: &[String],
        spec: &Arc<SourceFile>,
    ) -> Result<()> {
        let ctx = self.render_context(spec);
        let mut states = render::deps(deps, builder, build_platform, dockerignore, &ctx);
        if !self.options.cache_imports.is_empty() {
            states.truncate(1);
        }
        let solves = states.into_iter().map(|state| {
            self.session
                .solve(state.marshal(), &self.options.cache_imports, true)
        });
        futures_util::future::try_join_all(solves).await?;
        Ok(())
    }

    /// Pinned to its digest when BuildKit gives one (dockerd's local store does not), with
    /// the config facts the plan uses.
    #[tracing::instrument(level = "debug", skip_all, fields(reference))]
    async fn resolve_image(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage> {
        let (digest, config) = self
            .session
            .resolve_image_config(
                reference,
                platform,
                self.options.image_resolve_mode.as_str(),
            )
            .await
            .with_context(|| format!("resolving image {reference} for {platform}"))?;
        Ok(ResolvedImage {
            reference: pin_reference(reference, &digest),
            facts: ImageFacts::from_config_json(&config)?,
        })
    }
}

/// Module files through the gateway: those at the paths fetched first (`held`), and others
/// (a workspace's modules) fetched when asked for.
struct GatewayFiles<'a> {
    session: &'a Session,
    session_id: &'a str,
    cache_imports: &'a [CacheImport],
    /// The exact paths `fetched` was asked for, found or not.
    held: Vec<String>,
    fetched: Ref,
}

impl ContextFiles for GatewayFiles<'_> {
    async fn read(&self, path: &str) -> Result<Option<String>> {
        Ok(self.read_all(&[path.to_string()]).await?.pop().flatten())
    }

    /// The paths not held come in one more transfer.
    async fn read_all(&self, paths: &[String]) -> Result<Vec<Option<String>>> {
        let others: Vec<String> = paths
            .iter()
            .filter(|path| !self.held.contains(path))
            .cloned()
            .collect();
        let more = match others.is_empty() {
            true => None,
            false => {
                let state =
                    render::module_files(&others, "gobuild-more-module-files", self.session_id);
                let solved = self
                    .session
                    .solve(state.marshal(), self.cache_imports, false);
                Some(solved.await?)
            }
        };
        let mut texts = Vec::with_capacity(paths.len());
        for path in paths {
            let reference = match &more {
                Some(more) if !self.held.contains(path) => more,
                _ => &self.fetched,
            };
            let bytes = self.session.read_file(reference, path).await?;
            texts.push(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()));
        }
        Ok(texts)
    }
}

/// `find -print0` output as sorted context-relative paths.
fn file_list(nul_separated: &[u8]) -> Vec<String> {
    let mut files: Vec<String> = nul_separated
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| {
            let name = String::from_utf8_lossy(name);
            name.strip_prefix("./").unwrap_or(&name).to_string()
        })
        .collect();
    files.sort();
    files
}

//! Frontend mode: read the spec and go.mod through the gateway, plan, render, solve, return.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::gateway::{FrontendResult, Ref, Session, UnsupportedSubrequest};
use crate::gomod::GoMod;
use crate::ignore;
use crate::image::{ImageFacts, ResolvedImage, pin_reference};
use crate::llb::{FileOp, Local, OpMeta, SourceFile, State};
use crate::options::{FrontendEnv, Options};
use crate::plan::modules::{self, ContextFiles};
use crate::plan::{self, Inputs};
use crate::platform::Platform;
use crate::render::{self, CONTEXT_LOCAL, RenderContext};
use crate::spec::{self, Diagnostic, Pos, Spec, SpecError};

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
        Ok(result) => session.return_result(result).await,
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
    if let Some(request) = &options.request_id {
        return subrequest(request);
    }
    let build_platform = env
        .worker_platforms
        .first()
        .or(session.caps.worker_platforms.first())
        .cloned()
        .unwrap_or_else(Platform::host);

    let (spec_file, spec_bytes, spec_ref) = read_spec(session, env, &options).await?;
    let spec = spec::load(&options.filename, &spec_bytes)?;
    let dockerignore = read_dockerignore(session, env, &options, &spec_ref).await?;
    let spec_error = |diagnostic: Diagnostic| SpecError {
        file: options.filename.clone(),
        source: spec_bytes.clone(),
        diagnostics: vec![diagnostic],
    };

    let facts_ref = session
        .solve(
            render::module_facts(&spec.module.value, &env.session_id).marshal(),
            &options.cache_imports,
            false,
        )
        .await?;
    let files = GatewayFiles {
        session,
        reference: &facts_ref,
    };
    let go_mod_path = modules::in_dir(&spec.module.value, "go.mod");
    let go_mod_text = files
        .read(&go_mod_path)
        .await?
        .ok_or_else(|| spec_error(missing_go_mod(&options.filename, &spec, &go_mod_path)))?;
    let go_mod = GoMod::parse(&go_mod_path, &go_mod_text)?;
    let facts = modules::gather(&files, go_mod).await?;

    let inputs = |context_files, embeds, runtime_bases| Inputs {
        spec: &spec,
        spec_file: &options.filename,
        modules: &facts,
        context_files,
        embeds,
        runtime_bases,
        options: &options,
        build_platform: &build_platform,
        dockerignore: &dockerignore,
    };
    let no_bases = BTreeMap::new();
    let choice = plan::builder_choice(&inputs(&[], &[], &no_bases)).map_err(spec_error)?;
    let runtime_base = plan::runtime_base(&inputs(&[], &[], &no_bases)).map_err(spec_error)?;
    let builder = resolve(session, &choice.reference, &build_platform, &options).await?;
    let ctx = RenderContext {
        session_id: env.session_id.clone(),
        spec: spec_file,
        resolve_mode: options.image_resolve_mode,
        no_cache: options.no_cache,
    };
    let scan = session
        .solve(
            render::source_scan(&builder, &build_platform, &dockerignore, &ctx).marshal(),
            &options.cache_imports,
            false,
        )
        .await?;
    let files = session.read_file(&scan, "files").await?.unwrap_or_default();
    let context_files: Vec<String> = String::from_utf8_lossy(&files)
        .lines()
        .map(str::to_string)
        .collect();
    let embed_lines = session
        .read_file(&scan, "embeds")
        .await?
        .unwrap_or_default();
    let embeds = modules::parse_embed_scan(&String::from_utf8_lossy(&embed_lines), ".");
    let mut runtime_bases = BTreeMap::new();
    if let Some(reference) = &runtime_base {
        let targets = plan::target_platforms(&inputs(&[], &[], &no_bases)).map_err(spec_error)?;
        for platform in targets {
            let image = resolve(session, reference, &platform, &options).await?;
            runtime_bases.insert(platform, image);
        }
    }
    let plan = plan::plan(
        &inputs(&context_files, &embeds, &runtime_bases),
        &choice,
        builder,
    )
    .map_err(spec_error)?;

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
    let mut platforms = Vec::new();
    for target in render::render(&plan, &ctx)? {
        let reference = session
            .solve(target.state.marshal(), &options.cache_imports, false)
            .await?;
        platforms.push((target.platform, reference, target.config));
    }
    match <[_; 1]>::try_from(platforms) {
        Ok([(_, reference, config)]) if !multi => Ok(FrontendResult::Single { reference, config }),
        Ok(one) => Ok(FrontendResult::Multi {
            platforms: one.into(),
        }),
        Err(platforms) => Ok(FrontendResult::Multi { platforms }),
    }
}

const DESCRIBE: &str = "frontend.subrequests.describe";
/// The worker id of the BuildKit embedded in dockerd, whose image store exporter takes one
/// platform per build.
const DOCKERD_WORKER: &str = "moby";

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

/// Answers `--call`/`--print` style subrequests. Only `describe` exists so far; anything else
/// is refused with BuildKit's typed detail so clients can fall back.
fn subrequest(request: &str) -> Result<FrontendResult> {
    if request != DESCRIBE {
        return Err(UnsupportedSubrequest(request.to_string()).into());
    }
    let description = "List available subrequest types";
    let list = serde_json::json!([{
        "name": DESCRIBE,
        "version": "1.0.0",
        "type": "rpc",
        "description": description,
        "metadata": [{ "name": "result.json" }, { "name": "result.txt" }],
    }]);
    let text = format!("NAME\tVERSION\tDESCRIPTION\n{DESCRIBE}\t1.0.0\t{description}\n");
    Ok(FrontendResult::Metadata(BTreeMap::from([
        ("result.json".to_string(), serde_json::to_vec(&list)?),
        ("result.txt".to_string(), text.into_bytes()),
        ("version".to_string(), b"1.0.0".to_vec()),
    ])))
}

/// Reads the spec the way the Dockerfile frontend reads a Dockerfile, so BuildKit reuses the
/// transfer it already made for `# syntax=` detection. Returns the spec local's ref too.
async fn read_spec(
    session: &Session,
    env: &FrontendEnv,
    options: &Options,
) -> Result<(Arc<SourceFile>, Vec<u8>, Ref)> {
    let filename = &options.filename;
    let state = Local::new(&options.spec_local)
        .session(&env.session_id)
        .follow_paths(&[filename.clone(), format!("{filename}.dockerignore")])
        .shared_key_hint(&options.spec_local)
        .state(OpMeta::new().name(format!("[internal] load build definition from {filename}")));
    let reference = session
        .solve(state.marshal(), &options.cache_imports, false)
        .await?;
    let bytes = session
        .read_file(&reference, filename)
        .await?
        .with_context(|| format!("{filename} was not found next to the -f path"))?;
    let file = Arc::new(SourceFile {
        filename: filename.clone(),
        data: bytes.clone(),
        language: "YAML".to_string(),
    });
    Ok((file, bytes, reference))
}

/// The context's ignore patterns: `<spec>.dockerignore` next to the spec wins over the
/// context's `.dockerignore`, as with Dockerfiles.
async fn read_dockerignore(
    session: &Session,
    env: &FrontendEnv,
    options: &Options,
    spec_ref: &Ref,
) -> Result<Vec<String>> {
    let beside_spec = format!("{}.dockerignore", options.filename);
    let ignore_file = match session.read_file(spec_ref, &beside_spec).await? {
        Some(bytes) => Some(bytes),
        None => {
            let state = Local::new(CONTEXT_LOCAL)
                .session(&env.session_id)
                .follow_paths(&[".dockerignore".to_string()])
                .shared_key_hint("context-.dockerignore")
                .state(OpMeta::new().name("[internal] load .dockerignore"));
            let context_ref = session
                .solve(state.marshal(), &options.cache_imports, false)
                .await?;
            session.read_file(&context_ref, ".dockerignore").await?
        }
    };
    Ok(ignore_file
        .map(|bytes| ignore::parse(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default())
}

/// Resolves an image for a platform: pinned to its digest when BuildKit gives one (dockerd's
/// local store does not), with the config facts the plan uses.
async fn resolve(
    session: &Session,
    reference: &str,
    platform: &Platform,
    options: &Options,
) -> Result<ResolvedImage> {
    let (digest, config) = session
        .resolve_image_config(reference, platform, options.image_resolve_mode.as_str())
        .await
        .with_context(|| format!("resolving image {reference} for {platform}"))?;
    Ok(ResolvedImage {
        reference: pin_reference(reference, &digest),
        facts: ImageFacts::from_config_json(&config)?,
    })
}

/// Context files through a solved local source.
struct GatewayFiles<'a> {
    session: &'a Session,
    reference: &'a Ref,
}

impl ContextFiles for GatewayFiles<'_> {
    async fn read(&self, path: &str) -> Result<Option<String>> {
        let bytes = self.session.read_file(self.reference, path).await?;
        Ok(bytes.map(|b| String::from_utf8_lossy(&b).into_owned()))
    }
}

fn missing_go_mod(file: &str, spec: &Spec, path: &str) -> Diagnostic {
    let pos = if spec.module.pos.line > 0 {
        spec.module.pos
    } else {
        Pos { line: 1, column: 1 }
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
    }
}

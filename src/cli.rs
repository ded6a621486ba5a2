//! Command-line mode: `render` runs the pure pipeline on a local directory, without BuildKit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::gomod::GoMod;
use crate::ignore;
use crate::image::{ImageFacts, ResolvedImage};
use crate::llb::{self, ResolveMode, SourceFile};
use crate::options::Options;
use crate::plan::modules::{self, ContextFiles};
use crate::plan::{self, Inputs};
use crate::platform::Platform;
use crate::render::{self, RenderContext};
use crate::spec;

/// Placeholder session id for offline renders (BuildKit supplies the real one).
const OFFLINE_SESSION: &str = "render";

#[derive(Parser)]
#[command(
    name = "gobuild-frontend",
    version,
    about = "A BuildKit frontend that builds container images for Go programs from go-build.yaml",
    long_about = "A BuildKit frontend that builds container images for Go programs from go-build.yaml.\n\n\
Two modes:\n\
  * Frontend: BuildKit starts this binary (put `# syntax=<frontend image>` on line 1 of\n    \
go-build.yaml and run `docker build -f go-build.yaml .`). It then speaks the gateway API on\n    \
stdin/stdout and is not meant to be run by hand.\n\
  * Command line: `gobuild-frontend render go-build.yaml` prints the build plan and the LLB it\n    \
would send, without BuildKit."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the build plan and a readable dump of the LLB for a spec, without BuildKit.
    Render {
        /// The spec file.
        spec: PathBuf,
        /// The build context (default: the spec's directory).
        #[arg(long)]
        context: Option<PathBuf>,
        /// Target platform(s), e.g. linux/arm64 (repeatable).
        #[arg(long)]
        platform: Vec<String>,
        /// Build argument KEY=VALUE (repeatable).
        #[arg(long = "build-arg")]
        build_args: Vec<String>,
    },
}

pub fn main(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Render {
            spec,
            context,
            platform,
            build_args,
        } => {
            let context = context.unwrap_or_else(|| {
                spec.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            });
            let mut opts = BTreeMap::new();
            if !platform.is_empty() {
                opts.insert("platform".to_string(), platform.join(","));
            }
            for arg in build_args {
                let (key, value) = arg.split_once('=').unwrap_or((&arg, ""));
                opts.insert(format!("build-arg:{key}"), value.to_string());
            }
            print!("{}", render_offline(&spec, &context, &opts)?);
            Ok(())
        }
    }
}

/// The plan (YAML) and the LLB dump of every target, as `render` prints them.
pub fn render_offline(
    spec_path: &Path,
    context: &Path,
    opts: &BTreeMap<String, String>,
) -> Result<String> {
    let filename = spec_path.file_name().map_or_else(
        || spec::DEFAULT_FILENAME.to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let bytes =
        std::fs::read(spec_path).with_context(|| format!("reading {}", spec_path.display()))?;
    let spec = spec::load(&filename, &bytes)?;
    let options = Options::parse(opts)?;
    let go_mod_path = modules::in_dir(&spec.module.value, "go.mod");
    let go_mod_text = std::fs::read_to_string(context.join(&go_mod_path))
        .with_context(|| format!("reading {go_mod_path} in {}", context.display()))?;
    let go_mod = GoMod::parse(&go_mod_path, &go_mod_text)?;
    let disk = DiskFiles { root: context };
    let facts = tokio::runtime::Builder::new_current_thread()
        .build()?
        .block_on(modules::gather(&disk, go_mod))?;
    let (context_files, embed_lines) = disk.scan();
    let embeds = modules::parse_embed_scan(&embed_lines, "");
    let build_platform = Platform::host();
    let dockerignore = std::fs::read_to_string(context.join(".dockerignore"))
        .map(|text| ignore::parse(&text))
        .unwrap_or_default();
    let inputs = Inputs {
        spec: &spec,
        spec_file: &filename,
        modules: &facts,
        context_files: &context_files,
        embeds: &embeds,
        options: &options,
        build_platform: &build_platform,
        dockerignore: &dockerignore,
        runtime_bases: &BTreeMap::new(),
    };
    // Offline there is no registry to ask: base images stay unpinned, their config unknown.
    let unresolved = |reference: &str| ResolvedImage {
        reference: reference.to_string(),
        facts: ImageFacts::default(),
    };
    let runtime_bases: BTreeMap<Platform, ResolvedImage> =
        match plan::runtime_base(&inputs).map_err(|d| anyhow::anyhow!("{d}"))? {
            Some(reference) => plan::target_platforms(&inputs)
                .map_err(|d| anyhow::anyhow!("{d}"))?
                .into_iter()
                .map(|p| (p, unresolved(&reference)))
                .collect(),
            None => BTreeMap::new(),
        };
    let inputs = Inputs {
        runtime_bases: &runtime_bases,
        ..inputs
    };
    let choice = plan::builder_choice(&inputs).map_err(|d| anyhow::anyhow!("{d}"))?;
    let builder = unresolved(&choice.reference);
    let plan = plan::plan(&inputs, &choice, builder).map_err(|d| anyhow::anyhow!("{d}"))?;
    let ctx = RenderContext {
        session_id: OFFLINE_SESSION.to_string(),
        spec: Arc::new(SourceFile {
            filename: filename.clone(),
            data: bytes,
            language: "YAML".to_string(),
        }),
        resolve_mode: ResolveMode::Default,
        no_cache: false,
    };
    let mut out = String::from("# plan\n");
    out.push_str(&serde_saphyr::to_string(&plan)?);
    for target in render::render(&plan, &ctx)? {
        out.push_str(&format!("\n# llb for {}\n", target.platform));
        out.push_str(&llb::dump(&target.state.marshal()));
        if let Some(config) = &target.config {
            out.push_str(&format!(
                "\n# image config for {}\n{}\n",
                target.platform,
                String::from_utf8_lossy(config)
            ));
        }
    }
    Ok(out)
}

/// The build context on disk.
struct DiskFiles<'a> {
    root: &'a Path,
}

impl DiskFiles<'_> {
    /// Every file (context-relative, sorted, `.git` skipped) and the `//go:embed` lines of the
    /// Go files, formatted like the frontend's source scan (`grep -rH`).
    fn scan(&self) -> (Vec<String>, String) {
        let mut files = Vec::new();
        let mut embeds = String::new();
        let entries = walkdir::WalkDir::new(self.root)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.file_name() != ".git")
            .filter_map(|entry| entry.ok())
            .filter(|entry| !entry.file_type().is_dir());
        for entry in entries {
            let relative = entry.path().strip_prefix(self.root).unwrap_or(entry.path());
            let relative = relative.to_string_lossy().into_owned();
            if relative.ends_with(".go") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                for line in text.lines().filter(|l| l.starts_with("//go:embed")) {
                    embeds.push_str(&format!("{relative}:{line}\n"));
                }
            }
            files.push(relative);
        }
        files.sort();
        (files, embeds)
    }
}

impl ContextFiles for DiskFiles<'_> {
    async fn read(&self, path: &str) -> Result<Option<String>> {
        match std::fs::read_to_string(self.root.join(path)) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {path}")),
        }
    }
}

//! Command-line mode: `render` runs the pure pipeline on a local directory, without BuildKit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use crate::gosource;
use crate::ignore;
use crate::image::{ImageFacts, ResolvedImage};
use crate::llb::{self, ResolveMode, SourceFile};
use crate::options::Options;
use crate::pipeline::{self, Host, Planned, Scan};
use crate::plan::modules::ContextFiles;
use crate::plan::{self, Daemon};
use crate::platform::Platform;
use crate::render::{self, RenderContext};
use crate::spec;
use crate::spec::org::{self, ORG_FILE, Org};

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
        /// A cache the build imports, as `docker build --cache-from REF` (repeatable): the
        /// plan of a CI runner (`build.compiled_deps: auto` compiles dependencies ahead).
        #[arg(long = "cache-from")]
        cache_from: Vec<String>,
        /// An org baseline to build under, as a frontend image with it installed would
        /// (default: /etc/gobuild-frontend/org.yaml, if there is one).
        #[arg(long)]
        org: Option<PathBuf>,
    },
    /// Print an equivalent Dockerfile for a spec: the way out, from the same plan.
    Eject {
        /// The spec file.
        spec: PathBuf,
        /// The build context (default: the spec's directory).
        #[arg(long)]
        context: Option<PathBuf>,
        /// Build argument KEY=VALUE (repeatable), as `render` takes them.
        #[arg(long = "build-arg")]
        build_args: Vec<String>,
        /// An org baseline to build under (default: /etc/gobuild-frontend/org.yaml, if any).
        #[arg(long)]
        org: Option<PathBuf>,
    },
    /// Print the JSON Schema of go-build.yaml (for editors: see the README).
    Schema,
    /// Write a first go-build.yaml for the repository in DIR (never over an existing one).
    Init {
        /// The repository (default: the current directory).
        dir: Option<PathBuf>,
        /// The frontend image its `# syntax=` line names.
        #[arg(long, default_value = crate::init::PUBLISHED_IMAGE)]
        frontend: String,
    },
}

pub fn main(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Render {
            spec,
            context,
            platform,
            build_args,
            cache_from,
            org,
        } => {
            let context = context_of(&spec, context);
            let mut opts = frontend_options(&platform, &build_args);
            if !cache_from.is_empty() {
                opts.insert("cache-from".to_string(), cache_from.join(","));
            }
            let org = org_of(org)?;
            print!("{}", render_offline(&spec, &context, &opts, org.as_ref())?);
            Ok(())
        }
        Command::Eject {
            spec,
            context,
            build_args,
            org,
        } => {
            let context = context_of(&spec, context);
            let opts = frontend_options(&[], &build_args);
            let org = org_of(org)?;
            print!("{}", eject_offline(&spec, &context, &opts, org.as_ref())?);
            Ok(())
        }
        Command::Init { dir, frontend } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from("."));
            let written = crate::init::init(&dir, &frontend)?;
            println!("wrote {}", written.display());
            Ok(())
        }
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&spec::json_schema())?);
            Ok(())
        }
    }
}

/// The build context: the one given, else the spec's directory.
fn context_of(spec: &Path, context: Option<PathBuf>) -> PathBuf {
    context.unwrap_or_else(|| {
        spec.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    })
}

/// Frontend options as BuildKit would pass them for `--platform` and `--build-arg`.
fn frontend_options(platforms: &[String], build_args: &[String]) -> BTreeMap<String, String> {
    let mut opts = BTreeMap::new();
    if !platforms.is_empty() {
        opts.insert("platform".to_string(), platforms.join(","));
    }
    for arg in build_args {
        let (key, value) = arg.split_once('=').unwrap_or((arg, ""));
        opts.insert(format!("build-arg:{key}"), value.to_string());
    }
    opts
}

/// The org baseline: the file given, else the one installed here.
fn org_of(path: Option<PathBuf>) -> Result<Option<Org>> {
    match path {
        Some(path) => Ok(Some(load_org(&path)?)),
        None => installed_org(),
    }
}

/// The plan (YAML) and the LLB dump of every target, as `render` prints them: the frontend's
/// pipeline with a directory as its host.
pub fn render_offline(
    spec_path: &Path,
    context: &Path,
    opts: &BTreeMap<String, String>,
    org: Option<&Org>,
) -> Result<String> {
    let (
        Planned {
            plan,
            spec,
            findings,
            effective,
        },
        _,
    ) = plan_offline(spec_path, context, opts, org)?;
    let ctx = RenderContext {
        session_id: OFFLINE_SESSION.to_string(),
        spec,
        resolve_mode: ResolveMode::Default,
        no_cache: false,
    };
    let mut out = String::from("# effective spec (field: value  # where it comes from)\n");
    // Aligned comments, unless a long value (a known_hosts line) would push them all away.
    let width = effective
        .iter()
        .map(|s| s.field.len() + s.value.len())
        .filter(|w| *w <= 80)
        .max()
        .unwrap_or(0);
    for setting in &effective {
        let written = format!("{}: {}", setting.field, setting.value);
        out.push_str(&format!(
            "{written:<w$}  # {}\n",
            setting.from,
            w = width + 2
        ));
    }
    if !findings.is_empty() {
        out.push_str("# findings (what --check reports and a build warns about)\n");
        out.push_str(&serde_saphyr::to_string(&findings)?);
    }
    out.push_str("# plan\n");
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

/// The Dockerfile `eject` prints: the frontend's pipeline with a directory as its host, its
/// plan written as a Dockerfile.
pub fn eject_offline(
    spec_path: &Path,
    context: &Path,
    opts: &BTreeMap<String, String>,
    org: Option<&Org>,
) -> Result<String> {
    // The Dockerfile takes these as its own build args; given here they would be frozen in.
    let mut opts = opts.clone();
    for stamp in ["VERSION", "REVISION", "SOURCE", "SOURCE_DATE_EPOCH"] {
        opts.remove(&format!("build-arg:{stamp}"));
    }
    let (planned, filename) = plan_offline(spec_path, context, &opts, org)?;
    crate::eject::dockerfile(&planned.plan, &planned.effective, &filename)
}

/// Runs the frontend's pipeline with a directory as its host; also returns the spec's file
/// name.
fn plan_offline(
    spec_path: &Path,
    context: &Path,
    opts: &BTreeMap<String, String>,
    org: Option<&Org>,
) -> Result<(Planned, String)> {
    let filename = spec_path.file_name().map_or_else(
        || spec::DEFAULT_FILENAME.to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut opts = opts.clone();
    opts.entry("filename".to_string()).or_insert(filename);
    let options = Options::parse(&opts)?;
    let host = DiskHost {
        spec_dir: spec_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
        context,
    };
    let planned = tokio::runtime::Builder::new_current_thread()
        .build()?
        // As a current BuildKit would plan it: with symlinks in file ops.
        .block_on(pipeline::plan(
            &host,
            &options,
            org,
            &Platform::host(),
            Daemon {
                mounts_by_definition: true,
                filtered_copies: true,
            },
        ))?;
    Ok((planned, options.filename.clone()))
}

/// A build context on disk, standing in for BuildKit.
struct DiskHost<'a> {
    spec_dir: &'a Path,
    context: &'a Path,
}

impl DiskHost<'_> {
    /// The regular files and symlinks a transfer of the context would take, as BuildKit's
    /// client picks them: not excluded by `excludes`, and taken by one of `includes` (the
    /// path or a parent directory matching) if any are given; context-relative paths in name
    /// order.
    fn transferred(
        &self,
        excludes: &[String],
        includes: Option<&[String]>,
    ) -> Result<Vec<(String, walkdir::DirEntry)>> {
        let ignored = ignore::Matcher::new(excludes);
        let included = includes.map(ignore::Matcher::new);
        let mut taken = Vec::new();
        for entry in walkdir::WalkDir::new(self.context).sort_by_file_name() {
            let entry = entry.with_context(|| format!("listing {}", self.context.display()))?;
            let kind = entry.file_type();
            if !(kind.is_file() || kind.is_symlink()) {
                continue;
            }
            let relative = entry
                .path()
                .strip_prefix(self.context)
                .unwrap_or(entry.path())
                .to_string_lossy()
                .into_owned();
            let wanted = included.as_ref().is_none_or(|m| m.excludes(&relative));
            if wanted && !ignored.excludes(&relative) {
                taken.push((relative, entry));
            }
        }
        Ok(taken)
    }
}

impl<'a> Host for DiskHost<'a> {
    type ModuleFiles = DiskFiles<'a>;

    async fn read_spec(&self, filename: &str) -> Result<Vec<u8>> {
        let path = self.spec_dir.join(filename);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    }

    async fn read_context_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match std::fs::read(self.context.join(path)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {path}")),
        }
    }

    async fn read_dockerignore(&self, filename: &str) -> Result<Option<Vec<u8>>> {
        for path in [
            self.spec_dir.join(format!("{filename}.dockerignore")),
            self.context.join(".dockerignore"),
        ] {
            match std::fs::read(&path) {
                Ok(bytes) => return Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            }
        }
        Ok(None)
    }

    async fn module_files(&self, _module_dir: &str) -> Result<DiskFiles<'a>> {
        Ok(DiskFiles { root: self.context })
    }

    /// The scan walks the directory itself: nothing to move.
    async fn load_context(
        &self,
        _dockerignore: &[String],
        _includes: Option<&[String]>,
    ) -> Result<()> {
        Ok(())
    }

    /// Like the frontend's scan step (`find -type f -o -type l`, `grep -rH //go:embed`) over
    /// what the context transfer takes: regular files and symlinks are listed, only regular
    /// Go files are read (a FIFO is never opened).
    async fn scan(
        &self,
        _builder: &ResolvedImage,
        _build_platform: &Platform,
        dockerignore: &[String],
        includes: Option<&[String]>,
        _spec: &Arc<SourceFile>,
    ) -> Result<Scan> {
        let mut files = Vec::new();
        let mut embeds = String::new();
        let mut headers = String::new();
        for (relative, entry) in self.transferred(dockerignore, includes)? {
            if entry.file_type().is_file() && relative.ends_with(".go") {
                let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
                for line in text.lines().filter(|l| l.starts_with("//go:embed")) {
                    embeds.push_str(&format!("./{relative}:{line}\n"));
                }
                // The whole file: parsing stops where the scan's header would end.
                headers.push(gosource::RECORD_MARK);
                headers.push_str(&format!("./{relative}\n{text}\n"));
            }
            files.push(relative);
        }
        files.sort();
        Ok(Scan {
            files,
            embeds,
            headers,
        })
    }

    async fn list_embedded(
        &self,
        _builder: &ResolvedImage,
        _build_platform: &Platform,
        dockerignore: &[String],
        includes: &[String],
        _spec: &Arc<SourceFile>,
    ) -> Result<Vec<String>> {
        let listed = self.transferred(dockerignore, Some(includes))?;
        Ok(listed.into_iter().map(|(relative, _)| relative).collect())
    }

    /// Nothing runs offline: the plan is all the CLI shows.
    async fn fetch_modules(
        &self,
        _deps: &plan::Deps,
        _builder: &ResolvedImage,
        _build_platform: &Platform,
        _dockerignore: &[String],
        _spec: &Arc<SourceFile>,
    ) -> Result<()> {
        Ok(())
    }

    /// Offline there is no registry to ask: images stay unpinned, their config unknown.
    async fn resolve_image(&self, reference: &str, _platform: &Platform) -> Result<ResolvedImage> {
        Ok(ResolvedImage {
            reference: reference.to_string(),
            facts: ImageFacts::default(),
        })
    }
}

/// Module files in the context directory.
struct DiskFiles<'a> {
    root: &'a Path,
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

/// The org baseline installed in this image, if a platform team added one ([`org`]).
pub fn installed_org() -> Result<Option<Org>> {
    match std::fs::read(ORG_FILE) {
        Ok(bytes) => Ok(Some(org::load(ORG_FILE, &bytes)?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {ORG_FILE}")),
    }
}

/// An org baseline from a file of the user's choice.
fn load_org(path: &Path) -> Result<Org> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(org::load(&path.display().to_string(), &bytes)?)
}

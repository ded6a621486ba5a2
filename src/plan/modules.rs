//! The module graph as the build context shows it: which files define it (and so are all the
//! deps step may see), workspaces, local replacements, vendoring and embedded files.

use std::collections::BTreeSet;
use std::future::Future;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Serialize;

use crate::gomod::{GoMod, GoModError, GoWork, Replace};

/// The files [`gather`] reads first, for a module in `module_dir`: its go.mod, go.sum and
/// vendor manifest, and every place a go.work may be. The frontend fetches exactly these
/// before planning; a workspace's module go.mod files follow in a second fetch. Exact paths
/// let the transfer skip every other directory, where `**/go.mod` walked the whole context
/// (0.15 s on Gitea, beside every context transfer).
pub fn fact_paths(module_dir: &str) -> Vec<String> {
    let mut paths: Vec<String> = ["go.mod", "go.sum", "vendor/modules.txt"]
        .iter()
        .map(|file| in_dir(module_dir, file))
        .collect();
    paths.extend(workspace_candidates(module_dir));
    paths
}

/// What the context says about the module graph. File names are relative to the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleFacts {
    pub main: GoMod,
    /// `go.work` in the module directory or one of its parents inside the context.
    pub work: Option<GoWork>,
    /// go.mod of every `use` directory of the workspace.
    pub work_modules: Vec<GoMod>,
    /// `vendor/modules.txt` exists next to the main go.mod.
    pub vendor_manifest: bool,
    /// The main module's go.sum (empty when there is none).
    pub go_sum: String,
}

impl ModuleFacts {
    /// Facts for a module with nothing but its go.mod.
    pub fn module(main: GoMod) -> ModuleFacts {
        ModuleFacts {
            main,
            work: None,
            work_modules: Vec::new(),
            vendor_manifest: false,
            go_sum: String::new(),
        }
    }
}

/// Read access to the build context while gathering facts: the gateway in frontend mode, the
/// disk for `render`.
pub trait ContextFiles {
    /// A file's text; `None` when it does not exist.
    fn read(&self, path: &str) -> impl Future<Output = anyhow::Result<Option<String>>>;

    /// Several files' texts, in order. A host that fetches files may fetch these at once.
    fn read_all(
        &self,
        paths: &[String],
    ) -> impl Future<Output = anyhow::Result<Vec<Option<String>>>> {
        async move {
            let mut texts = Vec::with_capacity(paths.len());
            for path in paths {
                texts.push(self.read(path).await?);
            }
            Ok(texts)
        }
    }
}

/// The module graph's facts, starting from the main module's go.mod: the workspace it belongs to
/// (searched like the Go command does), its modules, and whether the module vendors.
pub async fn gather(files: &impl ContextFiles, main: GoMod) -> anyhow::Result<ModuleFacts> {
    let module_dir = dir_of(&main.file).to_string();
    let mut work = None;
    for candidate in workspace_candidates(&module_dir) {
        if let Some(text) = files.read(&candidate).await? {
            work = Some(GoWork::parse(&candidate, &text)?);
            break;
        }
    }
    let mut work_modules = Vec::new();
    if let Some(work) = &work {
        let go_mods: Vec<String> = use_dirs(work)?
            .iter()
            .map(|dir| in_dir(dir, "go.mod"))
            .collect();
        let texts = files.read_all(&go_mods).await?;
        for ((file, text), (written, line)) in go_mods.into_iter().zip(texts).zip(&work.uses) {
            let text = text.ok_or_else(|| GoModError {
                file: work.file.clone(),
                line: *line,
                message: format!("`use {written}`: the build context has no {file}"),
            })?;
            work_modules.push(GoMod::parse(&file, &text)?);
        }
    }
    let vendor_manifest = files
        .read(&in_dir(&module_dir, "vendor/modules.txt"))
        .await?
        .is_some();
    let go_sum = files
        .read(&in_dir(&module_dir, "go.sum"))
        .await?
        .unwrap_or_default();
    Ok(ModuleFacts {
        main,
        work,
        work_modules,
        vendor_manifest,
        go_sum,
    })
}

/// Directory part of a context-relative file name (`a/b/go.mod` → `a/b`, `go.mod` → `.`).
pub fn dir_of(file: &str) -> &str {
    file.rsplit_once('/').map_or(".", |(dir, _)| dir)
}

/// `dir/rel` inside the context, cleaned; `None` when it leaves the context (or is absolute).
pub fn context_join(dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in dir.split('/').chain(rel.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

/// `dir/file`, without a `./` prefix for the context root.
pub fn in_dir(dir: &str, file: &str) -> String {
    if dir == "." {
        file.to_string()
    } else {
        format!("{dir}/{file}")
    }
}

/// Where a go.work for a module in `module_dir` may be, nearest first (as the Go command
/// searches), within the context.
pub fn workspace_candidates(module_dir: &str) -> Vec<String> {
    let mut dirs = vec![module_dir.to_string()];
    let mut dir = module_dir;
    while dir != "." {
        dir = dir_of(dir);
        dirs.push(dir.to_string());
    }
    dirs.iter().map(|d| in_dir(d, "go.work")).collect()
}

/// Context directories of a workspace's `use` modules.
pub fn use_dirs(work: &GoWork) -> Result<Vec<String>, GoModError> {
    let base = dir_of(&work.file);
    work.uses
        .iter()
        .map(|(dir, line)| {
            context_join(base, dir).ok_or_else(|| outside(&work.file, *line, "use", dir))
        })
        .collect()
}

/// Every file the deps step needs to resolve the module graph, and nothing else: the go.mod
/// and go.sum of the main module, of every workspace module and of every local replacement,
/// plus go.work and go.work.sum.
pub fn mod_files(facts: &ModuleFacts) -> Result<Vec<String>, GoModError> {
    let mut dirs = vec![dir_of(&facts.main.file).to_string()];
    let mut files = Vec::new();
    // Replacements in the main module count in module mode; in workspace mode go.work's and
    // every workspace module's do.
    let mut replaces: Vec<(&str, &Replace)> = Vec::new();
    match &facts.work {
        None => replaces.extend(
            facts
                .main
                .replaces
                .iter()
                .map(|r| (facts.main.file.as_str(), r)),
        ),
        Some(work) => {
            let base = dir_of(&work.file);
            files.push(work.file.clone());
            files.push(in_dir(base, "go.work.sum"));
            dirs.extend(use_dirs(work)?);
            replaces.extend(work.replaces.iter().map(|r| (work.file.as_str(), r)));
            for module in &facts.work_modules {
                replaces.extend(module.replaces.iter().map(|r| (module.file.as_str(), r)));
            }
        }
    }
    for (file, replace) in replaces {
        if let Some(target) = replace.local_dir() {
            let dir = context_join(dir_of(file), target)
                .ok_or_else(|| outside(file, replace.line, "replace", target))?;
            dirs.push(dir);
        }
    }
    for dir in dirs {
        for name in ["go.mod", "go.sum"] {
            let file = in_dir(&dir, name);
            if !files.contains(&file) {
                files.push(file);
            }
        }
    }
    Ok(files)
}

/// The modules whose code is in the context, `(module path, directory)`: the main module, the
/// workspace's modules and local replacements. Their packages are the build's own code.
pub fn local_modules(facts: &ModuleFacts) -> Vec<(String, String)> {
    let main = std::iter::once(&facts.main).chain(&facts.work_modules);
    let mut modules: Vec<(String, String)> = main
        .clone()
        .map(|m| (m.module.clone(), dir_of(&m.file).to_string()))
        .collect();
    let replaces = main
        .flat_map(|m| m.replaces.iter().map(move |r| (m.file.as_str(), r)))
        .chain(
            facts
                .work
                .iter()
                .flat_map(|w| w.replaces.iter().map(move |r| (w.file.as_str(), r))),
        );
    for (file, replace) in replaces {
        if let Some(dir) = replace
            .local_dir()
            .and_then(|t| context_join(dir_of(file), t))
        {
            // `old` may carry a version: `example.com/a v1.2.3`.
            let path = replace.old.split_whitespace().next().unwrap_or_default();
            modules.push((path.to_string(), dir));
        }
    }
    modules
}

fn outside(file: &str, line: u32, directive: &str, target: &str) -> GoModError {
    GoModError {
        file: file.to_string(),
        line,
        message: format!(
            "`{directive} {target}` points outside the build context, so the build cannot see it; \
run the build from a directory that contains both (e.g. the repository root, with `-f path/to/go-build.yaml`) \
and set `module:` in go-build.yaml to the module's directory"
        ),
    }
}

/// One `//go:embed` line: the package directory (context-relative) and its patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmbedDirective {
    pub dir: String,
    pub patterns: Vec<String>,
}

/// Parses `grep -rH '^//go:embed'` output (`PATH.go://go:embed a b "c d"`), with paths
/// relative to the context after stripping `root`.
pub fn parse_embed_scan(output: &str, root: &str) -> Vec<EmbedDirective> {
    let mut directives: Vec<EmbedDirective> = Vec::new();
    for line in output.lines() {
        let Some((file, rest)) = line.split_once(".go:") else {
            continue;
        };
        let Some(args) = rest.trim().strip_prefix("//go:embed") else {
            continue;
        };
        let file = file
            .strip_prefix(root)
            .unwrap_or(file)
            .trim_start_matches('/');
        let dir = dir_of(file).to_string();
        let patterns = embed_patterns(args);
        if patterns.is_empty() {
            continue;
        }
        match directives.iter_mut().find(|d| d.dir == dir) {
            Some(existing) => {
                for pattern in patterns {
                    if !existing.patterns.contains(&pattern) {
                        existing.patterns.push(pattern);
                    }
                }
            }
            None => directives.push(EmbedDirective { dir, patterns }),
        }
    }
    directives
}

/// The patterns of one `//go:embed` line: space-separated, optionally "quoted" or `quoted`,
/// with the `all:` prefix dropped.
fn embed_patterns(args: &str) -> Vec<String> {
    let mut patterns = Vec::new();
    let mut rest = args.trim();
    while !rest.is_empty() {
        let (pattern, tail) = match rest.chars().next() {
            Some(quote @ ('"' | '`')) => match rest[1..].find(quote) {
                Some(end) => (&rest[1..=end], &rest[end + 2..]),
                None => (&rest[1..], ""),
            },
            _ => rest.split_once(char::is_whitespace).unwrap_or((rest, "")),
        };
        let pattern = pattern.strip_prefix("all:").unwrap_or(pattern);
        if !pattern.is_empty() {
            patterns.push(pattern.to_string());
        }
        rest = tail.trim_start();
    }
    patterns
}

/// Glob patterns with Go's `path.Match` rule that `*` does not cross `/`. Invalid patterns
/// match nothing (the spec validates its own patterns).
pub fn glob_set<'a>(patterns: impl IntoIterator<Item = &'a str>) -> GlobSet {
    let mut set = GlobSetBuilder::new();
    for pattern in patterns {
        if let Ok(glob) = GlobBuilder::new(pattern).literal_separator(true).build() {
            set.add(glob);
        }
    }
    set.build().unwrap_or_else(|_| GlobSet::empty())
}

/// The context files that `//go:embed` directives select: files matching a pattern, and
/// everything under a directory matching one.
pub fn embedded_files<'a>(embeds: &[EmbedDirective], files: &'a [String]) -> BTreeSet<&'a str> {
    let mut selected = BTreeSet::new();
    for directive in embeds {
        let patterns = glob_set(directive.patterns.iter().map(String::as_str));
        let prefix = if directive.dir == "." {
            String::new()
        } else {
            format!("{}/", directive.dir)
        };
        for file in files {
            let Some(relative) = file.strip_prefix(&prefix) else {
                continue;
            };
            // The file itself, or one of its parent directories, must match.
            let mut path = String::new();
            for part in relative.split('/') {
                if !path.is_empty() {
                    path.push('/');
                }
                path.push_str(part);
                if patterns.is_match(&path) {
                    selected.insert(file.as_str());
                    break;
                }
            }
        }
    }
    selected
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn gomod(file: &str, text: &str) -> GoMod {
        GoMod::parse(file, text).expect("valid go.mod")
    }

    #[test]
    fn joins_inside_the_context_only() {
        assert_eq!(context_join("app", "../lib").as_deref(), Some("lib"));
        assert_eq!(context_join(".", "./lib/").as_deref(), Some("lib"));
        assert_eq!(context_join("a/b", "..").as_deref(), Some("a"));
        assert_eq!(context_join("app", "../..").as_deref(), None);
        assert_eq!(context_join(".", "/abs").as_deref(), None);
        assert_eq!(
            workspace_candidates("services/api"),
            ["services/api/go.work", "services/go.work", "go.work"]
        );
        assert_eq!(workspace_candidates("."), ["go.work"]);
    }

    /// Context files in memory, logging every `read_all`.
    struct Logged {
        files: BTreeMap<&'static str, &'static str>,
        calls: std::cell::RefCell<Vec<Vec<String>>>,
    }

    impl ContextFiles for Logged {
        async fn read(&self, path: &str) -> anyhow::Result<Option<String>> {
            Ok(self.read_all(&[path.to_string()]).await?.pop().flatten())
        }

        async fn read_all(&self, paths: &[String]) -> anyhow::Result<Vec<Option<String>>> {
            self.calls.borrow_mut().push(paths.to_vec());
            let text = |path: &String| self.files.get(path.as_str()).map(|t| t.to_string());
            Ok(paths.iter().map(text).collect())
        }
    }

    #[tokio::test]
    async fn gather_reads_the_fact_paths_and_a_workspaces_modules_at_once() {
        let files = Logged {
            files: BTreeMap::from([
                ("svc/api/go.mod", "module example.com/api\ngo 1.27\n"),
                (
                    "go.work",
                    "go 1.27\nuse (\n\t./svc/api\n\t./lib\n\t./tools\n)\n",
                ),
                ("lib/go.mod", "module example.com/lib\ngo 1.27\n"),
                ("tools/go.mod", "module example.com/tools\ngo 1.27\n"),
            ]),
            calls: Default::default(),
        };
        let main = gomod("svc/api/go.mod", files.files["svc/api/go.mod"]);
        let facts = gather(&files, main).await.expect("a workspace");
        assert_eq!(facts.work_modules.len(), 3);
        // Everything but the workspace's modules is among the paths fetched first.
        let first = fact_paths("svc/api");
        let later: Vec<Vec<String>> = files
            .calls
            .into_inner()
            .into_iter()
            .filter(|call| call.iter().any(|path| !first.contains(path)))
            .collect();
        assert_eq!(
            later,
            [["svc/api/go.mod", "lib/go.mod", "tools/go.mod"]],
            "one read for the workspace's modules"
        );
    }

    #[test]
    fn module_mode_sees_replacement_go_mod_files() {
        let main = gomod(
            "app/go.mod",
            "module example.com/app\ngo 1.27\nrequire example.com/lib v0.0.0\nreplace example.com/lib => ../lib\nreplace example.com/x => example.com/y v1.0.0\n",
        );
        let files = mod_files(&ModuleFacts::module(main)).expect("inside the context");
        assert_eq!(
            files,
            ["app/go.mod", "app/go.sum", "lib/go.mod", "lib/go.sum"]
        );
    }

    #[test]
    fn replacement_outside_the_context_names_its_line() {
        let main = gomod("go.mod", "module m\n\nreplace example.com/lib => ../lib\n");
        let error = mod_files(&ModuleFacts::module(main)).expect_err("outside");
        let text = error.to_string();
        assert!(
            text.starts_with("go.mod:3: `replace ../lib` points outside the build context"),
            "{text}"
        );
        assert!(text.contains("set `module:`"), "{text}");
    }

    #[test]
    fn workspace_mode_sees_every_module_and_go_work() {
        let work = GoWork::parse(
            "go.work",
            "go 1.27\nuse (\n\t./api\n\t./lib\n)\nreplace example.com/x => ./forks/x\n",
        )
        .expect("valid go.work");
        let api = gomod(
            "api/go.mod",
            "module example.com/api\nreplace example.com/y => ../forks/y\n",
        );
        let lib = gomod("lib/go.mod", "module example.com/lib\n");
        let facts = ModuleFacts {
            main: api.clone(),
            work: Some(work),
            work_modules: vec![api, lib],
            vendor_manifest: false,
            go_sum: String::new(),
        };
        let files = mod_files(&facts).expect("inside the context");
        assert_eq!(
            files,
            [
                "go.work",
                "go.work.sum",
                "api/go.mod",
                "api/go.sum",
                "lib/go.mod",
                "lib/go.sum",
                "forks/x/go.mod",
                "forks/x/go.sum",
                "forks/y/go.mod",
                "forks/y/go.sum"
            ]
        );
    }

    #[test]
    fn embed_scan_output_becomes_include_patterns() {
        let output = "/src/web/main.go://go:embed templates/*.tmpl static\n/src/web/extra.go://go:embed \"a b.txt\" all:hidden\n/src/main.go://go:embed version.txt\n/src/x.go:// go:embed not-a-directive\n";
        let embeds = parse_embed_scan(output, "/src");
        assert_eq!(
            embeds,
            [
                EmbedDirective {
                    dir: "web".into(),
                    patterns: vec![
                        "templates/*.tmpl".into(),
                        "static".into(),
                        "a b.txt".into(),
                        "hidden".into()
                    ]
                },
                EmbedDirective {
                    dir: ".".into(),
                    patterns: vec!["version.txt".into()]
                },
            ]
        );
        let files: Vec<String> = [
            "main.go",
            "version.txt",
            "web/main.go",
            "web/templates/a.tmpl",
            "web/templates/b.html",
            "web/templates/sub/c.tmpl",
            "web/static/css/site.css",
            "web/a b.txt",
            "web/hidden/.keep",
            "web/README.md",
            "README.md",
        ]
        .map(String::from)
        .to_vec();
        let selected: Vec<&str> = embedded_files(&embeds, &files).into_iter().collect();
        assert_eq!(
            selected,
            [
                "version.txt",
                "web/a b.txt",
                "web/hidden/.keep",
                "web/static/css/site.css",
                "web/templates/a.tmpl"
            ]
        );
    }
}

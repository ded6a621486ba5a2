//! `gobuild-frontend init`: a first go-build.yaml for a repository, from what is on disk — the
//! module (or, without one at the top, the first module below it that has a program), its
//! main packages, cgo where a program imports "C" — and nothing that only restates a default.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::gomod::GoWork;
use crate::spec::DEFAULT_FILENAME;

/// Directories no build looks into for programs.
fn skipped(name: &str) -> bool {
    name == "vendor" || name == "testdata" || name.starts_with('.') || name.starts_with('_')
}

/// A module and the programs in it.
#[derive(Debug, PartialEq, Eq)]
struct Module {
    /// Relative to the repository, `.` for its top.
    dir: String,
    /// Main packages, relative to the module (`.`, `./cmd/api`).
    mains: Vec<String>,
    /// A main package imports "C".
    cgo: bool,
}

/// The released frontend image (`.github/workflows/release.yml`): what `# syntax=` names by
/// default.
pub const PUBLISHED_IMAGE: &str = "ghcr.io/gobuild-frontend/gobuild-frontend:1";

/// Writes `DIR/go-build.yaml` (never over an existing one) and returns its path.
pub fn init(dir: &Path, frontend: &str) -> Result<PathBuf> {
    let path = dir.join(DEFAULT_FILENAME);
    if path.exists() {
        bail!(
            "{} already exists: edit it, or remove it to start again",
            path.display()
        );
    }
    let text = spec_for(dir, frontend)?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// The spec `init` writes for the repository at `dir`.
pub fn spec_for(dir: &Path, frontend: &str) -> Result<String> {
    let modules: Vec<Module> = module_dirs(dir)?
        .into_iter()
        .map(|module| scan_module(dir, &module))
        .collect::<Result<_>>()?;
    let mut with_programs = modules.iter().filter(|m| !m.mains.is_empty());
    let Some(chosen) = with_programs.next() else {
        bail!(
            "no main package (`package main`) in the Go modules under {}",
            dir.display()
        );
    };
    let mut out = format!(
        "# syntax={frontend}\n\
         # Written by `gobuild-frontend init`. Every field is optional; what is not here has a\n\
         # default (README: spec reference; `gobuild-frontend schema` for your editor).\n"
    );
    for other in with_programs {
        out.push_str(&format!(
            "# The module in {} has programs too ({}): give it a spec of its own with `module: {}`.\n",
            other.dir,
            other.mains.join(", "),
            other.dir
        ));
    }
    if chosen.dir != "." {
        out.push_str(&format!("module: {}\n", yaml_word(&chosen.dir)));
    }
    if chosen.mains != ["."] {
        out.push_str("binaries:\n");
        for main in &chosen.mains {
            out.push_str(&format!("  - package: {}\n", yaml_word(main)));
        }
    }
    if chosen.cgo {
        out.push_str("build:\n  cgo: true   # a program imports \"C\"\n");
    }
    Ok(out)
}

/// The modules to look at: a go.work's, else the top go.mod's, else every go.mod below.
fn module_dirs(dir: &Path) -> Result<Vec<String>> {
    let work = dir.join("go.work");
    if work.is_file() {
        let text = std::fs::read_to_string(&work)?;
        let work = GoWork::parse("go.work", &text).map_err(|e| anyhow::anyhow!("{e}"))?;
        return Ok(work
            .uses
            .into_iter()
            .map(|(path, _)| clean(&path))
            .collect());
    }
    if dir.join("go.mod").is_file() {
        return Ok(vec![".".to_string()]);
    }
    let mut found = Vec::new();
    for entry in walk(dir) {
        let entry = entry?;
        if entry.file_name() == "go.mod" {
            let parent = entry.path().parent().unwrap_or(dir);
            found.push(relative(dir, parent));
        }
    }
    if found.is_empty() {
        bail!("no go.mod or go.work in {} or below", dir.display());
    }
    found.sort();
    Ok(found)
}

/// The main packages of the module in `repo/module`, outside modules nested in it.
fn scan_module(repo: &Path, module: &str) -> Result<Module> {
    let root = repo.join(module);
    let mut mains = std::collections::BTreeSet::new();
    let mut cgo = false;
    let mut walker = walk(&root);
    while let Some(entry) = walker.next() {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type().is_dir() && path != root && path.join("go.mod").exists() {
            walker.skip_current_dir();
            continue;
        }
        let name = entry.file_name().to_string_lossy();
        if !entry.file_type().is_file() || !name.ends_with(".go") || name.ends_with("_test.go") {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if package_name(&text) == Some("main") {
            let dir = relative(&root, path.parent().unwrap_or(&root));
            mains.insert(if dir == "." { dir } else { format!("./{dir}") });
            cgo |= text.contains("import \"C\"");
        }
    }
    Ok(Module {
        dir: module.to_string(),
        mains: mains.into_iter().collect(),
        cgo,
    })
}

/// The walk `init` does: sorted, without the directories builds never look into.
fn walk(dir: &Path) -> walkdir::FilterEntry<walkdir::IntoIter, fn(&walkdir::DirEntry) -> bool> {
    fn keep(entry: &walkdir::DirEntry) -> bool {
        entry.depth() == 0
            || !(entry.file_type().is_dir() && skipped(&entry.file_name().to_string_lossy()))
    }
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(keep as fn(&walkdir::DirEntry) -> bool)
}

/// The package clause's name: the first line that is not blank, a line comment or inside a
/// block comment.
fn package_name(text: &str) -> Option<&str> {
    let mut in_block = false;
    for line in text.lines().map(str::trim) {
        if in_block {
            in_block = !line.contains("*/");
            continue;
        }
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        if line.starts_with("/*") {
            in_block = !line.contains("*/");
            continue;
        }
        return line.strip_prefix("package ")?.split_whitespace().next();
    }
    None
}

fn relative(root: &Path, path: &Path) -> String {
    match path.strip_prefix(root) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.to_string_lossy().into_owned(),
        Err(_) => path.to_string_lossy().into_owned(),
    }
}

fn clean(path: &str) -> String {
    let cleaned = path.trim_start_matches("./").trim_end_matches('/');
    if cleaned.is_empty() {
        ".".to_string()
    } else {
        cleaned.to_string()
    }
}

/// A path as a YAML value: plain when it is safe, else double-quoted.
fn yaml_word(text: &str) -> String {
    let plain = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '/' | '_' | '-'));
    if plain && !text.is_empty() {
        text.to_string()
    } else {
        serde_json::to_string(text).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples")
            .join(name)
    }

    /// The spec's lines without the comments.
    fn fields(name: &str) -> Vec<String> {
        spec_for(&example(name), "gobuild-frontend:dev")
            .expect("a spec")
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn a_module_with_one_program_at_its_root_needs_nothing_but_the_syntax_line() {
        assert_eq!(fields("hello"), Vec::<String>::new());
        let text = spec_for(&example("hello"), "registry.example.com/gobuild:1").expect("spec");
        assert!(text.starts_with("# syntax=registry.example.com/gobuild:1\n"));
    }

    #[test]
    fn programs_modules_and_cgo_are_found() {
        assert_eq!(
            fields("multi"),
            [
                "binaries:",
                "  - package: ./cmd/api",
                "  - package: ./cmd/worker"
            ]
        );
        assert_eq!(fields("replace"), ["module: app"]);
        assert_eq!(
            fields("cgo"),
            ["build:", "  cgo: true   # a program imports \"C\""]
        );
        // A workspace: the first module with programs; the others are named in a comment.
        let workspace = spec_for(&example("workspace"), "f").expect("spec");
        assert!(workspace.contains("\nmodule: api\n"), "{workspace}");
        assert!(
            workspace.contains("# The module in worker has programs too (.)"),
            "{workspace}"
        );
    }

    #[test]
    fn every_example_gets_a_spec_that_loads() {
        for entry in std::fs::read_dir(example("")).expect("examples") {
            let dir = entry.expect("entry").path();
            let text = spec_for(&dir, "gobuild-frontend:dev")
                .unwrap_or_else(|e| panic!("{}: {e:#}", dir.display()));
            crate::spec::load("go-build.yaml", text.as_bytes())
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", dir.display()));
        }
    }

    #[test]
    fn an_existing_spec_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("go-build.yaml"), "mine\n").expect("write");
        let error = init(dir.path(), "f").expect_err("refused");
        assert!(error.to_string().contains("already exists"), "{error}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("go-build.yaml")).expect("read"),
            "mine\n"
        );
    }

    #[test]
    fn package_clauses_after_comments_and_build_lines() {
        assert_eq!(
            package_name("//go:build linux\n\n/* a\nb */\n// x\npackage main // c\n"),
            Some("main")
        );
        assert_eq!(package_name("package lib\n"), Some("lib"));
        assert_eq!(package_name("// only a comment\n"), None);
    }
}

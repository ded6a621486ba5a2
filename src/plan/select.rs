//! How a step's files are taken from the build context: by copies in the graph, not by
//! per-file patterns in the session request.
//!
//! The daemon transfers the context once (incrementally, minus `.dockerignore`); a file op then
//! copies what a step may see. BuildKit keys a copy by the content of what it selects, so a
//! change to any other file leaves it, and every step after it, cached. Per-file include
//! patterns on a local source instead travel as HTTP/2 headers to the client, which current
//! clients refuse beyond ~16 KB (a few hundred files).
//!
//! To keep the graph small on large repositories, a directory's files with one extension
//! become one wildcard copy (`cmd/api/*.go`) when every such file there is selected; all other
//! files are copied by exact path.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// One copy from the context into the same path of the step's view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ContextCopy {
    /// Exactly this path (taken literally, whatever characters it contains).
    File(String),
    /// Every entry of `dir` (`""` for the context root) whose name ends in `.EXT`, written as
    /// `dir/*.EXT`.
    Glob(String),
}

impl ContextCopy {
    /// The path or wildcard pattern, relative to the context root.
    pub fn pattern(&self) -> &str {
        match self {
            ContextCopy::File(path) | ContextCopy::Glob(path) => path,
        }
    }

    /// The directory the copy writes into, relative to the root (`""` for the root).
    pub fn dir(&self) -> &str {
        self.pattern().rsplit_once('/').map_or("", |(dir, _)| dir)
    }
}

/// Copies that give exactly `selected` out of `context` (the scan's list of every file and
/// symlink). Files not in `context` are copied by exact path.
pub fn copies(context: &[String], selected: &[String]) -> Vec<ContextCopy> {
    let in_context = group_sizes(context);
    let in_selection = group_sizes(selected);
    // A directory whose name matches `*.EXT` would be copied whole by the wildcard.
    let dirs_matching: BTreeSet<(&str, &str)> = context
        .iter()
        .flat_map(|file| ancestors(file))
        .filter_map(glob_key)
        .collect();
    let whole = |key: (&str, &str)| {
        in_selection.get(&key).is_some_and(|&n| n >= 2)
            && in_context.get(&key) == in_selection.get(&key)
            && !dirs_matching.contains(&key)
    };
    let mut out: BTreeSet<ContextCopy> = BTreeSet::new();
    for file in selected {
        match glob_key(file) {
            Some(key @ (dir, ext)) if whole(key) => {
                let prefix = if dir.is_empty() {
                    String::new()
                } else {
                    format!("{dir}/")
                };
                out.insert(ContextCopy::Glob(format!("{prefix}*.{ext}")));
            }
            _ => {
                out.insert(ContextCopy::File(file.clone()));
            }
        }
    }
    out.into_iter().collect()
}

/// How many of `files` fall into each wildcard group.
fn group_sizes(files: &[String]) -> BTreeMap<(&str, &str), usize> {
    let mut sizes = BTreeMap::new();
    for key in files.iter().filter_map(|file| glob_key(file)) {
        *sizes.entry(key).or_default() += 1;
    }
    sizes
}

/// `(directory, extension)` when `path` can be part of a wildcard group: the extension and
/// directory are free of pattern characters, so `dir/*.EXT` means exactly what it says.
fn glob_key(path: &str) -> Option<(&str, &str)> {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let (_, ext) = name.rsplit_once('.')?;
    let plain = |s: &str| !s.contains(['*', '?', '[', ']', '\\']);
    (!ext.is_empty() && plain(ext) && plain(dir)).then_some((dir, ext))
}

/// The directories above `path` (`a/b/c` → `a/b`, `a`).
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = path;
    std::iter::from_fn(move || {
        let (dir, _) = rest.rsplit_once('/')?;
        rest = dir;
        Some(dir)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn patterns(copies: &[ContextCopy]) -> Vec<String> {
        copies
            .iter()
            .map(|c| match c {
                ContextCopy::File(p) => format!("file {p}"),
                ContextCopy::Glob(p) => format!("glob {p}"),
            })
            .collect()
    }

    #[test]
    fn whole_directories_become_one_wildcard_per_extension() {
        let context = strings(&[
            "README.md",
            "cmd/api/main.go",
            "cmd/api/routes.go",
            "go.mod",
            "go.sum",
            "internal/db/db.go",
            "internal/db/db_test.go",
            "internal/db/schema.sql",
            "main.go",
            "util.go",
        ]);
        let selected: Vec<String> = context
            .iter()
            .filter(|f| !f.ends_with(".md") && !f.ends_with(".sql"))
            .cloned()
            .collect();
        assert_eq!(
            patterns(&copies(&context, &selected)),
            [
                "file go.mod",
                "file go.sum",
                "glob *.go",
                "glob cmd/api/*.go",
                "glob internal/db/*.go",
            ]
        );
    }

    #[test]
    fn a_partly_selected_group_is_copied_file_by_file() {
        let context = strings(&["a/x.go", "a/y.go", "a/z.go", "b/one.go"]);
        let selected = strings(&["a/x.go", "a/y.go", "b/one.go"]);
        assert_eq!(
            patterns(&copies(&context, &selected)),
            ["file a/x.go", "file a/y.go", "file b/one.go"]
        );
    }

    #[test]
    fn pattern_characters_and_matching_directories_stay_exact() {
        let context = strings(&[
            "svc[1]/a.go",
            "svc[1]/b.go",
            "odd/a.g*",
            "odd/b.g*",
            "tricky/a.go",
            "tricky/b.go",
            "tricky/dir.go/c.txt",
            "noext/Makefile",
            "noext/LICENSE",
        ]);
        let selected: Vec<String> = context
            .iter()
            .filter(|f| !f.ends_with("c.txt"))
            .cloned()
            .collect();
        assert_eq!(
            patterns(&copies(&context, &selected)),
            [
                "file noext/LICENSE",
                "file noext/Makefile",
                "file odd/a.g*",
                "file odd/b.g*",
                "file svc[1]/a.go",
                "file svc[1]/b.go",
                "file tricky/a.go",
                "file tricky/b.go",
            ]
        );
    }

    #[test]
    fn dir_is_where_the_copy_lands() {
        assert_eq!(ContextCopy::Glob("*.go".into()).dir(), "");
        assert_eq!(ContextCopy::File("a/b/c.go".into()).dir(), "a/b");
    }
}

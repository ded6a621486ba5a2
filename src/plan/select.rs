//! How a step's files are taken from the build context: by copies in the graph, not by
//! per-file patterns in the session request (on BuildKit v0.8, which fails large selections
//! by copies, by one step instead: `plan::select_sources_step`).
//!
//! The daemon transfers the context once (incrementally, minus `.dockerignore`); a file op then
//! copies what a step may see. BuildKit keys a copy by the content of what it selects, so a
//! change to any other file leaves it, and every step after it, cached. Per-file include
//! patterns on a local source instead travel as HTTP/2 headers to the client, which current
//! clients refuse beyond ~16 KB (a few hundred files).
//!
//! To keep the graph small on large repositories, a directory's files with one extension
//! become one wildcard copy (`cmd/api/*.go`) when every such file there is selected, except
//! at the context root; other files are exact names in their directory's copy, or copied by
//! path where a filter would cost the daemon more than the copies it saves.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::modules::{EmbedDirective, in_dir};
use crate::spec::{Spec, Vendor};

/// What the context transfer takes on daemons whose steps select their files by filtered
/// copies ([`ContextCopy`]): everything a Go build may read that is known before the
/// transfer — Go and other source files, module files, the vendor directory, testdata for
/// `go test`, `.git` for VCS stamping, the spec's `sources.include` — or `None` (the whole
/// context) where a `sources.include` pattern starts with a wildcard. Embedded files come
/// apart ([`embed_includes`]): which they are is known only from the Go files.
///
/// The client tries every path of the context against every pattern with a `**`, ~8 ms per
/// pattern on Gitea's 7,600 paths, so the source extensions share two character-class
/// patterns (a few other files, such as `.sh` and `.conf`, come along); names without
/// wildcards are cheap. They travel as include patterns, `.dockerignore` as exclusions: the
/// client's walk then skips an ignored directory (`node_modules`) as it does for a
/// Dockerfile's context, where `**` exclusions with wildcard exceptions would make it walk
/// every path.
pub fn transfer_includes(spec: &Spec, tests: bool) -> Option<Vec<String>> {
    let mut includes: Vec<String> = [
        "**/*.[chmsSfF]",
        "**/*.[cfghsS][chopuwxy9]*",
        "**/go.mod",
        "**/go.sum",
        "**/go.work",
        "**/go.work.sum",
    ]
    .map(String::from)
    .to_vec();
    if spec.modules.vendor.value != Vendor::Off {
        includes.push(in_dir(&spec.module.value, "vendor"));
    }
    if tests {
        includes.push("**/testdata".to_string());
    }
    if spec.build.vcs {
        includes.push(".git".to_string());
    }
    for pattern in &spec.sources.include {
        // Cleaned as the client cleans a pattern (`./VERSION` takes `VERSION`); `./*`
        // takes everything.
        let prefix = crate::ignore::clean(literal_prefix(&pattern.value)?);
        if prefix.is_empty() {
            return None;
        }
        includes.push(prefix);
    }
    Some(includes)
}

/// Whether a transfer filtered by `includes` came from an old client, which cuts it short.
/// docker 20.10's fsutil, BuildKit v0.8's client, matches an include pattern with Go's
/// `filepath.Match` after cutting it to the path's depth, and `**` is one `*` there: of
/// `**/*.go` it takes every file at the root and the Go files one directory down, nothing
/// deeper. A current client sends only what the includes take, so a root file none takes
/// (a README, the spec, `.gitignore`) tells the old client apart. Not when the root holds
/// nothing else, or `.dockerignore` leaves every other root file out: then Go names the
/// packages the old client left behind.
pub fn transfer_cut_short(files: &[String], includes: &[String]) -> bool {
    let taken = crate::ignore::Matcher::new(includes);
    files
        .iter()
        .any(|file| !file.contains('/') && !taken.excludes(file))
}

/// A `sources.include` pattern without wildcards, else its directory part before the
/// first one (`config` for `config/*.yaml`); `None` when that is empty.
fn literal_prefix(pattern: &str) -> Option<&str> {
    let Some(first_wildcard) = pattern.find(['*', '?', '[', '{', '\\']) else {
        return Some(pattern);
    };
    let prefix = pattern[..first_wildcard]
        .rsplit_once('/')
        .map_or("", |(dir, _)| dir);
    (!prefix.is_empty()).then_some(prefix)
}

/// The transfer's include patterns for the files `//go:embed` lines name: each pattern
/// under its package's directory (`all:` dropped; the plan picks the files Go embeds from
/// what arrives). BuildKit's pattern syntax reads Go's `path.Match` patterns the same way,
/// and its `**` matches more than Go's, never less.
pub fn embed_includes(embeds: &[EmbedDirective]) -> Vec<String> {
    let mut includes: Vec<String> = embeds
        .iter()
        .flat_map(|directive| {
            directive.patterns.iter().map(|pattern| {
                let pattern = pattern.strip_prefix("all:").unwrap_or(pattern);
                let path = in_dir(&directive.dir, pattern);
                // A leading `!` would make the pattern an exclusion.
                match path.starts_with('!') {
                    true => format!("\\{path}"),
                    false => path,
                }
            })
        })
        .collect();
    includes.sort();
    includes.dedup();
    includes
}

/// One copy from the context into the same path of the step's view.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum ContextCopy {
    /// Exactly this path (taken literally, whatever characters it contains), as one of the
    /// names its directory's copy is filtered by.
    File(String),
    /// Exactly this path, copied on its own, unfiltered (see [`copies`] for where).
    ByPath(String),
    /// Every entry of `dir` (`""` for the context root) whose name ends in `.EXT`, written as
    /// `dir/*.EXT`.
    Glob(String),
}

impl ContextCopy {
    /// The path or wildcard pattern, relative to the context root.
    pub fn pattern(&self) -> &str {
        match self {
            ContextCopy::File(path) | ContextCopy::ByPath(path) | ContextCopy::Glob(path) => path,
        }
    }

    /// The directory the copy writes into, relative to the root (`""` for the root).
    pub fn dir(&self) -> &str {
        parent(self.pattern())
    }
}

/// A copy by path costs buildkitd about as much, on every build, as walking this many paths
/// below a filtered copy's source (v0.34 profile: ~15 µs per copy, ~2 µs per walked path).
const WALK_PER_COPY: usize = 8;

/// Copies that give exactly `selected` out of `context` (the scan's list of every file and
/// symlink). Files not in `context` are copied by exact path.
///
/// BuildKit keys a filtered copy, on every build, by walking every path below its source, so
/// a file is copied by path, unfiltered, where its directory's filter would walk more than
/// [`WALK_PER_COPY`] paths per selected file there: at the root (a filter there walks the
/// whole context), and in a directory that holds a few Go files above a large tree (Gitea's
/// `tests/`: one file, 2,180 paths). So are names BuildKit's pattern matcher would trim
/// (leading or trailing whitespace).
pub fn copies(context: &[String], selected: &[String]) -> Vec<ContextCopy> {
    let context_dirs = directories(context);
    let walked = walked_below(context, &context_dirs);
    let mut selected_in: BTreeMap<&str, usize> = BTreeMap::new();
    for file in selected {
        *selected_in.entry(parent(file)).or_default() += 1;
    }
    let unfiltered = |dir: &str| {
        dir.is_empty()
            || walked.get(dir).copied().unwrap_or(0)
                > WALK_PER_COPY * selected_in.get(dir).copied().unwrap_or(0)
    };
    let trimmed = |file: &str| {
        let name = file.rsplit_once('/').map_or(file, |(_, name)| name);
        name.trim() != name
    };
    let in_context = group_sizes(context);
    let in_selection = group_sizes(selected);
    // A directory whose name matches `*.EXT` would be copied whole by the wildcard.
    let dirs_matching: BTreeSet<(&str, &str)> =
        context_dirs.iter().copied().filter_map(glob_key).collect();
    // Not at the root: a copy filtered there makes BuildKit walk the whole context on every
    // build (`render::part`), while the root's own files are few.
    let whole = |key: (&str, &str)| {
        !key.0.is_empty()
            && in_selection.get(&key).is_some_and(|&n| n >= 2)
            && in_context.get(&key) == in_selection.get(&key)
            && !dirs_matching.contains(&key)
    };
    let mut globs: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut out: BTreeSet<ContextCopy> = BTreeSet::new();
    for file in selected {
        match glob_key(file) {
            _ if unfiltered(parent(file)) => {
                out.insert(ContextCopy::ByPath(file.clone()));
            }
            Some(key) if whole(key) => {
                globs.insert(key);
            }
            _ if trimmed(file) => {
                out.insert(ContextCopy::ByPath(file.clone()));
            }
            _ => {
                out.insert(ContextCopy::File(file.clone()));
            }
        }
    }
    out.extend(
        globs
            .into_iter()
            .map(|(dir, ext)| ContextCopy::Glob(format!("{dir}/*.{ext}"))),
    );
    out.into_iter().collect()
}

/// How many paths BuildKit's checksum walks below each directory of `context` (whose
/// directories are `dirs`): every file and symlink, and every directory twice (its entry and
/// its header).
fn walked_below<'a>(context: &'a [String], dirs: &BTreeSet<&'a str>) -> BTreeMap<&'a str, usize> {
    let mut walked: BTreeMap<&str, usize> = BTreeMap::new();
    for file in context {
        for dir in ancestors(file) {
            *walked.entry(dir).or_default() += 1;
        }
    }
    for dir in dirs {
        for above in ancestors(dir) {
            *walked.entry(above).or_default() += 2;
        }
    }
    walked
}

/// The directory holding `path` (`""` for the context root).
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// Every directory above a file of `files`, once: a large context's 6,000 files have 1,400.
fn directories(files: &[String]) -> BTreeSet<&str> {
    let mut dirs = BTreeSet::new();
    for file in files {
        for dir in ancestors(file) {
            // Its ancestors went in with it.
            if !dirs.insert(dir) {
                break;
            }
        }
    }
    dirs
}

/// One part of the build step's sources: the copies under `dir` (relative to the context
/// root, `""` for the root) that no deeper part takes. Each part is its own content-keyed
/// copy, mounted at its directory of the sources, so an edit re-copies one part instead of
/// every source file (3,000 files on a large repository: half a second per build).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourcePart {
    pub dir: String,
    /// Paths relative to the context root, like all copies.
    pub copies: Vec<ContextCopy>,
    /// Copies from the embedded files' transfer ([`embed_includes`]), of the files only it
    /// has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub embedded: Vec<ContextCopy>,
    /// The deeper parts' directories, relative to `dir`: made in this part, since a
    /// read-only mount cannot get a mount point made inside it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mountpoints: Vec<String>,
}

/// Directories whose subtree holds at least this many of the selected files get a part of
/// their own (the threshold doubles until there are at most [`MAX_PARTS`]). Larger parts
/// cost more per edit; more parts cost a file op and a mount each.
const MIN_PART_FILES: usize = 32;
const MAX_PARTS: usize = 64;

/// `copies` and `embedded` (copies from the embedded files' transfer; together they select
/// `files`) split into parts by directory, the root's first. A pure function of the
/// selection, so the parts, and their cache keys, stay the same from one edit to the next.
pub fn parts(
    files: &[String],
    copies: &[ContextCopy],
    embedded: &[ContextCopy],
) -> Vec<SourcePart> {
    let mut subtree: BTreeMap<&str, usize> = BTreeMap::new();
    for file in files {
        for dir in ancestors(file) {
            *subtree.entry(dir).or_default() += 1;
        }
    }
    let mut threshold = MIN_PART_FILES.max((files.len() / MAX_PARTS).next_power_of_two());
    let roots = loop {
        let roots: BTreeSet<&str> = subtree
            .iter()
            .filter(|&(_, &n)| n >= threshold)
            .map(|(&dir, _)| dir)
            .collect();
        if roots.len() < MAX_PARTS {
            break roots;
        }
        threshold *= 2;
    };
    // The deepest root at or above `dir` (`""` when none).
    let owner = |dir: &str| -> String {
        std::iter::once(dir)
            .chain(ancestors(dir))
            .find(|d| roots.contains(d))
            .unwrap_or("")
            .to_string()
    };
    type Copies = (Vec<ContextCopy>, Vec<ContextCopy>);
    let mut parts: BTreeMap<String, Copies> = BTreeMap::from([(String::new(), Copies::default())]);
    for copy in copies {
        parts
            .entry(owner(copy.dir()))
            .or_default()
            .0
            .push(copy.clone());
    }
    for copy in embedded {
        parts
            .entry(owner(copy.dir()))
            .or_default()
            .1
            .push(copy.clone());
    }
    // Roots without files of their own are left out: their deeper parts hang on the next
    // part up.
    let mut mountpoints: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for dir in parts.keys().filter(|d| !d.is_empty()) {
        let parent = ancestors(dir)
            .find(|d| parts.contains_key(*d))
            .unwrap_or("")
            .to_string();
        let below = match parent.as_str() {
            "" => dir.clone(),
            parent => dir[parent.len() + 1..].to_string(),
        };
        mountpoints.entry(parent).or_default().push(below);
    }
    parts
        .into_iter()
        .map(|(dir, (copies, embedded))| SourcePart {
            mountpoints: mountpoints.remove(&dir).unwrap_or_default(),
            dir,
            copies,
            embedded,
        })
        .collect()
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

/// The directories above `path`, nearest first (`a/b/c` → `a/b`, `a`).
pub(super) fn ancestors(path: &str) -> impl Iterator<Item = &str> {
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

    fn spec(text: &str) -> Spec {
        crate::spec::load("go-build.yaml", text.as_bytes()).expect("valid spec")
    }

    /// Whether BuildKit's client would send `path` for these include patterns (the path or
    /// a directory above it matches one) and no `.dockerignore`.
    fn taken(includes: &[String], path: &str) -> bool {
        crate::ignore::Matcher::new(includes).excludes(path)
    }

    #[test]
    fn dockerignore_wins_over_the_transfer_includes() {
        let includes =
            transfer_includes(&spec("binaries: [{package: .}]"), false).expect("patterns");
        let dockerignore = strings(&["internal/secret", "*.go", "!main.go", "!README.md"]);
        let ignored = crate::ignore::Matcher::new(&dockerignore);
        let sent = |path: &str| taken(&includes, path) && !ignored.excludes(path);
        assert!(!sent("internal/secret/key.go"));
        assert!(sent("internal/public/key.go"));
        assert!(!sent("util.go") && sent("main.go"));
        assert!(
            !sent("README.md"),
            "an exception in .dockerignore adds nothing to the transfer"
        );
    }

    #[test]
    fn the_transfer_takes_every_file_go_builds_from_and_few_others() {
        let includes = transfer_includes(&spec("binaries: [{package: .}]"), false)
            .expect("no sources.include: patterns");
        for ext in crate::plan::GO_SOURCE_EXTENSIONS {
            assert!(taken(&includes, &format!("a/b/file.{ext}")), "*.{ext}");
            assert!(taken(&includes, &format!("file.{ext}")), "root *.{ext}");
        }
        for name in [
            "go.mod",
            "go.sum",
            "go.work",
            "go.work.sum",
            "vendor/modules.txt",
        ] {
            assert!(taken(&includes, name), "{name}");
        }
        assert!(taken(&includes, "sub/mod/go.mod"));
        for other in [
            "README.md",
            "web/logo.svg",
            "web/site.css",
            "page.html",
            "x.json",
        ] {
            assert!(!taken(&includes, other), "{other}");
        }
        assert!(!taken(&includes, "pkg/testdata/case.txt"));
        let tests = transfer_includes(&spec("binaries: [{package: .}]"), true).expect("patterns");
        assert!(taken(&tests, "pkg/testdata/case.txt"));
    }

    #[test]
    fn the_spec_adds_vcs_and_its_sources_and_a_leading_wildcard_takes_everything() {
        let with = |text: &str| transfer_includes(&spec(text), false);
        let vcs = with("binaries: [{package: .}]\nbuild: {vcs: true}").expect("patterns");
        assert!(taken(&vcs, ".git/HEAD"));
        let sources = with("binaries: [{package: .}]\nsources: {include: [config/*.yaml]}")
            .expect("patterns");
        assert!(taken(&sources, "config/app.yaml"));
        let file =
            with("binaries: [{package: .}]\nsources: {include: [./VERSION]}").expect("patterns");
        assert!(taken(&file, "VERSION"));
        assert!(!transfer_cut_short(&strings(&["VERSION"]), &file));
        assert_eq!(
            with("binaries: [{package: .}]\nsources: {include: ['./*']}"),
            None
        );
        assert_eq!(
            with("binaries: [{package: .}]\nsources: {include: ['*.yaml']}"),
            None
        );
        let no_vendor =
            with("binaries: [{package: .}]\nmodules: {vendor: false}").expect("patterns");
        assert!(!taken(&no_vendor, "vendor/modules.txt"));
    }

    #[test]
    fn a_root_file_no_include_takes_tells_an_old_client() {
        let includes = strings(&["**/*.go", "**/go.mod", "vendor"]);
        let cut = |files: &[&str]| transfer_cut_short(&strings(files), &includes);
        assert!(cut(&["README.md", "go.mod", "main.go", "internal/x.go"]));
        assert!(
            !cut(&["go.mod", "main.go"]),
            "a flat project, a current client"
        );
        assert!(!cut(&[
            "go.mod",
            "main.go",
            "internal/x/x.go",
            "vendor/modules.txt"
        ]));
    }

    #[test]
    fn embed_patterns_sit_under_their_package() {
        let embeds = [
            EmbedDirective {
                dir: "web".into(),
                patterns: strings(&["templates/*.tmpl", "all:static", "templates/*.tmpl"]),
            },
            EmbedDirective {
                dir: ".".into(),
                patterns: strings(&["!odd.txt", "version.txt"]),
            },
        ];
        assert_eq!(
            embed_includes(&embeds),
            [
                "\\!odd.txt",
                "version.txt",
                "web/static",
                "web/templates/*.tmpl"
            ]
        );
        let includes = embed_includes(&embeds);
        assert!(taken(&includes, "web/static/css/site.css"));
        assert!(taken(&includes, "web/templates/a.tmpl"));
        assert!(!taken(&includes, "web/templates/a.html"));
    }

    fn patterns(copies: &[ContextCopy]) -> Vec<String> {
        copies
            .iter()
            .map(|c| match c {
                ContextCopy::File(p) => format!("file {p}"),
                ContextCopy::ByPath(p) => format!("path {p}"),
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
                "path go.mod",
                "path go.sum",
                "path main.go",
                "path util.go",
                "glob cmd/api/*.go",
                "glob internal/db/*.go",
            ]
        );
    }

    #[test]
    fn a_filter_that_would_walk_far_more_than_it_takes_becomes_copies_by_path() {
        // `tests/` has one Go file above 40 fixture files (a filter there walks 40 + 2
        // paths); `pkg/` has two Go files beside a small tree (2 + 3 + 2 paths).
        let mut context = strings(&[
            "go.mod",
            "tests/main_test_helper.go",
            "pkg/a.go",
            "pkg/b.go",
            "pkg/data/x.txt",
            "pkg/data/y.txt",
            "pkg/data/z.txt",
            "pkg/api/ lead.go",
            "pkg/api/v.go",
            "pkg/api/v_test.go",
        ]);
        context.extend((0..40).map(|i| format!("tests/fixtures/repo/f{i}")));
        let selected = strings(&[
            "go.mod",
            "pkg/a.go",
            "pkg/api/ lead.go",
            "pkg/api/v.go",
            "pkg/b.go",
            "tests/main_test_helper.go",
        ]);
        assert_eq!(
            patterns(&copies(&context, &selected)),
            [
                "file pkg/api/v.go",
                // BuildKit would trim the pattern's space.
                "path go.mod",
                "path pkg/api/ lead.go",
                "path tests/main_test_helper.go",
                "glob pkg/*.go",
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
    fn a_small_selection_is_one_part() {
        let files = strings(&["go.mod", "main.go", "internal/db/db.go"]);
        let copies = copies(&files, &files);
        assert_eq!(
            parts(&files, &copies, &[]),
            [SourcePart {
                dir: String::new(),
                copies,
                embedded: vec![],
                mountpoints: vec![],
            }]
        );
    }

    #[test]
    fn large_directories_become_parts_mounted_on_the_next_part_up() {
        let mut files = strings(&["go.mod", "main.go", "big/README.txt"]);
        let many = |dir: &'static str, n: usize| (0..n).map(move |i| format!("{dir}/f{i}.go"));
        files.extend(many("big/x", 40));
        files.extend(many("big/small", 3));
        // Nothing of its own: its part would be empty, so `deep` hangs on the root.
        files.extend(many("wrap/deep", 33));
        files.extend(many("other", 2));
        let copies = copies(&files, &files);
        let parts = parts(&files, &copies, &[]);
        let summary: Vec<(&str, Vec<String>, &[String])> = parts
            .iter()
            .map(|p| {
                (
                    p.dir.as_str(),
                    patterns(&p.copies),
                    p.mountpoints.as_slice(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "",
                    strings(&["path go.mod", "path main.go", "glob other/*.go"]),
                    &strings(&["big", "wrap/deep"])[..],
                ),
                (
                    "big",
                    // One file above 45 paths: by path.
                    strings(&["path big/README.txt", "glob big/small/*.go"]),
                    &strings(&["x"])[..],
                ),
                ("big/x", strings(&["glob big/x/*.go"]), &[][..]),
                ("wrap/deep", strings(&["glob wrap/deep/*.go"]), &[][..]),
            ]
        );
        let all: Vec<&ContextCopy> = parts.iter().flat_map(|p| &p.copies).collect();
        assert_eq!(all.len(), copies.len(), "every copy in exactly one part");
    }

    #[test]
    fn the_threshold_grows_until_the_parts_are_few() {
        let files: Vec<String> = (0..200)
            .flat_map(|d| (0..40).map(move |i| format!("d{d}/f{i}.go")))
            .collect();
        let parts = parts(&files, &copies(&files, &files), &[]);
        assert!(parts.len() <= MAX_PARTS, "{} parts", parts.len());
        assert_eq!(parts[0].dir, "");
    }

    #[test]
    fn dir_is_where_the_copy_lands() {
        assert_eq!(ContextCopy::Glob("*.go".into()).dir(), "");
        assert_eq!(ContextCopy::File("a/b/c.go".into()).dir(), "a/b");
    }
}

//! `layer` mode in parts: the module cache the build reads is one layer per group of modules
//! plus one for the module graph and checksums, each mounted into the build, with symlinks
//! that make one module cache of them — instead of one layer filled from scratch for every
//! go.mod change. A step makes the symlinks into a layer mounted at [`GOMODCACHE`], in a
//! third of a file op's time (Gitea's 272 links: 0.3–0.4 s against 1.1–1.3 s), and on
//! BuildKit v0.8 too, whose file ops make no symlinks.
//!
//! A new requirement then extracts only the group it joins: each group's step is keyed by
//! its own module list and go.sum lines (in its script: no file op, no mount to checksum),
//! fetches its modules' zips into the shared download cache (a no-op for those already
//! there) and extracts them straight into its layer. No step waits for another: the graph
//! and the groups run side by side, and no separate download step runs first. (A merge op
//! would rebuild the whole merged tree by hard links on every change: seconds for a large
//! module graph.) The layers stay ordinary cache records: immune to cache-mount GC and
//! exported by `--cache-to`, each on its own.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::script::Line;
use super::select::ancestors;
use super::{
    DOWNLOAD_CACHE, GOMODCACHE, Known, MountSource, NetMode, Script, Shared, Step, StepMount,
    StepRoot,
};
use crate::gomod::GoSum;
use serde::Serialize;

/// Where a layer step writes its part of the module cache.
pub const LAYER_DIR: &str = "/gobuild/layer";
/// Where build steps mount layer `i`, at `MODULES_DIR/i`.
pub const MODULES_DIR: &str = "/gobuild/modules";
/// Where a group step writes the go.mod and go.sum of the module it downloads in.
const GROUP_MODULE: &str = "/tmp/gobuild-modules";
/// Modules per group before the groups double (at most [`MAX_GROUPS`]).
const GROUP_SIZE: usize = 16;
const MAX_GROUPS: usize = 16;

/// Where the links step writes its layer.
pub const LINKS_DIR: &str = "/gobuild/links";

/// The module cache in layers.
#[derive(Debug, Clone, Serialize)]
pub struct ModuleLayers {
    /// The graph and checksums layer, then one per group; each writes [`LAYER_DIR`].
    pub steps: Vec<Step>,
    /// `(link, target)`: symlinks at [`GOMODCACHE`] that make one module cache of the layers
    /// mounted at [`MODULES_DIR`].
    pub links: Vec<(String, String)>,
    /// The step that makes them into its layer ([`LINKS_DIR`]), mounted at [`GOMODCACHE`].
    pub links_step: Step,
}

impl ModuleLayers {
    /// The mounts a step needs to read the module cache; the layers keyed `by_definition`
    /// where the daemon can.
    pub fn mounts(&self, by_definition: bool) -> impl Iterator<Item = StepMount> {
        let layers = (0..self.steps.len()).map(move |index| StepMount {
            dest: format!("{MODULES_DIR}/{index}"),
            source: MountSource::ModuleLayer {
                index,
                by_definition,
            },
        });
        layers.chain(std::iter::once(StepMount {
            dest: GOMODCACHE.to_string(),
            source: MountSource::ModuleLinks,
        }))
    }
}

/// One module whose files the build may read, with its go.sum lines.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Module {
    path: String,
    version: String,
    sums: [String; 2],
}

impl Module {
    /// Its directory in a module cache, as Go names it.
    fn dir(&self) -> String {
        format!("{}@{}", escape(&self.path), escape(&self.version))
    }

    /// Where a module cache keeps the hash of its zip, relative to the cache.
    fn ziphash_file(&self) -> String {
        format!(
            "cache/download/{}/@v/{}.ziphash",
            escape(&self.path),
            escape(&self.version)
        )
    }

    /// `path@version`, as `go mod download` takes it.
    fn at_version(&self) -> String {
        format!("{}@{}", self.path, self.version)
    }

    /// The zip's hash from its go.sum line (`h1:…`).
    fn zip_hash(&self) -> &str {
        self.sums[0].rsplit(' ').next().unwrap_or_default()
    }
}

/// The layers, or none when the module set cannot be known from go.mod and go.sum alone (a
/// workspace, go < 1.17, a requirement without both sums, an odd path): then one step fills
/// the layer as before.
pub(super) fn plan(inputs: &Known, shared: &Shared) -> Option<ModuleLayers> {
    let modules = build_modules(inputs).filter(|m| !m.is_empty())?;
    let groups = groups(modules);
    // The graph, the groups.
    let count = groups.len() + 1;
    let links = links(&groups);
    let steps = std::iter::once(graph_step(inputs, shared, &groups, count))
        .chain(
            groups
                .iter()
                .enumerate()
                .map(|(i, group)| group_step(inputs, shared, group, i + 2, count)),
        )
        .collect();
    Some(ModuleLayers {
        steps,
        links_step: links_step(inputs, &links),
        links,
    })
}

/// `(link, target)`: the module cache's entries, each in its layer (`cache` in the graph's,
/// each module in its group's), linked as high up as one layer holds everything below: a
/// directory whose modules are all in one group is one link, since that group's layer holds
/// exactly them there. Fewer directories hold links then, and each is one `ln` (Gitea: 51
/// calls, against 190 directories of module links).
fn links(groups: &[Vec<Module>]) -> Vec<(String, String)> {
    let entries: Vec<(String, usize)> = std::iter::once(("cache".to_string(), 0))
        .chain(
            groups
                .iter()
                .enumerate()
                .flat_map(|(i, group)| group.iter().map(move |module| (module.dir(), i + 1))),
        )
        .collect();
    // The one layer below each directory, or None where several are.
    let mut below: BTreeMap<&str, Option<usize>> = BTreeMap::new();
    for (dir, layer) in &entries {
        for ancestor in ancestors(dir) {
            let one = below.entry(ancestor).or_insert(Some(*layer));
            if *one != Some(*layer) {
                *one = None;
            }
        }
    }
    let linked: BTreeSet<(String, usize)> = entries
        .iter()
        .map(|(dir, layer)| {
            let highest = ancestors(dir)
                .filter(|ancestor| below.get(ancestor) == Some(&Some(*layer)))
                .last();
            (highest.unwrap_or(dir).to_string(), *layer)
        })
        .collect();
    linked
        .into_iter()
        .map(|(dir, layer)| {
            (
                format!("{GOMODCACHE}/{dir}"),
                format!("{MODULES_DIR}/{layer}/{dir}"),
            )
        })
        .collect()
}

/// The step that makes the links in a layer of their own, offline, from nothing but the list:
/// keyed by it, so it runs again only when the module set changes. One `ln` per directory of
/// links (a link and its target have the same name): an `ln` per link (272 for Gitea) took
/// most of the step's time.
fn links_step(inputs: &Known, links: &[(String, String)]) -> Step {
    let mut by_parent: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (link, target) in links {
        let name = link.strip_prefix(GOMODCACHE).unwrap_or(link);
        let in_layer = format!("{LINKS_DIR}{name}");
        if let Some((parent, _)) = in_layer.rsplit_once('/') {
            by_parent
                .entry(parent.to_string())
                .or_default()
                .push(target.clone());
        }
    }
    let script = std::iter::once(Line::command(
        "mkdir",
        ["-p".to_string()]
            .into_iter()
            .chain(by_parent.keys().cloned()),
    ))
    .chain(by_parent.iter().map(|(parent, targets)| {
        Line::command(
            "ln",
            ["-s".to_string()]
                .into_iter()
                .chain(targets.iter().cloned())
                .chain([format!("{parent}/")]),
        )
    }))
    .fold(Script::new().syntax("set -e"), Script::line);
    Step {
        name: format!("[deps] module cache: {} links", links.len()),
        root: StepRoot::Builder,
        args: script.argv(),
        env: BTreeMap::from([("PATH".to_string(), LINKS_PATH.to_string())]),
        cwd: "/".to_string(),
        network: NetMode::None,
        mounts: vec![StepMount {
            dest: LINKS_DIR.to_string(),
            source: MountSource::Output,
        }],
        at: inputs.spec.module.pos,
    }
}

/// The links step's PATH: the builder's `mkdir` and `ln`.
const LINKS_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// go.mod's requirements with replacements applied: from go 1.17 on, go.mod lists every
/// module that provides a package to the build. Replacements by directories are in the
/// context, not in the module cache.
fn build_modules(inputs: &Known) -> Option<Vec<Module>> {
    let facts = inputs.modules;
    let main = &facts.main;
    let modern = main
        .go
        .is_some_and(|(go, _)| (go.major, go.minor) >= (1, 17));
    if facts.work.is_some() || !modern {
        return None;
    }
    let go_sum = GoSum::parse(&facts.go_sum);
    let mut modules = Vec::new();
    for require in &main.requires {
        let exact = format!("{} {}", require.path, require.version);
        let replace = main
            .replaces
            .iter()
            .rev()
            .find(|r| r.old == exact)
            .or_else(|| main.replaces.iter().rev().find(|r| r.old == require.path));
        let (path, version) = match replace {
            Some(r) if r.local_dir().is_some() => continue,
            Some(r) => (r.new.clone(), r.new_version.clone()?),
            None => (require.path.clone(), require.version.clone()),
        };
        if !plain_module(&path, &version) {
            return None;
        }
        let sums = go_sum.lines(&path, &version)?;
        modules.push(Module {
            path,
            version,
            sums,
        });
    }
    modules.sort_by(|a, b| (&a.path, &a.version).cmp(&(&b.path, &b.version)));
    modules.dedup_by(|a, b| a.path == b.path && a.version == b.version);
    Some(modules)
}

/// A module path and version the Go command would accept, with nothing it could take for a
/// flag; anything else is left to `go mod download` in the one-step layer, which says what is
/// wrong.
fn plain_module(path: &str, version: &str) -> bool {
    let path_ok = !path.is_empty()
        && !path.starts_with(['-', '/', '.'])
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/+".contains(&b));
    let version_ok = version.starts_with('v')
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.+".contains(&b));
    path_ok && version_ok
}

/// Modules in groups chosen by a hash of their path, so a version change moves nothing
/// between groups. The number of groups is a power of two that grows with the module count.
fn groups(modules: Vec<Module>) -> Vec<Vec<Module>> {
    let count = modules
        .len()
        .div_ceil(GROUP_SIZE)
        .next_power_of_two()
        .min(MAX_GROUPS);
    let mut groups: Vec<Vec<Module>> = vec![Vec::new(); count];
    for module in modules {
        let hash = Sha256::digest(module.path.as_bytes());
        groups[usize::from(hash[0]) % count].push(module);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

/// Prints, for each go.mod line of go.sum, where the download cache keeps that go.mod
/// (`cache/download/<path>/@v/<version>.mod`, relative, escaped like [`escape`]) if it
/// does: `go mod graph` has just fetched every one it reads, and each needs a go.sum line.
const GRAPH_MOD_FILES_AWK: &str = r#"function escape(s,  out, i, c) {
  out = ""
  for (i = 1; i <= length(s); i++) { c = substr(s, i, 1); out = out (c ~ /[A-Z]/ ? "!" tolower(c) : c) }
  return out
}
$2 ~ /\/go\.mod$/ {
  file = escape($1) "/@v/" escape(substr($2, 1, length($2) - 7)) ".mod"
  if ((getline line < file) >= 0) { close(file); print file }
}"#;

/// A layer step's environment, network and mounts: those of a step that fetches modules.
fn fetching_step(
    inputs: &Known,
    shared: &Shared,
    name: String,
    script: Vec<Line>,
    cwd: String,
    mut mounts: Vec<StepMount>,
) -> Step {
    mounts.extend([
        shared.cache(DOWNLOAD_CACHE, "gomod-download"),
        StepMount {
            dest: LAYER_DIR.to_string(),
            source: MountSource::Output,
        },
    ]);
    mounts.extend(shared.access.mounts.iter().cloned());
    Step {
        name,
        root: StepRoot::Builder,
        args: super::fetch_script(&shared.access, script).argv(),
        env: shared.fetching_env(),
        cwd,
        network: inputs.options.network.unwrap_or(NetMode::Sandbox),
        mounts,
        at: inputs.spec.module.pos,
    }
}

/// Every go.mod of the module graph (`go mod graph` reads them all and no zip), and the
/// `.ziphash` file Go checks beside each extracted module: the go.sum line's hash, which the
/// group steps verify. Keyed by go.mod and go.sum.
fn graph_step(inputs: &Known, shared: &Shared, groups: &[Vec<Module>], count: usize) -> Step {
    const MOD_FILES: &str = "/tmp/gobuild-graph-mod-files";
    let downloaded = format!("{DOWNLOAD_CACHE}/cache/download");
    let in_layer = format!("{LAYER_DIR}/cache/download");
    // Warm, `go mod graph` on the download cache reads ~600 go.mod files in 0.02 s; through
    // a `file://` proxy into an empty cache it took 0.4 s.
    let mut script = vec![
        Line::default()
            .assign("GOMODCACHE", DOWNLOAD_CACHE)
            .then("GOFLAGS= go mod graph >/dev/null"),
        Line::command("mkdir", ["-p", &in_layer]),
        Line::command("cd", [&downloaded]),
        Line::syntax("awk")
            .value(GRAPH_MOD_FILES_AWK)
            .value(format!("{}/go.sum", shared.workdir))
            .then(">")
            .value(MOD_FILES),
        Line::syntax("xargs -r -d '\\n' cp -a --parents -t")
            .value(&in_layer)
            .then("<")
            .value(MOD_FILES),
    ];
    for module in groups.iter().flatten() {
        script.push(
            Line::syntax("printf '%s'")
                .value(module.zip_hash())
                .then(">")
                .value(format!("{LAYER_DIR}/{}", module.ziphash_file())),
        );
    }
    let module_files = StepMount {
        dest: super::SRC.to_string(),
        source: MountSource::ModFiles,
    };
    fetching_step(
        inputs,
        shared,
        format!("[deps 1/{count}] module graph"),
        script,
        shared.workdir.clone(),
        vec![module_files],
    )
}

/// One group's extracted modules, in a module cache rooted at the layer whose `cache`
/// directory is the shared download cache's: Go fetches the zips there (a no-op for those
/// already there), checks each against the group's go.sum lines (those already there through
/// the hash it keeps beside them) and extracts them straight into the layer. Then the link
/// goes: only the trees stay, and the graph layer holds what Go keeps beside them.
/// (Extracting into the download cache and copying from there wrote Gitea's ~1 GB of trees
/// twice on a cold build.)
fn group_step(
    inputs: &Known,
    shared: &Shared,
    group: &[Module],
    index: usize,
    count: usize,
) -> Step {
    let cache_link = format!("{LAYER_DIR}/cache");
    let shared_cache = format!("{DOWNLOAD_CACHE}/cache");
    let script = vec![
        Line::command("mkdir", ["-p", GROUP_MODULE, &shared_cache]),
        Line::command("cd", [GROUP_MODULE]),
        Line::syntax("printf 'module gobuild.internal/modules\\n\\ngo 1.17\\n' >go.mod"),
        Line::syntax("printf '%s\\n'")
            .values(group.iter().flat_map(|m| m.sums.iter()))
            .then(">go.sum"),
        Line::command("ln", ["-s".to_string(), shared_cache, cache_link.clone()]),
        Line::default()
            .assign("GOMODCACHE", LAYER_DIR)
            .then("GOFLAGS= go mod download --")
            .values(group.iter().map(Module::at_version)),
        Line::command("rm", [cache_link]),
    ];
    let first = group.first().map(|m| m.path.as_str()).unwrap_or_default();
    let name = match group.len() {
        1 => format!("[deps {index}/{count}] modules: {first}"),
        n => format!("[deps {index}/{count}] modules: {first} and {} more", n - 1),
    };
    fetching_step(inputs, shared, name, script, "/".to_string(), Vec::new())
}

/// A module path or version as the module cache writes it: each capital letter becomes `!`
/// and the letter in lower case (`github.com/Azure` → `github.com/!azure`).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(path: &str) -> Module {
        Module {
            path: path.to_string(),
            version: "v1.0.0".to_string(),
            sums: [String::new(), String::new()],
        }
    }

    #[test]
    fn groups_are_stable_and_grow_in_powers_of_two() {
        let few: Vec<Module> = (0..10)
            .map(|i| module(&format!("example.com/m{i}")))
            .collect();
        assert_eq!(groups(few).len(), 1);
        let many: Vec<Module> = (0..300)
            .map(|i| module(&format!("example.com/m{i}")))
            .collect();
        let grouped = groups(many.clone());
        assert_eq!(grouped.len(), MAX_GROUPS);
        // A new version of one module changes only that module's group.
        let mut bumped = many;
        bumped[7].version = "v1.1.0".to_string();
        let regrouped = groups(bumped);
        let changed = grouped
            .iter()
            .zip(&regrouped)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed, 1);
    }

    #[test]
    fn paths_are_escaped_like_the_module_cache() {
        assert_eq!(
            escape("github.com/Azure/go-ntlmssp"),
            "github.com/!azure/go-ntlmssp"
        );
        assert_eq!(escape("v1.0.0-RC1"), "v1.0.0-!r!c1");
    }

    #[test]
    fn only_plain_paths_and_versions_reach_the_command_line() {
        assert!(plain_module(
            "github.com/a/b",
            "v1.2.3-0.20200101000000-abcdef123456"
        ));
        assert!(plain_module("gopkg.in/yaml.v3", "v3.0.1+incompatible"));
        assert!(!plain_module("-x", "v1.0.0"));
        assert!(!plain_module("example.com/a", "-reuse=x"));
        assert!(!plain_module("example.com/a b", "v1.0.0"));
        assert!(!plain_module("example.com/a", "master"));
    }

    /// A directory is one link only where one layer holds every module below it.
    #[test]
    fn links_are_as_high_up_as_one_layer_holds_everything_below() {
        let groups = [
            vec![
                module("github.com/o/m"),
                module("github.com/o/m/v2"),
                module("golang.org/x/text"),
            ],
            vec![module("github.com/p/q"), module("golang.org/x/net")],
        ];
        let links: Vec<(String, String)> = links(&groups);
        let expected = [
            ("cache", 0),
            ("github.com/o", 1),
            ("github.com/p", 2),
            ("golang.org/x/net@v1.0.0", 2),
            ("golang.org/x/text@v1.0.0", 1),
        ]
        .map(|(dir, layer)| {
            (
                format!("/go/pkg/mod/{dir}"),
                format!("/gobuild/modules/{layer}/{dir}"),
            )
        });
        assert_eq!(links, expected);
    }

    /// The go.mod files go.sum names, where the download cache keeps them, if it does.
    #[test]
    fn graph_mod_files_are_go_sums_go_mod_lines_escaped() {
        let cache = tempfile::tempdir().expect("tempdir");
        for file in [
            "github.com/!azure/sdk/@v/v1.0.0-!r!c1.mod",
            "example.com/a/@v/v1.0.0.mod",
        ] {
            let path = cache.path().join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "module x\n").expect("write");
        }
        let go_sum = cache.path().join("go.sum");
        std::fs::write(
            &go_sum,
            "example.com/a v1.0.0 h1:A=\n\
             example.com/a v1.0.0/go.mod h1:AM=\n\
             example.com/gone v0.1.0/go.mod h1:G=\n\
             github.com/Azure/sdk v1.0.0-RC1/go.mod h1:S=\n",
        )
        .expect("write go.sum");
        let out = std::process::Command::new("awk")
            .arg(GRAPH_MOD_FILES_AWK)
            .arg(&go_sum)
            .current_dir(cache.path())
            .output()
            .expect("run awk");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "example.com/a/@v/v1.0.0.mod\ngithub.com/!azure/sdk/@v/v1.0.0-!r!c1.mod\n",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

//! `layer` mode in parts: the module cache the build reads is one layer per group of modules
//! plus one for the module graph and checksums, each mounted into the build, with symlinks
//! that make one module cache of them — instead of one layer filled from scratch for every
//! go.mod change. A step makes the symlinks into a layer mounted at [`GOMODCACHE`], in a
//! third of a file op's time (Gitea's 272 links: 0.3–0.4 s against 1.1–1.3 s), and on
//! BuildKit v0.8 too, whose file ops make no symlinks.
//!
//! A new requirement then copies only the group it joins: each group's step is keyed by its
//! own module list and go.sum lines (in its script: no file op, no mount to checksum), and
//! downloads its modules into the shared download cache (a no-op for those already there)
//! before it copies their trees. No step waits for another: the graph and the groups run side
//! by side, and no separate download step runs first. (A merge op would rebuild the whole
//! merged tree by hard links on every change: seconds for a large module graph.) The layers
//! stay ordinary cache records: immune to cache-mount GC and exported by `--cache-to`, each
//! on its own.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use super::script::Line;
use super::{
    DOWNLOAD_CACHE, GOMODCACHE, Inputs, MountSource, NetMode, Script, Shared, Step, StepMount,
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
pub(super) fn plan(inputs: &Inputs, shared: &Shared) -> Option<ModuleLayers> {
    let modules = build_modules(inputs).filter(|m| !m.is_empty())?;
    let groups = groups(modules);
    // The graph, the groups.
    let count = groups.len() + 1;
    let mut links = vec![(
        format!("{GOMODCACHE}/cache"),
        format!("{MODULES_DIR}/0/cache"),
    )];
    for (i, group) in groups.iter().enumerate() {
        for module in group {
            let dir = module.dir();
            links.push((
                format!("{GOMODCACHE}/{dir}"),
                format!("{MODULES_DIR}/{}/{dir}", i + 1),
            ));
        }
    }
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

/// The step that makes the links in a layer of their own, offline, from nothing but the list:
/// keyed by it, so it runs again only when the module set changes.
fn links_step(inputs: &Inputs, links: &[(String, String)]) -> Step {
    let in_layer = |link: &str| {
        let name = link.strip_prefix(GOMODCACHE).unwrap_or(link);
        format!("{LINKS_DIR}{name}")
    };
    let parents: BTreeSet<String> = links
        .iter()
        .filter_map(|(link, _)| {
            in_layer(link)
                .rsplit_once('/')
                .map(|(dir, _)| dir.to_string())
        })
        .collect();
    let script = std::iter::once(Line::command(
        "mkdir",
        ["-p".to_string()].into_iter().chain(parents),
    ))
    .chain(links.iter().map(|(link, target)| {
        Line::command("ln", ["-s".to_string(), target.clone(), in_layer(link)])
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
fn build_modules(inputs: &Inputs) -> Option<Vec<Module>> {
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

/// The graph step reads the go.mod files the download cache holds, and fetches the others
/// (a new requirement's, or all of them after BuildKit's GC emptied the cache) from the
/// step's own proxy.
fn from_download_cache(line: Line) -> Line {
    line.assign("GOMODCACHE", LAYER_DIR).then(concat!(
        "GOPROXY=\"file:///var/cache/gobuild/gomod/cache/download,",
        "${GOPROXY:-https://proxy.golang.org,direct}\" GOFLAGS="
    ))
}

/// A layer step's environment, network and mounts: those of a step that fetches modules.
fn fetching_step(
    inputs: &Inputs,
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
fn graph_step(inputs: &Inputs, shared: &Shared, groups: &[Vec<Module>], count: usize) -> Step {
    let mut script = vec![from_download_cache(Line::default()).then("go mod graph >/dev/null")];
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

/// One group's extracted modules: downloaded into the shared download cache (Go checks each
/// against the group's go.sum lines, those already there too, through the hash it keeps
/// beside them), then their trees copied into the layer. Only the trees stay: the graph
/// layer holds what Go keeps beside them.
fn group_step(
    inputs: &Inputs,
    shared: &Shared,
    group: &[Module],
    index: usize,
    count: usize,
) -> Step {
    let mut script = vec![
        Line::command("mkdir", ["-p", GROUP_MODULE]),
        Line::command("cd", [GROUP_MODULE]),
        Line::syntax("printf 'module gobuild.internal/modules\\n\\ngo 1.17\\n' >go.mod"),
        Line::syntax("printf '%s\\n'")
            .values(group.iter().flat_map(|m| m.sums.iter()))
            .then(">go.sum"),
        Line::default()
            .assign("GOMODCACHE", DOWNLOAD_CACHE)
            .then("GOFLAGS= go mod download --")
            .values(group.iter().map(Module::at_version)),
    ];
    let parents: BTreeSet<String> = group
        .iter()
        .filter_map(|m| {
            let copy = format!("{LAYER_DIR}/{}", m.dir());
            copy.rsplit_once('/').map(|(parent, _)| parent.to_string())
        })
        .collect();
    script.push(Line::command(
        "mkdir",
        ["-p".to_string()].into_iter().chain(parents),
    ));
    script.extend(group.iter().map(|m| {
        Line::command(
            "cp",
            [
                "-a".to_string(),
                format!("{DOWNLOAD_CACHE}/{}", m.dir()),
                format!("{LAYER_DIR}/{}", m.dir()),
            ],
        )
    }));
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
    fn layers_read_the_download_cache_then_the_proxy() {
        let line = from_download_cache(Line::default());
        assert!(
            line.as_str().contains(&format!(
                "GOPROXY=\"file://{DOWNLOAD_CACHE}/cache/download,${{GOPROXY:-https://proxy.golang.org,direct}}\""
            )),
            "{}",
            line.as_str()
        );
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
}

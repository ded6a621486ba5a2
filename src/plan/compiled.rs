//! Compiled dependencies: one step per target platform compiles the packages the build imports
//! from outside the context's own modules (third-party and standard library) into a GOCACHE
//! in its own layer, and the build step copies that layer into its GOCACHE cache mount when
//! the cache does not have it yet (a fresh runner, or a new import).
//!
//! Cache mounts are never exported, so on a fresh CI runner that imported the layer cache a
//! build used to compile the whole dependency graph again. A layer is exported like any other
//! (`--cache-to …,mode=max`), and its inputs are only what decides how dependencies compile —
//! the module files, the imported package set (from the sources' headers, see
//! [`crate::gosource`]), the platform, flags and Go — so editing code leaves it CACHED and
//! adding a third-party import is the only code edit that re-runs it.
//!
//! The step compiles through a cache mount of its own and copies that into its layer, so a
//! re-run compiles only what is new; when that cache is empty but the build step's is not (the
//! layer came from an imported cache), it starts from the entries of the build step's cache it
//! uses. The build step keeps its own cache mount rather than
//! one seeded by the layer (`--mount=type=cache,from=…`): BuildKit starts a new directory for
//! every new seed, and a new import would then compile all of the build's own packages again.
//! The layer carries a fresh id file; the build copies only when the id in its cache differs.
//!
//! It is an optimisation, never a new failure mode: packages that do not load (build
//! constraints, an import of the main module's code the step cannot see) are left out, and
//! any failure leaves the build step to compile what is missing.
//!
//! The whole build cache travels too, opt-in: `--target gocache` returns it as an image, and
//! a build seeded from that image mounts its GOCACHE cache over it (`--mount=type=cache,from=…`:
//! no copy; a seed changes far less often than the imports do).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::modules::{dir_of, in_dir};
use super::{GOCACHE, Line, MountSource, OUT, Script, Step, StepMount};
use crate::gosource::{BuildContext, Header};

/// Where the compile step writes its layer: the build cache it leaves behind.
pub const LAYER_GOCACHE: &str = "/gobuild/gocache";
/// Where the compile step's own persistent build cache is mounted.
pub const STEP_GOCACHE: &str = "/var/cache/gobuild/gocache";
/// Where the compile step sees the build step's build cache, read-only: its seed.
const BUILD_GOCACHE: &str = "/gobuild/build-gocache";
/// Where the build step mounts the compile step's layer.
pub const COMPILED: &str = "/gobuild/compiled";
/// Names one run of the compile step, in its layer and in the build caches it was copied to.
const RUN_ID: &str = "gobuild-compiled-id";
/// Where a `--target gocache` build leaves the binaries it does not return.
pub const DISCARDED: &str = "/tmp/gobuild-binaries";
/// Where the compile step finds the package list the frontend wrote.
const PACKAGES_DIR: &str = "/gobuild/packages";
const PACKAGES_FILE: &str = "list";

/// What the build compiles from its own code, to follow imports from.
pub struct Roots<'a> {
    /// Context-relative directories of the packages built (`go test ./...`: all of them).
    pub dirs: Vec<String>,
    /// Include `_test.go` files.
    pub tests: bool,
    /// Every module the build may import from: `(module path, its directory)` for those
    /// whose code is in the context, `(module path, None)` for required ones.
    pub modules: &'a [(String, Option<String>)],
}

/// The import paths outside the context's modules that the root packages import, directly or
/// through the context's own packages, for `target`; sorted. Standard library packages are
/// among them: compiling them ahead is what a stdlib-only program gains.
pub fn imported_packages(
    sources: &[String],
    headers: &BTreeMap<String, Header>,
    roots: &Roots,
    target: &BuildContext,
) -> Vec<String> {
    let mut by_dir: BTreeMap<&str, Vec<&Header>> = BTreeMap::new();
    for file in sources {
        let is_test = file.ends_with("_test.go");
        if !file.ends_with(".go") || (is_test && !roots.tests) {
            continue;
        }
        if let Some(header) = headers.get(file).filter(|h| target.includes(file, h)) {
            by_dir.entry(dir_of(file)).or_default().push(header);
        }
    }
    let mut seen: BTreeSet<String> = roots.dirs.iter().cloned().collect();
    let mut queue: VecDeque<String> = roots.dirs.iter().cloned().collect();
    let mut external = BTreeSet::new();
    while let Some(dir) = queue.pop_front() {
        let imports = by_dir
            .get(dir.as_str())
            .into_iter()
            .flatten()
            .flat_map(|h| &h.imports);
        for import in imports {
            match local_dir(import, roots.modules) {
                Some(local) if seen.insert(local.clone()) => queue.push_back(local),
                Some(_) => {}
                None if import != "C" => {
                    external.insert(import.clone());
                }
                None => {}
            }
        }
    }
    external.into_iter().collect()
}

/// The context directory of a package, when the module providing it is in the context: as
/// in Go, the module with the longest path that prefixes the import provides it (a required
/// `example.com/app/sdk` owns `example.com/app/sdk/x`, not the main module `example.com/app`);
/// between equal paths, the later entry.
fn local_dir(import: &str, modules: &[(String, Option<String>)]) -> Option<String> {
    let (rest, dir) = modules
        .iter()
        .filter_map(|(path, dir)| {
            let rest = import.strip_prefix(path.as_str())?;
            (rest.is_empty() || rest.starts_with('/')).then_some((path.len(), rest, dir))
        })
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, rest, dir)| (rest, dir))?;
    let dir = dir.as_ref()?;
    Some(match rest.strip_prefix('/') {
        Some(rest) => in_dir(dir, rest),
        None => dir.clone(),
    })
}

/// The build step's first command: the compiled dependencies into its GOCACHE, unless this
/// run of the compile step is already there. Entries are named by their content, so `-u`
/// (skip what is there) is enough; a failed copy only means more to compile.
pub fn take_compiled() -> Line {
    Line::syntax("cmp -s")
        .value(format!("{COMPILED}/{RUN_ID}"))
        .value(format!("{GOCACHE}/{RUN_ID}"))
        .then("|| cp -au")
        .value(format!("{COMPILED}/."))
        .value(GOCACHE)
        .then("|| true")
}

/// The end of a `--target gocache` build step: its GOCACHE as the output.
pub fn export_gocache() -> Line {
    Line::syntax("cp -a")
        .value(format!("{GOCACHE}/."))
        .value(OUT)
}

/// The compile step's first command. Its cache has no run id when it never ran on this
/// builder — cache mounts pruned, the compiled layer came from an imported cache, or earlier
/// builds did not compile ahead (`compiled_deps: auto` without a cache import) — while the
/// build step's may hold the dependencies compiled: then a new import would compile every
/// dependency again. So copy the build's cache in, dated at the epoch: Go re-dates what it
/// uses, and the step deletes the rest afterwards (the main module's objects, stale entries).
/// A failed seed only means more to compile.
fn seed_from_build_cache(seeded: &str) -> Line {
    Line::syntax("[ -e")
        .value(format!("{STEP_GOCACHE}/{RUN_ID}"))
        .then("] || { cp -a")
        .value(format!("{BUILD_GOCACHE}/."))
        .value(STEP_GOCACHE)
        .then("&& find")
        .value(STEP_GOCACHE)
        .then("-type f -exec touch -m -d @0 {} + && touch")
        .value(seeded)
        .then("; } || true")
}

/// The compile step for a target, made from its build step: the same root, environment,
/// network and module mounts, but the module files instead of the sources, and its own
/// build cache next to `build_cache` (the build step's cache id). `flags` are the build's flags that change how packages compile.
pub fn step(
    build: &Step,
    name: String,
    packages: &[String],
    flags: &[String],
    build_cache: &str,
) -> Step {
    let list = format!("{PACKAGES_DIR}/{PACKAGES_FILE}");
    let loadable = "/tmp/gobuild-loadable";
    let errors = "/tmp/gobuild-compile-errors";
    let go_build = |packages: &str| {
        Line::syntax("xargs -r go build")
            .values(flags)
            .then("<")
            .value(packages)
    };
    let seeded = "/tmp/gobuild-seeded";
    let script = Script::new()
        .line(seed_from_build_cache(seeded))
        .syntax("( set -e")
        // Usually everything loads; if not (a package excluded on this platform, one that
        // imports the main module's code), only what loads without errors. Loading the
        // packages once more costs seconds on a large graph, so only then.
        .line(
            go_build(&list)
                .then("2>")
                .value(errors)
                .then("&& cat")
                .value(errors)
                .then(">&2 || {"),
        )
        .line(
            Line::syntax("xargs -r go list -e -f")
                .value("{{if not (or .Error .DepsErrors)}}{{.ImportPath}}{{end}}")
                .values(flags)
                .then("<")
                .value(&list)
                .then(">")
                .value(loadable),
        )
        .line(go_build(loadable))
        .syntax("}")
        .syntax(") || echo 'gobuild-frontend: compiling the dependencies ahead failed; the build step compiles them' >&2")
        // After a seed, what this run did not use is the main module's and old entries.
        .line(
            Line::syntax("[ ! -e")
                .value(seeded)
                .then("] || find")
                .value(STEP_GOCACHE)
                .then("-type f ! -newermt @1 -delete || true"),
        )
        .line(
            Line::syntax("cat /proc/sys/kernel/random/uuid >")
                .value(format!("{STEP_GOCACHE}/{RUN_ID}")),
        )
        .line(
            Line::syntax("cp -a")
                .value(format!("{STEP_GOCACHE}/."))
                .value(LAYER_GOCACHE),
        );
    let mut env = build.env.clone();
    env.insert("GOCACHE".into(), STEP_GOCACHE.into());
    // Go's work directory is on the build's output, which this step does not mount.
    env.remove("GOTMPDIR");
    let mut mounts: Vec<StepMount> = build
        .mounts
        .iter()
        .filter_map(|mount| {
            let source = match &mount.source {
                MountSource::Sources => MountSource::ModFiles,
                MountSource::Output => return None,
                _ if mount.dest == GOCACHE => return None,
                other => other.clone(),
            };
            Some(StepMount {
                dest: mount.dest.clone(),
                source,
            })
        })
        .collect();
    mounts.extend([
        StepMount {
            dest: STEP_GOCACHE.to_string(),
            source: MountSource::Cache {
                id: build_cache.replacen("gocache/", "gocache-deps/", 1),
            },
        },
        StepMount {
            dest: BUILD_GOCACHE.to_string(),
            source: MountSource::ReadOnlyCache {
                id: build_cache.to_string(),
            },
        },
        StepMount {
            dest: LAYER_GOCACHE.to_string(),
            source: MountSource::Output,
        },
        StepMount {
            dest: PACKAGES_DIR.to_string(),
            source: MountSource::File {
                name: PACKAGES_FILE.to_string(),
                contents: packages.iter().map(|p| format!("{p}\n")).collect(),
            },
        },
    ]);
    Step {
        name,
        root: build.root,
        args: script.argv(),
        env,
        cwd: build.cwd.clone(),
        network: build.network,
        mounts,
        at: build.at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(constraint: Option<&str>, imports: &[&str]) -> Header {
        Header {
            constraint: constraint.map(str::to_string),
            imports: imports.iter().map(|i| i.to_string()).collect(),
        }
    }

    fn linux() -> BuildContext {
        BuildContext {
            goos: "linux".into(),
            goarch: "amd64".into(),
            cgo: true,
            go_minor: 27,
            tags: Vec::new(),
        }
    }

    #[test]
    fn imports_are_followed_through_the_contexts_own_packages_only() {
        let headers: BTreeMap<String, Header> = [
            (
                "app/main.go",
                header(None, &["fmt", "example.com/app/internal/db", "C"]),
            ),
            ("app/main_test.go", header(None, &["testing"])),
            (
                "app/internal/db/db.go",
                header(None, &["example.com/lib/x", "example.com/pq"]),
            ),
            (
                "app/internal/db/db_windows.go",
                header(None, &["golang.org/x/sys/windows"]),
            ),
            (
                "app/internal/db/other.go",
                header(Some("ignore"), &["example.com/tool"]),
            ),
            (
                "app/internal/unused/u.go",
                header(None, &["example.com/unused"]),
            ),
            ("lib/x/x.go", header(None, &["example.com/yaml"])),
        ]
        .into_iter()
        .map(|(f, h)| (f.to_string(), h))
        .collect();
        let sources: Vec<String> = headers.keys().cloned().collect();
        let modules = [
            ("example.com/app".to_string(), Some("app".to_string())),
            ("example.com/lib".to_string(), Some("lib".to_string())),
        ];
        let roots = Roots {
            dirs: vec!["app".to_string()],
            tests: false,
            modules: &modules,
        };
        assert_eq!(
            imported_packages(&sources, &headers, &roots, &linux()),
            ["example.com/pq", "example.com/yaml", "fmt"]
        );
        let with_tests = Roots {
            tests: true,
            ..roots
        };
        assert!(
            imported_packages(&sources, &headers, &with_tests, &linux())
                .contains(&"testing".to_string())
        );
    }

    #[test]
    fn the_longest_module_path_owns_an_import() {
        let modules = [
            ("example.com/a".to_string(), Some(".".to_string())),
            ("example.com/a/sub".to_string(), Some("nested".to_string())),
            ("example.com/a/sdk".to_string(), None),
        ];
        assert_eq!(
            local_dir("example.com/a/sub/p", &modules).as_deref(),
            Some("nested/p")
        );
        assert_eq!(local_dir("example.com/a/x", &modules).as_deref(), Some("x"));
        assert_eq!(local_dir("example.com/a", &modules).as_deref(), Some("."));
        assert_eq!(local_dir("example.com/ab", &modules), None);
        assert_eq!(local_dir("example.com/a/sdk/v1", &modules), None);
    }
}

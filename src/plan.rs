//! The planner: spec + facts from the context + frontend options → a build plan.
//!
//! Pure and deterministic. This is the one place that knows how Go builds should run: which
//! stages exist, what each step sees, its environment, mounts and network. Renderers (LLB today)
//! translate a [`Plan`] mechanically.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::gomod::{GoMod, binary_name_for};
use crate::image::{ResolvedImage, RuntimeConfig, normalize_reference};
use crate::llb::NetMode;
use crate::options::Options;
use crate::platform::Platform;
use crate::spec::{Diagnostic, GoVersion, Pos, Spec, User};

/// Where the Go module cache lives in builder containers.
pub const GOMODCACHE: &str = "/go/pkg/mod";
/// Where the Go build cache lives in builder containers.
pub const GOCACHE: &str = "/root/.cache/go-build";
/// Where the build context is mounted in builder containers.
pub const SRC: &str = "/src";
/// Where build steps write binaries.
pub const OUT: &str = "/out";
/// Where binaries go in the runtime image.
pub const BIN_DIR: &str = "/usr/local/bin";
/// The CA bundle copied from the builder into scratch images.
pub const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Build args that set the Go variable of the same name in steps that fetch modules.
const GO_ENV_ARGS: &[&str] = &[
    "GOPROXY",
    "GOPRIVATE",
    "GONOPROXY",
    "GONOSUMDB",
    "GOSUMDB",
    "GOINSECURE",
    "GOFLAGS",
];

/// Everything the planner reads.
pub struct Inputs<'a> {
    pub spec: &'a Spec,
    /// The spec's file name, for messages.
    pub spec_file: &'a str,
    pub go_mod: &'a GoMod,
    pub options: &'a Options,
    pub build_platform: &'a Platform,
    /// Patterns from `.dockerignore` (or `<spec>.dockerignore`).
    pub dockerignore: &'a [String],
}

/// The builder image a spec needs, before it is resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuilderChoice {
    /// Normalized reference, e.g. `docker.io/library/golang:1.27-bookworm`.
    pub reference: String,
    pub go: GoVersion,
    /// Why this version: `go-build.yaml:3` or `go.mod:3`.
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub go: GoVersion,
    pub builder: ResolvedImage,
    pub build_platform: Platform,
    /// Directory of go.mod relative to the context (`.` or `services/api`).
    pub module_dir: String,
    /// Context paths the deps step sees; editing anything else leaves it cached.
    pub mod_files: Vec<String>,
    /// Context patterns the build step never sees.
    pub source_excludes: Vec<String>,
    pub deps: Step,
    pub targets: Vec<Target>,
}

/// One exec step.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: String,
    pub root: StepRoot,
    pub args: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub cwd: String,
    #[serde(serialize_with = "net_mode_name")]
    pub network: NetMode,
    pub mounts: Vec<StepMount>,
    /// The spec position this step comes from, for error excerpts.
    pub at: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StepRoot {
    /// The builder image as it is.
    Builder,
    /// The builder image after the deps step (orders the build after the download).
    Deps,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepMount {
    pub dest: String,
    pub source: MountSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum MountSource {
    /// The module files (`mod_files`), read-only.
    ModFiles,
    /// The build context minus `source_excludes`, read-only.
    Sources,
    /// A persistent cache directory.
    Cache { id: String },
    /// An empty, writable directory whose contents are the step's result.
    Output,
}

/// What one target platform gets.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub platform: Platform,
    pub builds: Vec<Build>,
    pub runtime: Runtime,
}

/// One binary and the step that builds it.
#[derive(Debug, Clone, Serialize)]
pub struct Build {
    pub binary: String,
    pub step: Step,
}

/// The runtime image: scratch with the files below, then the binaries.
#[derive(Debug, Clone, Serialize)]
pub struct Runtime {
    pub base_name: String,
    pub binaries_name: String,
    pub passwd: String,
    pub group: String,
    pub config: RuntimeConfig,
}

/// Picks the builder image: the spec's override, else `golang:<go line>-bookworm` with the Go
/// version from the spec or go.mod.
pub fn builder_choice(inputs: &Inputs) -> Result<BuilderChoice, Diagnostic> {
    let (go, reason) = match (&inputs.spec.go, inputs.go_mod.wanted_go()) {
        (Some(go), _) => (go.value, format!("{}:{}", inputs.spec_file, go.pos.line)),
        (None, Some((go, line))) => (go, format!("{}:{}", inputs.go_mod.file, line)),
        (None, None) => {
            return Err(diagnostic(
                inputs,
                Pos { line: 1, column: 1 },
                "go",
                format!(
                    "{} has no `go` line, so the Go version is unknown",
                    inputs.go_mod.file
                ),
                Some("add `go: \"1.27\"` to the spec or a go line to go.mod"),
            ));
        }
    };
    let (written, at, field) = match &inputs.spec.builder {
        Some(builder) => (builder.value.clone(), builder.pos, "builder"),
        None => (
            format!("golang:{}-bookworm", go.line()),
            Pos::default(),
            "go",
        ),
    };
    let reference = normalize_reference(&written)
        .map_err(|message| diagnostic(inputs, at, field, message, None))?;
    Ok(BuilderChoice {
        reference,
        go,
        reason,
    })
}

/// Plans the whole build once the builder image is resolved.
pub fn plan(
    inputs: &Inputs,
    choice: &BuilderChoice,
    builder: ResolvedImage,
) -> Result<Plan, Diagnostic> {
    let spec = inputs.spec;
    let module_dir = spec.module.value.clone();
    let workdir = if module_dir == "." {
        SRC.to_string()
    } else {
        format!("{SRC}/{module_dir}")
    };
    let cache_ns = inputs
        .options
        .build_args
        .get("BUILDKIT_CACHE_MOUNT_NS")
        .map(|ns| format!("{ns}/"))
        .unwrap_or_default();
    let mod_cache = StepMount {
        dest: GOMODCACHE.to_string(),
        source: MountSource::Cache {
            id: format!("{cache_ns}gobuild/gomodcache"),
        },
    };

    let mut base_env: BTreeMap<String, String> = builder
        .facts
        .env
        .iter()
        .map(|entry| {
            let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    base_env.insert("GOMODCACHE".into(), GOMODCACHE.into());
    base_env.insert("GOCACHE".into(), GOCACHE.into());
    // Never let go.mod's toolchain line download another Go inside the build.
    base_env.insert("GOTOOLCHAIN".into(), "local".into());

    let mut deps_env = base_env.clone();
    for arg in GO_ENV_ARGS {
        if let Some(value) = inputs.options.build_args.get(*arg) {
            deps_env.insert(arg.to_string(), value.clone());
        }
    }
    let deps = Step {
        name: "[deps 1/1] go mod download".to_string(),
        root: StepRoot::Builder,
        args: vec!["go".into(), "mod".into(), "download".into()],
        env: deps_env,
        cwd: workdir.clone(),
        network: inputs.options.network.unwrap_or(NetMode::Sandbox),
        mounts: vec![
            StepMount {
                dest: SRC.to_string(),
                source: MountSource::ModFiles,
            },
            mod_cache.clone(),
        ],
        at: spec.module.pos,
    };

    let binaries = binary_names(inputs)?;
    let targets = targets(inputs)?;
    // Name the platform in progress output whenever it is not simply the build platform.
    let named = targets.len() > 1 || targets[0].0 != *inputs.build_platform;
    let targets = targets
        .iter()
        .map(|(platform, target_env)| {
            let prefix = |stage: &str| {
                if named {
                    format!("{platform} {stage}")
                } else {
                    stage.to_string()
                }
            };
            let builds = spec
                .binaries
                .iter()
                .zip(&binaries)
                .enumerate()
                .map(|(i, (binary, name))| {
                    let mut env = base_env.clone();
                    env.extend(target_env.clone());
                    env.insert("CGO_ENABLED".into(), "0".into());
                    // Offline: a module the deps step missed fails here, loudly.
                    env.insert("GOPROXY".into(), "off".into());
                    let output = format!("{OUT}/{name}");
                    let package = binary.package.value.clone();
                    let args: Vec<String> = [
                        "go",
                        "build",
                        "-trimpath",
                        "-buildvcs=false",
                        "-o",
                        &output,
                        &package,
                    ]
                    .map(str::to_string)
                    .to_vec();
                    let step = Step {
                        name: format!(
                            "[{} {}/{}] go build -o {output} {package}",
                            prefix("build"),
                            i + 1,
                            binaries.len()
                        ),
                        root: StepRoot::Deps,
                        args,
                        env,
                        cwd: workdir.clone(),
                        network: NetMode::None,
                        mounts: vec![
                            StepMount {
                                dest: SRC.to_string(),
                                source: MountSource::Sources,
                            },
                            mod_cache.clone(),
                            StepMount {
                                dest: GOCACHE.to_string(),
                                source: MountSource::Cache {
                                    id: format!(
                                        "{cache_ns}gobuild/gocache/{}/{}",
                                        choice.go.line(),
                                        platform.to_string().replace('/', "-")
                                    ),
                                },
                            },
                            StepMount {
                                dest: OUT.to_string(),
                                source: MountSource::Output,
                            },
                        ],
                        at: binary.pos,
                    };
                    Build {
                        binary: name.clone(),
                        step,
                    }
                })
                .collect();
            Target {
                platform: platform.clone(),
                builds,
                runtime: runtime(
                    spec.runtime.user.value,
                    platform,
                    &binaries,
                    &prefix("runtime"),
                ),
            }
        })
        .collect();

    Ok(Plan {
        go: choice.go,
        builder,
        build_platform: inputs.build_platform.clone(),
        mod_files: mod_files(spec),
        // The spec and VCS metadata never change what Go compiles.
        source_excludes: [".git", inputs.spec_file]
            .into_iter()
            .map(str::to_string)
            .chain(inputs.dockerignore.iter().cloned())
            .collect(),
        module_dir,
        deps,
        targets,
    })
}

/// Context paths of the files that define the module graph; go.mod comes first.
pub fn mod_files(spec: &Spec) -> Vec<String> {
    let module_dir = &spec.module.value;
    ["go.mod", "go.sum"]
        .iter()
        .map(|file| {
            if module_dir == "." {
                file.to_string()
            } else {
                format!("{module_dir}/{file}")
            }
        })
        .collect()
}

/// Names of the binaries, in spec order: the given name or what `go build` would call it.
fn binary_names(inputs: &Inputs) -> Result<Vec<String>, Diagnostic> {
    let mut names: Vec<String> = Vec::new();
    for (i, binary) in inputs.spec.binaries.iter().enumerate() {
        let name = match &binary.name {
            Some(name) => name.value.clone(),
            None if binary.package.value == "." => inputs.go_mod.default_binary_name().to_string(),
            None => binary_name_for(&binary.package.value).to_string(),
        };
        if names.contains(&name) {
            return Err(diagnostic(
                inputs,
                binary.pos,
                &format!("binaries[{i}]"),
                format!("two binaries would both be called `{name}`"),
                Some("give one of them a `name`"),
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// Go environment variables by name.
type GoEnv = BTreeMap<String, String>;

/// Architectures Go builds Linux binaries for (`go tool dist list`).
const GO_LINUX_ARCHES: &[&str] = &[
    "386", "amd64", "arm", "arm64", "loong64", "mips", "mipsle", "mips64", "mips64le", "ppc64",
    "ppc64le", "riscv64", "s390x",
];

/// `GOOS`/`GOARCH` and the variant's Go variable for cross-compiling to `platform`, or why Go
/// cannot build for it.
pub fn go_target_env(platform: &Platform) -> Result<GoEnv, String> {
    if platform.os != "linux" {
        return Err(format!(
            "`{platform}`: only linux images can be built (containers run Linux binaries)"
        ));
    }
    let arch = platform.architecture.as_str();
    if !GO_LINUX_ARCHES.contains(&arch) {
        return Err(format!(
            "`{platform}`: Go does not build for the `{arch}` architecture (it does for {})",
            GO_LINUX_ARCHES.join(", ")
        ));
    }
    let mut env = BTreeMap::from([
        ("GOOS".to_string(), platform.os.clone()),
        ("GOARCH".to_string(), arch.to_string()),
    ]);
    if let Some(variant) = &platform.variant {
        let (key, value) = variant_env(arch, variant).ok_or_else(|| {
            format!("`{platform}`: the `{variant}` variant of {arch} has no Go setting")
        })?;
        env.insert(key.to_string(), value);
    }
    Ok(env)
}

/// The Go variable an OCI platform variant maps to (`arm/v7` → `GOARM=7`).
fn variant_env(arch: &str, variant: &str) -> Option<(&'static str, String)> {
    let arm64_level = |v: &str| {
        let (major, minor) = v
            .strip_prefix('v')?
            .split_once('.')
            .unwrap_or((&v[1..], "0"));
        let minor: u8 = minor.parse().ok()?;
        match major {
            "8" if minor <= 9 => Some(format!("v8.{minor}")),
            "9" if minor <= 5 => Some(format!("v9.{minor}")),
            _ => None,
        }
    };
    match (arch, variant) {
        ("arm", "v5" | "v6" | "v7") => Some(("GOARM", variant[1..].to_string())),
        ("amd64", "v2" | "v3" | "v4") => Some(("GOAMD64", variant.to_string())),
        ("arm64", v) => arm64_level(v).map(|level| ("GOARM64", level)),
        ("riscv64", "rva20u64" | "rva22u64" | "rva23u64") => {
            Some(("GORISCV64", variant.to_string()))
        }
        ("ppc64" | "ppc64le", "power8" | "power9" | "power10") => {
            Some(("GOPPC64", variant.to_string()))
        }
        _ => None,
    }
}

/// Target platforms with their Go environment: `--platform` wins over the spec's `platforms`,
/// and with neither the build platform is the target.
fn targets(inputs: &Inputs) -> Result<Vec<(Platform, GoEnv)>, Diagnostic> {
    let requested: Vec<(Platform, Pos, String)> = if !inputs.options.platforms.is_empty() {
        inputs
            .options
            .platforms
            .iter()
            .map(|p| (p.clone(), Pos::default(), String::new()))
            .collect()
    } else if !inputs.spec.platforms.is_empty() {
        inputs
            .spec
            .platforms
            .iter()
            .enumerate()
            .map(|(i, p)| (p.value.clone(), p.pos, format!("platforms[{i}]")))
            .collect()
    } else {
        vec![(inputs.build_platform.clone(), Pos::default(), String::new())]
    };
    requested
        .into_iter()
        .map(|(platform, pos, path)| match go_target_env(&platform) {
            Ok(env) => Ok((platform, env)),
            Err(message) if pos.line == 0 => Err(Diagnostic {
                file: "--platform".to_string(),
                pos,
                path,
                message,
                hint: None,
            }),
            Err(message) => Err(diagnostic(inputs, pos, &path, message, None)),
        })
        .collect()
}

fn runtime(user: User, platform: &Platform, binaries: &[String], stage: &str) -> Runtime {
    let mut passwd = String::from("root:x:0:0:root:/root:/sbin/nologin\n");
    let mut group = String::from("root:x:0:\n");
    if user != User::ROOT {
        let name = if user == User::NONROOT {
            "nonroot"
        } else {
            "app"
        };
        passwd.push_str(&format!(
            "{name}:x:{}:{}:{name}:/home/{name}:/sbin/nologin\n",
            user.uid, user.gid
        ));
        group.push_str(&format!("{name}:x:{}:\n", user.gid));
    }
    let entrypoint = binaries
        .first()
        .map(|name| vec![format!("{BIN_DIR}/{name}")])
        .unwrap_or_default();
    let base_name = format!("[{stage} 1/2] users, CA certificates and /tmp");
    let binaries_name = format!("[{stage} 2/2] copy {}", binaries.join(", "));
    Runtime {
        config: RuntimeConfig {
            platform: platform.clone(),
            entrypoint,
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            ],
            user: user.to_string(),
            working_dir: "/".to_string(),
            history: vec![base_name.clone(), binaries_name.clone()],
        },
        base_name,
        binaries_name,
        passwd,
        group,
    }
}

fn diagnostic(
    inputs: &Inputs,
    pos: Pos,
    path: &str,
    message: String,
    hint: Option<&str>,
) -> Diagnostic {
    Diagnostic {
        file: inputs.spec_file.to_string(),
        pos: if pos.line == 0 {
            Pos { line: 1, column: 1 }
        } else {
            pos
        },
        path: path.to_string(),
        message,
        hint: hint.map(str::to_string),
    }
}

fn net_mode_name<S: serde::Serializer>(mode: &NetMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match mode {
        NetMode::Sandbox => "sandbox",
        NetMode::Host => "host",
        NetMode::None => "none",
    })
}

#[cfg(test)]
mod tests;

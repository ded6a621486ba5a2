//! What BuildKit tells the frontend at start: frontend options, the client session and workers.
//!
//! Parsing is pure: it reads from any iterator of environment pairs, so tests need no process
//! environment.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::llb::{NetMode, ResolveMode};
use crate::platform::Platform;
use crate::spec::DEFAULT_FILENAME;

const OPT_PREFIX: &str = "BUILDKIT_FRONTEND_OPT_";

/// The raw start-up environment.
#[derive(Debug, Clone, Default)]
pub struct FrontendEnv {
    /// Frontend options, `key -> value`; a key with an empty value is kept (`no-cache=`).
    pub opts: BTreeMap<String, String>,
    pub session_id: String,
    /// Platforms of the first worker; the first one is the build platform.
    pub worker_platforms: Vec<Platform>,
    /// ID of the first worker (`moby` inside dockerd).
    pub worker_id: String,
}

impl FrontendEnv {
    pub fn from_vars(vars: impl IntoIterator<Item = (String, String)>) -> Result<FrontendEnv> {
        let mut env = FrontendEnv::default();
        for (key, value) in vars {
            if key.starts_with(OPT_PREFIX) {
                let (opt, opt_value) = value.split_once('=').unwrap_or((value.as_str(), ""));
                env.opts.insert(opt.to_string(), opt_value.to_string());
            } else if key == "BUILDKIT_SESSION_ID" {
                env.session_id = value;
            } else if key == "BUILDKIT_WORKERS" {
                (env.worker_id, env.worker_platforms) = parse_workers(&value)?;
            }
        }
        Ok(env)
    }

    /// Whether this process was started by BuildKit as a frontend.
    pub fn is_frontend(vars: impl IntoIterator<Item = (String, String)>) -> bool {
        vars.into_iter().any(|(key, _)| {
            key == "BUILDKIT_SESSION_ID" || key == "BUILDKIT_WORKERS" || key.starts_with(OPT_PREFIX)
        })
    }
}

#[derive(Deserialize)]
struct WorkerInfo {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(rename = "Platforms", default)]
    platforms: Vec<Platform>,
}

/// The first worker's id and platforms.
fn parse_workers(json: &str) -> Result<(String, Vec<Platform>)> {
    let workers: Vec<WorkerInfo> =
        serde_json::from_str(json).context("BUILDKIT_WORKERS is not the expected JSON")?;
    Ok(workers
        .into_iter()
        .next()
        .map(|w| {
            let platforms = w
                .platforms
                .iter()
                .map(|p| Platform::new(&p.os, &p.architecture, p.variant.as_deref()))
                .collect();
            (w.id, platforms)
        })
        .unwrap_or_default())
}

/// A cache source to import, forwarded into every solve.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CacheImport {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Attrs", default)]
    pub attrs: BTreeMap<String, String>,
}

/// Frontend options, parsed and validated.
#[derive(Debug, Clone)]
pub struct Options {
    /// Spec file name inside the spec directory.
    pub filename: String,
    /// Name of the local that holds the spec.
    pub spec_local: String,
    pub target: Option<String>,
    /// Requested target platforms; empty means "the build platform".
    pub platforms: Vec<Platform>,
    /// Every `--build-arg` as given (for `{{ .Arg.NAME }}` templates).
    pub build_args: BTreeMap<String, String>,
    /// The build args the frontend itself understands, parsed and checked once.
    pub args: BuildArgs,
    pub labels: BTreeMap<String, String>,
    pub no_cache: bool,
    pub image_resolve_mode: ResolveMode,
    /// `--network` from the client; applies to steps that may use the network.
    pub network: Option<NetMode>,
    pub cache_imports: Vec<CacheImport>,
    /// `multi-platform` (or `BUILDKIT_MULTI_PLATFORM`): a per-platform result even for one.
    pub multi_platform: Option<bool>,
    /// A subrequest (`--call`, `--print`) instead of a build.
    pub request_id: Option<String>,
    /// An image whose files start the build's GOCACHE (made by `--target gocache`): the named
    /// context `gocache` (`--build-context gocache=docker-image://REF`), else the build arg
    /// `GOBUILD_GOCACHE_FROM`.
    pub gocache_from: Option<String>,
    /// The client asked for an SBOM (`attest:sbom`, buildx `--sbom=true`) without naming a
    /// scanner image: the frontend writes it from the binaries' build information.
    pub sbom: bool,
}

impl Options {
    pub fn parse(opts: &BTreeMap<String, String>) -> Result<Options> {
        let get = |key: &str| opts.get(key).map(String::as_str).filter(|v| !v.is_empty());
        let prefixed = |prefix: &str| -> BTreeMap<String, String> {
            opts.iter()
                .filter_map(|(k, v)| k.strip_prefix(prefix).map(|k| (k.to_string(), v.clone())))
                .collect()
        };

        let platforms = get("platform")
            .map(|list| {
                list.split(',')
                    .filter(|p| !p.trim().is_empty())
                    .map(|p| Platform::parse(p).map_err(anyhow::Error::msg))
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()
            .context("option `platform`")?
            .unwrap_or_default();
        // `linux/amd64,linux/x86_64` is one platform: exporters need one ref per platform.
        let mut platforms: Vec<Platform> = platforms;
        let mut seen = std::collections::BTreeSet::new();
        platforms.retain(|p| seen.insert(p.clone()));

        let image_resolve_mode = match get("image-resolve-mode") {
            None => ResolveMode::Default,
            Some(mode) => ResolveMode::parse(mode).with_context(|| {
                format!("option `image-resolve-mode`: `{mode}` is not one of default, pull, local")
            })?,
        };

        let network = match get("force-network-mode") {
            None | Some("sandbox") => None,
            Some("host") => Some(NetMode::Host),
            Some("none") => Some(NetMode::None),
            Some(other) => {
                bail!("option `force-network-mode`: `{other}` is not one of sandbox, host, none")
            }
        };

        // docker buildx sends the context's git commit and remote (`BUILDX_GIT_INFO`, on by
        // default): the stamps when no build arg says otherwise.
        let mut args = BuildArgs::parse(&prefixed("build-arg:"))?;
        args.revision = args
            .revision
            .or_else(|| get("vcs:revision").map(str::to_string));
        args.source = args
            .source
            .or_else(|| get("vcs:source").map(without_credentials));

        Ok(Options {
            filename: get("filename").unwrap_or(DEFAULT_FILENAME).to_string(),
            spec_local: get("dockerfilekey").unwrap_or("dockerfile").to_string(),
            target: get("target").map(str::to_string),
            platforms,
            args,
            build_args: prefixed("build-arg:"),
            labels: prefixed("label:"),
            // Present with an empty value means "everything"; named stages do not exist here.
            no_cache: opts.contains_key("no-cache"),
            image_resolve_mode,
            network,
            cache_imports: cache_imports(opts)?,
            multi_platform: multi_platform(opts)?,
            request_id: get("requestid").map(str::to_string),
            sbom: sbom_requested(opts),
            gocache_from: match get("context:gocache") {
                Some(context) => Some(
                    context
                        .strip_prefix("docker-image://")
                        .with_context(|| format!("--build-context gocache={context}: only an image (docker-image://REF) can seed the build cache"))?
                        .to_string(),
                ),
                None => get("build-arg:GOBUILD_GOCACHE_FROM").map(str::to_string),
            },
        })
    }
}

/// Whether the client wants the frontend's SBOM: `attest:sbom` (or the build arg
/// `BUILDKIT_ATTEST_SBOM`, as BuildKit reads them) is there and names no `generator=` — a
/// scanner the user chose is BuildKit's to run.
fn sbom_requested(opts: &BTreeMap<String, String>) -> bool {
    let request = opts
        .get("attest:sbom")
        .or_else(|| opts.get("build-arg:BUILDKIT_ATTEST_SBOM"));
    request.is_some_and(|attrs| {
        !attrs
            .split(',')
            .any(|field| field.trim_matches('"').starts_with("generator="))
    })
}

/// Build args with a meaning to the frontend, like BuildKit's dockerui config: each is read
/// and validated here, and the planner uses these fields, never the raw map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    /// `BUILDKIT_CACHE_MOUNT_NS`: prefixes every cache id.
    pub cache_mount_ns: Option<String>,
    /// `SOURCE_DATE_EPOCH`: seconds since 1970 for timestamps (up to the year 9999).
    pub source_date_epoch: Option<i64>,
    /// `GOBUILD_RUNTIME_BASE`: replaces the spec's runtime base.
    pub runtime_base: Option<String>,
    /// `VERSION`: `{{ .Version }}` and the `org.opencontainers.image.version` label.
    pub version: Option<String>,
    /// `REVISION`: `{{ .Revision }}` and the `org.opencontainers.image.revision` label; else
    /// the commit docker buildx sends (`vcs:revision`).
    pub revision: Option<String>,
    /// `SOURCE`: the `org.opencontainers.image.source` label, without any credentials; else
    /// the remote docker buildx sends (`vcs:source`).
    pub source: Option<String>,
    /// `GOPROXY`, `GOPRIVATE`, … : module settings for the download, over the spec's.
    pub go_env: BTreeMap<String, String>,
}

/// Module settings a build arg can override, as the Go variables they are.
pub const GO_ENV_ARGS: &[&str] = &[
    "GOPROXY",
    "GOPRIVATE",
    "GONOPROXY",
    "GONOSUMDB",
    "GOSUMDB",
    "GOINSECURE",
    "GOFLAGS",
];

/// 9999-12-31T23:59:59Z: the last second an RFC 3339 `created` can hold.
const MAX_EPOCH: i64 = 253_402_300_799;

impl BuildArgs {
    pub fn parse(args: &BTreeMap<String, String>) -> Result<BuildArgs> {
        let get = |name: &str| args.get(name).filter(|v| !v.is_empty()).cloned();
        let source_date_epoch = match get("SOURCE_DATE_EPOCH") {
            None => None,
            Some(text) => Some(
                text.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|s| (0..=MAX_EPOCH).contains(s))
                    .with_context(|| {
                        format!("--build-arg SOURCE_DATE_EPOCH: `{text}` is not a number of seconds from 1970 to 9999")
                    })?,
            ),
        };
        let mut go_env = BTreeMap::new();
        for name in GO_ENV_ARGS {
            if let Some(value) = args.get(*name) {
                if value.split(',').any(crate::spec::has_password) {
                    bail!(
                        "--build-arg {name}: a URL with a password would be stored in the build graph and its cache keys; give a private proxy's credentials as a .netrc build secret (see README, private modules)"
                    );
                }
                go_env.insert(name.to_string(), value.clone());
            }
        }
        Ok(BuildArgs {
            cache_mount_ns: get("BUILDKIT_CACHE_MOUNT_NS"),
            source_date_epoch,
            runtime_base: get("GOBUILD_RUNTIME_BASE"),
            version: get("VERSION"),
            revision: get("REVISION"),
            source: get("SOURCE").map(|s| without_credentials(&s)),
            go_env,
        })
    }
}

/// A URL without its `user[:password]@` part: a CI's clone URL often carries a token, which
/// must not be published in an image label.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..end].rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}{}", &rest[end..]),
                None => url.to_string(),
            }
        }
        None => url.to_string(),
    }
}

fn multi_platform(opts: &BTreeMap<String, String>) -> Result<Option<bool>> {
    let value = opts
        .get("multi-platform")
        .or_else(|| opts.get("build-arg:BUILDKIT_MULTI_PLATFORM"))
        .filter(|v| !v.is_empty());
    match value.map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(None),
        Some("1" | "true") => Ok(Some(true)),
        Some("0" | "false") => Ok(Some(false)),
        Some(other) => bail!("option `multi-platform`: `{other}` is not true or false"),
    }
}

/// `cache-imports` (JSON, buildctl/buildx) plus the legacy `cache-from` list (docker build).
fn cache_imports(opts: &BTreeMap<String, String>) -> Result<Vec<CacheImport>> {
    let mut imports = match opts.get("cache-imports").filter(|v| !v.is_empty()) {
        Some(json) => serde_json::from_str::<Vec<CacheImport>>(json)
            .context("option `cache-imports` is not the expected JSON")?,
        None => Vec::new(),
    };
    let legacy = opts
        .get("cache-from")
        .map(String::as_str)
        .unwrap_or_default();
    for reference in legacy.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        imports.push(CacheImport {
            kind: "registry".to_string(),
            attrs: BTreeMap::from([("ref".to_string(), reference.to_string())]),
        });
    }
    Ok(imports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_sbom_is_ours_unless_a_scanner_is_named() {
        let sbom = |pairs: &[(&str, &str)]| {
            let opts = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Options::parse(&opts).expect("valid options").sbom
        };
        assert!(!sbom(&[]));
        assert!(sbom(&[("attest:sbom", "type=sbom")]));
        assert!(sbom(&[("attest:sbom", "")]));
        assert!(sbom(&[("build-arg:BUILDKIT_ATTEST_SBOM", "true")]));
        assert!(!sbom(&[(
            "attest:sbom",
            "type=sbom,generator=corp/scanner"
        )]));
        assert!(!sbom(&[("attest:provenance", "mode=min")]));
    }

    #[test]
    fn reads_opts_session_and_workers() {
        let env = FrontendEnv::from_vars(vars(&[
            ("BUILDKIT_FRONTEND_OPT_0", "filename=go-build.yaml"),
            ("BUILDKIT_FRONTEND_OPT_1", "build-arg:VERSION=1.2=3"),
            ("BUILDKIT_FRONTEND_OPT_2", "no-cache="),
            ("BUILDKIT_SESSION_ID", "abc"),
            (
                "BUILDKIT_WORKERS",
                r#"[{"ID":"w","Labels":{},"Platforms":[{"architecture":"amd64","os":"linux"},{"architecture":"386","os":"linux"}]}]"#,
            ),
            ("PATH", "/bin"),
        ]))
        .expect("valid environment");
        assert_eq!(env.opts["build-arg:VERSION"], "1.2=3");
        assert_eq!(env.opts["no-cache"], "");
        assert_eq!(env.session_id, "abc");
        assert_eq!(env.worker_id, "w");
        assert_eq!(env.worker_platforms[0].to_string(), "linux/amd64");

        let options = Options::parse(&env.opts).expect("valid options");
        assert_eq!(options.build_args["VERSION"], "1.2=3");
        assert!(options.no_cache);
        assert_eq!(options.filename, "go-build.yaml");
    }

    #[test]
    fn parses_platforms_network_and_cache_imports() {
        let opts = BTreeMap::from([
            (
                "platform".to_string(),
                "linux/amd64,linux/arm/v7".to_string(),
            ),
            ("force-network-mode".to_string(), "host".to_string()),
            ("cache-from".to_string(), "reg/a:cache, reg/b".to_string()),
            (
                "cache-imports".to_string(),
                r#"[{"Type":"local","Attrs":{"src":"/c"}}]"#.to_string(),
            ),
        ]);
        let options = Options::parse(&opts).expect("valid options");
        let platforms: Vec<String> = options.platforms.iter().map(|p| p.to_string()).collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm/v7"]);
        let repeated = BTreeMap::from([(
            "platform".to_string(),
            "linux/amd64,linux/x86_64,linux/arm64".to_string(),
        )]);
        let platforms: Vec<String> = Options::parse(&repeated)
            .expect("valid options")
            .platforms
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            platforms,
            ["linux/amd64", "linux/arm64"],
            "duplicates dropped, order kept"
        );
        assert_eq!(options.network, Some(NetMode::Host));
        let kinds: Vec<&str> = options
            .cache_imports
            .iter()
            .map(|c| c.kind.as_str())
            .collect();
        assert_eq!(kinds, ["local", "registry", "registry"]);
        assert_eq!(options.cache_imports[2].attrs["ref"], "reg/b");
    }

    #[test]
    fn bad_values_name_the_option() {
        for (key, value) in [
            ("platform", "linux"),
            ("force-network-mode", "bridge"),
            ("image-resolve-mode", "always"),
            ("cache-imports", "{"),
            ("multi-platform", "maybe"),
        ] {
            let opts = BTreeMap::from([(key.to_string(), value.to_string())]);
            let error = format!("{:#}", Options::parse(&opts).expect_err("invalid option"));
            assert!(error.contains(key), "{error} should name {key}");
        }
    }

    #[test]
    fn buildx_git_info_stamps_unless_a_build_arg_says_otherwise() {
        let opts = |pairs: &[(&str, &str)]| -> Options {
            let map = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Options::parse(&map).expect("valid options")
        };
        let git = [
            ("vcs:revision", "0123456789abcdef0123456789abcdef01234567"),
            ("vcs:source", "https://ci:tok@git.corp/app.git"),
        ];
        let stamped = opts(&git);
        assert_eq!(
            stamped.args.revision.as_deref(),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        assert_eq!(
            stamped.args.source.as_deref(),
            Some("https://git.corp/app.git"),
            "no credentials in a label"
        );
        let given = opts(&[
            git[0],
            git[1],
            ("build-arg:REVISION", "v1.2.3"),
            ("build-arg:SOURCE", "https://example.com/app"),
        ]);
        assert_eq!(given.args.revision.as_deref(), Some("v1.2.3"));
        assert_eq!(
            given.args.source.as_deref(),
            Some("https://example.com/app")
        );
    }

    #[test]
    fn well_known_build_args_are_parsed_once() {
        let args = |pairs: &[(&str, &str)]| {
            let map: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            BuildArgs::parse(&map)
        };
        let parsed = args(&[
            ("SOURCE_DATE_EPOCH", "1700000000"),
            ("BUILDKIT_CACHE_MOUNT_NS", "team-a"),
            ("SOURCE", "https://ci:tok@git.corp/app.git"),
            ("GOPROXY", "https://proxy.corp,direct"),
            ("UNRELATED", "x"),
        ])
        .expect("valid args");
        assert_eq!(parsed.source_date_epoch, Some(1_700_000_000));
        assert_eq!(parsed.cache_mount_ns.as_deref(), Some("team-a"));
        assert_eq!(parsed.source.as_deref(), Some("https://git.corp/app.git"));
        assert_eq!(parsed.go_env["GOPROXY"], "https://proxy.corp,direct");
        for (name, value) in [
            ("SOURCE_DATE_EPOCH", "yesterday"),
            ("SOURCE_DATE_EPOCH", "253402300800"),
            ("SOURCE_DATE_EPOCH", "-1"),
            ("GOPROXY", "https://u:p@proxy.corp"),
        ] {
            let error = format!("{:#}", args(&[(name, value)]).expect_err("refused"));
            assert!(
                error.starts_with(&format!("--build-arg {name}: ")),
                "{error}"
            );
        }
    }

    #[test]
    fn detects_frontend_mode() {
        assert!(FrontendEnv::is_frontend(vars(&[(
            "BUILDKIT_SESSION_ID",
            "x"
        )])));
        assert!(!FrontendEnv::is_frontend(vars(&[("HOME", "/root")])));
    }
}

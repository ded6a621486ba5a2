//! Container images: reference normalization, what a base image's config tells us, and the
//! OCI image config of the image we return.

use anyhow::{Context, Result};
use regex::Regex;
use std::collections::BTreeMap;
use std::sync::LazyLock;

use oci_spec::image::{
    Arch, ConfigBuilder, History, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder,
    Os, RootFsBuilder,
};

use crate::platform::Platform;

/// The image reference grammar of distribution/reference, which Docker and BuildKit use, with
/// `\w` in ASCII as in Go. (oci-spec's parser compiles it with a Unicode `\w{0,127}`: 60–120
/// ms on first use, ahead of every build, and it takes tags BuildKit refuses.) Captures: the
/// name, the tag, the digest.
const REFERENCE_GRAMMAR: &str = concat!(
    r"^((?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])",
    r"(?:(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))+)?(?::[0-9]+)?/)?",
    r"[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?",
    r"(?:(?:/[a-z0-9]+(?:(?:(?:[._]|__|[-]*)[a-z0-9]+)+)?)+)?)",
    r"(?::([A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?",
    r"(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?$",
);

/// A repository name's longest length (distribution/reference).
const MAX_NAME: usize = 255;

/// `golang:1.27` → `docker.io/library/golang:1.27` (BuildKit wants normalized references).
pub fn normalize_reference(reference: &str) -> Result<String, String> {
    static GRAMMAR: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(REFERENCE_GRAMMAR).expect("the reference grammar compiles"));
    let invalid = |why: &str| format!("`{reference}` is not a valid image reference: {why}");
    // The registry may be written in any case; repository paths are lower case (the
    // grammar refuses them without saying why).
    let name = reference.split('@').next().unwrap_or(reference);
    let (_, path) = registry_and_path(name);
    let path = path.rsplit_once(':').map_or(path, |(p, _)| p);
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(invalid("repository names are lower case"));
    }
    let Some(parts) = GRAMMAR.captures(reference) else {
        return Err(invalid(
            "see the grammar at https://pkg.go.dev/github.com/distribution/reference",
        ));
    };
    let (domain, path) = split_domain(&parts[1]);
    if path.len() > MAX_NAME {
        return Err(invalid("the repository name is longer than 255 characters"));
    }
    let mut normalized = format!("{domain}/{path}");
    if let Some(tag) = parts.get(2) {
        normalized.push(':');
        normalized.push_str(tag.as_str());
    }
    match parts.get(3) {
        Some(digest) => {
            let (hex, length) = match digest.as_str().split_once(':') {
                Some(("sha256", hex)) => (hex, 64),
                Some(("sha384", hex)) => (hex, 96),
                Some(("sha512", hex)) => (hex, 128),
                _ => return Err(invalid("the digest is not sha256, sha384 or sha512")),
            };
            if hex.len() != length {
                return Err(invalid("the digest has the wrong length"));
            }
            normalized.push('@');
            normalized.push_str(digest.as_str());
        }
        None if parts.get(2).is_none() => normalized.push_str(":latest"),
        None => {}
    }
    Ok(normalized)
}

/// The registry (`None`: Docker Hub) and the rest of a reference's name, as Docker splits
/// them: the first component is a registry when it has a `.` or `:` or is `localhost`.
fn registry_and_path(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

/// The registry and the repository path of a reference's name, normalized: Docker Hub is
/// `docker.io`, and its official images are under `library/`.
fn split_domain(name: &str) -> (&str, String) {
    let (registry, path) = registry_and_path(name);
    let domain = match registry.unwrap_or("docker.io") {
        "index.docker.io" => "docker.io",
        other => other,
    };
    match domain == "docker.io" && !path.contains('/') {
        true => (domain, format!("library/{path}")),
        false => (domain, path.to_string()),
    }
}

/// Pins a normalized reference to the digest BuildKit resolved, keeping the tag for readers.
/// An empty digest (dockerd's local image store answers so) leaves the reference as it is.
pub fn pin_reference(normalized: &str, digest: &str) -> String {
    if digest.is_empty() || normalized.contains('@') {
        normalized.to_string()
    } else {
        format!("{normalized}@{digest}")
    }
}

/// What the planner needs from a base image's config.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImageFacts {
    /// `KEY=VALUE` entries, applied to every step run on the image.
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    /// The base image's history, kept in the image we build on it.
    #[serde(skip)]
    pub history: Vec<History>,
}

impl ImageFacts {
    /// Reads an image config as returned by `ResolveImageConfig`.
    pub fn from_config_json(json: &[u8]) -> Result<ImageFacts> {
        let config: ImageConfiguration =
            serde_json::from_slice(json).context("the image config is not valid JSON")?;
        let inner = config.config().clone().unwrap_or_default();
        Ok(ImageFacts {
            env: inner.env().clone().unwrap_or_default(),
            working_dir: inner.working_dir().clone().unwrap_or_default(),
            user: inner.user().clone().unwrap_or_default(),
            labels: inner
                .labels()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect(),
            history: config.history().clone().unwrap_or_default(),
        })
    }
}

/// A base image, resolved: the reference to use in LLB (pinned when possible) and its config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResolvedImage {
    pub reference: String,
    pub facts: ImageFacts,
}

/// The OCI labels build args set (`SOURCE`, `REVISION`, `VERSION`).
pub const SOURCE_LABEL: &str = "org.opencontainers.image.source";
pub const REVISION_LABEL: &str = "org.opencontainers.image.revision";
pub const VERSION_LABEL: &str = "org.opencontainers.image.version";

/// The runtime image's config: what the user's platform reads to run the program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeConfig {
    pub platform: Platform,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    /// `PORT/PROTO`.
    pub ports: Vec<String>,
    pub volumes: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    /// RFC 3339, from SOURCE_DATE_EPOCH; `None` lets the exporter use the build time.
    pub created: Option<String>,
    /// The base image's history, then one entry per layer we add.
    #[serde(skip)]
    pub base_history: Vec<History>,
    pub history: Vec<String>,
}

impl RuntimeConfig {
    /// Serializes the OCI image config BuildKit's exporters complete (rootfs).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut config = ConfigBuilder::default()
            .user(self.user.clone())
            .env(self.env.clone())
            .working_dir(self.working_dir.clone())
            .build()?;
        if !self.entrypoint.is_empty() {
            config.set_entrypoint(Some(self.entrypoint.clone()));
        }
        if !self.cmd.is_empty() {
            config.set_cmd(Some(self.cmd.clone()));
        }
        if !self.ports.is_empty() {
            config.set_exposed_ports(Some(self.ports.clone()));
        }
        if !self.volumes.is_empty() {
            config.set_volumes(Some(self.volumes.clone()));
        }
        if !self.labels.is_empty() {
            config.set_labels(Some(self.labels.clone().into_iter().collect()));
        }
        config.set_stop_signal(self.stop_signal.clone());
        let mut history = self.base_history.clone();
        for created_by in &self.history {
            let mut entry = HistoryBuilder::default()
                .created_by(created_by.clone())
                .comment("gobuild-frontend".to_string())
                .build()?;
            entry.set_created(self.created.clone());
            history.push(entry);
        }
        let mut image = ImageConfigurationBuilder::default()
            .architecture(Arch::from(self.platform.architecture.as_str()))
            .os(Os::from(self.platform.os.as_str()))
            .config(config)
            .rootfs(
                RootFsBuilder::default()
                    .typ("layers".to_string())
                    .diff_ids(Vec::<String>::new())
                    .build()?,
            )
            .history(history)
            .build()?;
        image.set_created(self.created.clone());
        if let Some(variant) = &self.platform.variant {
            image.set_variant(Some(variant.clone()));
        }
        // Through a `Value` (a sorted map): oci-spec keeps labels in a HashMap, whose order
        // would change the config digest from one build to the next.
        Ok(serde_json::to_vec(&serde_json::to_value(&image)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_docker() {
        let cases = [
            (
                "golang:1.27-bookworm",
                "docker.io/library/golang:1.27-bookworm",
            ),
            ("golang", "docker.io/library/golang:latest"),
            ("ghcr.io/acme/builder:v1", "ghcr.io/acme/builder:v1"),
            ("localhost:5000/go", "localhost:5000/go:latest"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_reference(input).as_deref(), Ok(want));
        }
        assert!(normalize_reference("Not A Ref").is_err());
        assert!(normalize_reference("UPPER/case").is_err());
        assert!(
            normalize_reference("golang:1.27-Bookworm").is_ok(),
            "tags may have capitals"
        );
        assert!(normalize_reference("Registry.Example:5000/team/app").is_ok());
        assert!(
            normalize_reference("golang:ünïcode").is_err(),
            "tags are ASCII, as BuildKit reads them"
        );
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        for (input, want) in [
            (
                format!("golang@{digest}"),
                format!("docker.io/library/golang@{digest}"),
            ),
            (
                format!("index.docker.io/acme/go:1@{digest}"),
                format!("docker.io/acme/go:1@{digest}"),
            ),
        ] {
            assert_eq!(normalize_reference(&input), Ok(want));
        }
        assert!(normalize_reference("golang@sha256:0123456789abcdef0123456789abcdef").is_err());
        assert!(normalize_reference(&format!("{}:1", "a".repeat(256))).is_err());
    }

    #[test]
    fn pins_only_with_a_digest() {
        let digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            pin_reference("docker.io/library/golang:1.27", digest),
            format!("docker.io/library/golang:1.27@{digest}")
        );
        assert_eq!(
            pin_reference("docker.io/library/golang:1.27", ""),
            "docker.io/library/golang:1.27"
        );
    }

    #[test]
    fn reads_env_and_workdir_from_a_base_config() {
        let json = br#"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/go/bin:/usr/bin","GOPATH=/go"],"WorkingDir":"/go"},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let facts = ImageFacts::from_config_json(json).expect("valid config");
        assert_eq!(facts.env, ["PATH=/go/bin:/usr/bin", "GOPATH=/go"]);
        assert_eq!(facts.working_dir, "/go");
    }

    #[test]
    fn runtime_config_has_user_entrypoint_and_platform() {
        let config = RuntimeConfig {
            platform: Platform::new("linux", "arm", Some("v7")),
            entrypoint: vec!["/usr/local/bin/hello".into()],
            env: vec!["PATH=/usr/local/bin".into()],
            user: "65532:65532".into(),
            working_dir: "/".into(),
            ports: vec!["8080/tcp".into()],
            labels: BTreeMap::from([("a".into(), "b".into())]),
            stop_signal: Some("SIGINT".into()),
            created: Some("2024-01-01T00:00:00Z".into()),
            history: vec!["base files".into(), "binaries".into()],
            cmd: Vec::new(),
            volumes: Vec::new(),
            base_history: Vec::new(),
        };
        let json: serde_json::Value =
            serde_json::from_slice(&config.to_json().expect("serializes")).expect("valid JSON");
        assert_eq!(json["architecture"], "arm");
        assert_eq!(json["variant"], "v7");
        assert_eq!(json["config"]["User"], "65532:65532");
        assert_eq!(json["config"]["Entrypoint"][0], "/usr/local/bin/hello");
        assert_eq!(json["history"].as_array().map(Vec::len), Some(2));
        assert_eq!(json["history"][1]["created"], "2024-01-01T00:00:00Z");
        assert_eq!(json["created"], "2024-01-01T00:00:00Z");
        assert_eq!(
            json["config"]["ExposedPorts"]["8080/tcp"],
            serde_json::json!({})
        );
        assert_eq!(json["config"]["Labels"]["a"], "b");
        assert_eq!(json["config"]["StopSignal"], "SIGINT");
        assert!(json["config"].get("Cmd").is_none());
    }

    #[test]
    fn runtime_config_json_is_deterministic() {
        let labels: BTreeMap<String, String> = (0..32)
            .map(|i| (format!("label.{i}"), i.to_string()))
            .collect();
        let config = RuntimeConfig {
            platform: Platform::new("linux", "amd64", None),
            entrypoint: vec!["/app".into()],
            cmd: Vec::new(),
            env: Vec::new(),
            user: "65532:65532".into(),
            working_dir: "/".into(),
            ports: vec!["80/tcp".into(), "443/tcp".into()],
            volumes: Vec::new(),
            labels,
            stop_signal: None,
            created: None,
            base_history: Vec::new(),
            history: Vec::new(),
        };
        let first = config.to_json().expect("serializes");
        for _ in 0..10 {
            assert_eq!(config.to_json().expect("serializes"), first);
        }
    }
}

//! Container images: reference normalization, what a base image's config tells us, and the
//! OCI image config of the image we return.

use anyhow::{Context, Result};
use oci_spec::distribution::Reference;
use oci_spec::image::{
    Arch, ConfigBuilder, HistoryBuilder, ImageConfiguration, ImageConfigurationBuilder, Os,
    RootFsBuilder,
};

use crate::platform::Platform;

/// `golang:1.27` → `docker.io/library/golang:1.27` (BuildKit wants normalized references).
pub fn normalize_reference(reference: &str) -> Result<String, String> {
    reference
        .parse::<Reference>()
        .map(|r| r.whole())
        .map_err(|e| format!("`{reference}` is not a valid image reference: {e}"))
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
        })
    }
}

/// A base image, resolved: the reference to use in LLB (pinned when possible) and its config.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResolvedImage {
    pub reference: String,
    pub facts: ImageFacts,
}

/// The runtime image's config: what the user's platform reads to run the program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuntimeConfig {
    pub platform: Platform,
    pub entrypoint: Vec<String>,
    pub env: Vec<String>,
    pub user: String,
    pub working_dir: String,
    /// One entry per layer we add, oldest first.
    pub history: Vec<String>,
}

impl RuntimeConfig {
    /// Serializes the OCI image config BuildKit's exporters complete (rootfs, created).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let config = ConfigBuilder::default()
            .user(self.user.clone())
            .entrypoint(self.entrypoint.clone())
            .env(self.env.clone())
            .working_dir(self.working_dir.clone())
            .build()?;
        let history = self
            .history
            .iter()
            .map(|created_by| {
                HistoryBuilder::default()
                    .created_by(created_by.clone())
                    .comment("gobuild-frontend".to_string())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
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
        if let Some(variant) = &self.platform.variant {
            image.set_variant(Some(variant.clone()));
        }
        Ok(serde_json::to_vec(&image)?)
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
            history: vec!["base files".into(), "binaries".into()],
        };
        let json: serde_json::Value =
            serde_json::from_slice(&config.to_json().expect("serializes")).expect("valid JSON");
        assert_eq!(json["architecture"], "arm");
        assert_eq!(json["variant"], "v7");
        assert_eq!(json["config"]["User"], "65532:65532");
        assert_eq!(json["config"]["Entrypoint"][0], "/usr/local/bin/hello");
        assert_eq!(json["history"].as_array().map(Vec::len), Some(2));
    }
}

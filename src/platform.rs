//! OCI platforms (`linux/arm64`, `linux/arm/v7`), normalized the way BuildKit does it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::proto::pb;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
        .normalized()
    }

    /// The platform this frontend is compiled for; the fallback build platform.
    pub fn host() -> Platform {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "powerpc64" => "ppc64le",
            other => other,
        };
        Platform::new("linux", architecture, None)
    }

    /// Parses `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`, `linux/x86_64`).
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(Platform::new(os, arch, None)),
            [os, arch, variant] if !os.is_empty() && !arch.is_empty() && !variant.is_empty() => {
                Ok(Platform::new(os, arch, Some(variant)))
            }
            _ => Err(format!(
                "`{text}` is not a platform; write it as os/arch[/variant], e.g. linux/arm64"
            )),
        }
    }

    /// containerd's normalization: aliases to canonical names, default variants dropped.
    fn normalized(mut self) -> Platform {
        self.os = self.os.to_lowercase();
        let arch = self.architecture.to_lowercase();
        let variant = self.variant.take().map(|v| v.to_lowercase());
        let (architecture, variant) = match (arch.as_str(), variant.as_deref()) {
            ("x86_64" | "x86-64" | "amd64", None | Some("v1")) => ("amd64", None),
            ("x86_64" | "x86-64" | "amd64", Some(v)) => ("amd64", Some(v.to_string())),
            ("aarch64" | "arm64", None | Some("8" | "v8")) => ("arm64", None),
            ("aarch64" | "arm64", Some(v)) => ("arm64", Some(v.to_string())),
            ("armhf", _) => ("arm", Some("v7".to_string())),
            ("armel", _) => ("arm", Some("v6".to_string())),
            ("arm", None | Some("7" | "v7")) => ("arm", Some("v7".to_string())),
            ("arm", Some("5" | "v5")) => ("arm", Some("v5".to_string())),
            ("arm", Some("6" | "v6")) => ("arm", Some("v6".to_string())),
            ("i386" | "i686" | "x86", v) => ("386", v.map(str::to_string)),
            (other, v) => (other, v.map(str::to_string)),
        };
        Platform {
            os: self.os,
            architecture: architecture.to_string(),
            variant,
        }
    }

    pub fn to_pb(&self) -> pb::Platform {
        pb::Platform {
            architecture: self.architecture.clone(),
            os: self.os.clone(),
            variant: self.variant.clone().unwrap_or_default(),
            ..Default::default()
        }
    }

    pub fn from_pb(platform: &pb::Platform) -> Platform {
        let variant = (!platform.variant.is_empty()).then_some(platform.variant.as_str());
        Platform::new(&platform.os, &platform.architecture, variant)
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_like_containerd() {
        let cases = [
            ("linux/x86_64", "linux/amd64"),
            ("linux/amd64/v1", "linux/amd64"),
            ("linux/amd64/v3", "linux/amd64/v3"),
            ("linux/aarch64", "linux/arm64"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/arm", "linux/arm/v7"),
            ("linux/arm/6", "linux/arm/v6"),
            ("Linux/ARM64", "linux/arm64"),
            ("linux/riscv64", "linux/riscv64"),
        ];
        for (input, want) in cases {
            assert_eq!(
                Platform::parse(input).map(|p| p.to_string()),
                Ok(want.to_string())
            );
        }
    }

    #[test]
    fn rejects_malformed_platforms() {
        for input in ["linux", "", "linux/", "/amd64", "a/b/c/d"] {
            assert!(
                Platform::parse(input).is_err(),
                "{input} should be rejected"
            );
        }
    }

    #[test]
    fn round_trips_through_protobuf() {
        let platform = Platform::parse("linux/arm/v7").expect("valid platform");
        assert_eq!(Platform::from_pb(&platform.to_pb()), platform);
    }
}

//! Source ops: container images and client-side directories.

use std::collections::BTreeMap;

use super::{OpMeta, State, node};
use crate::proto::pb;

/// How BuildKit resolves an image reference (`image-resolve-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolveMode {
    #[default]
    Default,
    Pull,
    Local,
}

impl ResolveMode {
    pub fn parse(text: &str) -> Option<ResolveMode> {
        match text {
            "" | "default" => Some(ResolveMode::Default),
            "pull" => Some(ResolveMode::Pull),
            "local" => Some(ResolveMode::Local),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResolveMode::Default => "default",
            ResolveMode::Pull => "pull",
            ResolveMode::Local => "local",
        }
    }
}

/// `docker-image://` source. The reference should already be normalized (and pinned).
pub struct Image {
    reference: String,
    resolve_mode: ResolveMode,
}

impl Image {
    pub fn new(reference: impl Into<String>) -> Image {
        Image {
            reference: reference.into(),
            resolve_mode: ResolveMode::Default,
        }
    }

    pub fn resolve_mode(mut self, mode: ResolveMode) -> Image {
        self.resolve_mode = mode;
        self
    }

    pub fn state(self, meta: OpMeta) -> State {
        let mut attrs = BTreeMap::new();
        let mut caps = vec!["source.image"];
        if self.resolve_mode != ResolveMode::Default {
            attrs.insert(
                "image.resolvemode".to_string(),
                self.resolve_mode.as_str().to_string(),
            );
            caps.push("source.image.resolvemode");
        }
        let op = pb::op::Op::Source(pb::SourceOp {
            identifier: format!("docker-image://{}", self.reference),
            attrs,
        });
        State::from_node(node(op, Vec::new(), &meta, &caps), 0)
    }
}

/// `local://` source: a directory the client sends (`context`, `dockerfile`).
pub struct Local {
    name: String,
    attrs: BTreeMap<String, String>,
    caps: Vec<&'static str>,
}

impl Local {
    pub fn new(name: impl Into<String>) -> Local {
        Local {
            name: name.into(),
            attrs: BTreeMap::new(),
            caps: vec!["source.local"],
        }
    }

    /// The client session that holds the directory.
    pub fn session(self, id: &str) -> Local {
        self.attr("local.session", id.to_string(), "source.local.sessionid")
    }

    /// Transfer only files matching these patterns.
    pub fn include_patterns(self, patterns: &[String]) -> Local {
        self.list_attr(
            "local.includepattern",
            patterns,
            "source.local.includepatterns",
        )
    }

    pub fn exclude_patterns(self, patterns: &[String]) -> Local {
        self.list_attr(
            "local.excludepatterns",
            patterns,
            "source.local.excludepatterns",
        )
    }

    /// Transfer only these paths (and what symlinks among them point to).
    pub fn follow_paths(self, paths: &[String]) -> Local {
        self.list_attr("local.followpaths", paths, "source.local.followpaths")
    }

    /// Lets BuildKit reuse an earlier transfer of the same directory.
    pub fn shared_key_hint(self, hint: &str) -> Local {
        self.attr(
            "local.sharedkeyhint",
            hint.to_string(),
            "source.local.sharedkeyhint",
        )
    }

    pub fn state(self, meta: OpMeta) -> State {
        let op = pb::op::Op::Source(pb::SourceOp {
            identifier: format!("local://{}", self.name),
            attrs: self.attrs,
        });
        // Local sources are platform independent; BuildKit's Go client drops the platform too.
        let meta = OpMeta {
            platform: None,
            ..meta
        };
        State::from_node(node(op, Vec::new(), &meta, &self.caps), 0)
    }

    fn list_attr(self, key: &str, values: &[String], cap: &'static str) -> Local {
        if values.is_empty() {
            return self;
        }
        let json = serde_json::to_string(values).unwrap_or_default();
        self.attr(key, json, cap)
    }

    /// Empty values are never sent: Go re-encodes map entries differently from prost when a
    /// value is empty, which would change the op digest on newer daemons.
    fn attr(mut self, key: &str, value: String, cap: &'static str) -> Local {
        if value.is_empty() {
            return self;
        }
        self.attrs.insert(key.to_string(), value);
        if !self.caps.contains(&cap) {
            self.caps.push(cap);
        }
        self
    }
}

//! A small, general LLB builder, modelled on BuildKit's Go `client/llb`.
//!
//! [`State`] values are immutable and cheap to clone; each operation returns a new one. Every op
//! is encoded and digested once, when it is created, so [`State::marshal`] only walks the graph.
//! Encoding is deterministic (every map is a `BTreeMap`) and equals protobuf-go's re-encoding of
//! the same message, which BuildKit ≥ v0.18 relies on to map errors back to source locations.
//! This module knows nothing about Go.

mod dump;
mod exec;
mod file;
mod source;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use prost::Message;
use sha2::{Digest, Sha256};

use crate::platform::Platform;
use crate::proto::pb;

pub use dump::dump;
pub use exec::{CacheSharing, Exec, ExecState, Mount, NetMode};
pub use file::{CopyOptions, FileOp};
pub use source::{Image, Local, ResolveMode};

/// Description key BuildKit shows as the vertex name in progress output.
const CUSTOM_NAME: &str = "llb.customname";

/// The filesystem produced by an operation, or scratch (empty) when there is none.
#[derive(Clone, Default)]
pub struct State {
    output: Option<Output>,
}

/// One output of one op.
#[derive(Clone)]
struct Output {
    node: Arc<Node>,
    index: i64,
}

/// An op with its inputs resolved, encoded once.
struct Node {
    bytes: Vec<u8>,
    digest: String,
    inputs: Vec<Output>,
    metadata: pb::OpMetadata,
    location: Option<SourceLocation>,
}

/// A file that ops can point back into, e.g. the spec; sent once per definition.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub filename: String,
    pub data: Vec<u8>,
    /// Linguist language name, used by newer clients to highlight the excerpt.
    pub language: String,
}

/// Where in a [`SourceFile`] an op comes from (1-based lines).
#[derive(Clone, Debug)]
pub struct SourceLocation {
    pub file: Arc<SourceFile>,
    pub line: u32,
    pub column: u32,
}

/// Per-op settings: progress name, platform, source location, cache behaviour.
#[derive(Clone, Default)]
pub struct OpMeta {
    name: Option<String>,
    platform: Option<Platform>,
    location: Option<SourceLocation>,
    ignore_cache: bool,
}

impl OpMeta {
    pub fn new() -> OpMeta {
        OpMeta::default()
    }

    /// The name shown in progress output, e.g. `[deps 1/1] go mod download`.
    pub fn name(mut self, name: impl Into<String>) -> OpMeta {
        self.name = Some(name.into());
        self
    }

    pub fn platform(mut self, platform: &Platform) -> OpMeta {
        self.platform = Some(platform.clone());
        self
    }

    pub fn location(mut self, location: Option<SourceLocation>) -> OpMeta {
        self.location = location;
        self
    }

    pub fn ignore_cache(mut self, ignore: bool) -> OpMeta {
        self.ignore_cache = ignore;
        self
    }
}

impl State {
    /// The empty filesystem.
    pub fn scratch() -> State {
        State::default()
    }

    pub fn is_scratch(&self) -> bool {
        self.output.is_none()
    }

    /// Digest of the op producing this state (`None` for scratch).
    pub fn digest(&self) -> Option<&str> {
        self.output.as_ref().map(|o| o.node.digest.as_str())
    }

    /// Serializes the graph ending in this state: ops inputs-first and de-duplicated, then the
    /// terminal op that names the result. Scratch gives an empty definition (a nil result).
    pub fn marshal(&self) -> pb::Definition {
        let Some(result) = &self.output else {
            return pb::Definition::default();
        };
        let mut walk = Walk::default();
        walk.visit(&result.node);

        // The terminal op carries no op of its own; it only points at the result.
        let terminal = pb::Op {
            inputs: vec![result.as_input()],
            ..Default::default()
        };
        let mut caps = BTreeMap::from([
            ("constraints".to_string(), true),
            ("platform".to_string(), true),
        ]);
        for metadata in walk.definition.metadata.values() {
            if metadata.ignore_cache {
                caps.insert("meta.ignorecache".to_string(), true);
            }
            if !metadata.description.is_empty() {
                caps.insert("meta.description".to_string(), true);
            }
        }
        let bytes = terminal.encode_to_vec();
        walk.definition.metadata.insert(
            digest_of(&bytes),
            pb::OpMetadata {
                caps,
                ..Default::default()
            },
        );
        walk.definition.def.push(bytes);
        if !walk.locations.is_empty() {
            walk.definition.source = Some(pb::Source {
                locations: walk.locations,
                infos: walk
                    .files
                    .iter()
                    .map(|file| pb::SourceInfo {
                        filename: file.filename.clone(),
                        data: file.data.clone(),
                        language: file.language.clone(),
                        ..Default::default()
                    })
                    .collect(),
            });
        }
        walk.definition
    }

    fn from_node(node: Node, index: i64) -> State {
        State {
            output: Some(Output {
                node: Arc::new(node),
                index,
            }),
        }
    }
}

impl Output {
    fn as_input(&self) -> pb::Input {
        pb::Input {
            digest: self.node.digest.clone(),
            index: self.index,
        }
    }
}

/// Post-order walk collecting ops, metadata and source locations.
#[derive(Default)]
struct Walk {
    seen: HashSet<String>,
    definition: pb::Definition,
    files: Vec<Arc<SourceFile>>,
    locations: BTreeMap<String, pb::Locations>,
}

impl Walk {
    fn visit(&mut self, node: &Node) {
        if self.seen.contains(&node.digest) {
            return;
        }
        for input in &node.inputs {
            self.visit(&input.node);
        }
        self.seen.insert(node.digest.clone());
        self.definition.def.push(node.bytes.clone());
        self.definition
            .metadata
            .insert(node.digest.clone(), node.metadata.clone());
        if let Some(location) = &node.location {
            let source_index = match self.files.iter().position(|f| **f == *location.file) {
                Some(i) => i,
                None => {
                    self.files.push(location.file.clone());
                    self.files.len() - 1
                }
            };
            let position = pb::Position {
                line: i32::try_from(location.line).unwrap_or(i32::MAX),
                character: i32::try_from(location.column.saturating_sub(1)).unwrap_or(0),
            };
            self.locations.insert(
                node.digest.clone(),
                pb::Locations {
                    locations: vec![pb::Location {
                        source_index: i32::try_from(source_index).unwrap_or(i32::MAX),
                        ranges: vec![pb::Range {
                            start: Some(position),
                            end: Some(position),
                        }],
                    }],
                },
            );
        }
    }
}

/// Builds a node: fills in the inputs, the platform and metadata, and encodes the op.
fn node(kind: pb::op::Op, inputs: Vec<Output>, meta: &OpMeta, caps: &[&str]) -> Node {
    let op = pb::Op {
        inputs: inputs.iter().map(Output::as_input).collect(),
        platform: meta.platform.as_ref().map(Platform::to_pb),
        constraints: Some(pb::WorkerConstraints::default()),
        op: Some(kind),
    };
    let bytes = encode_op(&op);
    let mut metadata = pb::OpMetadata {
        ignore_cache: meta.ignore_cache,
        caps: caps.iter().map(|cap| (cap.to_string(), true)).collect(),
        ..Default::default()
    };
    if let Some(name) = &meta.name {
        metadata
            .description
            .insert(CUSTOM_NAME.to_string(), name.clone());
    }
    Node {
        digest: digest_of(&bytes),
        bytes,
        inputs,
        metadata,
        location: meta.location.clone(),
    }
}

/// Encodes an op exactly as protobuf-go does: regular fields first, then the `op` oneof.
///
/// prost writes the oneof at its field numbers (2–4), before `platform` (10); protobuf-go writes
/// oneofs last. Protobuf concatenation is a merge, so two encodings glued together are one
/// valid message whose bytes match Go's.
fn encode_op(op: &pb::Op) -> Vec<u8> {
    let head = pb::Op {
        op: None,
        ..op.clone()
    };
    let mut bytes = head.encode_to_vec();
    if let Some(kind) = &op.op {
        let tail = pb::Op {
            op: Some(kind.clone()),
            ..Default::default()
        };
        bytes.extend_from_slice(&tail.encode_to_vec());
    }
    bytes
}

/// Index of `source` in the op's inputs, adding it once.
fn input_index_of(inputs: &mut Vec<Output>, source: &Output) -> i64 {
    let position = inputs
        .iter()
        .position(|o| o.node.digest == source.node.digest && o.index == source.index)
        .unwrap_or_else(|| {
            inputs.push(source.clone());
            inputs.len() - 1
        });
    i64::try_from(position).unwrap_or(i64::MAX)
}

fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// Every LLB cap the given definition's metadata asks the daemon for, sorted.
pub fn required_caps(definition: &pb::Definition) -> Vec<String> {
    let mut caps: Vec<String> = definition
        .metadata
        .values()
        .flat_map(|m| m.caps.keys().cloned())
        .collect();
    caps.sort();
    caps.dedup();
    caps
}

#[cfg(test)]
mod tests;

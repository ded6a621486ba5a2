//! The BuildKit gateway client: the only code that talks to BuildKit.
//!
//! BuildKit runs the frontend with a gRPC server on the other end of its stdin/stdout (HTTP/2
//! with prior knowledge, no TLS). Nothing else may write to stdout.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine;
use hyper_util::rt::TokioIo;
use prost::Message;
use tokio::io::{AsyncRead, AsyncWrite};
use tonic::transport::{Channel, Endpoint, Uri};

use crate::llb::SourceFile;
use crate::options::CacheImport;
use crate::platform::Platform;
use crate::proto::gateway::{self as gw, llb_bridge_client::LlbBridgeClient};
use crate::proto::google::rpc;
use crate::proto::pb;
use crate::spec::SpecError;

/// Big definitions and files must not hit tonic's 4 MiB default.
const MAX_MESSAGE: usize = 64 << 20;
/// How long BuildKit's Go client waits for `Ping`.
const PING_TIMEOUT: Duration = Duration::from_secs(15);
/// gRPC `Unknown`: what BuildKit's own frontends use for user errors (no extra prefix in output).
const CODE_UNKNOWN: i32 = 2;
const SOURCE_DETAIL: &str = "github.com/moby/buildkit/errdefs.Source+json";
const SUBREQUEST_DETAIL: &str = "github.com/moby/buildkit/errdefs.Subrequest+json";

/// A connection to BuildKit's LLB bridge, with what the daemon said it can do.
pub struct Session {
    client: LlbBridgeClient<Channel>,
    pub caps: Caps,
}

/// Capabilities from `Ping`.
#[derive(Debug, Clone, Default)]
pub struct Caps {
    pub gateway: BTreeSet<String>,
    pub llb: BTreeSet<String>,
    /// Platforms of the first worker (the first one is the build platform).
    pub worker_platforms: Vec<Platform>,
}

impl Caps {
    /// The largest request the daemon's gRPC server accepts: 16 MiB since v0.14 (whose
    /// `file.copy.alwaysreplaceexistingdestpaths` cap tells it apart), 4 MiB before. A margin
    /// stays for the request's other fields.
    fn max_message(&self) -> usize {
        let limit: usize = if self
            .llb
            .contains("file.copy.alwaysreplaceexistingdestpaths")
        {
            16 << 20
        } else {
            4 << 20
        };
        limit - (64 << 10)
    }

    fn from_pong(pong: gw::PongResponse) -> Caps {
        let enabled = |caps: Vec<crate::proto::moby::buildkit::v1::apicaps::ApiCap>| {
            caps.into_iter()
                .filter(|c| c.enabled)
                .map(|c| c.id)
                .collect()
        };
        Caps {
            gateway: enabled(pong.frontend_api_caps),
            llb: enabled(pong.llb_caps),
            worker_platforms: pong
                .workers
                .first()
                .map(|w| w.platforms.iter().map(Platform::from_pb).collect())
                .unwrap_or_default(),
        }
    }
}

/// A solved result, by BuildKit's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub id: String,
}

/// What the frontend hands back: one image, or one per platform.
pub enum FrontendResult {
    /// One platform's result, not keyed by platform.
    Single(PlatformResult),
    /// A result per platform (`refs.platforms`).
    Multi { platforms: Vec<PlatformResult> },
    /// A subrequest's answer: metadata only.
    Metadata(BTreeMap<String, Vec<u8>>),
}

/// What a build returns for one platform.
pub struct PlatformResult {
    pub platform: Platform,
    pub reference: Ref,
    /// The image config; `None` for a plain filesystem (`--target binaries`).
    pub config: Option<Vec<u8>>,
    /// A ref whose `SBOM_FILE` is the image's SPDX document ([`crate::sbom`]).
    pub sbom: Option<Ref>,
}

/// Where the SBOM's ref holds the document.
pub const SBOM_FILE: &str = "/sbom.spdx.json";

impl PlatformResult {
    /// The result's attestations under its platform key: the SBOM as an in-toto SPDX
    /// predicate about the image itself (BuildKit then skips its own scan).
    fn attestations(&self) -> Option<(String, gw::Attestations)> {
        let sbom = self.sbom.as_ref()?;
        let attestation = gw::Attestation {
            kind: gw::AttestationKind::InToto as i32,
            metadata: [("reason".to_string(), b"sbom".to_vec())].into(),
            r#ref: Some(gw::Ref {
                id: sbom.id.clone(),
                def: None,
            }),
            path: SBOM_FILE.to_string(),
            in_toto_predicate_type: crate::sbom::PREDICATE_SPDX.to_string(),
            in_toto_subjects: Vec::new(),
        };
        Some((
            self.platform.to_string(),
            gw::Attestations {
                attestation: vec![attestation],
            },
        ))
    }
}

impl Session {
    /// Connects over this process's stdin/stdout.
    pub async fn connect_stdio() -> Result<Session> {
        // Non-blocking pipe ends: tokio's blocking stdin reader would keep the process alive
        // after `Return` (BuildKit never closes our stdin).
        let stdin = io::stdin().as_fd().try_clone_to_owned()?;
        let stdout = io::stdout().as_fd().try_clone_to_owned()?;
        let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(stdin)
            .context("stdin is not a pipe from BuildKit")?;
        let writer = tokio::net::unix::pipe::Sender::from_owned_fd(stdout)
            .context("stdout is not a pipe to BuildKit")?;
        Session::connect(tokio::io::join(reader, writer)).await
    }

    /// Connects over any byte stream (the in-process fake gateway uses a duplex pipe).
    pub async fn connect<IO>(io: IO) -> Result<Session>
    where
        IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        // One-shot: a second "connection" over the same stream would corrupt it, so a reconnect
        // attempt fails instead.
        let slot = Arc::new(Mutex::new(Some(io)));
        let connector = tower::service_fn(move |_: Uri| {
            let io = slot.lock().ok().and_then(|mut s| s.take());
            async move {
                io.map(TokioIo::new).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotConnected, "the BuildKit stream is closed")
                })
            }
        });
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector(connector)
            .await
            .context("connecting to BuildKit over stdio")?;
        let mut client = LlbBridgeClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        let pong = tokio::time::timeout(PING_TIMEOUT, client.ping(gw::PingRequest {}))
            .await
            .context("BuildKit did not answer Ping")??
            .into_inner();
        Ok(Session {
            client,
            caps: Caps::from_pong(pong),
        })
    }

    /// Solves a definition and returns its result ref (lazy unless `evaluate`).
    pub async fn solve(
        &self,
        definition: pb::Definition,
        cache_imports: &[CacheImport],
        evaluate: bool,
    ) -> Result<Ref> {
        let missing: Vec<String> = crate::llb::required_caps(&definition)
            .into_iter()
            .filter(|cap| !self.caps.llb.contains(cap))
            .collect();
        if !missing.is_empty() {
            bail!(
                "this BuildKit is too old for this build: it lacks {}; upgrade Docker/BuildKit",
                missing.join(", ")
            );
        }
        let size = definition.encoded_len();
        let limit = self.caps.max_message();
        if size > limit {
            bail!(
                "the build graph is {} KiB, more than this BuildKit takes in one message ({} KiB); exclude what the build does not need in .dockerignore or sources.exclude",
                size / 1024,
                limit / 1024
            );
        }
        let request = gw::SolveRequest {
            definition: Some(definition),
            allow_result_return: true,
            allow_result_array_ref: true,
            cache_imports: cache_imports
                .iter()
                .map(|c| gw::CacheOptionsEntry {
                    r#type: c.kind.clone(),
                    attrs: c.attrs.clone(),
                })
                .collect(),
            evaluate,
            ..Default::default()
        };
        let response = self.client.clone().solve(request).await?.into_inner();
        match response.result.and_then(|r| r.result) {
            Some(gw::result::Result::Ref(r)) => Ok(Ref { id: r.id }),
            Some(gw::result::Result::RefDeprecated(id)) => Ok(Ref { id }),
            Some(_) => bail!("BuildKit returned several results for one definition"),
            None => Ok(Ref { id: response.r#ref }),
        }
    }

    /// Reads a whole file from a solved ref; `Ok(None)` when it does not exist.
    pub async fn read_file(&self, reference: &Ref, path: &str) -> Result<Option<Vec<u8>>> {
        self.read_file_range(reference, path, None).await
    }

    /// Reads at most `limit` bytes of a file: a file bigger than any valid one (a 20 MB spec)
    /// must not make the response exceed the daemon's message size.
    pub async fn read_file_prefix(
        &self,
        reference: &Ref,
        path: &str,
        limit: usize,
    ) -> Result<Option<Vec<u8>>> {
        let range = gw::FileRange {
            offset: 0,
            length: i64::try_from(limit).unwrap_or(i64::MAX),
        };
        self.read_file_range(reference, path, Some(range)).await
    }

    async fn read_file_range(
        &self,
        reference: &Ref,
        path: &str,
        range: Option<gw::FileRange>,
    ) -> Result<Option<Vec<u8>>> {
        let request = gw::ReadFileRequest {
            r#ref: reference.id.clone(),
            file_path: path.to_string(),
            range,
        };
        match self.client.clone().read_file(request).await {
            Ok(response) => Ok(Some(response.into_inner().data)),
            Err(status) if is_not_found(&status) => Ok(None),
            Err(status) => Err(status.into()),
        }
    }

    /// Resolves an image for a platform: `(digest, config JSON)`. The digest may be empty
    /// (dockerd's local image store).
    pub async fn resolve_image_config(
        &self,
        reference: &str,
        platform: &Platform,
        resolve_mode: &str,
    ) -> Result<(String, Vec<u8>)> {
        let request = gw::ResolveImageConfigRequest {
            r#ref: reference.to_string(),
            platform: Some(platform.to_pb()),
            resolve_mode: resolve_mode.to_string(),
            log_name: format!("[internal] load metadata for {reference}"),
            ..Default::default()
        };
        let response = self
            .client
            .clone()
            .resolve_image_config(request)
            .await?
            .into_inner();
        Ok((response.digest, response.config))
    }

    /// A warning in the build's progress (cap `gateway.warnings`, BuildKit ≥ v0.13), on the
    /// vertex `digest`, with the excerpt of `line` in `source` when there is one.
    pub async fn warn(
        &self,
        digest: &str,
        short: &str,
        detail: &str,
        source: Option<(&SourceFile, u32)>,
    ) -> Result<()> {
        let (info, ranges) = match source {
            Some((file, line)) => {
                let at = pb::Position {
                    line: i32::try_from(line).unwrap_or(i32::MAX),
                    character: 0,
                };
                let info = pb::SourceInfo {
                    filename: file.filename.clone(),
                    data: file.data.clone(),
                    language: file.language.clone(),
                    ..Default::default()
                };
                let range = pb::Range {
                    start: Some(at),
                    end: Some(at),
                };
                (Some(info), vec![range])
            }
            None => (None, Vec::new()),
        };
        let request = gw::WarnRequest {
            digest: digest.to_string(),
            level: 1,
            short: short.as_bytes().to_vec(),
            detail: vec![detail.as_bytes().to_vec()],
            url: String::new(),
            info,
            ranges,
        };
        self.client.clone().warn(request).await?;
        Ok(())
    }

    /// Hands the result to BuildKit. Call once; exit right after.
    pub async fn return_result(&self, result: FrontendResult) -> Result<()> {
        let mut attestations = BTreeMap::new();
        let (result, metadata) = match result {
            FrontendResult::Single(single) => {
                attestations.extend(single.attestations());
                (
                    Some(gw::result::Result::Ref(gw::Ref {
                        id: single.reference.id,
                        def: None,
                    })),
                    single
                        .config
                        .map(|c| BTreeMap::from([("containerimage.config".to_string(), c)]))
                        .unwrap_or_default(),
                )
            }
            FrontendResult::Multi { platforms } => {
                let mut metadata = BTreeMap::new();
                let mut refs = BTreeMap::new();
                let mut listed = Vec::new();
                for result in platforms {
                    attestations.extend(result.attestations());
                    let id = result.platform.to_string();
                    if let Some(config) = result.config {
                        metadata.insert(format!("containerimage.config/{id}"), config);
                    }
                    refs.insert(
                        id.clone(),
                        gw::Ref {
                            id: result.reference.id,
                            def: None,
                        },
                    );
                    listed.push(serde_json::json!({ "ID": id, "Platform": result.platform }));
                }
                metadata.insert(
                    "refs.platforms".to_string(),
                    serde_json::to_vec(&serde_json::json!({ "Platforms": listed }))?,
                );
                (
                    Some(gw::result::Result::Refs(gw::RefMap { refs })),
                    metadata,
                )
            }
            FrontendResult::Metadata(metadata) => (None, metadata),
        };
        self.client
            .clone()
            .r#return(gw::ReturnRequest {
                result: Some(gw::Result {
                    result,
                    metadata,
                    attestations: attestations.into_iter().collect(),
                }),
                error: None,
            })
            .await?;
        Ok(())
    }

    /// Hands an error to BuildKit, keeping BuildKit's own error details and spec locations.
    pub async fn return_error(&self, error: &anyhow::Error) -> Result<()> {
        self.client
            .clone()
            .r#return(gw::ReturnRequest {
                result: None,
                error: Some(error_status(error)),
            })
            .await?;
        Ok(())
    }
}

/// A subrequest this frontend does not answer.
#[derive(Debug)]
pub struct UnsupportedSubrequest(pub String);

impl std::fmt::Display for UnsupportedSubrequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unsupported subrequest {}", self.0)
    }
}

impl std::error::Error for UnsupportedSubrequest {}

fn is_not_found(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::NotFound || status.message().contains("no such file or directory")
}

/// The `google.rpc.Status` for an error: BuildKit's own statuses pass through unchanged (their
/// details carry source locations); spec errors get a source-location detail per problem.
pub fn error_status(error: &anyhow::Error) -> rpc::Status {
    if let Some(status) = error.downcast_ref::<tonic::Status>() {
        let details = rpc::Status::decode(status.details())
            .map(|s| s.details)
            .unwrap_or_default();
        return rpc::Status {
            code: status.code() as i32,
            message: status.message().to_string(),
            details,
        };
    }
    let mut details = Vec::new();
    if let Some(unsupported) = error.downcast_ref::<UnsupportedSubrequest>() {
        details.push(prost_types::Any {
            type_url: SUBREQUEST_DETAIL.to_string(),
            value: serde_json::json!({ "name": unsupported.0 })
                .to_string()
                .into_bytes(),
        });
    }
    if let Some(spec_error) = error.downcast_ref::<SpecError>() {
        // One detail per file with every located line in it: a file travels once, however
        // many problems it has (a detail per problem would repeat it and can exceed a
        // message's size). A diagnostic without a line (e.g. about an option) has nothing to
        // excerpt.
        let files = std::iter::once((&spec_error.file, &spec_error.source))
            .chain(spec_error.also.iter().map(|(file, source)| (file, source)));
        for (file, source) in files {
            // The lines the problems are on, and those of the org rules they break.
            let lines = spec_error.diagnostics.iter().flat_map(|d| {
                let at = (d.pos.line > 0 && d.file == *file).then_some(d.pos.line);
                let rule = d
                    .broken_rule
                    .as_ref()
                    .filter(|rule| rule.0 == *file)
                    .map(|rule| rule.1);
                at.into_iter().chain(rule)
            });
            let ranges: Vec<serde_json::Value> = lines
                .map(|line| {
                    serde_json::json!({
                        "start": { "line": line, "character": 0 },
                        "end": { "line": line, "character": 0 },
                    })
                })
                .collect();
            if ranges.is_empty() {
                continue;
            }
            let source = serde_json::json!({
                "info": {
                    "filename": file,
                    "data": base64::engine::general_purpose::STANDARD.encode(source),
                    "language": language_of(file),
                },
                "ranges": ranges,
            });
            details.push(prost_types::Any {
                type_url: SOURCE_DETAIL.to_string(),
                value: source.to_string().into_bytes(),
            });
        }
    }
    rpc::Status {
        code: CODE_UNKNOWN,
        message: format!("{error:#}"),
        details,
    }
}

/// The linguist name clients use to highlight an excerpt of `file`.
pub fn language_of(file: &str) -> &'static str {
    if file.ends_with("go.mod") {
        "Go Module"
    } else if file.ends_with("go.work") {
        "Go Workspace"
    } else {
        "YAML"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_violation_excerpts_the_rule_it_breaks() {
        let violation = crate::spec::Diagnostic {
            file: "go-build.yaml".to_string(),
            pos: crate::spec::Pos::at(4, 3),
            path: "runtime.user".to_string(),
            message: "the image would run as root".to_string(),
            hint: Some("org.yaml:7: policy.non_root: true".to_string()),
            broken_rule: Some(Box::new(("org.yaml".to_string(), 7))),
        };
        let error = anyhow::Error::new(SpecError {
            file: "go-build.yaml".to_string(),
            source: b"spec".to_vec(),
            also: vec![("org.yaml".to_string(), b"org".to_vec())],
            diagnostics: vec![violation],
        });
        let lines: Vec<(String, u64)> = error_status(&error)
            .details
            .iter()
            .map(|detail| {
                let source: serde_json::Value =
                    serde_json::from_slice(&detail.value).expect("JSON");
                let file = source["info"]["filename"].as_str().unwrap_or_default();
                let line = source["ranges"][0]["start"]["line"].as_u64().unwrap_or(0);
                (file.to_string(), line)
            })
            .collect();
        assert_eq!(
            lines,
            [
                ("go-build.yaml".to_string(), 4),
                ("org.yaml".to_string(), 7)
            ]
        );
    }

    #[test]
    fn message_limits_follow_the_daemon_version() {
        let old = Caps::default();
        assert!(old.max_message() < 4 << 20);
        let mut current = Caps::default();
        current
            .llb
            .insert("file.copy.alwaysreplaceexistingdestpaths".to_string());
        assert!(current.max_message() > 15 << 20);
    }
}

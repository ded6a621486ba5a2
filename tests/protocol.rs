//! Protocol tests: the real gateway client and the real frontend flow against an in-process
//! fake LLBBridge server, connected through an in-memory duplex pipe (HTTP/2 prior knowledge,
//! exactly like BuildKit's stdio transport).
//!
//! Every test runs `frontend::build` and then `Session::return_result` / `Session::return_error`,
//! and asserts on what went over the wire: the solve requests (decoded LLB), the image
//! resolutions, the file reads and the final `Return`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use gobuild_frontend::frontend;
use gobuild_frontend::gateway::{self, Session};
use gobuild_frontend::options::FrontendEnv;
use gobuild_frontend::proto::gateway::{self as gw, llb_bridge_server::LlbBridge};
use gobuild_frontend::proto::google::rpc;
use gobuild_frontend::proto::moby::buildkit::v1::{apicaps::ApiCap, types::WorkerRecord};
use gobuild_frontend::proto::pb;
use prost::Message;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tonic::{Code, Request, Response, Status};

const SESSION_ID: &str = "sess";
const WORKERS: &str = r#"[{"ID":"w0","Labels":{"org.mobyproject.buildkit.worker.executor":"oci"},"Platforms":[{"architecture":"amd64","os":"linux"}]}]"#;
const BUILDER_REF: &str = "docker.io/library/golang:1.27-bookworm";
const BUILDER_DIGEST: &str =
    "sha256:4f6a0c58e1a7b2d39c0e5f7a8b9c1d2e3f405162738495a6b7c8d9e0f1a2b3c4";
const IMAGE_PATH: &str = "PATH=/go/bin:/usr/local/go/bin:/usr/bin:/bin";
const IMAGE_GOPATH: &str = "GOPATH=/go";
const SOURCE_DETAIL: &str = "github.com/moby/buildkit/errdefs.Source+json";

/// Gateway caps of a BuildKit v0.8 daemon (dockerd 20.10).
const GATEWAY_CAPS: &[&str] = &[
    "solve.base",
    "solve.inlinereturn",
    "resolveimage",
    "resolveimage.resolvemode",
    "readfile",
    "return",
    "returnmap",
    "proto.refarray",
    "reference.output",
    "frontend.inputs",
    "frontend.caps",
    "importcaches",
    "gateway.solve.evaluate",
    "readdir",
    "statfile",
    "gateway.exec",
    "gateway.exec.startcontainer",
];

/// LLB caps of a BuildKit v0.8 daemon: a superset of everything the frontend emits.
const LLB_CAPS: &[&str] = &[
    "source.image",
    "source.image.resolvemode",
    "source.local",
    "source.local.unique",
    "source.local.sessionid",
    "source.local.includepatterns",
    "source.local.followpaths",
    "source.local.excludepatterns",
    "source.local.sharedkeyhint",
    "source.git",
    "source.git.keepgitdir",
    "source.git.fullurl",
    "source.http",
    "source.http.checksum",
    "source.http.perm",
    "source.http.uidgid",
    "exec.meta.base",
    "exec.meta.proxyenv",
    "exec.meta.network",
    "exec.meta.security",
    "exec.meta.setsdefaultpath",
    "exec.mount.bind",
    "exec.mount.bind.readwrite-nooutput",
    "exec.mount.cache",
    "exec.mount.cache.sharing",
    "exec.mount.selector",
    "exec.mount.tmpfs",
    "exec.mount.secret",
    "exec.mount.ssh",
    "exec.cgroup",
    "file.base",
    "file.rm.wildcard",
    "constraints",
    "platform",
    "meta.ignorecache",
    "meta.description",
    "meta.exportcache",
];

// ---- the fake gateway ----

/// Everything the frontend sent, in order.
#[derive(Default)]
struct Log {
    /// Each solve request with the ref id the fake answered (empty when the solve failed).
    solves: Vec<(gw::SolveRequest, String)>,
    resolves: Vec<gw::ResolveImageConfigRequest>,
    reads: Vec<gw::ReadFileRequest>,
    returns: Vec<gw::ReturnRequest>,
    warns: Vec<gw::WarnRequest>,
}

/// An in-process LLBBridge: answers like a v0.8 daemon, records every request.
#[derive(Clone)]
struct Fake {
    gateway_caps: Vec<ApiCap>,
    llb_caps: Vec<ApiCap>,
    files: BTreeMap<String, Vec<u8>>,
    /// Fails the solve of any definition that runs a container (the main build graph).
    fail_build_solve: Option<Status>,
    fail_resolve: Option<Status>,
    /// Holds the context transfer (the evaluated solve of `local://context`) until the
    /// source scan and the deps step are asked for, as a real transfer takes time; fails it
    /// after 5 s.
    hold_transfer_for_scan_and_deps: bool,
    log: Arc<Mutex<Log>>,
}

fn caps(ids: &[&str]) -> Vec<ApiCap> {
    ids.iter()
        .map(|id| ApiCap {
            id: id.to_string(),
            enabled: true,
            deprecated: *id == "solve.inlinereturn",
            ..Default::default()
        })
        .collect()
}

impl Fake {
    fn new() -> Fake {
        Fake {
            gateway_caps: caps(GATEWAY_CAPS),
            llb_caps: caps(LLB_CAPS),
            files: BTreeMap::new(),
            fail_build_solve: None,
            fail_resolve: None,
            hold_transfer_for_scan_and_deps: false,
            log: Arc::default(),
        }
    }

    /// A fake serving the files of `examples/hello`.
    fn hello() -> Fake {
        Fake::new()
            .file("go-build.yaml", hello_file("go-build.yaml"))
            .file("go.mod", hello_file("go.mod"))
            // What the source scan step lists (`files`, `embeds`).
            .file(
                "files",
                b"./README.md\0./go-build.yaml\0./main.go\0./go.mod\0".to_vec(),
            )
    }

    fn file(mut self, path: &str, data: Vec<u8>) -> Fake {
        self.files.insert(path.to_string(), data);
        self
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().expect("the fake's log is not poisoned")
    }
}

fn hello_file(name: &str) -> Vec<u8> {
    let path = format!("{}/examples/hello/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).expect("examples/hello is readable")
}

fn golang_config() -> Vec<u8> {
    json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": [IMAGE_PATH, IMAGE_GOPATH, "GOLANG_VERSION=1.27.0"],
            "Cmd": ["bash"],
            "WorkingDir": "/go",
        },
        "rootfs": { "type": "layers", "diff_ids": [] },
    })
    .to_string()
    .into_bytes()
}

#[tonic::async_trait]
impl LlbBridge for Fake {
    async fn resolve_image_config(
        &self,
        request: Request<gw::ResolveImageConfigRequest>,
    ) -> Result<Response<gw::ResolveImageConfigResponse>, Status> {
        let request = request.into_inner();
        let reference = request.r#ref.clone();
        self.log().resolves.push(request);
        if let Some(status) = &self.fail_resolve {
            return Err(status.clone());
        }
        Ok(Response::new(gw::ResolveImageConfigResponse {
            digest: BUILDER_DIGEST.to_string(),
            config: golang_config(),
            r#ref: reference,
        }))
    }

    async fn solve(
        &self,
        request: Request<gw::SolveRequest>,
    ) -> Result<Response<gw::SolveResponse>, Status> {
        let request = request.into_inner();
        let transfer = || {
            request.evaluate
                && request.definition.as_ref().is_some_and(|def| {
                    decode(def).iter().any(|(_, op)| {
                        source(op).is_some_and(|src| {
                            src.identifier == "local://context"
                                && src.attrs.get("local.sharedkeyhint").map(String::as_str)
                                    == Some("context")
                        })
                    })
                })
        };
        if self.hold_transfer_for_scan_and_deps && transfer() {
            let asked = || {
                let log = self.log();
                log.solves.iter().any(|(r, _)| is_scan(r))
                    && log.solves.iter().any(|(r, _)| is_deps(r))
            };
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
            while !asked() {
                if tokio::time::Instant::now() > deadline {
                    return Err(Status::deadline_exceeded(
                        "the context transfer ended before the scan and the deps step were asked for",
                    ));
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }
        let builds_go = request.definition.as_ref().is_some_and(|def| {
            execs(&decode(def))
                .iter()
                .any(|(_, exec)| args(exec).starts_with(&["go", "build"]))
        });
        let mut log = self.log();
        if builds_go && let Some(status) = &self.fail_build_solve {
            log.solves.push((request, String::new()));
            return Err(status.clone());
        }
        let id = format!("ref-{}", log.solves.len() + 1);
        log.solves.push((request, id.clone()));
        Ok(Response::new(gw::SolveResponse {
            r#ref: String::new(),
            result: Some(gw::Result {
                result: Some(gw::result::Result::Ref(gw::Ref { id, def: None })),
                metadata: BTreeMap::new(),
                attestations: BTreeMap::new(),
            }),
        }))
    }

    async fn read_file(
        &self,
        request: Request<gw::ReadFileRequest>,
    ) -> Result<Response<gw::ReadFileResponse>, Status> {
        let request = request.into_inner();
        let mut log = self.log();
        let known_ref = log
            .solves
            .iter()
            .any(|(_, id)| !id.is_empty() && *id == request.r#ref);
        let path = request.file_path.clone();
        log.reads.push(request);
        if !known_ref {
            return Err(Status::invalid_argument("no such ref"));
        }
        match self.files.get(&path) {
            Some(data) => Ok(Response::new(gw::ReadFileResponse { data: data.clone() })),
            None => Err(Status::not_found(format!(
                "open /tmp/buildkit-mount123/{path}: no such file or directory"
            ))),
        }
    }

    async fn read_dir(
        &self,
        _: Request<gw::ReadDirRequest>,
    ) -> Result<Response<gw::ReadDirResponse>, Status> {
        Err(Status::unimplemented("ReadDir"))
    }

    async fn stat_file(
        &self,
        _: Request<gw::StatFileRequest>,
    ) -> Result<Response<gw::StatFileResponse>, Status> {
        Err(Status::unimplemented("StatFile"))
    }

    async fn ping(
        &self,
        _: Request<gw::PingRequest>,
    ) -> Result<Response<gw::PongResponse>, Status> {
        Ok(Response::new(gw::PongResponse {
            frontend_api_caps: self.gateway_caps.clone(),
            llb_caps: self.llb_caps.clone(),
            workers: vec![WorkerRecord {
                id: "w0".to_string(),
                platforms: vec![platform("amd64")],
                ..Default::default()
            }],
        }))
    }

    async fn r#return(
        &self,
        request: Request<gw::ReturnRequest>,
    ) -> Result<Response<gw::ReturnResponse>, Status> {
        self.log().returns.push(request.into_inner());
        Ok(Response::new(gw::ReturnResponse {}))
    }

    async fn inputs(
        &self,
        _: Request<gw::InputsRequest>,
    ) -> Result<Response<gw::InputsResponse>, Status> {
        Err(Status::unimplemented("Inputs"))
    }

    async fn warn(
        &self,
        request: Request<gw::WarnRequest>,
    ) -> Result<Response<gw::WarnResponse>, Status> {
        if !self.gateway_caps.iter().any(|c| c.id == "gateway.warnings") {
            return Err(Status::unimplemented("Warn"));
        }
        self.log().warns.push(request.into_inner());
        Ok(Response::new(gw::WarnResponse {}))
    }
}

fn platform(architecture: &str) -> pb::Platform {
    pb::Platform {
        architecture: architecture.to_string(),
        os: "linux".to_string(),
        ..Default::default()
    }
}

// ---- running the frontend against the fake ----

/// What one frontend run did.
struct Run {
    /// `build`'s error, when it failed (it was handed to `return_error`).
    error: Option<anyhow::Error>,
    log: Log,
}

impl Run {
    fn returned(&self) -> &gw::ReturnRequest {
        match self.log.returns.as_slice() {
            [only] => only,
            other => panic!("expected exactly one Return, got {}", other.len()),
        }
    }

    fn returned_result(&self) -> &gw::Result {
        let returned = self.returned();
        assert!(
            returned.error.is_none(),
            "unexpected error: {:?}",
            returned.error
        );
        returned.result.as_ref().expect("Return carries a result")
    }

    fn returned_error(&self) -> &rpc::Status {
        let returned = self.returned();
        assert!(returned.result.is_none(), "an error Return has no result");
        returned.error.as_ref().expect("Return carries an error")
    }

    fn build_error(&self) -> &anyhow::Error {
        self.error.as_ref().expect("the build fails")
    }

    /// The definition of the `index`th solve.
    fn solved(&self, index: usize) -> &pb::Definition {
        self.log.solves[index]
            .0
            .definition
            .as_ref()
            .expect("every solve sends a definition")
    }

    /// The one solve whose definition runs the go build for `arch`.
    fn build_solve(&self, arch: &str) -> (&pb::Definition, &str) {
        let found: Vec<_> = self
            .log
            .solves
            .iter()
            .filter_map(|(request, id)| {
                let def = request.definition.as_ref()?;
                let ops = decode(def);
                let build = execs(&ops)
                    .into_iter()
                    .find(|(_, exec)| args(exec).starts_with(&["go", "build"]))?;
                (env_of(build.1).get("GOARCH").map(String::as_str) == Some(arch))
                    .then_some((def, id.as_str()))
            })
            .collect();
        match found.as_slice() {
            [one] => *one,
            other => panic!("expected one build solve for {arch}, got {}", other.len()),
        }
    }
}

fn frontend_env(opts: &[&str], workers: &str) -> FrontendEnv {
    let mut vars = vec![
        (
            "BUILDKIT_FRONTEND_OPT_0".to_string(),
            "filename=go-build.yaml".to_string(),
        ),
        ("BUILDKIT_SESSION_ID".to_string(), SESSION_ID.to_string()),
        ("BUILDKIT_WORKERS".to_string(), workers.to_string()),
        ("PATH".to_string(), "/bin".to_string()),
    ];
    for (i, opt) in opts.iter().enumerate() {
        vars.push((format!("BUILDKIT_FRONTEND_OPT_{}", i + 1), opt.to_string()));
    }
    FrontendEnv::from_vars(vars).expect("a valid frontend environment")
}

/// Connects a real `Session` to the fake, runs the frontend and hands its outcome back.
async fn run(fake: Fake, opts: &[&str]) -> Run {
    run_on(WORKERS, fake, opts).await
}

/// Like [`run`], on a daemon whose workers are described by `workers` (BUILDKIT_WORKERS JSON).
async fn run_on(workers: &str, fake: Fake, opts: &[&str]) -> Run {
    let log = fake.log.clone();
    let (client_io, server_io) = tokio::io::duplex(1 << 20);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(gw::llb_bridge_server::LlbBridgeServer::new(fake))
            .serve_with_incoming(tokio_stream::once(Ok::<_, std::io::Error>(server_io))),
    );
    let session = Session::connect(client_io)
        .await
        .expect("the session connects and pings the fake gateway");
    let error = match frontend::build(&session, &frontend_env(opts, workers)).await {
        Ok(result) => {
            session
                .return_result(result)
                .await
                .expect("the fake accepts Return");
            None
        }
        Err(error) => {
            session
                .return_error(&error)
                .await
                .expect("the fake accepts Return");
            Some(error)
        }
    };
    drop(session);
    server.abort();
    let log = std::mem::take(&mut *log.lock().expect("the fake's log is not poisoned"));
    Run { error, log }
}

// ---- reading LLB ----

/// The ops of a definition with their digests, in definition order.
fn decode(def: &pb::Definition) -> Vec<(String, pb::Op)> {
    def.def
        .iter()
        .map(|bytes| {
            let op = pb::Op::decode(bytes.as_slice()).expect("every op decodes");
            (format!("sha256:{:x}", Sha256::digest(bytes)), op)
        })
        .collect()
}

fn execs(ops: &[(String, pb::Op)]) -> Vec<(&pb::Op, &pb::ExecOp)> {
    ops.iter()
        .filter_map(|(_, op)| match &op.op {
            Some(pb::op::Op::Exec(exec)) => Some((op, exec)),
            _ => None,
        })
        .collect()
}

/// The Go command an exec runs, as words: its args, or for `sh -c SCRIPT` the script's words
/// from its first `go` on, without shell quotes.
fn args(exec: &pb::ExecOp) -> Vec<&str> {
    let all: Vec<&str> = exec
        .meta
        .as_ref()
        .map(|m| m.args.iter().map(String::as_str).collect())
        .unwrap_or_default();
    match all.as_slice() {
        ["sh", "-c", script] => {
            let words: Vec<&str> = script
                .split_whitespace()
                .map(|w| w.trim_matches('\''))
                .collect();
            // The first go command other than the main-package check (`go list`).
            let go = words
                .windows(2)
                .position(|w| w[0] == "go" && w[1] != "list")
                .unwrap_or(words.len());
            words[go..].to_vec()
        }
        _ => all,
    }
}

fn env_of(exec: &pb::ExecOp) -> BTreeMap<String, String> {
    exec.meta
        .iter()
        .flat_map(|m| &m.env)
        .map(|entry| {
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            (key.to_string(), value.to_string())
        })
        .collect()
}

fn digest_of<'a>(ops: &'a [(String, pb::Op)], wanted: &pb::Op) -> &'a str {
    ops.iter()
        .find(|(_, op)| op == wanted)
        .map(|(digest, _)| digest.as_str())
        .expect("the op is in the definition")
}

fn op_at<'a>(ops: &'a [(String, pb::Op)], digest: &str) -> &'a pb::Op {
    ops.iter()
        .find(|(d, _)| d == digest)
        .map(|(_, op)| op)
        .unwrap_or_else(|| panic!("no op {digest} in the definition"))
}

fn source(op: &pb::Op) -> Option<&pb::SourceOp> {
    match &op.op {
        Some(pb::op::Op::Source(source)) => Some(source),
        _ => None,
    }
}

/// Whether `request` solves the deps step.
fn is_deps(request: &gw::SolveRequest) -> bool {
    request.definition.as_ref().is_some_and(|def| {
        execs(&decode(def))
            .iter()
            .any(|(_, exec)| args(exec).join(" ").contains("go mod download"))
    })
}

/// Whether `request` solves the source scan (its script greps for `//go:embed`).
fn is_scan(request: &gw::SolveRequest) -> bool {
    request.definition.as_ref().is_some_and(|def| {
        execs(&decode(def)).iter().any(|(_, exec)| {
            exec.meta
                .as_ref()
                .is_some_and(|meta| meta.args.iter().any(|arg| arg.contains("//go:embed")))
        })
    })
}

/// The first source op of a solve's graph: the local itself, for a solve of one local.
fn first_source(def: &pb::Definition) -> pb::SourceOp {
    decode(def)
        .iter()
        .find_map(|(_, op)| source(op))
        .cloned()
        .expect("the solve has a source op")
}

/// The op feeding the exec mount at `dest`.
fn mount_source<'a>(ops: &'a [(String, pb::Op)], op: &pb::Op, dest: &str) -> &'a pb::Op {
    let Some(pb::op::Op::Exec(exec)) = &op.op else {
        panic!("not an exec op");
    };
    let mount = exec
        .mounts
        .iter()
        .find(|m| m.dest == dest)
        .unwrap_or_else(|| panic!("no mount at {dest}"));
    let input = usize::try_from(mount.input).expect("the mount has an input");
    op_at(ops, &op.inputs[input].digest)
}

/// The one exec whose args start with `prefix`.
fn exec_with<'a>(ops: &'a [(String, pb::Op)], prefix: &[&str]) -> (&'a pb::Op, &'a pb::ExecOp) {
    let found: Vec<_> = execs(ops)
        .into_iter()
        .filter(|(_, exec)| args(exec).starts_with(prefix))
        .collect();
    match found.as_slice() {
        [one] => *one,
        other => panic!("expected one exec {prefix:?}, got {}", other.len()),
    }
}

fn json_list(attr: Option<&String>) -> Vec<String> {
    serde_json::from_str(attr.expect("the attribute is set")).expect("the attribute is a JSON list")
}

/// The structure BuildKit relies on: inputs before users, metadata for every op, and a
/// terminal op that only points at the result.
fn assert_well_formed(def: &pb::Definition) {
    let ops = decode(def);
    for (i, (digest, op)) in ops.iter().enumerate() {
        for input in &op.inputs {
            assert!(
                ops[..i].iter().any(|(d, _)| *d == input.digest),
                "op {i} uses {} before it is defined",
                input.digest
            );
        }
        assert!(def.metadata.contains_key(digest), "op {i} has no metadata");
    }
    let (_, terminal) = ops.last().expect("a non-empty definition");
    assert_eq!(terminal.inputs.len(), 1, "the terminal op has one input");
    assert!(
        terminal.op.is_none(),
        "the terminal op has no op of its own"
    );
}

// ---- the tests ----

/// The scan is asked for while the context still moves (BuildKit then runs it the moment
/// the transfer ends, with no round trip to the frontend in between), and so is the deps
/// step (it needs go.mod and go.sum only): the fake holds the transfer until both arrive.
#[tokio::test]
async fn the_scan_and_the_deps_step_are_asked_for_while_the_context_moves() {
    let fake = Fake {
        hold_transfer_for_scan_and_deps: true,
        ..Fake::hello()
    };
    let run = run(fake, &[]).await;
    assert!(run.error.is_none(), "build failed: {:?}", run.error);
    let solves = &run.log.solves;
    let transfer = solves.iter().position(|(r, _)| {
        r.evaluate
            && first_source(r.definition.as_ref().expect("a definition"))
                .attrs
                .get("local.sharedkeyhint")
                .map(String::as_str)
                == Some("context")
    });
    for (what, asked) in [
        ("scan", is_scan as fn(&gw::SolveRequest) -> bool),
        ("deps step", is_deps),
    ] {
        let asked = solves.iter().position(|(r, _)| asked(r));
        assert!(
            matches!((asked, transfer), (Some(asked), Some(transfer)) if asked < transfer),
            "the {what}'s solve is answered before the transfer ends: {asked:?}, {transfer:?}"
        );
    }
}

#[tokio::test]
async fn hello_builds_one_image_from_a_pinned_builder() {
    let run = run(Fake::hello(), &[]).await;
    assert!(run.error.is_none(), "build failed: {:?}", run.error);
    let solves = &run.log.solves;
    assert_eq!(
        solves.len(),
        8,
        "spec, .dockerignore, module files, context, embed scan, the deps step's module files, the deps step, build"
    );
    let scan = solves.iter().position(|(r, _)| is_scan(r)).expect("a scan");
    let build = solves.len() - 1;

    // Every solve asks for a result back; the context transfer is evaluated first (solves
    // are lazy), so that it runs while the module files are read, then the deps step and
    // its module files, so that they run while the context moves.
    for (request, _) in solves {
        assert!(request.allow_result_return && request.allow_result_array_ref);
        assert!(request.cache_imports.is_empty());
        assert_well_formed(request.definition.as_ref().expect("a definition"));
    }
    let evaluated: Vec<usize> = (0..solves.len())
        .filter(|&i| solves[i].0.evaluate)
        .collect();
    let [context_solve, fetches @ ..] = evaluated.as_slice() else {
        panic!("no evaluated solve")
    };
    let fetched: Vec<String> = fetches
        .iter()
        .map(|&i| match execs(&decode(run.solved(i))).first() {
            Some((_, exec)) => args(exec).join(" "),
            None => first_source(run.solved(i)).attrs["local.sharedkeyhint"].clone(),
        })
        .collect();
    assert_eq!(fetched.len(), 2, "{fetched:?}");
    assert!(
        fetched.contains(&"gobuild-mod-files".to_string()),
        "{fetched:?}"
    );
    assert!(
        fetched.iter().any(|f| f.contains("go mod download")),
        "{fetched:?}"
    );
    let context_source = first_source(run.solved(*context_solve));
    assert_eq!(context_source.identifier, "local://context");
    assert_eq!(
        context_source
            .attrs
            .get("local.sharedkeyhint")
            .map(String::as_str),
        Some("context"),
        "the same transfer as the scan's"
    );

    // 1. The spec comes through the `dockerfile` local, like a Dockerfile does.
    let spec_source = first_source(run.solved(0));
    assert_eq!(spec_source.identifier, "local://dockerfile");
    assert_eq!(
        spec_source.attrs.get("local.session").map(String::as_str),
        Some(SESSION_ID)
    );
    assert!(
        json_list(spec_source.attrs.get("local.followpaths"))
            .contains(&"go-build.yaml".to_string())
    );
    // The ignore file comes first (the context transfer needs it), then the module files and
    // the context at the same time: which solve is which shows in what was read from it.
    let reads: Vec<(&str, &str)> = run
        .log
        .reads
        .iter()
        .map(|r| (r.r#ref.as_str(), r.file_path.as_str()))
        .collect();
    let read_from = |file: &str| {
        let reference = reads
            .iter()
            .find(|(_, f)| *f == file)
            .unwrap_or_else(|| panic!("{file} was never read: {reads:?}"))
            .0;
        solves
            .iter()
            .position(|(_, r)| r == reference)
            .unwrap_or_else(|| panic!("{file} read from an unknown ref"))
    };
    let (ignore_solve, modules_solve) = (read_from(".dockerignore"), read_from("go.mod"));
    assert_eq!(ignore_solve, 1, "the ignore file right after the spec");
    let mut early = [ignore_solve, modules_solve, *context_solve];
    early.sort();
    assert_eq!(
        early,
        [1, 2, 3],
        "the context's .dockerignore, the module files and the context come right after the spec: {reads:?}"
    );
    let mut read_files: Vec<(usize, &str)> = reads
        .iter()
        .map(|(reference, file)| {
            (
                solves
                    .iter()
                    .position(|(_, r)| r == reference)
                    .unwrap_or(99),
                *file,
            )
        })
        .collect();
    read_files.sort();
    let mut expected = vec![
        (0, "go-build.yaml"),
        (0, "go-build.yaml.dockerignore"),
        (ignore_solve, ".dockerignore"),
        (modules_solve, "go.mod"),
        (modules_solve, "go.sum"),
        (modules_solve, "go.work"),
        (modules_solve, "vendor/modules.txt"),
        (scan, "embeds"),
        (scan, "files"),
        (scan, "headers"),
    ];
    expected.sort();
    assert_eq!(
        read_files, expected,
        "the spec (and its ignore file) from the spec solve, .dockerignore from the context, go.mod and go.sum from the module-files solve"
    );
    // Exact paths: a `**/go.mod` pattern made the client walk the whole context.
    let modules_source = first_source(run.solved(modules_solve));
    assert_eq!(
        json_list(modules_source.attrs.get("local.includepattern")),
        ["go.mod", "go.sum", "vendor/modules.txt", "go.work"]
    );

    // 2. The builder image is resolved for the build platform.
    let [resolve] = run.log.resolves.as_slice() else {
        panic!(
            "expected one ResolveImageConfig, got {}",
            run.log.resolves.len()
        );
    };
    assert_eq!(resolve.r#ref, BUILDER_REF);
    assert_eq!(resolve.platform.as_ref(), Some(&platform("amd64")));
    assert_eq!(resolve.resolve_mode, "default");

    // 3. The result is one ref: the last solve's.
    let result = run.returned_result();
    match &result.result {
        Some(gw::result::Result::Ref(reference)) => assert_eq!(reference.id, solves[build].1),
        other => panic!("expected Result.ref, got {other:?}"),
    }
    let config: Value = serde_json::from_slice(
        result
            .metadata
            .get("containerimage.config")
            .expect("containerimage.config metadata"),
    )
    .expect("the image config is JSON");
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        json!(["/usr/local/bin/hello"])
    );
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["os"], "linux");

    // 4. The build graph.
    let def = run.solved(build);
    let ops = decode(def);
    let images: Vec<&pb::SourceOp> = ops
        .iter()
        .filter_map(|(_, op)| source(op))
        .filter(|s| s.identifier.starts_with("docker-image://"))
        .collect();
    let [builder] = images.as_slice() else {
        panic!("expected one image source, got {}", images.len());
    };
    assert_eq!(
        builder.identifier,
        format!("docker-image://{BUILDER_REF}@{BUILDER_DIGEST}")
    );

    let (deps_op, deps) = exec_with(&ops, &["go", "mod", "download"]);
    let (build_op, build) = exec_with(&ops, &["go", "build"]);
    for (op, exec) in [(deps_op, deps), (build_op, build)] {
        let env = env_of(exec);
        assert_eq!(
            env.get("PATH").map(String::as_str),
            IMAGE_PATH.strip_prefix("PATH=")
        );
        assert_eq!(env.get("GOPATH").map(String::as_str), Some("/go"));
        assert_eq!(op.platform.as_ref(), Some(&platform("amd64")));
        assert!(!def.metadata[digest_of(&ops, op)].ignore_cache);
    }
    let build_env = env_of(build);
    assert_eq!(build_env.get("CGO_ENABLED").map(String::as_str), Some("0"));
    assert_eq!(build_env.get("GOARCH").map(String::as_str), Some("amd64"));
    assert_eq!(
        deps.network(),
        pb::NetMode::Unset,
        "deps use the sandbox network"
    );
    assert_eq!(build.network(), pb::NetMode::None, "go build runs offline");

    // The deps step runs on the pinned builder and sees only go.mod and go.sum.
    assert_eq!(source(mount_source(&ops, deps_op, "/")), Some(*builder));
    // Those come in a transfer of their own, which takes what exists of them.
    let mod_files = source(mount_source(&ops, deps_op, "/src")).expect("/src is a source");
    assert_eq!(mod_files.identifier, "local://context");
    assert_eq!(
        json_list(mod_files.attrs.get("local.includepattern")),
        ["go.mod", "go.sum"]
    );
    assert_eq!(
        mod_files.attrs.get("local.session").map(String::as_str),
        Some(SESSION_ID)
    );
    // The same vertex the frontend evaluated while the context moved: BuildKit runs it once.
    let fetched_terminals: Vec<String> = fetches
        .iter()
        .map(|&i| {
            let fetched = decode(run.solved(i));
            let (_, terminal) = fetched.last().expect("a non-empty definition");
            terminal.inputs[0].digest.clone()
        })
        .collect();
    assert!(
        fetched_terminals.contains(&digest_of(&ops, deps_op).to_string()),
        "the build graph's deps step is the one fetched early"
    );
    assert!(
        fetched_terminals
            .contains(&digest_of(&ops, mount_source(&ops, deps_op, "/src")).to_string()),
        "and so are its module files"
    );
    // The build step sees what Go reads: sources and module files, not the spec. A v0.8
    // daemon gets them from a step that copies them by path out of the whole context (it
    // fails large selections by copies): the paths from the source scan, in a file.
    let select = mount_source(&ops, build_op, "/src");
    let (select_op, select_exec) = exec_with(&ops, &["xargs", "--null"]);
    assert_eq!(digest_of(&ops, select), digest_of(&ops, select_op));
    assert!(args(select_exec).contains(&"cp"), "{:?}", args(select_exec));
    let context = source(mount_source(&ops, select, "/src")).expect("/src is a source");
    assert_eq!(context.identifier, "local://context");
    assert_eq!(
        context.attrs.get("local.includepattern"),
        None,
        "the whole context"
    );
    let list = mount_source(&ops, select, "/gobuild/sources");
    let Some(pb::op::Op::File(list)) = &list.op else {
        panic!("the list is a file op");
    };
    let Some(pb::file_action::Action::Mkfile(mkfile)) = &list.actions[0].action else {
        panic!("the list is written by the frontend");
    };
    assert_eq!(mkfile.data, b"go.mod\0main.go\0");

    // Ops point back into go-build.yaml; the build step at its binary's entry.
    let spec = hello_file("go-build.yaml");
    let located = def
        .source
        .as_ref()
        .expect("the definition carries source locations");
    assert!(!located.locations.is_empty());
    assert_eq!(located.infos[0].filename, "go-build.yaml");
    assert_eq!(located.infos[0].data, spec);
    for digest in located.locations.keys() {
        assert!(
            ops.iter().any(|(d, _)| d == digest),
            "location for unknown op {digest}"
        );
    }
    let binary_line = String::from_utf8_lossy(&spec)
        .lines()
        .position(|l| l.trim_start().starts_with("- package:"))
        .expect("hello lists a binary")
        + 1;
    let build_location = &located.locations[digest_of(&ops, build_op)].locations[0];
    assert_eq!(build_location.source_index, 0);
    let start = build_location.ranges[0].start.expect("a start position");
    assert_eq!(usize::try_from(start.line).ok(), Some(binary_line));

    // Every cap the graph needs was advertised.
    for digest in def.metadata.keys() {
        for cap in def.metadata[digest].caps.keys() {
            assert!(LLB_CAPS.contains(&cap.as_str()), "{cap} is not a v0.8 cap");
        }
    }
}

#[tokio::test]
async fn multi_platform_returns_a_ref_per_platform_cross_compiled_on_the_build_platform() {
    let run = run(Fake::hello(), &["platform=linux/amd64,linux/arm64"]).await;
    assert!(run.error.is_none(), "build failed: {:?}", run.error);
    assert_eq!(
        run.log.solves.len(),
        9,
        "spec, .dockerignore, module files, context, embed scan, the deps step's module files, the deps step, one build per platform"
    );
    assert_eq!(run.log.resolves.len(), 1, "the builder is resolved once");

    let result = run.returned_result();
    let Some(gw::result::Result::Refs(refs)) = &result.result else {
        panic!("expected Result.refs, got {:?}", result.result);
    };
    let keys: Vec<&str> = refs.refs.keys().map(String::as_str).collect();
    assert_eq!(keys, ["linux/amd64", "linux/arm64"]);
    for arch in ["amd64", "arm64"] {
        let (def, id) = run.build_solve(arch);
        assert_well_formed(def);
        assert_eq!(refs.refs[&format!("linux/{arch}")].id, id);
        let config: Value = serde_json::from_slice(
            result
                .metadata
                .get(&format!("containerimage.config/linux/{arch}"))
                .expect("a config per platform"),
        )
        .expect("the image config is JSON");
        assert_eq!(config["architecture"], arch);
        assert_eq!(config["os"], "linux");
    }
    assert!(!result.metadata.contains_key("containerimage.config"));
    let listed: Value = serde_json::from_slice(
        result
            .metadata
            .get("refs.platforms")
            .expect("refs.platforms metadata"),
    )
    .expect("refs.platforms is JSON");
    assert_eq!(
        listed,
        json!({"Platforms": [
            {"ID": "linux/amd64", "Platform": {"architecture": "amd64", "os": "linux"}},
            {"ID": "linux/arm64", "Platform": {"architecture": "arm64", "os": "linux"}},
        ]})
    );

    // arm64 is cross-compiled: the builder and the compiler run as amd64, GOARCH says arm64.
    let (def, _) = run.build_solve("arm64");
    let ops = decode(def);
    let (build_op, build) = exec_with(&ops, &["go", "build"]);
    let env = env_of(build);
    assert_eq!(env.get("GOARCH").map(String::as_str), Some("arm64"));
    assert_eq!(env.get("GOOS").map(String::as_str), Some("linux"));
    assert_eq!(build_op.platform.as_ref(), Some(&platform("amd64")));
    let builder = ops
        .iter()
        .find(|(_, op)| source(op).is_some_and(|s| s.identifier.starts_with("docker-image://")))
        .map(|(_, op)| op)
        .expect("a builder image source");
    assert_eq!(builder.platform.as_ref(), Some(&platform("amd64")));
    // The runtime image's file ops are for the target platform, the source selections and
    // the files steps read for the build platform.
    let files: Vec<(&String, &pb::Op)> = ops
        .iter()
        .filter(|(_, op)| matches!(op.op, Some(pb::op::Op::File(_))))
        .map(|(digest, op)| (digest, op))
        .collect();
    assert!(!files.is_empty());
    for (digest, op) in files {
        let name = def.metadata[digest]
            .description
            .get("llb.customname")
            .cloned()
            .unwrap_or_default();
        let expected =
            if name.starts_with("[internal] select") || name.starts_with("[internal] write") {
                "amd64"
            } else {
                "arm64"
            };
        assert_eq!(op.platform.as_ref(), Some(&platform(expected)), "{name}");
    }
}

/// What `go version -m` prints for hello's binary in the image.
const HELLO_BUILDINFO: &str = "/gobuild/image/usr/local/bin/hello: go1.27.3
\tpath\texample.com/hello
\tmod\texample.com/hello\t(devel)\t
\tdep\texample.com/greet\tv1.1.0\th1:dXiU0HH7DlyyYSASO90rFy0OtBm29dANWQbO3rqs1gk=
\tbuild\tGOARCH=amd64
";

/// `attest:sbom` on a daemon that takes attestations: per platform, a step runs `go version
/// -m` on the image's binaries, and the result carries the SPDX document made from it as an
/// in-toto attestation under the platform's key. A named scanner, or a daemon without the
/// cap, gets none.
#[tokio::test]
async fn an_sbom_request_returns_an_spdx_attestation_per_platform() {
    let fake = || {
        let mut fake = Fake::hello().file("buildinfo", HELLO_BUILDINFO.as_bytes().to_vec());
        fake.gateway_caps.extend(caps(&["reference.attestations"]));
        fake
    };
    let built = run(
        fake(),
        &["attest:sbom=type=sbom", "platform=linux/amd64,linux/arm64"],
    )
    .await;
    assert!(built.error.is_none(), "build failed: {:?}", built.error);
    let result = built.returned_result();
    let keys: Vec<&str> = result.attestations.keys().map(String::as_str).collect();
    assert_eq!(keys, ["linux/amd64", "linux/arm64"]);
    for (key, attestations) in &result.attestations {
        let [attestation] = attestations.attestation.as_slice() else {
            panic!("{key}: one attestation, got {attestations:?}");
        };
        assert_eq!(attestation.kind, gw::AttestationKind::InToto as i32);
        assert_eq!(attestation.path, "/sbom.spdx.json");
        assert_eq!(
            attestation.in_toto_predicate_type,
            "https://spdx.dev/Document"
        );
        assert_eq!(attestation.metadata["reason"], b"sbom");
        assert!(
            attestation.in_toto_subjects.is_empty(),
            "about the image itself"
        );
        // Its ref is the solve of a definition that writes the document.
        let id = &attestation.r#ref.as_ref().expect("a ref").id;
        let (request, _) = built
            .log
            .solves
            .iter()
            .find(|(_, solved)| solved == id)
            .expect("the attestation's ref was solved");
        let ops = decode(request.definition.as_ref().expect("a definition"));
        let document = ops
            .iter()
            .find_map(|(_, op)| match &op.op {
                Some(pb::op::Op::File(file)) => file.actions.iter().find_map(|a| match &a.action {
                    Some(pb::file_action::Action::Mkfile(mkfile)) => Some(mkfile.data.clone()),
                    _ => None,
                }),
                _ => None,
            })
            .expect("a file op writes the document");
        let document: Value = serde_json::from_slice(&document).expect("SPDX JSON");
        assert_eq!(document["spdxVersion"], "SPDX-2.3");
        assert_eq!(document["name"], format!("hello ({key})"));
        let greet = document["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .find(|p| p["name"] == "example.com/greet")
            .expect("the module from the build information");
        assert_eq!(greet["versionInfo"], "v1.1.0");
    }
    // The build information step reads the image's binary, offline, on the build platform.
    let scans: Vec<_> = built
        .log
        .solves
        .iter()
        .filter_map(|(request, _)| {
            let ops = decode(request.definition.as_ref()?);
            let (op, exec) = execs(&ops)
                .into_iter()
                .find(|(_, exec)| args(exec).starts_with(&["go", "version", "-m"]))?;
            let path = env_of(exec).get("PATH").cloned();
            assert_eq!(
                path.as_deref(),
                IMAGE_PATH.strip_prefix("PATH="),
                "Go is on the builder's PATH"
            );
            Some((op.platform.clone(), args(exec).join(" "), request.evaluate))
        })
        .collect();
    assert_eq!(scans.len(), 2, "one per platform");
    for (platform_of_step, command, evaluated) in scans {
        assert_eq!(platform_of_step, Some(platform("amd64")));
        assert_eq!(
            command,
            "go version -m /gobuild/image/usr/local/bin/hello > /out/buildinfo"
        );
        assert!(evaluated, "solved before its output is read");
    }

    for (opts, why) in [
        (
            &["attest:sbom=type=sbom,generator=corp/scanner"][..],
            "a scanner is named",
        ),
        (&[][..], "no SBOM was asked for"),
    ] {
        let other = run(fake(), opts).await;
        assert!(other.error.is_none(), "{why}: {:?}", other.error);
        assert!(other.returned_result().attestations.is_empty(), "{why}");
    }
    let v08 = run(
        Fake::hello().file("buildinfo", HELLO_BUILDINFO.as_bytes().to_vec()),
        &["attest:sbom=type=sbom"],
    )
    .await;
    assert!(
        v08.returned_result().attestations.is_empty(),
        "no cap, no attestation"
    );
    assert_eq!(
        v08.log
            .reads
            .iter()
            .filter(|r| r.file_path == "buildinfo")
            .count(),
        0
    );
}

#[tokio::test]
async fn spec_errors_point_at_the_line_with_a_source_detail() {
    let spec = b"# syntax=gobuild-frontend:dev\nbinaries:\n  - package: .\n    nmae: hello\n";
    let fake = Fake::new()
        .file("go-build.yaml", spec.to_vec())
        .file("go.mod", hello_file("go.mod"));
    let run = run(fake, &[]).await;
    let message = format!("{:#}", run.build_error());
    assert!(message.starts_with("go-build.yaml:4:5: "), "{message}");
    assert_eq!(
        run.log.solves.len(),
        1,
        "nothing is solved after the spec read"
    );
    assert!(run.log.resolves.is_empty());

    let error = run.returned_error();
    assert_eq!(error.code, 2, "gRPC Unknown, like BuildKit's own frontends");
    assert!(
        error.message.starts_with("go-build.yaml:4:5: "),
        "{}",
        error.message
    );
    assert!(error.message.contains("nmae"), "{}", error.message);
    let [detail] = error.details.as_slice() else {
        panic!("expected one detail, got {}", error.details.len());
    };
    assert_eq!(detail.type_url, SOURCE_DETAIL);
    let source: Value = serde_json::from_slice(&detail.value).expect("the detail is JSON");
    assert_eq!(source["info"]["filename"], "go-build.yaml");
    assert_eq!(
        source["info"]["data"],
        base64::engine::general_purpose::STANDARD.encode(spec)
    );
    assert_eq!(source["ranges"][0]["start"]["line"], 4);
}

/// A context of 100,000 Go files each in its own directory makes a graph over BuildKit's 4 MiB
/// message limit (daemons before v0.14): the build fails with our message before sending it,
/// not with a gRPC error.
#[tokio::test]
async fn a_graph_over_the_message_limit_is_refused_before_it_is_sent() {
    let mut files = Vec::new();
    for i in 0..100_000 {
        files.extend_from_slice(
            format!("./pkg/a_rather_long_directory_name_for_this_test_{i}/file.go\0").as_bytes(),
        );
    }
    files.extend_from_slice(b"./go.mod\0./main.go\0");
    let fake = Fake::hello().file("files", files);
    let run = run(fake, &[]).await;
    let message = format!("{:#}", run.build_error());
    assert!(
        message.contains("more than this BuildKit takes in one message"),
        "{message}"
    );
}

/// The LLB cap of daemons from v0.9 on, which get the build's files by copies in the graph.
const COPY_PATTERNS_CAP: &str = "file.copy.includeexcludepatterns";

/// A big selection is, where the daemon has filtered copies, one copy per context directory
/// filtered by that directory's names (`*.go` when all of them are selected), so that
/// BuildKit's checksum of each copy walks one directory's subtree with a pattern or two; the
/// copies come in parts, so an edit re-copies only its part. A directory with many selected
/// files is a part of its own, mounted on a mount point its parent part makes.
#[tokio::test]
async fn a_big_selection_is_one_filtered_copy_per_directory_in_parts() {
    let mut files = Vec::new();
    for i in 0..400 {
        files.extend_from_slice(format!("./pkg/p{i}/file.go\0").as_bytes());
    }
    files.extend_from_slice(b"./pkg/two/a.go\0./pkg/two/b.go\0./go.mod\0./main.go\0");
    let mut fake = Fake::hello().file("files", files);
    fake.llb_caps.extend(caps(&[COPY_PATTERNS_CAP]));
    let run = run(fake, &[]).await;
    let def = run.solved(run.log.solves.len() - 1);
    let ops = decode(def);
    let (build_op, _) = exec_with(&ops, &["go", "build"]);
    let part = |dest: &str| {
        let op = mount_source(&ops, build_op, dest);
        let Some(pb::op::Op::File(file)) = &op.op else {
            panic!("the sources at {dest} are a file op")
        };
        assert_eq!(file.actions[0].input, -1, "onto scratch");
        let digest = ops
            .iter()
            .find(|(_, o)| std::ptr::eq(o, op))
            .map(|(d, _)| d.clone())
            .expect("the op's digest");
        let filtered = file.actions.iter().any(|action| {
            matches!(&action.action, Some(pb::file_action::Action::Copy(c)) if !c.include_patterns.is_empty())
        });
        assert_eq!(
            def.metadata[&digest].caps.contains_key(COPY_PATTERNS_CAP),
            filtered,
            "{dest}: the cap exactly where a copy is filtered"
        );
        file
    };
    let copies = |file: &pb::FileOp| -> Vec<(String, String, Vec<String>)> {
        file.actions
            .iter()
            .filter_map(|action| match &action.action {
                Some(pb::file_action::Action::Copy(copy)) => Some((
                    copy.src.clone(),
                    copy.dest.clone(),
                    copy.include_patterns.clone(),
                )),
                _ => None,
            })
            .collect()
    };

    let root = part("/src");
    assert_eq!(
        copies(root),
        [
            ("/go.mod".into(), "/go.mod".into(), vec![]),
            ("/main.go".into(), "/main.go".into(), vec![]),
        ],
        "the root's files by path: a filter at the root walks the whole context"
    );
    let Some(pb::file_action::Action::Mkdir(mkdir)) = &root.actions[2].action else {
        panic!("the copies, then a mount point")
    };
    assert_eq!(mkdir.path, "/pkg");

    let pkg = copies(part("/src/pkg"));
    assert_eq!(pkg.len(), 401, "400 directories of one file, and pkg/two");
    assert!(pkg.contains(&("/pkg/two".into(), "/two".into(), vec!["*.go".into()])));
    assert!(pkg.contains(&("/pkg/p7".into(), "/p7".into(), vec!["file.go".into()])));
}

/// An error in go.mod excerpts go.mod, not the spec at go.mod's line number (issue 10).
#[tokio::test]
async fn go_mod_errors_excerpt_go_mod() {
    let go_mod = b"module example.com/hello\n\ngo 1.27\n\nrequire (\n\texample.com/x v1.0.0\n";
    let fake = Fake::new()
        .file("go-build.yaml", hello_file("go-build.yaml"))
        .file("go.mod", go_mod.to_vec());
    let run = run(fake, &[]).await;
    let error = run.returned_error();
    assert!(error.message.starts_with("go.mod:5:"), "{}", error.message);
    let [detail] = error.details.as_slice() else {
        panic!("expected one detail, got {}", error.details.len());
    };
    let source: Value = serde_json::from_slice(&detail.value).expect("the detail is JSON");
    assert_eq!(source["info"]["filename"], "go.mod");
    assert_eq!(source["info"]["language"], "Go Module");
    assert_eq!(
        source["info"]["data"],
        base64::engine::general_purpose::STANDARD.encode(go_mod)
    );
}

/// Many problems in one spec: the spec travels once, with a range per problem.
#[tokio::test]
async fn many_spec_problems_attach_the_spec_once() {
    let mut spec = String::from("binaries:\n");
    for i in 0..40 {
        spec.push_str(&format!("  - package: /abs{i}\n"));
    }
    let fake = Fake::new()
        .file("go-build.yaml", spec.clone().into_bytes())
        .file("go.mod", hello_file("go.mod"));
    let run = run(fake, &[]).await;
    let error = run.returned_error();
    let [detail] = error.details.as_slice() else {
        panic!("expected one detail, got {}", error.details.len());
    };
    let source: Value = serde_json::from_slice(&detail.value).expect("the detail is JSON");
    assert_eq!(source["ranges"].as_array().map(Vec::len), Some(40));
}

#[tokio::test]
async fn missing_llb_caps_stop_the_build_before_its_graph_is_sent() {
    for disabled_instead_of_absent in [false, true] {
        let mut fake = Fake::hello();
        if disabled_instead_of_absent {
            for cap in &mut fake.llb_caps {
                if cap.id == "exec.mount.cache" {
                    cap.enabled = false;
                    cap.disabled_reason = "disabled by the test".to_string();
                }
            }
        } else {
            fake.llb_caps.retain(|cap| cap.id != "exec.mount.cache");
        }
        let run = run(fake, &[]).await;
        let what = if disabled_instead_of_absent {
            "disabled"
        } else {
            "absent"
        };

        let message = format!("{:#}", run.build_error());
        assert!(message.contains("exec.mount.cache"), "{what}: {message}");
        let error = run.returned_error();
        assert_eq!(error.code, 2);
        assert!(
            error.message.contains("exec.mount.cache"),
            "{what}: {}",
            error.message
        );
        assert!(
            !error.message.contains("exec.mount.cache.sharing"),
            "{what}: only the missing cap is named: {}",
            error.message
        );

        // The deps step needs the cap too: its solve is never sent, the module files' for it
        // may have been.
        let sent = run.log.solves.len();
        assert!(
            (4..=6).contains(&sent),
            "{what}: spec, .dockerignore, module files, context, perhaps the embed scan and the deps step's module files, not {sent}"
        );
        for (request, _) in &run.log.solves {
            let def = request.definition.as_ref().expect("a definition");
            assert!(
                execs(&decode(def))
                    .iter()
                    .all(|(_, exec)| !args(exec).starts_with(&["go"])),
                "{what}: a graph that runs Go was sent"
            );
        }
    }
}

#[tokio::test]
async fn buildkit_solve_errors_pass_through_unchanged() {
    let details = rpc::Status {
        code: 2,
        message: "boom".to_string(),
        details: vec![
            prost_types::Any {
                type_url: "x".to_string(),
                value: b"y".to_vec(),
            },
            prost_types::Any {
                type_url: "github.com/moby/buildkit/errdefs.Vertex+json".to_string(),
                value: br#"{"digest":"sha256:0123"}"#.to_vec(),
            },
        ],
    };
    let mut fake = Fake::hello();
    fake.fail_build_solve = Some(Status::with_details(
        Code::Unknown,
        "boom",
        details.encode_to_vec().into(),
    ));
    let run = run(fake, &[]).await;

    assert_eq!(gateway::error_status(run.build_error()), details);
    assert_eq!(run.returned_error(), &details);
    assert_eq!(
        run.log.solves.len(),
        8,
        "the failing solve was the build graph"
    );
    assert!(run.log.solves[7].1.is_empty());
}

#[tokio::test]
async fn buildkit_resolve_errors_keep_their_code_and_details() {
    let wanted = rpc::Status {
        code: Code::NotFound as i32,
        message: format!("{BUILDER_REF}: not found"),
        details: vec![prost_types::Any {
            type_url: "x".to_string(),
            value: b"y".to_vec(),
        }],
    };
    let mut fake = Fake::hello();
    fake.fail_resolve = Some(Status::with_details(
        Code::NotFound,
        wanted.message.clone(),
        wanted.encode_to_vec().into(),
    ));
    let run = run(fake, &[]).await;

    let error = run.build_error();
    assert!(format!("{error:#}").contains(BUILDER_REF));
    assert_eq!(gateway::error_status(error), wanted);
    assert_eq!(run.returned_error(), &wanted);
    assert_eq!(
        run.log.solves.len(),
        4,
        "no build graph after a failed resolve (spec, .dockerignore, module files, context)"
    );
}

#[tokio::test]
async fn missing_go_mod_is_reported_against_the_spec() {
    let fake = Fake::new().file("go-build.yaml", hello_file("go-build.yaml"));
    let run = run(fake, &[]).await;

    let message = format!("{:#}", run.build_error());
    assert!(message.starts_with("go-build.yaml:"), "{message}");
    assert!(message.contains("go.mod"), "{message}");
    assert!(run.log.reads.iter().any(|r| r.file_path == "go.mod"));
    assert!(
        run.log.resolves.is_empty(),
        "nothing is resolved without go.mod"
    );
    assert!(
        !run.log.solves.iter().any(|(request, _)| {
            !execs(&decode(request.definition.as_ref().expect("a definition"))).is_empty()
        }),
        "nothing runs without go.mod"
    );

    let error = run.returned_error();
    assert_eq!(error.code, 2);
    assert!(
        error.message.starts_with("go-build.yaml:"),
        "{}",
        error.message
    );
    assert!(error.message.contains("go.mod"), "{}", error.message);
    assert_eq!(
        error
            .details
            .iter()
            .map(|d| d.type_url.as_str())
            .collect::<Vec<_>>(),
        [SOURCE_DETAIL]
    );
}

#[tokio::test]
async fn cache_network_and_no_cache_options_are_forwarded() {
    let run = run(
        Fake::hello(),
        &[
            "cache-from=reg/cache:1",
            "force-network-mode=host",
            "no-cache=",
        ],
    )
    .await;
    assert!(run.error.is_none(), "build failed: {:?}", run.error);
    run.returned_result();

    let wanted = [gw::CacheOptionsEntry {
        r#type: "registry".to_string(),
        attrs: BTreeMap::from([("ref".to_string(), "reg/cache:1".to_string())]),
    }];
    // With an imported cache the deps step is not evaluated early (a layer found there is
    // fetched only if the build step misses): only its module files move early.
    assert_eq!(run.log.solves.len(), 7);
    for (request, _) in &run.log.solves {
        assert_eq!(request.cache_imports, wanted);
        let def = request.definition.as_ref().expect("a definition");
        let runs = !execs(&decode(def)).is_empty();
        assert!(!request.evaluate || !runs, "a step was evaluated");
    }

    let def = run.solved(6);
    let ops = decode(def);
    let (deps_op, deps) = exec_with(&ops, &["go", "mod", "download"]);
    let (build_op, build) = exec_with(&ops, &["go", "build"]);
    assert_eq!(
        deps.network(),
        pb::NetMode::Host,
        "the download may use the host network"
    );
    assert_eq!(build.network(), pb::NetMode::None, "go build stays offline");
    for op in [deps_op, build_op] {
        let metadata = &def.metadata[digest_of(&ops, op)];
        assert!(metadata.ignore_cache, "no-cache reaches every exec");
        assert!(metadata.caps.contains_key("exec.meta.network"));
    }
}

/// The `local.excludepatterns` of the build context the source scan lists.
fn context_excludes(run: &Run) -> Vec<String> {
    let def = run.solved(run.log.solves.len() - 2);
    let ops = decode(def);
    let context = ops
        .iter()
        .filter_map(|(_, op)| source(op))
        .find(|s| s.attrs.contains_key("local.excludepatterns"))
        .expect("the build context source");
    json_list(context.attrs.get("local.excludepatterns"))
}

#[tokio::test]
async fn dockerignore_patterns_keep_files_out_of_the_build_step() {
    let fake = Fake::hello().file(
        ".dockerignore",
        b"# docs\ndocs/\n/*.md\n!README.md\n".to_vec(),
    );
    let context = run(fake, &[]).await;
    assert!(context.error.is_none(), "build failed: {:?}", context.error);
    assert_eq!(context_excludes(&context), ["docs", "*.md", "!README.md"]);

    // `<spec>.dockerignore` next to the spec wins, and the context's is then not even read.
    let fake = Fake::hello()
        .file(".dockerignore", b"docs\n".to_vec())
        .file("go-build.yaml.dockerignore", b"testdata\n".to_vec());
    let beside = run(fake, &[]).await;
    assert!(beside.error.is_none(), "build failed: {:?}", beside.error);
    assert_eq!(context_excludes(&beside), ["testdata"]);
    assert!(
        beside
            .log
            .reads
            .iter()
            .all(|r| r.file_path != ".dockerignore")
    );

    // Where copies are filtered the transfer's own patterns are includes: its exclusions
    // stay the .dockerignore's alone, so the client skips an ignored directory (a wildcard
    // exception would make it walk everything below).
    let fake = Fake::hello()
        .file(".dockerignore", b"node_modules\n".to_vec())
        .file("files", b"./go.mod\0./main.go\0".to_vec());
    let filtered = run(with_filtered_copies(fake), &[]).await;
    assert!(
        filtered.error.is_none(),
        "build failed: {:?}",
        filtered.error
    );
    assert_eq!(
        scanned_context_patterns(&filtered, "local.excludepatterns"),
        [["node_modules"]]
    );
    assert!(scanned_context_includes(&filtered)[0].contains(&"**/go.mod".to_string()));
}

/// The names (`llb.customname`) of every op in a definition.
fn op_names(def: &pb::Definition) -> Vec<String> {
    def.metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname").cloned())
        .collect()
}

#[tokio::test]
async fn spec_platforms_and_forced_multi_platform_results() {
    // The spec's platforms are the default targets.
    let spec = [
        hello_file("go-build.yaml"),
        b"platforms: [linux/arm64, linux/arm/v7]\n".to_vec(),
    ]
    .concat();
    let fake = Fake::hello().file("go-build.yaml", spec);
    let from_spec = run(fake, &[]).await;
    assert!(
        from_spec.error.is_none(),
        "build failed: {:?}",
        from_spec.error
    );
    let Some(gw::result::Result::Refs(refs)) = &from_spec.returned_result().result else {
        panic!("expected Result.refs");
    };
    let keys: Vec<&str> = refs.refs.keys().map(String::as_str).collect();
    assert_eq!(keys, ["linux/arm/v7", "linux/arm64"]);
    let (arm, _) = from_spec.build_solve("arm");
    let names = op_names(arm);
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("[linux/arm/v7 build 1/1] go build")),
        "{names:?}"
    );

    // One platform, but the client asked for a per-platform result.
    let forced = run(Fake::hello(), &["multi-platform=true"]).await;
    assert!(forced.error.is_none(), "build failed: {:?}", forced.error);
    let result = forced.returned_result();
    let Some(gw::result::Result::Refs(refs)) = &result.result else {
        panic!("expected Result.refs, got {:?}", result.result);
    };
    assert_eq!(refs.refs.keys().collect::<Vec<_>>(), ["linux/amd64"]);
    let listed: Value = serde_json::from_slice(&result.metadata["refs.platforms"]).expect("JSON");
    assert_eq!(listed["Platforms"][0]["ID"], "linux/amd64");
    assert!(
        result
            .metadata
            .contains_key("containerimage.config/linux/amd64")
    );

    // Several platforms but multi-platform=false is a contradiction, said before building.
    let refused = run(
        Fake::hello(),
        &["platform=linux/amd64,linux/arm64", "multi-platform=false"],
    )
    .await;
    let message = format!("{:#}", refused.build_error());
    assert!(message.contains("multi-platform=false"), "{message}");
}

#[tokio::test]
async fn dockerd_gets_a_visible_warning_for_several_platforms() {
    const DOCKERD: &str = r#"[{"ID":"moby","Labels":null,"Platforms":[{"architecture":"amd64","os":"linux"},{"architecture":"386","os":"linux"}],"GCPolicy":null}]"#;
    let several = run_on(
        DOCKERD,
        Fake::hello(),
        &["platform=linux/amd64,linux/arm64"],
    )
    .await;
    assert!(several.error.is_none(), "build failed: {:?}", several.error);
    let warnings: Vec<&gw::SolveRequest> = several
        .log
        .solves
        .iter()
        .map(|(request, _)| request)
        .filter(|request| {
            op_names(request.definition.as_ref().expect("a definition"))
                .iter()
                .any(|n| n.starts_with("[warning] dockerd's image store takes one platform"))
        })
        .collect();
    assert_eq!(warnings.len(), 1, "one warning vertex");
    assert!(
        warnings[0].evaluate,
        "evaluated, so it shows in the progress output"
    );
    let names = op_names(warnings[0].definition.as_ref().expect("a definition"));
    assert!(
        names[0].contains("--output type=oci,dest=FILE or type=local,dest=DIR"),
        "{names:?}"
    );

    // One platform on dockerd, or several on another daemon: no warning.
    for quiet in [
        run_on(DOCKERD, Fake::hello(), &[]).await,
        run(Fake::hello(), &["platform=linux/amd64,linux/arm64"]).await,
    ] {
        assert!(quiet.log.solves.iter().all(|(request, _)| {
            let names = op_names(request.definition.as_ref().expect("a definition"));
            !names.iter().any(|n| n.starts_with("[warning]"))
        }));
    }
}

/// `--call targets`: BuildKit's `subrequests/targets` shape in `result.json` (what buildx
/// decodes), a printable `result.txt`, version 1.0.0; no build is solved.
#[tokio::test]
async fn the_targets_subrequest_lists_outputs_and_binaries() {
    let run = run(Fake::hello(), &["requestid=frontend.targets"]).await;
    let metadata = &run.returned_result().metadata;
    assert_eq!(metadata["version"], b"1.0.0");
    let list: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    let names: Vec<&str> = list["targets"]
        .as_array()
        .expect("a targets array")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["image", "binaries", "test", "gocache", "hello"]);
    assert_eq!(list["targets"][0]["default"], true);
    let hello = &list["targets"][4];
    assert_eq!(hello["Location"]["sourceIndex"], 0);
    assert!(hello["Location"]["ranges"][0]["start"]["line"].as_u64() > Some(1));
    assert!(list["sources"][0].as_str().is_some_and(|s| !s.is_empty()));
    let text = String::from_utf8_lossy(&metadata["result.txt"]).into_owned();
    assert!(text.contains("image (default)"), "{text}");
    assert!(
        run.log.solves.iter().all(|(request, _)| request
            .definition
            .as_ref()
            .is_none_or(|d| execs(&decode(d)).is_empty())),
        "nothing runs for a listing"
    );
}

/// `--call outline`: build args with their values (as given, else the default), secrets and
/// SSH agents, in BuildKit's `subrequests/outline` shape.
#[tokio::test]
async fn the_outline_subrequest_lists_build_args_with_values() {
    let run = run(
        Fake::hello(),
        &["requestid=frontend.outline", "build-arg:VERSION=1.2.3"],
    )
    .await;
    let metadata = &run.returned_result().metadata;
    assert_eq!(metadata["version"], b"1.0.0");
    let outline: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    let args = outline["args"].as_array().expect("an args array");
    let value_of = |name: &str| {
        args.iter()
            .find(|a| a["Name"] == name)
            .map(|a| a["Value"].clone())
    };
    assert_eq!(value_of("VERSION"), Some(Value::from("1.2.3")));
    assert_eq!(value_of("SOURCE_DATE_EPOCH"), Some(Value::from("")));
    assert!(value_of("GOPROXY").is_some());
    assert!(outline["secrets"].as_array().is_some_and(Vec::is_empty));
}

/// The hello example's spec with a runtime user of root.
fn hello_as_root() -> Fake {
    let spec = [
        hello_file("go-build.yaml"),
        b"runtime:\n  user: root\n".to_vec(),
    ]
    .concat();
    Fake::hello().file("go-build.yaml", spec)
}

/// `--check`: BuildKit's `subrequests/lint` shape (what buildx decodes and prints), status 1
/// when something was found; nothing is built and the context is not moved.
#[tokio::test]
async fn the_lint_subrequest_reports_findings_in_buildkits_shape() {
    let found = run(
        hello_as_root(),
        &["requestid=frontend.lint", "build-arg:API_TOKEN=t0k"],
    )
    .await;
    let metadata = &found.returned_result().metadata;
    assert_eq!(metadata["version"], b"1.0.0");
    assert_eq!(metadata["result.statuscode"], b"1");
    let lint: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    let warnings = lint["warnings"].as_array().expect("a warnings array");
    let rules: Vec<&str> = warnings
        .iter()
        .filter_map(|w| w["ruleName"].as_str())
        .collect();
    assert_eq!(rules, ["RunsAsRoot", "CredentialsInBuildArg"]);
    assert_eq!(warnings[0]["location"]["sourceIndex"], 0);
    assert_eq!(warnings[0]["location"]["ranges"][0]["start"]["line"], 6);
    assert_eq!(
        warnings[1]["location"]["sourceIndex"], -1,
        "a build arg has no line"
    );
    assert_eq!(lint["sources"][0]["filename"], "go-build.yaml");
    assert!(
        lint["sources"][0]["data"]
            .as_str()
            .is_some_and(|d| !d.is_empty())
    );
    assert!(lint.get("buildError").is_none());
    assert!(
        found.log.solves.iter().all(|(request, _)| request
            .definition
            .as_ref()
            .is_none_or(|d| execs(&decode(d)).is_empty()
                && !op_names(d).iter().any(|n| n.contains("load build context")))),
        "a check neither runs nor moves the context"
    );

    // A clean spec: status 0.
    let clean = run(Fake::hello(), &["requestid=frontend.lint"]).await;
    let metadata = &clean.returned_result().metadata;
    assert_eq!(metadata["result.statuscode"], b"0");
    let text = String::from_utf8_lossy(&metadata["result.txt"]).into_owned();
    assert!(text.contains("no warnings found"), "{text}");
}

/// A spec the build would refuse: every problem is a finding, the first is the build error
/// buildx prints (and exits non-zero on), with its line.
#[tokio::test]
async fn the_lint_subrequest_reports_what_would_stop_the_build() {
    let spec = [
        hello_file("go-build.yaml"),
        b"platforms: [linux/amd64, linux/amd64]\n".to_vec(),
    ]
    .concat();
    let run = run(
        Fake::hello().file("go-build.yaml", spec),
        &["requestid=frontend.lint"],
    )
    .await;
    let metadata = &run.returned_result().metadata;
    assert_eq!(metadata["result.statuscode"], b"1");
    let lint: Value = serde_json::from_slice(&metadata["result.json"]).expect("JSON");
    assert_eq!(lint["warnings"][0]["ruleName"], "InvalidSpec");
    let error = &lint["buildError"];
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("is listed twice")),
        "{error}"
    );
    assert_eq!(error["location"]["sourceIndex"], 0);
    assert_eq!(error["location"]["ranges"][0]["start"]["line"], 5);
}

/// A build shows the same findings: through the Warn RPC on the spec's vertex where the daemon
/// has the cap `gateway.warnings`, else as a `[warning]` vertex each.
#[tokio::test]
async fn findings_are_warnings_where_the_daemon_takes_them() {
    let mut current = hello_as_root();
    current.gateway_caps.extend(caps(&["gateway.warnings"]));
    let warned = run(current, &[]).await;
    assert!(warned.error.is_none(), "build failed: {:?}", warned.error);
    let [warning] = warned.log.warns.as_slice() else {
        panic!("one warning, got {:?}", warned.log.warns)
    };
    assert!(
        String::from_utf8_lossy(&warning.short).starts_with("RunsAsRoot: runtime.user"),
        "{warning:?}"
    );
    assert_eq!(warning.ranges[0].start.as_ref().map(|p| p.line), Some(6));
    assert_eq!(
        warning.info.as_ref().map(|i| i.filename.as_str()),
        Some("go-build.yaml")
    );
    let spec_vertex = warned
        .log
        .solves
        .iter()
        .filter_map(|(request, _)| request.definition.as_ref())
        .find(|d| {
            op_names(d)
                .iter()
                .any(|n| n.starts_with("[internal] load build definition"))
        })
        .map(|d| {
            // The local source; the last op only names the output.
            let source = d.def.first().expect("an op");
            format!("sha256:{:x}", Sha256::digest(source))
        });
    assert_eq!(
        Some(&warning.digest),
        spec_vertex.as_ref(),
        "on the spec's vertex"
    );

    let old = run(hello_as_root(), &[]).await;
    assert!(old.log.warns.is_empty());
    assert!(old.log.solves.iter().any(|(request, _)| {
        op_names(request.definition.as_ref().expect("a definition"))
            .iter()
            .any(|n| n.starts_with("[warning] RunsAsRoot: runtime.user"))
    }));
}

/// docker buildx sends the context's git commit and remote as `vcs:revision` and
/// `vcs:source`: they stamp the image's labels (and `{{ .Revision }}`) unless build args say
/// otherwise.
#[tokio::test]
async fn buildx_git_info_stamps_the_image() {
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let revision = format!("vcs:revision={sha}");
    let stamped = run(
        Fake::hello(),
        &[
            revision.as_str(),
            "vcs:source=https://ci:tok@git.example.com/hello.git",
        ],
    )
    .await;
    let config: Value =
        serde_json::from_slice(&stamped.returned_result().metadata["containerimage.config"])
            .expect("JSON");
    let labels = &config["config"]["Labels"];
    assert_eq!(labels["org.opencontainers.image.revision"], sha, "{labels}");
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://git.example.com/hello.git"
    );

    let given = run(
        Fake::hello(),
        &[revision.as_str(), "build-arg:REVISION=v1.2.3"],
    )
    .await;
    let config: Value =
        serde_json::from_slice(&given.returned_result().metadata["containerimage.config"])
            .expect("JSON");
    assert_eq!(
        config["config"]["Labels"]["org.opencontainers.image.revision"],
        "v1.2.3"
    );
}

/// A list attribute (`local.includepattern`, `local.excludepatterns`) of the context local
/// each source scan lists, scan by scan (empty: no attribute).
fn scanned_context_patterns(run: &Run, key: &str) -> Vec<Vec<String>> {
    run.log
        .solves
        .iter()
        .filter(|(request, _)| is_scan(request))
        .map(|(request, _)| {
            let def = request.definition.as_ref().expect("a definition");
            let ops = decode(def);
            let (scan, _) = *execs(&ops).first().expect("the scan's exec");
            let context = source(mount_source(&ops, scan, "/src")).expect("a local source");
            context
                .attrs
                .get(key)
                .map_or_else(Vec::new, |patterns| json_list(Some(patterns)))
        })
        .collect()
}

fn scanned_context_includes(run: &Run) -> Vec<Vec<String>> {
    scanned_context_patterns(run, "local.includepattern")
}

fn with_filtered_copies(mut fake: Fake) -> Fake {
    let mut ids: Vec<&str> = LLB_CAPS.to_vec();
    ids.push("file.copy.includeexcludepatterns");
    fake.llb_caps = caps(&ids);
    fake
}

/// On a daemon with filtered copies the context transfer takes what Go may read; a client
/// that sent a root file no include takes is docker 20.10's (its fsutil reads `**` as `*`
/// and drops what sits two directories down): the scan runs again over the whole context.
#[tokio::test]
async fn a_transfer_cut_short_by_an_old_client_is_scanned_again_whole() {
    let scans_of = async |files: &[u8]| {
        let fake = Fake::hello().file("files", files.to_vec());
        let run = run(with_filtered_copies(fake), &[]).await;
        assert!(run.error.is_none(), "build failed: {:?}", run.error);
        scanned_context_includes(&run)
    };
    let scans = scans_of(b"./README.md\0./go.mod\0./greet/greet.go\0./main.go\0").await;
    assert_eq!(
        scans.len(),
        2,
        "the filtered scan, then the whole one: {scans:?}"
    );
    assert!(
        scans[0].contains(&"**/go.mod".to_string()),
        "{:?}",
        scans[0]
    );
    assert!(scans[1].is_empty(), "the whole context: {:?}", scans[1]);

    for current in [
        &b"./go.mod\0./main.go\0"[..],
        b"./go.mod\0./internal/greet/greet.go\0./main.go\0",
    ] {
        let scans = scans_of(current).await;
        assert_eq!(scans.len(), 1, "one filtered scan: {scans:?}");
        assert!(
            scans[0].contains(&"**/go.mod".to_string()),
            "{:?}",
            scans[0]
        );
    }
}

//! The runtime image: its base, the files we add, and its config.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::image::{
    REVISION_LABEL, RuntimeConfig, SOURCE_LABEL, VERSION_LABEL, normalize_reference,
};
use crate::platform::Platform;
use crate::spec::{Base, Entrypoint, User};

use super::{BIN_DIR, Diagnostic, Inputs, Known, Pos, diagnostic};

/// What a cgo binary runs on unless the spec says otherwise: it has the C library the
/// bookworm builder links against.
const CGO_DEFAULT_BASE: &str = "debian:bookworm-slim";
/// Build arg that replaces any runtime base (platform teams standardizing images).
const BASE_OVERRIDE_ARG: &str = "GOBUILD_RUNTIME_BASE";
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone, Serialize)]
pub struct Runtime {
    pub base: RuntimeBase,
    /// Progress name of the layer with the binaries (its history entry).
    pub binaries_name: String,
    /// Modification time of every file we add, in nanoseconds (from SOURCE_DATE_EPOCH).
    pub timestamp: Option<i64>,
    /// The build step writes the binaries into the base itself (its `/out` is
    /// [`super::MountSource::ScratchRuntime`]), so no copy of them follows the build.
    pub binaries_in_place: bool,
    pub config: RuntimeConfig,
}

#[derive(Debug, Clone, Serialize)]
pub enum RuntimeBase {
    /// Nothing but what we add: users, CA bundle, /tmp, binaries.
    Scratch {
        name: String,
        passwd: String,
        group: String,
    },
    /// An image, pinned for this platform.
    Image { reference: String },
}

/// The runtime base image to resolve (normalized), or `None` for scratch: the build arg
/// override, else the spec, else scratch (debian-slim for cgo). Scratch cannot run a cgo
/// binary, which is refused here.
pub(super) fn runtime_base(inputs: &Known) -> Result<Option<String>, Diagnostic> {
    let spec = inputs.spec;
    let cgo = spec.build.cgo.value;
    let (written, pos, field) = match (
        inputs.options.args.runtime_base.as_ref(),
        &spec.runtime.base,
    ) {
        (Some(reference), _) => (reference.clone(), Pos::default(), BASE_OVERRIDE_ARG),
        (None, Some(base)) => match &base.value {
            Base::Scratch => ("scratch".to_string(), base.pos, "runtime.base"),
            Base::Image(reference) => (reference.clone(), base.pos, "runtime.base"),
        },
        (None, None) if cgo => (CGO_DEFAULT_BASE.to_string(), Pos::default(), "runtime.base"),
        (None, None) => return Ok(None),
    };
    if written == "scratch" {
        if cgo {
            return Err(diagnostic(
                inputs,
                pos,
                field,
                "scratch has no C library, so it cannot run a binary built with cgo".to_string(),
                Some("use runtime.base: debian-slim (or distroless-base), or turn build.cgo off"),
            ));
        }
        return Ok(None);
    }
    normalize_reference(&written).map(Some).map_err(|message| {
        if field == BASE_OVERRIDE_ARG {
            // The build arg is to blame, not the spec.
            Diagnostic {
                file: "--build-arg".to_string(),
                pos: Pos::default(),
                path: BASE_OVERRIDE_ARG.to_string(),
                message,
                hint: None,
                broken_rule: None,
            }
        } else {
            diagnostic(inputs, pos, field, message, None)
        }
    })
}

/// The runtime image of one target platform with `binaries` (the first one, or the spec's
/// entrypoint, starts the program).
pub(super) fn plan(
    inputs: &Inputs,
    platform: &Platform,
    binaries: &[String],
    stage: &str,
    epoch: Option<i64>,
    date: Option<String>,
) -> Result<Runtime, Diagnostic> {
    let spec = &inputs.spec.runtime;
    let base_image = inputs.runtime_bases.get(platform);
    let user = spec.user.value;
    // The build step writes the binaries straight into a scratch runtime, so no copy of a
    // large binary follows every build (Gitea: 0.15 s). Not with SOURCE_DATE_EPOCH: the copy
    // sets the layer's times, and a new epoch (CI sets one per commit) must not re-run the
    // build. Not on an image base either: its symlinks (`/usr/local/bin` to an absolute
    // path) would lead the step's writes out of the image.
    let binaries_in_place = base_image.is_none() && epoch.is_none();
    let binaries_name = match (base_image, binaries_in_place) {
        (_, true) => format!("[{stage}] {} from the build step", binaries.join(", ")),
        (Some(_), false) => format!("[{stage} 1/1] copy {}", binaries.join(", ")),
        (None, false) => format!("[{stage} 2/2] copy {}", binaries.join(", ")),
    };
    let base = match base_image {
        Some(image) => RuntimeBase::Image {
            reference: image.reference.clone(),
        },
        None => {
            let (passwd, group) = users(user);
            let n = if binaries_in_place { 1 } else { 2 };
            RuntimeBase::Scratch {
                name: format!("[{stage} 1/{n}] users, CA certificates and /tmp"),
                passwd,
                group,
            }
        }
    };

    let entrypoint = match (&spec.entrypoint, binaries) {
        // `--target NAME` builds one binary: it is the program.
        (_, [only]) if binaries.len() < inputs.spec.binaries.len() => {
            vec![format!("{BIN_DIR}/{only}")]
        }
        (Some(e), _) => match &e.value {
            Entrypoint::Binary(name) if binaries.contains(name) => {
                vec![format!("{BIN_DIR}/{name}")]
            }
            Entrypoint::Binary(name) => {
                return Err(diagnostic(
                    inputs,
                    e.pos,
                    "runtime.entrypoint",
                    format!(
                        "`{name}` is not one of the binaries ({})",
                        binaries.join(", ")
                    ),
                    None,
                ));
            }
            Entrypoint::Command(command) => command.clone(),
        },
        (None, _) => binaries
            .first()
            .map(|name| vec![format!("{BIN_DIR}/{name}")])
            .unwrap_or_default(),
    };

    let facts = base_image.map(|i| i.facts.clone()).unwrap_or_default();
    let mut env = facts.env.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, DEFAULT_PATH.to_string());
    }
    for entry in &spec.env {
        let key = entry.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(entry.clone());
    }
    let working_dir = spec
        .workdir
        .as_ref()
        .map(|w| w.value.clone())
        .or_else(|| (!facts.working_dir.is_empty()).then(|| facts.working_dir.clone()))
        .unwrap_or_else(|| "/".to_string());

    let mut labels: BTreeMap<String, String> = facts.labels.clone();
    let args = &inputs.options.args;
    for (label, value) in [
        (SOURCE_LABEL, &args.source),
        (REVISION_LABEL, &args.revision),
        (VERSION_LABEL, &args.version),
    ] {
        if let Some(value) = value {
            labels.insert(label.to_string(), value.clone());
        }
    }
    if let Some(date) = &date {
        labels.insert("org.opencontainers.image.created".to_string(), date.clone());
    }
    labels.extend(spec.labels.clone());
    labels.extend(inputs.options.labels.clone());

    let mut history = Vec::new();
    if let RuntimeBase::Scratch { name, .. } = &base {
        history.push(name.clone());
    }
    history.push(binaries_name.clone());

    Ok(Runtime {
        base,
        binaries_name,
        timestamp: epoch.map(|seconds| seconds.saturating_mul(1_000_000_000)),
        binaries_in_place,
        config: RuntimeConfig {
            platform: platform.clone(),
            entrypoint,
            cmd: spec.cmd.clone(),
            env,
            user: user.to_string(),
            working_dir,
            ports: spec.ports.iter().map(|p| p.value.clone()).collect(),
            volumes: spec.volumes.iter().map(|v| v.value.clone()).collect(),
            labels,
            stop_signal: spec.stop_signal.as_ref().map(|s| s.value.clone()),
            created: date,
            base_history: facts.history.clone(),
            history,
        },
    })
}

/// `/etc/passwd` and `/etc/group` for scratch: root and the runtime user.
fn users(user: User) -> (String, String) {
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
    (passwd, group)
}

//! Exec ops: run a command with a root filesystem and mounts.

use std::sync::Arc;

use super::{Node, OpMeta, Output, State, input_index_of, node};
use crate::proto::pb;

/// Network for an exec step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetMode {
    /// BuildKit's default sandboxed network.
    #[default]
    Sandbox,
    /// The host's network; needs the `network.host` entitlement.
    Host,
    /// No network at all.
    None,
}

/// How concurrent builds share a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheSharing {
    Shared,
    Private,
    Locked,
}

/// A filesystem mounted into an exec step.
#[derive(Clone)]
pub struct Mount {
    dest: String,
    kind: MountKind,
    readonly: bool,
    selector: Option<String>,
    /// Key the step by this mount's definition only, never by its content.
    by_definition: bool,
}

#[derive(Clone)]
enum MountKind {
    Bind(State),
    Cache {
        id: String,
        sharing: CacheSharing,
        /// Where a new cache directory starts from (BuildKit keeps one per seed).
        seed: Option<State>,
    },
    Tmpfs,
    Secret {
        id: String,
        mode: u32,
        optional: bool,
    },
    Ssh {
        id: String,
        mode: u32,
        optional: bool,
    },
}

impl Mount {
    /// Mounts a state at `dest`; writable (its changes become an output) unless made read-only.
    /// Binding scratch gives a fresh, empty output directory.
    pub fn bind(state: &State, dest: impl Into<String>) -> Mount {
        Mount::new(dest, MountKind::Bind(state.clone()))
    }

    /// A persistent cache directory that outlives builds (never part of any layer).
    pub fn cache(dest: impl Into<String>, id: impl Into<String>, sharing: CacheSharing) -> Mount {
        Mount::new(
            dest,
            MountKind::Cache {
                id: id.into(),
                sharing,
                seed: None,
            },
        )
    }

    /// Like [`Mount::cache`], starting from `seed`'s files: BuildKit mounts the directory as
    /// a writable layer over the seed (no copy), one directory per seed.
    pub fn seeded_cache(
        dest: impl Into<String>,
        id: impl Into<String>,
        sharing: CacheSharing,
        seed: &State,
    ) -> Mount {
        Mount::new(
            dest,
            MountKind::Cache {
                id: id.into(),
                sharing,
                seed: Some(seed.clone()),
            },
        )
    }

    pub fn tmpfs(dest: impl Into<String>) -> Mount {
        Mount::new(dest, MountKind::Tmpfs)
    }

    /// A build secret as a read-only file (mode 0400); fails the step when the client has none
    /// unless optional.
    pub fn secret(dest: impl Into<String>, id: impl Into<String>, optional: bool) -> Mount {
        Mount::new(
            dest,
            MountKind::Secret {
                id: id.into(),
                mode: 0o400,
                optional,
            },
        )
    }

    /// The client's forwarded SSH agent socket.
    pub fn ssh(dest: impl Into<String>, id: impl Into<String>, optional: bool) -> Mount {
        Mount::new(
            dest,
            MountKind::Ssh {
                id: id.into(),
                mode: 0o600,
                optional,
            },
        )
    }

    pub fn readonly(mut self) -> Mount {
        self.readonly = true;
        self
    }

    /// Keys the step by the mount's definition, not its content (cap `exec.mount.cache.content`):
    /// BuildKit otherwise checksums every file of a read-only mount to key the step.
    pub fn keyed_by_definition(mut self) -> Mount {
        self.by_definition = true;
        self
    }

    /// Mount only this path of the source state.
    pub fn selector(mut self, path: impl Into<String>) -> Mount {
        self.selector = Some(path.into());
        self
    }

    fn new(dest: impl Into<String>, kind: MountKind) -> Mount {
        Mount {
            dest: dest.into(),
            kind,
            readonly: false,
            selector: None,
            by_definition: false,
        }
    }

    /// Whether this mount's changes are kept as an output of the op.
    fn has_output(&self) -> bool {
        matches!(self.kind, MountKind::Bind(_)) && !self.readonly
    }
}

/// A command to run, with its environment and mounts.
#[derive(Clone)]
pub struct Exec {
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: String,
    user: String,
    mounts: Vec<Mount>,
    network: NetMode,
}

impl Exec {
    pub fn new<I, S>(args: I) -> Exec
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Exec {
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: "/".to_string(),
            user: String::new(),
            mounts: Vec::new(),
            network: NetMode::Sandbox,
        }
    }

    /// Sets a variable, replacing an earlier value of the same name in place.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Exec {
        let (key, value) = (key.into(), value.into());
        match self.env.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.env.push((key, value)),
        }
        self
    }

    /// Sets `KEY=VALUE` entries (an image's `Env`, for instance).
    pub fn env_list<'a>(self, entries: impl IntoIterator<Item = &'a String>) -> Exec {
        entries.into_iter().fold(self, |exec, entry| {
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            exec.env(key, value)
        })
    }

    pub fn cwd(mut self, cwd: impl Into<String>) -> Exec {
        self.cwd = cwd.into();
        self
    }

    pub fn user(mut self, user: impl Into<String>) -> Exec {
        self.user = user.into();
        self
    }

    pub fn mount(mut self, mount: Mount) -> Exec {
        self.mounts.push(mount);
        self
    }

    pub fn network(mut self, network: NetMode) -> Exec {
        self.network = network;
        self
    }
}

/// The result of an exec: its root filesystem and the outputs of its writable mounts.
pub struct ExecState {
    node: Arc<Node>,
    outputs: Vec<(String, i64)>,
}

impl ExecState {
    /// The root filesystem after the command ran.
    pub fn root(&self) -> State {
        self.output("/")
    }

    /// What the command left in the writable mount at `dest`.
    ///
    /// # Panics
    /// When no writable mount has that destination: a bug in the caller, not a user error.
    #[track_caller]
    pub fn output(&self, dest: &str) -> State {
        let index = self
            .outputs
            .iter()
            .find(|(d, _)| d == dest)
            .map(|(_, index)| *index)
            .unwrap_or_else(|| panic!("exec has no writable mount at {dest}"));
        State {
            output: Some(Output {
                node: self.node.clone(),
                index,
            }),
        }
    }
}

impl State {
    /// Runs `exec` with this state as the root filesystem.
    pub fn run(&self, exec: Exec, meta: OpMeta) -> ExecState {
        let root = Mount::bind(self, "/");
        let mut filesystems: Vec<Mount> = std::iter::once(root)
            .chain(exec.mounts.iter().filter(|m| !is_credential(m)).cloned())
            .collect();
        // Like the Go client: filesystem mounts sorted by destination, credentials after them.
        filesystems.sort_by(|a, b| a.dest.cmp(&b.dest));
        let credentials = exec.mounts.iter().filter(|m| is_credential(m)).cloned();

        let mut inputs: Vec<Output> = Vec::new();
        let mut caps = vec!["exec.meta.base"];
        let mut mounts = Vec::new();
        let mut outputs = Vec::new();
        for mount in filesystems.into_iter().chain(credentials) {
            let mut pm = pb::Mount {
                dest: mount.dest.clone(),
                readonly: mount.readonly,
                input: -1,
                output: -1,
                selector: mount.selector.clone().unwrap_or_default(),
                ..Default::default()
            };
            if mount.selector.is_some() {
                add_cap(&mut caps, "exec.mount.selector");
            }
            if mount.by_definition {
                pm.set_content_cache(pb::MountContentCache::Off);
                add_cap(&mut caps, "exec.mount.cache.content");
            }
            if mount.has_output() {
                pm.output = i64::try_from(outputs.len()).unwrap_or(i64::MAX);
                outputs.push((mount.dest.clone(), pm.output));
            }
            match &mount.kind {
                MountKind::Bind(state) => {
                    pm.set_mount_type(pb::MountType::Bind);
                    if let Some(source) = &state.output {
                        add_cap(&mut caps, "exec.mount.bind");
                        pm.input = input_index_of(&mut inputs, source);
                    }
                }
                MountKind::Cache { id, sharing, seed } => {
                    pm.set_mount_type(pb::MountType::Cache);
                    if let Some(source) = seed.as_ref().and_then(|s| s.output.as_ref()) {
                        pm.input = input_index_of(&mut inputs, source);
                    }
                    let mut cache = pb::CacheOpt {
                        id: id.clone(),
                        ..Default::default()
                    };
                    cache.set_sharing(match sharing {
                        CacheSharing::Shared => pb::CacheSharingOpt::Shared,
                        CacheSharing::Private => pb::CacheSharingOpt::Private,
                        CacheSharing::Locked => pb::CacheSharingOpt::Locked,
                    });
                    pm.cache_opt = Some(cache);
                    add_cap(&mut caps, "exec.mount.cache");
                    add_cap(&mut caps, "exec.mount.cache.sharing");
                }
                MountKind::Tmpfs => {
                    pm.set_mount_type(pb::MountType::Tmpfs);
                    add_cap(&mut caps, "exec.mount.tmpfs");
                }
                MountKind::Secret { id, mode, optional } => {
                    pm.set_mount_type(pb::MountType::Secret);
                    pm.secret_opt = Some(pb::SecretOpt {
                        id: id.clone(),
                        mode: *mode,
                        optional: *optional,
                        ..Default::default()
                    });
                    add_cap(&mut caps, "exec.mount.secret");
                }
                MountKind::Ssh { id, mode, optional } => {
                    pm.set_mount_type(pb::MountType::Ssh);
                    pm.ssh_opt = Some(pb::SshOpt {
                        id: id.clone(),
                        mode: *mode,
                        optional: *optional,
                        ..Default::default()
                    });
                    add_cap(&mut caps, "exec.mount.ssh");
                }
            }
            mounts.push(pm);
        }

        let mut op = pb::ExecOp {
            meta: Some(pb::Meta {
                args: exec.args,
                env: exec.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                cwd: exec.cwd,
                user: exec.user,
                ..Default::default()
            }),
            mounts,
            ..Default::default()
        };
        match exec.network {
            NetMode::Sandbox => {}
            NetMode::Host => {
                op.set_network(pb::NetMode::Host);
                add_cap(&mut caps, "exec.meta.network");
            }
            NetMode::None => {
                op.set_network(pb::NetMode::None);
                add_cap(&mut caps, "exec.meta.network");
            }
        }
        let node = Arc::new(node(pb::op::Op::Exec(op), inputs, &meta, &caps));
        ExecState { node, outputs }
    }
}

fn is_credential(mount: &Mount) -> bool {
    matches!(mount.kind, MountKind::Secret { .. } | MountKind::Ssh { .. })
}

fn add_cap(caps: &mut Vec<&'static str>, cap: &'static str) {
    if !caps.contains(&cap) {
        caps.push(cap);
    }
}

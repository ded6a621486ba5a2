//! File ops: make directories and files, copy between states, without running a container.

use super::{OpMeta, Output, State, input_index_of, node};
use crate::proto::pb;

/// A sequence of file actions applied one after another to a state.
#[derive(Clone, Default)]
pub struct FileOp {
    actions: Vec<Action>,
    /// Modification time for everything the actions create, in Unix nanoseconds.
    timestamp: Option<i64>,
}

#[derive(Clone)]
enum Action {
    Mkdir {
        path: String,
        mode: u32,
    },
    Mkfile {
        path: String,
        mode: u32,
        data: Vec<u8>,
    },
    Copy {
        from: State,
        src: String,
        dest: String,
        options: CopyOptions,
    },
}

/// How a copy treats paths, like Dockerfile `COPY` does by default.
#[derive(Clone, Debug)]
pub struct CopyOptions {
    pub create_dest_path: bool,
    pub follow_symlinks: bool,
    /// Copy a directory's contents rather than the directory itself.
    pub dir_copy_contents: bool,
    /// File mode to set on everything copied; `None` keeps the source's.
    pub mode: Option<u32>,
    /// `src` may be a pattern (`dir/*.go`); otherwise it is taken literally.
    pub wildcard: bool,
    /// Only what these patterns select under `src` (cap `file.copy.includeexcludepatterns`,
    /// BuildKit v0.9+); empty: everything.
    pub include_patterns: Vec<String>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            create_dest_path: true,
            follow_symlinks: true,
            dir_copy_contents: true,
            mode: None,
            wildcard: true,
            include_patterns: Vec::new(),
        }
    }
}

impl FileOp {
    pub fn new() -> FileOp {
        FileOp::default()
    }

    /// No actions yet.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }

    /// Gives every file and directory the actions create this modification time (Unix
    /// nanoseconds); `None` keeps BuildKit's default (now, or the source's for copies).
    pub fn timestamp(mut self, nanos: Option<i64>) -> FileOp {
        self.timestamp = nanos;
        self
    }

    /// Creates a directory (and its parents).
    pub fn mkdir(mut self, path: impl Into<String>, mode: u32) -> FileOp {
        self.actions.push(Action::Mkdir {
            path: path.into(),
            mode,
        });
        self
    }

    pub fn mkfile(
        mut self,
        path: impl Into<String>,
        mode: u32,
        data: impl Into<Vec<u8>>,
    ) -> FileOp {
        self.actions.push(Action::Mkfile {
            path: path.into(),
            mode,
            data: data.into(),
        });
        self
    }

    /// Copies `src` from another state to `dest`.
    pub fn copy(
        mut self,
        from: &State,
        src: impl Into<String>,
        dest: impl Into<String>,
        options: CopyOptions,
    ) -> FileOp {
        self.actions.push(Action::Copy {
            from: from.clone(),
            src: src.into(),
            dest: dest.into(),
            options,
        });
        self
    }
}

impl State {
    /// Applies the file actions on top of this state.
    pub fn file(&self, op: FileOp, meta: OpMeta) -> State {
        let mut inputs: Vec<Output> = Vec::new();
        let base = match &self.output {
            Some(output) => input_index_of(&mut inputs, output),
            None => -1,
        };
        // Secondary inputs first: action results are numbered after all op inputs.
        let secondaries: Vec<i64> = op
            .actions
            .iter()
            .map(|action| match action {
                Action::Copy {
                    from:
                        State {
                            output: Some(output),
                        },
                    ..
                } => input_index_of(&mut inputs, output),
                _ => -1,
            })
            .collect();
        let first_result = i64::try_from(inputs.len()).unwrap_or(i64::MAX);
        let last = op.actions.len().saturating_sub(1);
        let mut caps = vec!["file.base"];
        if op.actions.iter().any(
            |a| matches!(a, Action::Copy { options, .. } if !options.include_patterns.is_empty()),
        ) {
            caps.push("file.copy.includeexcludepatterns");
        }
        let timestamp = op.timestamp.unwrap_or(-1);

        let actions = op
            .actions
            .into_iter()
            .zip(secondaries)
            .enumerate()
            .map(|(k, (action, secondary_input))| {
                let step = i64::try_from(k).unwrap_or(i64::MAX);
                pb::FileAction {
                    input: if k == 0 {
                        base
                    } else {
                        first_result + step - 1
                    },
                    secondary_input,
                    output: if k == last { 0 } else { -1 },
                    action: Some(encode(action, timestamp)),
                }
            })
            .collect();
        let kind = pb::op::Op::File(pb::FileOp { actions });
        State::from_node(node(kind, inputs, &meta, &caps), 0)
    }
}

fn encode(action: Action, timestamp: i64) -> pb::file_action::Action {
    use pb::file_action::Action as A;
    match action {
        Action::Mkdir { path, mode } => A::Mkdir(pb::FileActionMkDir {
            path,
            mode: mode as i32,
            make_parents: true,
            timestamp,
            ..Default::default()
        }),
        Action::Mkfile { path, mode, data } => A::Mkfile(pb::FileActionMkFile {
            path,
            mode: mode as i32,
            data,
            timestamp,
            ..Default::default()
        }),
        Action::Copy {
            src, dest, options, ..
        } => A::Copy(pb::FileActionCopy {
            src,
            dest,
            mode: options.mode.map_or(-1, |m| m as i32),
            follow_symlink: options.follow_symlinks,
            dir_copy_contents: options.dir_copy_contents,
            create_dest_path: options.create_dest_path,
            allow_wildcard: options.wildcard,
            allow_empty_wildcard: options.wildcard,
            include_patterns: options.include_patterns,
            timestamp,
            ..Default::default()
        }),
    }
}

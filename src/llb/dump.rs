//! A canonical, human-readable listing of a definition, for `render` and snapshot tests.

use std::fmt::Write;

use prost::Message;

use super::digest_of;
use crate::platform::Platform;
use crate::proto::pb;

/// Lists every op of `definition` in order: kind, progress name, platform, inputs, mounts,
/// environment and source location, each op headed by its digest.
pub fn dump(definition: &pb::Definition) -> String {
    let mut out = String::new();
    let files: Vec<&str> = definition
        .source
        .iter()
        .flat_map(|s| s.infos.iter().map(|i| i.filename.as_str()))
        .collect();
    for bytes in &definition.def {
        let digest = digest_of(bytes);
        let op = match pb::Op::decode(bytes.as_slice()) {
            Ok(op) => op,
            Err(e) => {
                let _ = writeln!(out, "{digest}  <undecodable op: {e}>");
                continue;
            }
        };
        let inputs: Vec<String> = op
            .inputs
            .iter()
            .map(|i| format!("{}[{}]", short(&i.digest), i.index))
            .collect();
        let Some(kind) = &op.op else {
            let _ = writeln!(out, "{digest}  result <- {}", inputs.join(", "));
            continue;
        };
        let _ = write!(out, "{digest}  {}", kind_name(kind));
        if let Some(platform) = &op.platform {
            let _ = write!(out, "  ({})", Platform::from_pb(platform));
        }
        out.push('\n');
        let metadata = definition.metadata.get(&digest);
        if let Some(name) = metadata.and_then(|m| m.description.get(super::CUSTOM_NAME)) {
            let _ = writeln!(out, "  name: {name}");
        }
        if !inputs.is_empty() {
            let _ = writeln!(out, "  inputs: {}", inputs.join(", "));
        }
        match kind {
            pb::op::Op::Source(source) => dump_source(&mut out, source),
            pb::op::Op::Exec(exec) => dump_exec(&mut out, exec),
            pb::op::Op::File(file) => dump_file(&mut out, file),
        }
        if let Some(metadata) = metadata {
            if metadata.ignore_cache {
                out.push_str("  ignore cache\n");
            }
            let caps: Vec<&str> = metadata.caps.keys().map(String::as_str).collect();
            let _ = writeln!(out, "  caps: {}", caps.join(", "));
        }
        let locations = definition
            .source
            .as_ref()
            .and_then(|s| s.locations.get(&digest));
        for location in locations.iter().flat_map(|l| &l.locations) {
            let file = usize::try_from(location.source_index)
                .ok()
                .and_then(|i| files.get(i))
                .unwrap_or(&"?");
            for range in &location.ranges {
                let start = range.start.unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  source: {file}:{}:{}",
                    start.line,
                    start.character + 1
                );
            }
        }
    }
    out
}

fn kind_name(kind: &pb::op::Op) -> &'static str {
    match kind {
        pb::op::Op::Source(_) => "source",
        pb::op::Op::Exec(_) => "exec",
        pb::op::Op::File(_) => "file",
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn dump_source(out: &mut String, source: &pb::SourceOp) {
    let _ = writeln!(out, "  identifier: {}", source.identifier);
    for (key, value) in &source.attrs {
        let _ = writeln!(out, "  {key}: {value}");
    }
}

fn dump_exec(out: &mut String, exec: &pb::ExecOp) {
    if let Some(meta) = &exec.meta {
        let _ = writeln!(out, "  args: {}", meta.args.join(" "));
        for env in &meta.env {
            let _ = writeln!(out, "  env: {env}");
        }
        let _ = writeln!(out, "  cwd: {}", meta.cwd);
        if !meta.user.is_empty() {
            let _ = writeln!(out, "  user: {}", meta.user);
        }
    }
    let network = match exec.network() {
        pb::NetMode::Unset => "sandbox",
        pb::NetMode::Host => "host",
        pb::NetMode::None => "none",
    };
    let _ = writeln!(out, "  network: {network}");
    for mount in &exec.mounts {
        let _ = write!(out, "  mount {}: ", mount.dest);
        match mount.mount_type() {
            pb::MountType::Bind => {
                let source = if mount.input < 0 {
                    "scratch".to_string()
                } else {
                    format!("input {}", mount.input)
                };
                let _ = write!(out, "bind {source}");
                if !mount.selector.is_empty() {
                    let _ = write!(out, " selector {}", mount.selector);
                }
            }
            pb::MountType::Cache => {
                let cache = mount.cache_opt.clone().unwrap_or_default();
                let _ = write!(
                    out,
                    "cache id={} sharing={}",
                    cache.id,
                    cache.sharing().as_str_name().to_lowercase()
                );
                if mount.input >= 0 {
                    let _ = write!(out, " from input {}", mount.input);
                }
            }
            pb::MountType::Tmpfs => out.push_str("tmpfs"),
            pb::MountType::Secret => {
                let secret = mount.secret_opt.clone().unwrap_or_default();
                let _ = write!(out, "secret id={} mode={:o}", secret.id, secret.mode);
            }
            pb::MountType::Ssh => {
                let ssh = mount.ssh_opt.clone().unwrap_or_default();
                let _ = write!(out, "ssh id={} mode={:o}", ssh.id, ssh.mode);
            }
        }
        if mount.readonly {
            out.push_str(" readonly");
        }
        if mount.output >= 0 {
            let _ = write!(out, " -> output {}", mount.output);
        }
        out.push('\n');
    }
}

fn dump_file(out: &mut String, file: &pb::FileOp) {
    use pb::file_action::Action as A;
    for action in &file.actions {
        let _ = write!(out, "  [{} -> {}] ", action.input, action.output);
        match &action.action {
            Some(A::Mkdir(mkdir)) => {
                let _ = write!(out, "mkdir {} mode={:o}", mkdir.path, mkdir.mode);
            }
            Some(A::Mkfile(mkfile)) => {
                let _ = write!(
                    out,
                    "mkfile {} mode={:o} ({} bytes, sha256 {})",
                    mkfile.path,
                    mkfile.mode,
                    mkfile.data.len(),
                    short(&digest_of(&mkfile.data))
                );
            }
            Some(A::Copy(copy)) => {
                let _ = write!(
                    out,
                    "copy input {}:{} -> {}",
                    action.secondary_input, copy.src, copy.dest
                );
                if copy.mode >= 0 {
                    let _ = write!(out, " mode={:o}", copy.mode);
                }
                if !copy.include_patterns.is_empty() {
                    let _ = write!(out, " include={}", copy.include_patterns.join(","));
                }
            }
            Some(A::Rm(rm)) => {
                let _ = write!(out, "rm {}", rm.path);
            }
            Some(A::Symlink(symlink)) => {
                let _ = write!(out, "symlink {} -> {}", symlink.newpath, symlink.oldpath);
            }
            None => out.push_str("<empty action>"),
        }
        out.push('\n');
    }
}

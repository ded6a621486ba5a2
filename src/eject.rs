//! `gobuild-frontend eject`: the plan as a Dockerfile a team can own — the way out.
//!
//! A second renderer of the same [`Plan`] the LLB renderer writes: the deps stage sees only
//! the module files, the module cache and GOCACHE are cache mounts, the build runs offline,
//! the runtime is scratch with users, the CA bundle and /tmp (or the spec's base), and the
//! image config is the plan's. Each part starts with comments naming the spec fields it comes
//! from and where those were set. Shell is written by the plan's script builder (values
//! quoted), Dockerfile words by [`word`] (quoted, `$` escaped); what neither can hold (a
//! newline in a label) is refused rather than written wrong.
//!
//! What a Dockerfile cannot say is listed in the README ("Ejecting"): the exact build inputs
//! (the build step here sees the whole context), the module layers that survive cache-mount
//! GC, compiled dependencies, the build-cache seed, `--target NAME` images.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};

use crate::image::{REVISION_LABEL, SOURCE_LABEL, VERSION_LABEL};
use crate::options::GO_ENV_ARGS;
use crate::plan::build::{build_commands, expanding, in_work_dir};
use crate::plan::effective::Setting;
use crate::plan::script::{Line, Parameter, Piece, Script, Word};
use crate::plan::{
    BIN_DIR, CA_BUNDLE, GOCACHE, GOMODCACHE, MountSource, OUT, Plan, RuntimeBase, SRC, Step,
};

/// The Go variables a target platform sets: the Dockerfile takes them from `TARGETOS`,
/// `TARGETARCH` and `TARGETVARIANT` instead.
const PLATFORM_ENV: &[&str] = &[
    "GOOS",
    "GOARCH",
    "GOARM",
    "GOAMD64",
    "GOARM64",
    "GORISCV64",
    "GOPPC64",
];

/// The Dockerfile for `plan`; `effective` says where each value came from, `spec_file` names
/// the spec in the header.
pub fn dockerfile(plan: &Plan, effective: &[Setting], spec_file: &str) -> Result<String> {
    let Some(target) = plan.targets.first() else {
        bail!("the plan builds no platform");
    };
    let Some(runtime) = &target.runtime else {
        bail!("eject writes the runtime image's Dockerfile: build it without --target");
    };
    let cgo = target.step.env.get("CGO_ENABLED").is_some_and(|v| v == "1");
    // Without cgo the build cross-compiles on the build platform; with it the stages run on
    // the target platform, as the frontend's do.
    let from_platform = if cgo {
        ""
    } else {
        "--platform=$BUILDPLATFORM "
    };
    let mut out = Dockerfile {
        text: String::new(),
        effective,
    };

    out.line("# syntax=docker/dockerfile:1");
    out.comment(&format!(
        "Ejected from {spec_file} by gobuild-frontend {} (`gobuild-frontend eject`).",
        env!("CARGO_PKG_VERSION")
    ));
    out.comment(&format!("Build it: {}", build_command(plan, effective)));
    out.comment("Each part names the spec fields it comes from that are not built-in defaults");
    out.comment("(field: value (where it was set)).");

    let builder = word(&plan.builder.reference, "builder")?;
    match plan.module_fetch() {
        Some(deps) => {
            deps_stage(&mut out, plan, deps, &format!("{from_platform}{builder}"))?;
            out.blank();
            out.line("FROM deps AS build");
        }
        None => {
            out.blank();
            out.comment("From vendor/: no module download, no module cache.");
            out.origins(&["modules.vendor", "go", "builder"], true);
            out.line(&format!("FROM {from_platform}{builder} AS build"));
        }
    }
    let scratch = matches!(runtime.base, RuntimeBase::Scratch { .. });
    build_stage(&mut out, plan, &target.step, scratch)?;
    runtime_stage(&mut out, &runtime.base, &runtime.config)?;
    Ok(out.text)
}

/// The `deps` stage: `go mod download` seeing only the module files, `from` its base.
fn deps_stage(out: &mut Dockerfile, plan: &Plan, deps: &Step, from: &str) -> Result<()> {
    out.blank();
    out.comment(
        "Modules: `go mod download` sees only the module files, so editing code keeps this",
    );
    out.comment("step cached; the module cache is a cache mount that every later step shares.");
    out.origins(&["go", "builder"], true);
    out.origins(
        &[
            "modules.proxy",
            "modules.sumdb",
            "modules.private",
            "private",
        ],
        false,
    );
    out.line(&format!("FROM {from} AS deps"));
    go_env_args(out, &deps.env)?;
    out.line(&format!("WORKDIR {}", word(&deps.cwd, "module")?));
    // A bind mount needs its source: only the module files the context has.
    let mut mounts = plan
        .mod_files
        .iter()
        .filter(|file| plan.sources.contains(file))
        .map(|file| bind_mount(&[("source", file), ("target", &format!("{SRC}/{file}"))]))
        .collect::<Result<Vec<_>>>()?;
    mounts.push(format!("--mount=type=cache,target={GOMODCACHE}"));
    mounts.extend(out.credentials(deps)?);
    let verify = out
        .effective
        .iter()
        .any(|s| s.field == "modules.verify" && s.value == "true");
    let script = Script::new()
        .syntax("set -e")
        .lines(exports(&deps.env, |key| GO_ENV_ARGS.contains(&key))?)
        .syntax("go mod download")
        .lines(verify.then(|| Line::syntax("go mod verify")));
    out.run(&mounts, &script)
}

/// The `build` stage's `RUN`: offline unless `modules.network`, for the target platform; on
/// `scratch` it also makes the runtime's `/tmp`.
fn build_stage(out: &mut Dockerfile, plan: &Plan, step: &Step, scratch: bool) -> Result<()> {
    let offline = step.env.get("GOPROXY").is_some_and(|v| v == "off");
    out.comment("Build: offline unless modules.network says otherwise, for the target platform.");
    for (i, (name, package, _)) in plan.go_build.binaries.iter().enumerate() {
        out.comment(&format!(
            "binaries[{i}]: {package} as {name} ({})",
            origin_of(out.effective, &format!("binaries[{i}].package"))
        ));
    }
    out.origins(
        &[
            "build.cgo",
            "build.tags",
            "build.ldflags",
            "build.gcflags",
            "build.flags",
            "build.trimpath",
            "build.vcs",
            "build.env",
            "modules.network",
        ],
        false,
    );
    out.line("ARG TARGETOS TARGETARCH TARGETVARIANT");
    if plan.module_fetch().is_none() {
        out.line(&format!("WORKDIR {}", word(&step.cwd, "module")?));
    }
    let (flags, guards) = go_build_flags(out, plan)?;
    if !offline {
        go_env_args(out, &step.env)?;
    }
    let mut mounts = vec![
        bind_mount(&[("target", SRC)])?,
        format!("--mount=type=cache,target={GOCACHE}"),
    ];
    if plan.module_fetch().is_some() {
        mounts.insert(1, format!("--mount=type=cache,target={GOMODCACHE}"));
    }
    if offline {
        mounts.insert(0, "--network=none".to_string());
    } else {
        mounts.extend(out.credentials(step)?);
    }
    let script = Script::new()
        .syntax("set -e")
        .lines(exports(&step.env, |key| {
            PLATFORM_ENV.contains(&key) || (!offline && GO_ENV_ARGS.contains(&key))
        })?)
        .syntax("export GOOS=\"$TARGETOS\" GOARCH=\"$TARGETARCH\"")
        .syntax("case \"$TARGETARCH/$TARGETVARIANT\" in arm/v[567]) export GOARM=\"${TARGETVARIANT#v}\" ;; amd64/v[234]) export GOAMD64=\"$TARGETVARIANT\" ;; esac")
        .lines(guards)
        .lines(in_work_dir(build_commands(
            &plan.go_build.binaries,
            &flags,
            &format!("{OUT}{BIN_DIR}"),
        )))
        // Scratch has no /tmp: the runtime copies this one (world-writable, sticky).
        .lines(scratch.then(|| Line::syntax("mkdir -m 1777").value(format!("{OUT}/tmp"))));
    out.run(&mounts, &script)
}

/// The plan's `go build` flags as words, `-ldflags` from its template with the build args it
/// reads declared (`ARG`), and the lines that check those args before the build.
fn go_build_flags(out: &mut Dockerfile, plan: &Plan) -> Result<(Vec<Word>, Vec<Line>)> {
    let mut flags: Vec<Word> = plan
        .go_build
        .flags
        .iter()
        .cloned()
        .map(Word::Value)
        .collect();
    let Some(ldflags) = &plan.go_build.ldflags else {
        return Ok((flags, Vec::new()));
    };
    let (word, args, guards) = expanding(&ldflags.template).map_err(|message| {
        anyhow::anyhow!(
            "build.ldflags ({}): {message}",
            origin_of(out.effective, "build.ldflags")
        )
    })?;
    for arg in args {
        let default = if arg == "VERSION" { "=dev" } else { "" };
        out.line(&format!("ARG {arg}{default}"));
    }
    let mut pieces = vec![Piece::Text("-ldflags=".into())];
    if let Word::Expanding(template) = word {
        pieces.extend(template);
    }
    let flag = Word::Expanding(pieces);
    match ldflags.in_flags {
        true => flags[ldflags.index] = flag,
        false => flags.insert(ldflags.index, flag),
    }
    Ok((flags, guards))
}

/// The runtime stage: the base (or scratch and what it lacks), the binaries, the config.
fn runtime_stage(
    out: &mut Dockerfile,
    base: &RuntimeBase,
    config: &crate::image::RuntimeConfig,
) -> Result<()> {
    out.blank();
    out.comment("Runtime: the binaries on the base, with the image config the frontend writes.");
    out.origins(&["runtime.base", "runtime.user"], true);
    match base {
        RuntimeBase::Scratch { passwd, group, .. } => {
            out.line("FROM scratch");
            out.line(&format!("COPY --from=build {CA_BUNDLE} {CA_BUNDLE}"));
            out.heredoc("COPY <<'EOF' /etc/passwd", passwd)?;
            out.heredoc("COPY <<'EOF' /etc/group", group)?;
        }
        RuntimeBase::Image { reference } => {
            out.line(&format!("FROM {}", word(reference, "runtime.base")?))
        }
    }
    out.line(&format!("COPY --from=build {OUT}/ /"));
    let inherits_path = matches!(base, RuntimeBase::Image { .. });
    for entry in &config.env {
        // A base image brings its own PATH; scratch gets the frontend's.
        if inherits_path && entry == crate::plan::DEFAULT_PATH {
            continue;
        }
        let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
        out.line(&format!(
            "ENV {}={}",
            word(key, "runtime.env")?,
            word(value, "runtime.env")?
        ));
    }
    // The labels build args give; empty without them (a Dockerfile cannot leave one out).
    out.line("ARG SOURCE REVISION VERSION");
    out.line(&format!(
        "LABEL {SOURCE_LABEL}=\"${{SOURCE}}\" {REVISION_LABEL}=\"${{REVISION}}\" {VERSION_LABEL}=\"${{VERSION}}\""
    ));
    for (key, value) in &config.labels {
        out.line(&format!(
            "LABEL {}={}",
            word(key, "runtime.labels")?,
            word(value, "runtime.labels")?
        ));
    }
    out.line(&format!("USER {}", word(&config.user, "runtime.user")?));
    if config.working_dir != "/" {
        out.line(&format!(
            "WORKDIR {}",
            word(&config.working_dir, "runtime.workdir")?
        ));
    }
    for port in &config.ports {
        out.line(&format!("EXPOSE {}", word(port, "runtime.ports")?));
    }
    for volume in &config.volumes {
        out.line(&format!("VOLUME {}", word(volume, "runtime.volumes")?));
    }
    if let Some(signal) = &config.stop_signal {
        out.line(&format!(
            "STOPSIGNAL {}",
            word(signal, "runtime.stop_signal")?
        ));
    }
    // JSON forms: Docker does not expand variables in ENTRYPOINT and CMD.
    if !config.entrypoint.is_empty() {
        out.origins(&["runtime.entrypoint", "runtime.cmd"], false);
        out.line(&format!(
            "ENTRYPOINT {}",
            serde_json::to_string(&config.entrypoint)?
        ));
    }
    if !config.cmd.is_empty() {
        out.line(&format!("CMD {}", serde_json::to_string(&config.cmd)?));
    }
    Ok(())
}

/// `docker build` with the flags the Dockerfile needs: credentials and platforms.
fn build_command(plan: &Plan, effective: &[Setting]) -> String {
    let mut command = String::from("docker buildx build");
    let steps = plan
        .module_fetch()
        .into_iter()
        .chain(plan.targets.iter().map(|t| &t.step));
    let mut flags: Vec<String> = Vec::new();
    for mount in steps.flat_map(|s| &s.mounts) {
        let flag = match &mount.source {
            MountSource::Ssh { id } => format!("--ssh {id}"),
            MountSource::Secret { id } => format!("--secret id={id},src=FILE"),
            _ => continue,
        };
        if !flags.contains(&flag) {
            flags.push(flag);
        }
    }
    if let Some(platforms) = effective
        .iter()
        .find(|s| s.field == "platforms" && s.value != "[]")
    {
        let list = platforms.value.trim_matches(['[', ']']).replace(", ", ",");
        flags.push(format!("--platform {list}"));
    }
    for flag in flags {
        command.push(' ');
        command.push_str(&flag);
    }
    command.push_str(" -f Dockerfile .");
    command
}

/// `ARG` for the Go variables a build arg may set, as the frontend takes them; a default is
/// the plan's value.
fn go_env_args(out: &mut Dockerfile, env: &BTreeMap<String, String>) -> Result<()> {
    let mut line = String::from("ARG");
    for key in GO_ENV_ARGS {
        line.push(' ');
        line.push_str(key);
        if let Some(value) = env.get(*key) {
            line.push('=');
            line.push_str(&word(value, key)?);
        }
    }
    out.line(&line);
    Ok(())
}

/// `export NAME='value'` for a step's environment, but the keys `skip` says.
fn exports(env: &BTreeMap<String, String>, skip: impl Fn(&str) -> bool) -> Result<Vec<Line>> {
    env.iter()
        // The builder's own values, and the cache mounts' targets.
        .filter(|(key, value)| !(*key == "GOCACHE" && *value == GOCACHE))
        .filter(|(key, value)| !(*key == "GOMODCACHE" && *value == GOMODCACHE))
        .filter(|(key, _)| !skip(key))
        .map(|(key, value)| {
            let name = Parameter::new(key)
                .with_context(|| format!("`{key}` cannot be a shell variable"))?;
            Ok(Line::syntax("export").assign_to(&name, value))
        })
        .collect()
}

impl Dockerfile<'_> {
    /// What a fetching step needs for private modules: the small files the frontend writes (an
    /// SSH `known_hosts`) copied into the stage here, and the `--mount=type=ssh|secret` flags
    /// its `RUN` takes, returned.
    fn credentials(&mut self, step: &Step) -> Result<Vec<String>> {
        let mut mounts = Vec::new();
        for mount in &step.mounts {
            match &mount.source {
                MountSource::Ssh { id } => mounts.push(format!(
                    "--mount=type=ssh,{},required=true",
                    field("id", id)?
                )),
                MountSource::Secret { id } => mounts.push(format!(
                    "--mount=type=secret,{},{},required=true",
                    field("id", id)?,
                    field("target", &mount.dest)?
                )),
                MountSource::File { name, contents } => {
                    let path = format!("{}/{name}", mount.dest);
                    self.heredoc(
                        &format!("COPY <<'EOF' {}", word(&path, "private")?),
                        contents,
                    )?;
                }
                // The module files, the context and the caches: the stage writes these mounts;
                // the frontend's own layers (modules, compiled dependencies, a cache seed) are
                // what the Dockerfile's cache mounts stand for.
                MountSource::ModFiles
                | MountSource::Sources
                | MountSource::Context
                | MountSource::Cache { .. }
                | MountSource::ReadOnlyCache { .. }
                | MountSource::Output
                | MountSource::CompiledDeps { .. }
                | MountSource::ModuleLayer { .. }
                | MountSource::ModuleLinks
                | MountSource::SeededCache { .. } => {}
                other => bail!("eject cannot write the mount {other:?} at {}", mount.dest),
            }
        }
        Ok(mounts)
    }
}

/// `--mount=type=bind,…` from `key=value` fields.
fn bind_mount(fields: &[(&str, &str)]) -> Result<String> {
    let mut mount = String::from("--mount=type=bind");
    for (key, value) in fields {
        mount.push(',');
        mount.push_str(&field(key, value)?);
    }
    Ok(mount)
}

/// One `key=value` field of a `--mount` flag, which Docker reads as CSV: quoted (quotes
/// doubled) when the value has a comma, a quote or a space.
fn field(key: &str, value: &str) -> Result<String> {
    // Docker expands variables in --mount values, and no escape is documented for them.
    if value.contains(['\n', '\r', '$']) {
        bail!("`{value}` has a line break or a `$`, which a --mount flag cannot hold");
    }
    let field = format!("{key}={value}");
    Ok(if field.contains([',', '"', ' ', '\t']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field
    })
}

/// A Dockerfile word: double-quoted, with `\`, `"` and `$` escaped, so that Docker neither
/// splits it nor expands variables in it. A line break cannot be written; `what` (the field
/// it comes from) says where it was.
fn word(value: &str, what: &str) -> Result<String> {
    if value.contains(['\n', '\r']) {
        bail!("{what}: {value:?} has a line break, which a Dockerfile instruction cannot hold");
    }
    let mut word = String::from("\"");
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '$') {
            word.push('\\');
        }
        word.push(c);
    }
    word.push('"');
    // Plain words stay plain: `FROM golang:1.27`, not `FROM "golang:1.27"`.
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@+=".contains(c));
    Ok(if plain { value.to_string() } else { word })
}

/// Where a field was set, from the effective spec.
fn origin_of(effective: &[Setting], field: &str) -> String {
    effective
        .iter()
        .find(|s| s.field == field)
        .map_or_else(|| "built-in".to_string(), |s| s.from.clone())
}

/// The Dockerfile being written.
struct Dockerfile<'a> {
    text: String,
    /// Where each value came from, for the comments.
    effective: &'a [Setting],
}

impl Dockerfile<'_> {
    /// A comment `field: value (where it was set)` for each of `fields` (and the fields
    /// under it) the spec, the org or a build arg set; built-in values too with `always`.
    fn origins(&mut self, fields: &[&str], always: bool) {
        let effective = self.effective;
        for setting in effective.iter().filter(|s| {
            fields.iter().any(|f| {
                s.field == *f
                    || s.field
                        .strip_prefix(f)
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
        }) {
            if always || setting.from != "built-in" {
                self.comment(&format!(
                    "{}: {} ({})",
                    setting.field, setting.value, setting.from
                ));
            }
        }
    }

    fn line(&mut self, line: &str) {
        self.text.push_str(line);
        self.text.push('\n');
    }

    fn blank(&mut self) {
        self.text.push('\n');
    }

    fn comment(&mut self, text: &str) {
        for line in text.lines() {
            let _ = writeln!(self.text, "# {line}");
        }
    }

    /// `RUN` with flags, one per line, and `script` as a quoted heredoc (Docker expands
    /// nothing in it; the shell does).
    fn run(&mut self, flags: &[String], script: &Script) -> Result<()> {
        let mut head = String::from("RUN");
        for flag in flags {
            head.push_str(&format!(" \\\n    {flag}"));
        }
        head.push_str(" \\\n    <<'EOF'");
        self.heredoc(&head, &script.render())
    }

    /// `head` (ending in `<<'EOF'`), `body`, `EOF`; a body with a line `EOF` cannot be
    /// written.
    fn heredoc(&mut self, head: &str, body: &str) -> Result<()> {
        if body.lines().any(|line| line == "EOF") {
            bail!("a heredoc holds a line `EOF`, which would end it");
        }
        self.line(head);
        self.text.push_str(body);
        if !body.ends_with('\n') {
            self.text.push('\n');
        }
        self.line("EOF");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_words_are_quoted_unless_plain() {
        assert_eq!(
            word("golang:1.27-bookworm", "builder").unwrap(),
            "golang:1.27-bookworm"
        );
        assert_eq!(word("Example Corp", "l").unwrap(), r#""Example Corp""#);
        assert_eq!(word(r#"$HOME "x" \"#, "l").unwrap(), r#""\$HOME \"x\" \\""#);
        assert_eq!(word("", "l").unwrap(), r#""""#);
        assert!(
            word("two\nlines", "runtime.labels")
                .is_err_and(|e| e.to_string().contains("runtime.labels"))
        );
    }

    #[test]
    fn mount_fields_are_csv() {
        assert_eq!(field("source", "go.mod").unwrap(), "source=go.mod");
        assert_eq!(
            field("source", r#"a,b "c".mod"#).unwrap(),
            r#""source=a,b ""c"".mod""#
        );
        assert!(field("source", "a\nb").is_err());
        assert!(field("source", "$HOME/go.mod").is_err());
    }

    #[test]
    fn a_heredoc_cannot_be_ended_by_its_body() {
        let mut out = Dockerfile {
            text: String::new(),
            effective: &[],
        };
        assert!(out.heredoc("COPY <<'EOF' /x", "a\nEOF\nb").is_err());
        out.heredoc("COPY <<'EOF' /x", "a\n EOF\n")
            .expect("not a line EOF");
        assert_eq!(out.text, "COPY <<'EOF' /x\na\n EOF\nEOF\n");
    }
}

//! The `go build` (or `go test`) command lines: flags, ldflags templates, one invocation for
//! several binaries where Go allows it, and the offline-failure explanation.

use std::collections::BTreeMap;

use crate::gomod::binary_name_for;
use crate::spec::BuildSettings;

use super::OUT;

/// Errors Go prints when a module is missing from the offline build step.
const OFFLINE_SYMPTOMS: &[&str] = &[
    "GOPROXY=off",
    "missing go.sum entry",
    "no required module provides",
    "updates to go.mod needed",
    "cannot find module",
];

/// Values `build.ldflags` may use, from build args and the source date.
pub struct TemplateValues<'a> {
    pub build_args: &'a BTreeMap<String, String>,
    /// RFC 3339, from SOURCE_DATE_EPOCH.
    pub date: Option<&'a str>,
}

/// Expands `{{ .Version }}` (build arg VERSION, `dev` without one), `{{ .Revision }}`,
/// `{{ .Date }}` and `{{ .Arg.NAME }}`; other values that were not given expand to nothing.
pub fn expand(text: &str, values: &TemplateValues) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("`{}` is not closed with }}}}", &rest[start..]))?;
        let key = after[..end].trim();
        let arg = |name: &str| values.build_args.get(name).cloned().unwrap_or_default();
        let value = match key {
            ".Version" => values
                .build_args
                .get("VERSION")
                .cloned()
                .unwrap_or_else(|| "dev".to_string()),
            ".Revision" => arg("REVISION"),
            ".Date" => values.date.unwrap_or_default().to_string(),
            other => match other.strip_prefix(".Arg.") {
                Some(name) if !name.is_empty() => arg(name),
                _ => {
                    return Err(format!(
                        "`{{{{ {other} }}}}` is not a template value; use .Version, .Revision, .Date or .Arg.NAME"
                    ));
                }
            },
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The flags every `go build`/`go test` of the spec gets.
pub fn go_flags(settings: &BuildSettings, ldflags: Option<&str>) -> Vec<String> {
    let mut flags = Vec::new();
    if settings.trimpath {
        flags.push("-trimpath".to_string());
    }
    flags.push(format!("-buildvcs={}", settings.vcs));
    if !settings.tags.is_empty() {
        flags.push(format!("-tags={}", settings.tags.join(",")));
    }
    if let Some(ldflags) = ldflags.filter(|l| !l.is_empty()) {
        flags.push(format!("-ldflags={ldflags}"));
    }
    if let Some(gcflags) = &settings.gcflags {
        flags.push(format!("-gcflags={}", gcflags.value));
    }
    flags.extend(settings.flags.iter().map(|f| f.value.clone()));
    flags
}

/// Command lines that build `binaries` (`(name, package, default name)`) into `/out`: one
/// `go build` for all of them when their default names differ (Go then parallelises over
/// packages and links once each), renaming where a name was given; otherwise one per binary.
pub fn build_commands(binaries: &[(String, String, String)], flags: &[String]) -> Vec<Vec<String>> {
    let mut defaults: Vec<&str> = binaries.iter().map(|(_, _, d)| d.as_str()).collect();
    defaults.sort();
    defaults.dedup();
    let go = |rest: Vec<String>| -> Vec<String> {
        ["go", "build"]
            .iter()
            .map(|s| s.to_string())
            .chain(flags.iter().cloned())
            .chain(rest)
            .collect()
    };
    if binaries.len() == 1 || defaults.len() < binaries.len() {
        return binaries
            .iter()
            .map(|(name, package, _)| {
                go(vec!["-o".into(), format!("{OUT}/{name}"), package.clone()])
            })
            .collect();
    }
    let mut commands = vec![go(std::iter::once("-o".to_string())
        .chain(std::iter::once(format!("{OUT}/")))
        .chain(binaries.iter().map(|(_, package, _)| package.clone()))
        .collect())];
    for (name, _, default) in binaries.iter().filter(|(name, _, default)| name != default) {
        commands.push(vec![
            "mv".into(),
            format!("{OUT}/{default}"),
            format!("{OUT}/{name}"),
        ]);
    }
    commands
}

/// What `go build -o DIR/` names the binary of `package` in a module at `module_path`.
pub fn default_name(package: &str, module_path: &str) -> String {
    if package == "." {
        binary_name_for(module_path).to_string()
    } else {
        binary_name_for(package).to_string()
    }
}

/// A POSIX shell script that runs `commands` and, when they fail the way a module missing
/// offline fails, says why and what to do.
pub fn offline_script(commands: &[Vec<String>]) -> Vec<String> {
    let lines: Vec<String> = commands
        .iter()
        .map(|c| c.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" "))
        .collect();
    let symptoms = OFFLINE_SYMPTOMS.join("|");
    let script = format!(
        "( set -e\n{commands}\n) 2>/tmp/gobuild-stderr; rc=$?\ncat /tmp/gobuild-stderr >&2\n\
if [ $rc -ne 0 ] && grep -qE '{symptoms}' /tmp/gobuild-stderr; then\n\
  echo 'gobuild-frontend: this step builds offline (no network, GOPROXY=off), so every module must come from the deps step.' >&2\n\
  echo 'gobuild-frontend: a module is missing there: run `go mod tidy` and commit go.mod and go.sum (the deps step reads only those),' >&2\n\
  echo 'gobuild-frontend: or let this step fetch with `modules: {{network: true}}` in go-build.yaml.' >&2\n\
fi\nexit $rc",
        commands = lines.join("\n")
    );
    vec!["sh".into(), "-c".into(), script]
}

/// Single-quotes a word for sh.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expand_build_args_and_the_date() {
        let args = BTreeMap::from([
            ("VERSION".to_string(), "1.2.3".to_string()),
            ("CHANNEL".to_string(), "beta".to_string()),
        ]);
        let values = TemplateValues {
            build_args: &args,
            date: Some("2024-01-01T00:00:00Z"),
        };
        assert_eq!(
            expand("-X main.version={{ .Version }} -X main.rev={{.Revision}} -X main.date={{ .Date }} -X main.ch={{ .Arg.CHANNEL }}", &values),
            Ok("-X main.version=1.2.3 -X main.rev= -X main.date=2024-01-01T00:00:00Z -X main.ch=beta".to_string())
        );
        assert!(expand("{{ .Nope }}", &values).is_err_and(|e| e.contains(".Nope")));
        let none = BTreeMap::new();
        let bare = TemplateValues {
            build_args: &none,
            date: None,
        };
        assert_eq!(
            expand("{{ .Version }}/{{ .Date }}", &bare),
            Ok("dev/".to_string())
        );
        assert!(expand("{{ .Version", &values).is_err());
    }

    #[test]
    fn one_invocation_when_go_can_name_the_binaries() {
        let b = |n: &str, p: &str, d: &str| (n.to_string(), p.to_string(), d.to_string());
        let flags = vec!["-trimpath".to_string()];
        let commands = build_commands(
            &[
                b("api", "./cmd/api", "api"),
                b("wk", "./cmd/worker", "worker"),
            ],
            &flags,
        );
        assert_eq!(
            commands,
            [
                vec![
                    "go",
                    "build",
                    "-trimpath",
                    "-o",
                    "/out/",
                    "./cmd/api",
                    "./cmd/worker"
                ],
                vec!["mv", "/out/worker", "/out/wk"],
            ]
        );
        let clash = build_commands(
            &[
                b("a", "./a/server", "server"),
                b("b", "./b/server", "server"),
            ],
            &flags,
        );
        assert_eq!(clash.len(), 2, "same default names: one go build each");
        assert_eq!(
            clash[1],
            ["go", "build", "-trimpath", "-o", "/out/b", "./b/server"]
        );
    }

    #[test]
    fn offline_script_quotes_and_explains() {
        let args = offline_script(&[vec![
            "go".into(),
            "build".into(),
            "-ldflags=-X a='b c'".into(),
        ]]);
        assert_eq!(args[..2], ["sh", "-c"]);
        assert!(
            args[2].contains("'go' 'build' '-ldflags=-X a='\\''b c'\\'''"),
            "{}",
            args[2]
        );
        assert!(args[2].contains("this step builds offline"));
    }
}

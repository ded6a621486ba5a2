//! The `go build` (or `go test`) command lines: flags, ldflags templates, one invocation for
//! several binaries where Go allows it, and the offline-failure explanation.

use std::collections::BTreeMap;

use crate::gomod::binary_name_for;
use crate::options::BuildArgs;
use crate::spec::BuildSettings;

use super::script::{Line, Parameter, Piece, Script, Word, say};

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
    pub args: &'a BuildArgs,
    /// For `{{ .Arg.NAME }}`.
    pub build_args: &'a BTreeMap<String, String>,
    /// RFC 3339, from SOURCE_DATE_EPOCH.
    pub date: Option<&'a str>,
}

/// A piece of an ldflags template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Text(&'a str),
    /// `{{ .Version }}`: build arg VERSION, `dev` without one.
    Version,
    /// `{{ .Revision }}`: build arg REVISION (or buildx's git commit).
    Revision,
    /// `{{ .Date }}`: RFC 3339, from SOURCE_DATE_EPOCH.
    Date,
    /// `{{ .Arg.NAME }}`: any build arg.
    Arg(&'a str),
}

/// Reads a template: text and `{{ .Value }}`s; an unknown value or an unclosed `{{` is an
/// error.
fn tokens(text: &str) -> Result<Vec<Token<'_>>, String> {
    let mut tokens = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        tokens.push(Token::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("`{}` is not closed with }}}}", &rest[start..]))?;
        tokens.push(match after[..end].trim() {
            ".Version" => Token::Version,
            ".Revision" => Token::Revision,
            ".Date" => Token::Date,
            other => match other.strip_prefix(".Arg.") {
                Some(name) if !name.is_empty() => Token::Arg(name),
                _ => {
                    return Err(format!(
                        "`{{{{ {other} }}}}` is not a template value; use .Version, .Revision, .Date or .Arg.NAME"
                    ));
                }
            },
        });
        rest = &after[end + 2..];
    }
    tokens.push(Token::Text(rest));
    tokens.retain(|t| *t != Token::Text(""));
    Ok(tokens)
}

/// Expands `{{ .Version }}` (build arg VERSION, `dev` without one), `{{ .Revision }}`,
/// `{{ .Date }}` and `{{ .Arg.NAME }}`; other values that were not given expand to nothing.
pub fn expand(text: &str, values: &TemplateValues) -> Result<String, String> {
    let mut out = String::new();
    for token in tokens(text)? {
        let value = match token {
            Token::Text(text) => {
                out.push_str(text);
                continue;
            }
            Token::Version => values
                .args
                .version
                .clone()
                .unwrap_or_else(|| "dev".to_string()),
            Token::Revision => values.args.revision.clone().unwrap_or_default(),
            Token::Date => values.date.unwrap_or_default().to_string(),
            Token::Arg(name) => values.build_args.get(name).cloned().unwrap_or_default(),
        };
        // cmd/go splits -ldflags at spaces and reads quotes: a value with either would add
        // flags of its own (`x' -X 'main.admin=true`).
        if value.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
            return Err(format!(
                "the value of `{{{{ {} }}}}` ({value:?}) has spaces or quotes, which -ldflags would read as more flags",
                key_of(token)
            ));
        }
        out.push_str(&value);
    }
    Ok(out)
}

/// How a template names a value, for messages.
fn key_of(token: Token) -> String {
    match token {
        Token::Text(text) => text.to_string(),
        Token::Version => ".Version".to_string(),
        Token::Revision => ".Revision".to_string(),
        Token::Date => ".Date".to_string(),
        Token::Arg(name) => format!(".Arg.{name}"),
    }
}

/// `{{ .Date }}` where the shell expands templates: RFC 3339 from `SOURCE_DATE_EPOCH` (checked
/// to be digits by [`expanding`]'s guards), nothing without it.
const DATE_SYNTAX: &str =
    "${SOURCE_DATE_EPOCH:+$(date -u -d @${SOURCE_DATE_EPOCH} +%Y-%m-%dT%H:%M:%SZ)}";

/// A template as a word the shell expands when the build runs (the Dockerfile `eject`
/// writes): `{{ .Version }}` is `${VERSION}`, `{{ .Revision }}` `${REVISION}`,
/// `{{ .Arg.NAME }}` `${NAME}`, `{{ .Date }}` the date of `${SOURCE_DATE_EPOCH}`. Also returns
/// the build args it reads (in order, each once) and the lines that check them first, as
/// [`expand`] does: no spaces or quotes (cmd/go would read more flags), an epoch of digits.
pub fn expanding(text: &str) -> Result<(Word, Vec<String>, Vec<Line>), String> {
    let mut pieces = Vec::new();
    let mut args: Vec<String> = Vec::new();
    let mut guards = Vec::new();
    for token in tokens(text)? {
        let name = match token {
            Token::Text(text) => {
                pieces.push(Piece::Text(text.to_string()));
                continue;
            }
            Token::Version => "VERSION",
            Token::Revision => "REVISION",
            Token::Date => "SOURCE_DATE_EPOCH",
            Token::Arg(name) => name,
        };
        let parameter = Parameter::new(name).ok_or_else(|| {
            format!(
                "`{{{{ {} }}}}`: `{name}` cannot be a Dockerfile build arg (letters, digits and _)",
                key_of(token)
            )
        })?;
        if !args.iter().any(|a| a == name) {
            args.push(name.to_string());
            let (pattern, what) = match token {
                Token::Date => ("in *[!0-9]*)", "is not a number of seconds"),
                _ => (
                    "in *[[:space:]\\\"\\']*)",
                    "has spaces or quotes, which -ldflags would read as more flags",
                ),
            };
            guards.push(
                Line::syntax("case")
                    .word(&Word::Expanding(vec![Piece::Parameter(parameter.clone())]))
                    .then(pattern)
                    .line(say(format!("build arg {name} {what}")))
                    .then("; exit 1 ;; esac"),
            );
        }
        pieces.push(match token {
            Token::Date => Piece::Syntax(DATE_SYNTAX),
            _ => Piece::Parameter(parameter),
        });
    }
    Ok((Word::Expanding(pieces), args, guards))
}

/// The build args `{{ .Arg.NAME }}` in `text` names, in order, each once.
pub fn template_args(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for token in tokens(text).unwrap_or_default() {
        if let Token::Arg(name) = token
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
    }
    names
}

/// The flags every `go build`/`go test` of the spec gets.
pub fn go_flags(settings: &BuildSettings, ldflags: Option<&str>) -> Vec<String> {
    let mut flags = flags_before_ldflags(settings);
    if let Some(ldflags) = ldflags.filter(|l| !l.is_empty()) {
        flags.push(format!("-ldflags={ldflags}"));
    }
    if let Some(gcflags) = &settings.gcflags {
        flags.push(format!("-gcflags={}", gcflags.value));
    }
    flags.extend(settings.flags.iter().map(|f| f.value.clone()));
    flags
}

/// The flags [`go_flags`] writes before `-ldflags`; their count is where `-ldflags` goes.
pub fn flags_before_ldflags(settings: &BuildSettings) -> Vec<String> {
    let mut flags = Vec::new();
    if settings.trimpath {
        flags.push("-trimpath".to_string());
    }
    flags.push(format!("-buildvcs={}", settings.vcs));
    if !settings.tags.is_empty() {
        flags.push(format!("-tags={}", settings.tags.join(",")));
    }
    flags
}

/// Go's work directory (`GOTMPDIR`), on the build step's output mount: the linked binary is
/// renamed into place there, not copied across mounts (Gitea's is 155 MB). The step removes
/// it before it ends.
pub const WORK_DIR: &str = "/out/.gobuild-work";

/// `commands` with Go's work directory ([`WORK_DIR`]) made before them and removed after,
/// so it never reaches the output.
pub fn in_work_dir(commands: impl IntoIterator<Item = Line>) -> Vec<Line> {
    std::iter::once(Line::command("mkdir", ["-p", WORK_DIR]))
        .chain(commands)
        .chain([Line::command("rm", ["-rf", WORK_DIR])])
        .collect()
}

/// Where a multi-binary `go build` writes before each binary gets its name in `/out`: renames
/// out of another directory cannot chain (`mv a b; mv b c`).
const STAGING: &str = "/out/.gobuild-work/staged";

/// Command lines that build `binaries` (`(name, package, default name)`) into `dir`: one
/// `go build` for all of them when their default names differ (Go then parallelises over
/// packages and links once each), moving each to its name; otherwise one per binary.
///
/// A package that is not `package main` builds "successfully": alone into an archive
/// (`!<arch>`), with others into nothing. Only then is `go list` asked which one it was —
/// before every build it would cost a package load (a second on a large module).
pub fn build_commands(
    binaries: &[(String, String, String)],
    flags: &[Word],
    dir: &str,
) -> Vec<Line> {
    let packages: Vec<&str> = binaries.iter().map(|(_, p, _)| p.as_str()).collect();
    let mut defaults: Vec<&str> = binaries.iter().map(|(_, _, d)| d.as_str()).collect();
    defaults.sort();
    defaults.dedup();
    let go_build = || Line::syntax("go build").words(flags).then("-o");
    if binaries.len() == 1 || defaults.len() < binaries.len() {
        let mut commands: Vec<Line> = binaries
            .iter()
            .map(|(name, package, _)| go_build().value(format!("{dir}/{name}")).value(package))
            .collect();
        commands.push(
            Line::syntax("for f in")
                .values(binaries.iter().map(|(name, _, _)| format!("{dir}/{name}")))
                .then("; do if [ \"$(head -c 7 \"$f\")\" = '!<arch>' ]; then")
                .line(not_main(&packages))
                .then("fi; done"),
        );
        return commands;
    }
    let mut commands = vec![
        go_build().value(format!("{STAGING}/")).values(&packages),
        Line::command("mkdir", ["-p", dir]),
    ];
    for (name, _, default) in binaries {
        let staged = format!("{STAGING}/{default}");
        commands.push(
            Line::syntax("if [ ! -e")
                .value(&staged)
                .then("]; then")
                .line(not_main(&packages))
                .then("fi;")
                .line(Line::command("mv", [staged, format!("{dir}/{name}")])),
        );
    }
    commands
}

/// What `go build -o DIR/` names the binary of `package` (`.`, `./cmd/api`) in a module at
/// `module_path`: the last element of the import path, or the one before a major-version
/// suffix (`v2` and up; Go keeps `v1`).
pub fn default_name(package: &str, module_path: &str) -> String {
    let relative = package.trim_start_matches("./").trim_start_matches('.');
    let import_path = if relative.is_empty() {
        module_path.to_string()
    } else {
        format!("{module_path}/{relative}")
    };
    binary_name_for(&import_path).to_string()
}

/// Names the packages among `packages` that are not `package main`, and fails.
fn not_main(packages: &[&str]) -> Line {
    Line::syntax("go list -f")
        .value(r#"{{if ne .Name "main"}}{{.ImportPath}} is package {{.Name}}, not a main package: binaries[].package must name a program{{end}}"#)
        .values(packages)
        .then(">&2; exit 1;")
}

/// A POSIX shell script that runs `commands` and, when they fail the way a module missing
/// offline fails, says why and what to do.
pub fn offline_script(commands: Vec<Line>) -> Script {
    let symptoms = OFFLINE_SYMPTOMS
        .iter()
        .fold(Line::syntax("grep -qF"), |line, s| line.then("-e").value(s));
    Script::new()
        .syntax("( set -e")
        .lines(commands)
        .syntax(") 2>/tmp/gobuild-stderr; rc=$?")
        .syntax("cat /tmp/gobuild-stderr >&2")
        .line(
            Line::syntax("if [ $rc -ne 0 ] &&")
                .line(symptoms)
                .then("/tmp/gobuild-stderr; then"),
        )
        .lines([
            say("gobuild-frontend: this step builds offline (no network, GOPROXY=off), so every module must come from the deps step."),
            say("gobuild-frontend: a module is missing there: run `go mod tidy` and commit go.mod and go.sum (the deps step reads only those),"),
            say("gobuild-frontend: or let this step fetch with `modules: {network: true}` in go-build.yaml."),
        ])
        .syntax("fi")
        .syntax("exit $rc")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shell expands the Dockerfile's templates: each build arg, the date only from
    /// SOURCE_DATE_EPOCH, and nothing a value holds.
    #[test]
    fn expanding_templates_run_in_sh() {
        let (word, args, guards) =
            expanding("-X v={{ .Version }} -X d={{ .Date }} -X c={{.Arg.CHANNEL}} $(x)")
                .expect("a template");
        assert_eq!(args, ["VERSION", "SOURCE_DATE_EPOCH", "CHANNEL"]);
        let script = Script::new()
            .syntax("set -e")
            .lines(guards)
            .line(Line::syntax("printf %s").word(&word));
        let run = |env: &[(&str, &str)]| {
            let out = std::process::Command::new("sh")
                .args(["-c", &script.render()])
                .env_clear()
                .envs(env.iter().copied())
                .output()
                .expect("sh runs");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        assert_eq!(
            run(&[
                ("VERSION", "1.2"),
                ("SOURCE_DATE_EPOCH", "0"),
                ("CHANNEL", "beta")
            ]),
            "-X v=1.2 -X d=1970-01-01T00:00:00Z -X c=beta $(x)"
        );
        assert_eq!(run(&[]), "-X v= -X d= -X c= $(x)");
        // What the frontend refuses, the Dockerfile refuses before `go build`.
        for refused in [
            [("VERSION", "1 -X main.admin=true")],
            [("CHANNEL", "it's")],
            [("SOURCE_DATE_EPOCH", "yesterday")],
        ] {
            assert_eq!(run(&refused), "", "{refused:?}");
        }
        assert!(expanding("{{ .Arg.A-B }}").is_err_and(|e| e.contains("A-B")));
        assert!(expanding("{{ .Nope }}").is_err_and(|e| e.contains(".Nope")));
    }

    #[test]
    fn templates_expand_build_args_and_the_date() {
        let args = BTreeMap::from([
            ("VERSION".to_string(), "1.2.3".to_string()),
            ("CHANNEL".to_string(), "beta".to_string()),
        ]);
        let parsed = BuildArgs::parse(&args).expect("valid args");
        let values = TemplateValues {
            args: &parsed,
            build_args: &args,
            date: Some("2024-01-01T00:00:00Z"),
        };
        assert_eq!(
            expand("-X main.version={{ .Version }} -X main.rev={{.Revision}} -X main.date={{ .Date }} -X main.ch={{ .Arg.CHANNEL }}", &values),
            Ok("-X main.version=1.2.3 -X main.rev= -X main.date=2024-01-01T00:00:00Z -X main.ch=beta".to_string())
        );
        assert!(expand("{{ .Nope }}", &values).is_err_and(|e| e.contains(".Nope")));
        let none = BTreeMap::new();
        let no_args = BuildArgs::default();
        let bare = TemplateValues {
            args: &no_args,
            build_args: &none,
            date: None,
        };
        assert_eq!(
            expand("{{ .Version }}/{{ .Date }}", &bare),
            Ok("dev/".to_string())
        );
        assert!(expand("{{ .Version", &values).is_err());
        let hostile = BTreeMap::from([("NOTE".to_string(), "x' -X 'main.admin=true".to_string())]);
        let hostile = TemplateValues {
            args: &no_args,
            build_args: &hostile,
            date: None,
        };
        assert!(
            expand("-X 'main.note={{ .Arg.NOTE }}'", &hostile)
                .is_err_and(|e| e.contains(".Arg.NOTE") && e.contains("more flags"))
        );
    }

    #[test]
    fn one_invocation_when_go_can_name_the_binaries() {
        let b = |n: &str, p: &str, d: &str| (n.to_string(), p.to_string(), d.to_string());
        let flags = vec![Word::Value("-trimpath".to_string())];
        let render = |lines: Vec<Line>| -> Vec<String> {
            lines.iter().map(|l| l.as_str().to_string()).collect()
        };
        let commands = build_commands(
            &[
                b("api", "./cmd/api", "api"),
                b("wk", "./cmd/worker", "worker"),
            ],
            &flags,
            "/out",
        );
        assert_eq!(
            render(commands),
            [
                "go build '-trimpath' -o '/out/.gobuild-work/staged/' './cmd/api' './cmd/worker'",
                "mkdir '-p' '/out'",
                "if [ ! -e '/out/.gobuild-work/staged/api' ]; then go list -f '{{if ne .Name \"main\"}}{{.ImportPath}} is package {{.Name}}, not a main package: binaries[].package must name a program{{end}}' './cmd/api' './cmd/worker' >&2; exit 1; fi; mv '/out/.gobuild-work/staged/api' '/out/api'",
                "if [ ! -e '/out/.gobuild-work/staged/worker' ]; then go list -f '{{if ne .Name \"main\"}}{{.ImportPath}} is package {{.Name}}, not a main package: binaries[].package must name a program{{end}}' './cmd/api' './cmd/worker' >&2; exit 1; fi; mv '/out/.gobuild-work/staged/worker' '/out/wk'",
            ]
        );
        // Names that swap defaults cannot clobber each other: renames leave the staging dir.
        let swapped = build_commands(&[b("b", "./a", "a"), b("a", "./b", "b")], &flags, "/out");
        let moves: Vec<String> = render(swapped)[2..]
            .iter()
            .map(|l| {
                l.rsplit_once("fi; ")
                    .map_or(l.clone(), |(_, mv)| mv.to_string())
            })
            .collect();
        assert_eq!(
            moves,
            [
                "mv '/out/.gobuild-work/staged/a' '/out/b'",
                "mv '/out/.gobuild-work/staged/b' '/out/a'"
            ]
        );
        let clash = build_commands(
            &[
                b("a", "./a/server", "server"),
                b("b", "./b/server", "server"),
            ],
            &flags,
            "/out/usr/local/bin",
        );
        let clash = render(clash);
        assert_eq!(
            clash[..2],
            [
                "go build '-trimpath' -o '/out/usr/local/bin/a' './a/server'",
                "go build '-trimpath' -o '/out/usr/local/bin/b' './b/server'"
            ],
            "same default names: one go build each"
        );
        assert!(
            clash[2].starts_with(
                "for f in '/out/usr/local/bin/a' '/out/usr/local/bin/b' ; do if [ \"$(head -c 7 \"$f\")\" = '!<arch>' ]; then go list"
            ),
            "an archive instead of a program names the package: {}",
            clash[2]
        );
    }

    #[test]
    fn default_names_follow_go() {
        assert_eq!(default_name(".", "example.com/shop/v2"), "shop");
        assert_eq!(default_name("./cmd/api", "example.com/shop"), "api");
        assert_eq!(default_name("./cmd/api/v1", "example.com/shop"), "v1");
        assert_eq!(default_name("./cmd/api/v2", "example.com/shop"), "api");
        assert_eq!(default_name("./v3", "example.com/shop"), "shop");
        assert_eq!(default_name(".", "example.com/tool/v0"), "v0");
    }

    #[test]
    fn offline_script_quotes_and_explains() {
        let args =
            offline_script(vec![Line::syntax("go build").value("-ldflags=-X a='b c'")]).argv();
        assert_eq!(args[..2], ["sh", "-c"]);
        assert!(
            args[2].contains(r#"go build '-ldflags=-X a='\''b c'\'''"#),
            "{}",
            args[2]
        );
        assert!(args[2].contains("this step builds offline"));
    }
}

//! Facts read from `go.mod` and `go.work`: module path, Go version, requirements, local
//! replacements and workspace modules.
//!
//! Only what the planner needs is read; the Go command stays the judge of everything else.

use crate::spec::GoVersion;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoMod {
    /// File name used in messages, relative to the context (`go.mod`, `services/api/go.mod`).
    pub file: String,
    /// The `module` path, e.g. `example.com/hello`.
    pub module: String,
    /// The `go` directive with its line.
    pub go: Option<(GoVersion, u32)>,
    /// The `toolchain` directive with its line.
    pub toolchain: Option<(GoVersion, u32)>,
    pub requires: Vec<Require>,
    pub replaces: Vec<Replace>,
}

/// `go.work`: the modules of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoWork {
    /// File name used in messages, relative to the context.
    pub file: String,
    pub go: Option<(GoVersion, u32)>,
    pub toolchain: Option<(GoVersion, u32)>,
    /// `use` directories (as written, relative to the go.work directory) with their lines.
    pub uses: Vec<(String, u32)>,
    pub replaces: Vec<Replace>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Require {
    pub path: String,
    pub version: String,
    pub line: u32,
}

/// `replace OLD [V] => NEW [V]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    pub old: String,
    pub new: String,
    /// `None` when the replacement is a directory.
    pub new_version: Option<String>,
    pub line: u32,
}

impl Replace {
    /// The replacement directory (as written) when the target is local, like the Go command
    /// decides it: a path starting with `./`, `../` or `/`.
    pub fn local_dir(&self) -> Option<&str> {
        let local = self.new.starts_with("./")
            || self.new.starts_with("../")
            || self.new.starts_with('/')
            || self.new == "."
            || self.new == "..";
        (local && self.new_version.is_none()).then_some(self.new.as_str())
    }
}

/// A problem in go.mod or go.work, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoModError {
    pub file: String,
    pub line: u32,
    pub message: String,
}

impl std::fmt::Display for GoModError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for GoModError {}

/// One directive with its arguments, blocks (`require ( ... )`) expanded.
struct Directive {
    verb: String,
    args: Vec<String>,
    line: u32,
}

/// The directives of a go.mod or go.work, tokenized like cmd/go's modfile lexer: words split
/// at spaces, `"quoted"` and `` `raw` `` strings are one word each (`use "./my lib"`), `//`
/// starts a comment outside strings. A block left open is an error at the line opening it.
fn directives(file: &str, text: &str) -> Result<Vec<Directive>, GoModError> {
    let mut out = Vec::new();
    let mut block: Option<(String, u32)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let error = |message: String| GoModError {
            file: file.to_string(),
            line,
            message,
        };
        let words = words(raw).map_err(error)?;
        match (&block, words.as_slice()) {
            (_, []) => {}
            (Some(_), [close]) if close == ")" => block = None,
            (Some((verb, _)), args) => out.push(Directive {
                verb: verb.clone(),
                args: args.to_vec(),
                line,
            }),
            (None, [verb, open]) if open == "(" => block = Some((verb.clone(), line)),
            (None, [verb, args @ ..]) => out.push(Directive {
                verb: verb.clone(),
                args: args.to_vec(),
                line,
            }),
        }
    }
    match block {
        Some((verb, line)) => Err(GoModError {
            file: file.to_string(),
            line,
            message: format!("`{verb} (` is never closed with `)`"),
        }),
        None => Ok(out),
    }
}

/// The words of one line.
fn words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() && !rest.starts_with("//") {
        let quote = rest.chars().next().filter(|c| *c == '"' || *c == '`');
        if let Some(quote) = quote {
            let body = &rest[1..];
            let mut word = String::new();
            let mut chars = body.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(format!("the string starting with {quote} is not closed")),
                    Some((i, c)) if c == quote => break i + 1,
                    Some((_, '\\')) if quote == '"' => word.extend(chars.next().map(|(_, c)| c)),
                    Some((_, c)) => word.push(c),
                }
            };
            words.push(word);
            rest = &body[end..];
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"' || c == '`')
                .unwrap_or(rest.len())
                .min(rest.find("//").unwrap_or(rest.len()));
            words.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    Ok(words)
}

fn version(file: &str, directive: &Directive) -> Result<Option<(GoVersion, u32)>, GoModError> {
    let Some(text) = directive.args.first() else {
        return Ok(None);
    };
    if directive.verb == "toolchain" && text == "default" {
        return Ok(None);
    }
    // A toolchain may carry a custom suffix (`go1.22.1-bigcorp`); the version is before it.
    let version = match directive.verb.as_str() {
        "toolchain" => text.split(['-', '+']).next().unwrap_or(text),
        _ => text,
    };
    GoVersion::parse(version)
        .map(|v| Some((v, directive.line)))
        .ok_or_else(|| GoModError {
            file: file.to_string(),
            line: directive.line,
            message: format!("`{} {text}` is not a Go version", directive.verb),
        })
}

fn replace(directive: &Directive) -> Option<Replace> {
    let arrow = directive.args.iter().position(|a| a == "=>")?;
    let (old, new) = (
        directive.args.get(..arrow)?,
        directive.args.get(arrow + 1..)?,
    );
    Some(Replace {
        old: old.join(" "),
        new: new.first()?.to_string(),
        new_version: new.get(1).map(|v| v.to_string()),
        line: directive.line,
    })
}

impl GoMod {
    pub fn parse(file: &str, text: &str) -> Result<GoMod, GoModError> {
        let mut gomod = GoMod {
            file: file.to_string(),
            module: String::new(),
            go: None,
            toolchain: None,
            requires: Vec::new(),
            replaces: Vec::new(),
        };
        for directive in directives(file, text)? {
            match directive.verb.as_str() {
                "module" => {
                    gomod.module = directive.args.first().cloned().unwrap_or_default();
                }
                "go" => gomod.go = version(file, &directive)?,
                "toolchain" => gomod.toolchain = version(file, &directive)?,
                "require" => {
                    if let [path, version, ..] = directive.args.as_slice() {
                        gomod.requires.push(Require {
                            path: path.to_string(),
                            version: version.to_string(),
                            line: directive.line,
                        });
                    }
                }
                "replace" => gomod.replaces.extend(replace(&directive)),
                _ => {}
            }
        }
        if gomod.module.is_empty() {
            return Err(GoModError {
                file: file.to_string(),
                line: 1,
                message: "no `module` directive".to_string(),
            });
        }
        Ok(gomod)
    }

    /// The Go version a build should use: the toolchain line when given, else the go line.
    pub fn wanted_go(&self) -> Option<(GoVersion, u32)> {
        self.toolchain.or(self.go)
    }
}

impl GoWork {
    pub fn parse(file: &str, text: &str) -> Result<GoWork, GoModError> {
        let mut gowork = GoWork {
            file: file.to_string(),
            go: None,
            toolchain: None,
            uses: Vec::new(),
            replaces: Vec::new(),
        };
        for directive in directives(file, text)? {
            match directive.verb.as_str() {
                "go" => gowork.go = version(file, &directive)?,
                "toolchain" => gowork.toolchain = version(file, &directive)?,
                "use" => {
                    if let Some(dir) = directive.args.first() {
                        gowork.uses.push((dir.clone(), directive.line));
                    }
                }
                "replace" => gowork.replaces.extend(replace(&directive)),
                _ => {}
            }
        }
        Ok(gowork)
    }

    pub fn wanted_go(&self) -> Option<(GoVersion, u32)> {
        self.toolchain.or(self.go)
    }
}

/// `go build`'s output name for an import path (`example.com/app/v2` → `app`).
pub fn binary_name_for(import_path: &str) -> &str {
    let mut parts = import_path.rsplit('/');
    let last = parts.next().unwrap_or(import_path);
    // cmd/go's isVersionElement: v2, v3, … but not v0, v1 or v01.
    let digits = last.strip_prefix('v').unwrap_or_default();
    let is_major_suffix = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
        && digits != "1";
    match (is_major_suffix, parts.next()) {
        (true, Some(previous)) => previous,
        _ => last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_module_go_toolchain_requires_and_replaces() {
        let text = "// comment\nmodule example.com/hello // trailing\n\ngo 1.27\n\ntoolchain go1.27.3\n\nrequire (\n\tgolang.org/x/text v0.20.0\n\texample.com/lib v0.0.0 // indirect\n)\n\nrequire example.com/one v1.2.3\n\nreplace example.com/lib => ../lib\n\nreplace (\n\texample.com/one v1.2.3 => example.com/fork v1.2.4\n\texample.com/two => ./vendored/two\n)\n";
        let gomod = GoMod::parse("go.mod", text).expect("valid go.mod");
        assert_eq!(gomod.module, "example.com/hello");
        assert_eq!(
            gomod.go.map(|(v, line)| (v.to_string(), line)),
            Some(("1.27".into(), 4))
        );
        assert_eq!(
            gomod.wanted_go().map(|(v, line)| (v.to_string(), line)),
            Some(("1.27.3".into(), 6))
        );
        let requires: Vec<(&str, &str, u32)> = gomod
            .requires
            .iter()
            .map(|r| (r.path.as_str(), r.version.as_str(), r.line))
            .collect();
        assert_eq!(
            requires,
            [
                ("golang.org/x/text", "v0.20.0", 9),
                ("example.com/lib", "v0.0.0", 10),
                ("example.com/one", "v1.2.3", 13)
            ]
        );
        let locals: Vec<(&str, u32)> = gomod
            .replaces
            .iter()
            .filter_map(|r| r.local_dir().map(|d| (d, r.line)))
            .collect();
        assert_eq!(locals, [("../lib", 15), ("./vendored/two", 19)]);
        assert_eq!(gomod.replaces[1].old, "example.com/one v1.2.3");
        assert_eq!(gomod.replaces[1].new_version.as_deref(), Some("v1.2.4"));
    }

    #[test]
    fn reads_go_work() {
        let text = "go 1.27\n\nuse (\n\t./api\n\t./lib // shared\n)\nuse ./worker\n\nreplace example.com/x => ./forks/x\n";
        let gowork = GoWork::parse("go.work", text).expect("valid go.work");
        assert_eq!(
            gowork.uses,
            [
                ("./api".to_string(), 4),
                ("./lib".to_string(), 5),
                ("./worker".to_string(), 7)
            ]
        );
        assert_eq!(gowork.replaces[0].local_dir(), Some("./forks/x"));
        assert_eq!(
            gowork.wanted_go().map(|(v, _)| v.to_string()).as_deref(),
            Some("1.27")
        );
    }

    #[test]
    fn missing_module_is_an_error() {
        let err = GoMod::parse("go.mod", "go 1.27\n").expect_err("no module line");
        assert_eq!(err.to_string(), "go.mod:1: no `module` directive");
    }

    #[test]
    fn bad_go_line_names_its_line() {
        let err = GoMod::parse("sub/go.mod", "module x\ngo one\n").expect_err("bad go line");
        assert_eq!(
            err.to_string(),
            "sub/go.mod:2: `go one` is not a Go version"
        );
    }

    #[test]
    fn binary_names_follow_go_build() {
        assert_eq!(binary_name_for("example.com/hello"), "hello");
        assert_eq!(binary_name_for("example.com/app/v2"), "app");
        assert_eq!(binary_name_for("./cmd/server"), "server");
        assert_eq!(binary_name_for("hello"), "hello");
        assert_eq!(binary_name_for("example.com/v2tool"), "v2tool");
    }

    #[test]
    fn quoted_paths_custom_toolchains_and_open_blocks() {
        let work = GoWork::parse(
            "go.work",
            "go 1.27\n\nuse (\n\t\"./my lib\" // spaced\n\t`./raw dir`\n\t./plain\n)\n",
        )
        .expect("valid go.work");
        let uses: Vec<&str> = work.uses.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(uses, ["./my lib", "./raw dir", "./plain"]);

        let gomod = GoMod::parse(
            "go.mod",
            "module example.com/m\ngo 1.22\ntoolchain go1.22.1-bigcorp\nreplace example.com/x => \"../x y\"\n",
        )
        .expect("a custom toolchain name is valid");
        assert_eq!(
            gomod.toolchain.map(|(v, _)| v.to_string()),
            Some("1.22.1".into())
        );
        assert_eq!(gomod.replaces[0].new, "../x y");

        let open = GoMod::parse("go.mod", "module m\n\nrequire (\n\tx v1\n")
            .expect_err("an unclosed block is an error");
        assert_eq!((open.file.as_str(), open.line), ("go.mod", 3));
        assert!(open.message.contains("never closed"), "{}", open.message);
        assert!(GoMod::parse("go.mod", "module \"m\n").is_err());
    }
}

/// go.sum: the hashes of module zips (`path version h1:…`) and go.mod files
/// (`path version/go.mod h1:…`). Lenient: the Go command reports a malformed go.sum.
#[derive(Debug, Default)]
pub struct GoSum<'a> {
    lines: std::collections::BTreeMap<(&'a str, &'a str), [Option<&'a str>; 2]>,
}

impl<'a> GoSum<'a> {
    pub fn parse(text: &'a str) -> GoSum<'a> {
        let mut sum = GoSum::default();
        for line in text.lines() {
            let [path, version, _hash] = line.split_whitespace().collect::<Vec<_>>()[..] else {
                continue;
            };
            let (version, slot) = match version.strip_suffix("/go.mod") {
                Some(version) => (version, 1),
                None => (version, 0),
            };
            sum.lines.entry((path, version)).or_default()[slot] = Some(line.trim());
        }
        sum
    }

    /// The zip's and the go.mod's line of `path@version`, when go.sum has both.
    pub fn lines(&self, path: &str, version: &str) -> Option<[String; 2]> {
        match self.lines.get(&(path, version))? {
            [Some(zip), Some(go_mod)] => Some([zip.to_string(), go_mod.to_string()]),
            _ => None,
        }
    }
}

//! Facts read from `go.mod`: the module path and the Go version it asks for.
//!
//! Only the directives the planner needs are read; the Go command stays the judge of everything
//! else in the file.

use crate::spec::GoVersion;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoMod {
    /// File name used in messages, e.g. `go.mod` or `services/api/go.mod`.
    pub file: String,
    /// The `module` path, e.g. `example.com/hello`.
    pub module: String,
    /// The `go` directive with its line.
    pub go: Option<(GoVersion, u32)>,
    /// The `toolchain` directive with its line.
    pub toolchain: Option<(GoVersion, u32)>,
}

/// A problem in go.mod, with its 1-based line.
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

impl GoMod {
    pub fn parse(file: &str, text: &str) -> Result<GoMod, GoModError> {
        let error = |line: u32, message: String| GoModError {
            file: file.to_string(),
            line,
            message,
        };
        let mut module = None;
        let mut go = None;
        let mut toolchain = None;
        for (index, raw) in text.lines().enumerate() {
            let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let line = raw.split("//").next().unwrap_or_default().trim();
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("module"), Some(path)) => {
                    module = Some(path.trim_matches('"').to_string());
                }
                (Some("go"), Some(version)) => {
                    let parsed = GoVersion::parse(version).ok_or_else(|| {
                        error(line_no, format!("`go {version}` is not a Go version"))
                    })?;
                    go = Some((parsed, line_no));
                }
                (Some("toolchain"), Some(name)) if name != "default" => {
                    let parsed = GoVersion::parse(name).ok_or_else(|| {
                        error(line_no, format!("`toolchain {name}` is not a Go toolchain"))
                    })?;
                    toolchain = Some((parsed, line_no));
                }
                _ => {}
            }
        }
        let module = module.ok_or_else(|| error(1, "no `module` directive".to_string()))?;
        Ok(GoMod {
            file: file.to_string(),
            module,
            go,
            toolchain,
        })
    }

    /// The Go version a build should use: the toolchain line when given, else the go line.
    pub fn wanted_go(&self) -> Option<(GoVersion, u32)> {
        self.toolchain.or(self.go)
    }

    /// The default binary name for the module root package, as `go build` names it: the last
    /// path element, skipping a major-version suffix such as `/v2`.
    pub fn default_binary_name(&self) -> &str {
        binary_name_for(&self.module)
    }
}

/// `go build`'s output name for an import path (`example.com/app/v2` → `app`).
pub fn binary_name_for(import_path: &str) -> &str {
    let mut parts = import_path.rsplit('/');
    let last = parts.next().unwrap_or(import_path);
    let is_major_suffix =
        last.len() > 1 && last.starts_with('v') && last[1..].chars().all(|c| c.is_ascii_digit());
    match (is_major_suffix, parts.next()) {
        (true, Some(previous)) => previous,
        _ => last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_module_go_and_toolchain() {
        let text = "// comment\nmodule example.com/hello // trailing\n\ngo 1.27\n\ntoolchain go1.27.3\n\nrequire (\n\tgolang.org/x/text v0.20.0\n)\n";
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
}

//! The headers of Go source files: build constraints, package clause and imports — what the
//! planner needs to know which packages a build imports, without reading whole files.
//!
//! The source scan prints each Go file's header (see [`HEADER_AWK`]); [`parse_scan`] reads
//! that output back. Parsing is forgiving: the import set only decides what is compiled ahead
//! of the build, so a file this parser does not understand contributes nothing, and the build
//! step compiles whatever was missed.

use std::collections::BTreeMap;

/// Starts a file's record in the scan output: this byte, then the file name (`./dir/x.go`).
pub const RECORD_MARK: char = '\u{1}';

/// The awk program the scan runs over every Go file: the header up to the first declaration,
/// without line comments other than `//go:build` and without blank lines.
pub const HEADER_AWK: &str = concat!(
    r#"FNR == 1 { print "\001" FILENAME } "#,
    r#"/^(func|type|var|const)([ \t(]|$)/ { nextfile } "#,
    r#"/^[ \t]*\/\// && !/^\/\/go:build / { next } "#,
    r#"/^[ \t]*$/ { next } { print }"#,
);

/// What one Go file's header says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// The `//go:build` expression, if any.
    pub constraint: Option<String>,
    pub imports: Vec<String>,
}

impl Header {
    /// Parses a header: `//go:build` lines and comments, the package clause, import
    /// declarations. Stops at the first thing that is none of these.
    pub fn parse(text: &str) -> Header {
        let mut header = Header::default();
        let mut tokens = Tokens { rest: text };
        // The constraint must come before the package clause.
        loop {
            match tokens.next() {
                Some(Token::Constraint(expr)) => {
                    header.constraint.get_or_insert_with(|| expr.to_string());
                }
                Some(Token::Word("package")) => break,
                _ => return header,
            }
        }
        if !matches!(tokens.next_code(), Some(Token::Word(_))) {
            return header;
        }
        loop {
            match tokens.next_code() {
                Some(Token::Semicolon) => {}
                Some(Token::Word("import")) => match tokens.next_code() {
                    Some(Token::Open) => loop {
                        match tokens.next_code() {
                            Some(Token::Close) => break,
                            Some(
                                Token::Semicolon | Token::Word(_) | Token::Dot | Token::BadPath,
                            ) => {}
                            Some(Token::Path(path)) => header.imports.push(path.to_string()),
                            _ => return header,
                        }
                    },
                    Some(Token::Word(_) | Token::Dot) => match tokens.next_code() {
                        Some(Token::Path(path)) => header.imports.push(path.to_string()),
                        _ => return header,
                    },
                    Some(Token::Path(path)) => header.imports.push(path.to_string()),
                    _ => return header,
                },
                _ => return header,
            }
        }
    }
}

/// Each Go file's header from the scan output, by context-relative file name.
pub fn parse_scan(output: &str) -> BTreeMap<String, Header> {
    output
        .split(RECORD_MARK)
        .filter_map(|record| {
            let (name, header) = record.split_once('\n').unwrap_or((record, ""));
            let name = name.strip_prefix("./")?;
            Some((name.to_string(), Header::parse(header)))
        })
        .collect()
}

/// What decides which files of a package Go compiles for a target.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub goos: String,
    pub goarch: String,
    pub cgo: bool,
    /// Go 1.N: the `go1.1` … `go1.N` tags hold.
    pub go_minor: u32,
    /// `-tags`.
    pub tags: Vec<String>,
}

impl BuildContext {
    /// Whether Go compiles `file` (a path; only its name counts) with this `header`.
    pub fn includes(&self, file: &str, header: &Header) -> bool {
        let name = file.rsplit('/').next().unwrap_or(file);
        if name.starts_with(['_', '.']) || !self.name_matches(name) {
            return false;
        }
        if header.imports.iter().any(|i| i == "C") && !self.cgo {
            return false;
        }
        match &header.constraint {
            // An expression this parser cannot read counts as true: compiling a package too
            // many is cheaper than missing one.
            Some(expr) => Expr::parse(expr).is_none_or(|e| e.eval(&|tag| self.tag(tag))),
            None => true,
        }
    }

    /// `name_GOOS_GOARCH.go`, `name_GOOS.go`, `name_GOARCH.go` (and `_test` before `.go`).
    fn name_matches(&self, name: &str) -> bool {
        let stem = name.strip_suffix(".go").unwrap_or(name);
        let stem = stem.strip_suffix("_test").unwrap_or(stem);
        let parts: Vec<&str> = stem.split('_').collect();
        let (last, before) = match parts.as_slice() {
            [_, .., before, last] => (*last, Some(*before)),
            [_, last] => (*last, None),
            _ => return true,
        };
        if KNOWN_ARCH.contains(&last) {
            let os_ok = before
                .filter(|b| KNOWN_OS.contains(b))
                .is_none_or(|os| self.os_tag(os));
            return last == self.goarch && os_ok;
        }
        !KNOWN_OS.contains(&last) || self.os_tag(last)
    }

    fn os_tag(&self, tag: &str) -> bool {
        tag == self.goos
            || (tag == "linux" && self.goos == "android")
            || (tag == "solaris" && self.goos == "illumos")
            || (tag == "darwin" && self.goos == "ios")
    }

    fn tag(&self, tag: &str) -> bool {
        if let Some(minor) = tag.strip_prefix("go1.") {
            return minor.parse::<u32>().is_ok_and(|m| m <= self.go_minor);
        }
        self.os_tag(tag)
            || tag == self.goarch
            || tag == "gc"
            || (tag == "unix" && UNIX_OS.contains(&self.goos.as_str()))
            || (tag == "cgo" && self.cgo)
            || self.tags.iter().any(|t| t == tag)
    }
}

/// From Go's `internal/syslist`.
const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "js",
    "linux",
    "nacl",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
    "zos",
];
const UNIX_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "hurd",
    "illumos",
    "ios",
    "linux",
    "netbsd",
    "openbsd",
    "solaris",
];
const KNOWN_ARCH: &[&str] = &[
    "386",
    "amd64",
    "amd64p32",
    "arm",
    "armbe",
    "arm64",
    "arm64be",
    "loong64",
    "mips",
    "mipsle",
    "mips64",
    "mips64le",
    "mips64p32",
    "mips64p32le",
    "ppc",
    "ppc64",
    "ppc64le",
    "riscv",
    "riscv64",
    "s390",
    "s390x",
    "sparc",
    "sparc64",
    "wasm",
];

/// A `//go:build` expression.
#[derive(Debug, PartialEq, Eq)]
enum Expr {
    Tag(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    fn parse(text: &str) -> Option<Expr> {
        let mut parser = ExprParser {
            rest: text.trim_start(),
        };
        let expr = parser.or()?;
        parser.rest.is_empty().then_some(expr)
    }

    fn eval(&self, tag: &impl Fn(&str) -> bool) -> bool {
        match self {
            Expr::Tag(name) => tag(name),
            Expr::Not(e) => !e.eval(tag),
            Expr::And(a, b) => a.eval(tag) && b.eval(tag),
            Expr::Or(a, b) => a.eval(tag) || b.eval(tag),
        }
    }
}

/// Recursive descent over `||`, `&&`, `!`, parentheses and tags, like `go/build/constraint`.
struct ExprParser<'a> {
    rest: &'a str,
}

impl ExprParser<'_> {
    fn eat(&mut self, token: &str) -> bool {
        let found = self.rest.starts_with(token);
        if found {
            self.rest = self.rest[token.len()..].trim_start();
        }
        found
    }

    fn or(&mut self) -> Option<Expr> {
        let mut expr = self.and()?;
        while self.eat("||") {
            expr = Expr::Or(Box::new(expr), Box::new(self.and()?));
        }
        Some(expr)
    }

    fn and(&mut self) -> Option<Expr> {
        let mut expr = self.not()?;
        while self.eat("&&") {
            expr = Expr::And(Box::new(expr), Box::new(self.not()?));
        }
        Some(expr)
    }

    fn not(&mut self) -> Option<Expr> {
        if self.eat("!") {
            return Some(Expr::Not(Box::new(self.not()?)));
        }
        if self.eat("(") {
            let expr = self.or()?;
            return self.eat(")").then_some(expr);
        }
        let end = self
            .rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(self.rest.len());
        if end == 0 {
            return None;
        }
        let tag = self.rest[..end].to_string();
        self.rest = self.rest[end..].trim_start();
        Some(Expr::Tag(tag))
    }
}

/// Go's own rule for import paths (`module.CheckImportPath`'s characters, no leading `-` or
/// `/`): the list reaches `xargs go build` in the compile step, so nothing else may — a path
/// like `-toolexec=…` would be a flag there. Go refuses other paths anyway.
fn is_import_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with(['-', '/'])
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~/+".contains(c))
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    /// `//go:build EXPR`.
    Constraint(&'a str),
    Word(&'a str),
    /// An import path: the contents of a string literal.
    Path(&'a str),
    /// A string literal that is no valid import path: skipped.
    BadPath,
    Open,
    Close,
    Semicolon,
    Dot,
    Other,
}

/// Go's lexical elements, as far as a header needs them; comments are skipped, except a
/// `//go:build` line.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Tokens<'a> {
    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            self.rest = self.rest.trim_start();
            if let Some(line) = self.rest.strip_prefix("//") {
                let (comment, rest) = line.split_once('\n').unwrap_or((line, ""));
                self.rest = rest;
                if let Some(expr) = comment.strip_prefix("go:build ") {
                    return Some(Token::Constraint(expr.trim()));
                }
            } else if let Some(block) = self.rest.strip_prefix("/*") {
                self.rest = block.split_once("*/").map_or("", |(_, rest)| rest);
            } else {
                break;
            }
        }
        let mut chars = self.rest.chars();
        let first = chars.next()?;
        let (token, len) = match first {
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            ';' => (Token::Semicolon, 1),
            '.' => (Token::Dot, 1),
            '"' | '`' => {
                let body = &self.rest[1..];
                match body.find(first) {
                    // Import paths have no escapes worth decoding; anything but a valid
                    // import path is left out.
                    Some(end) if is_import_path(&body[..end]) => {
                        (Token::Path(&body[..end]), end + 2)
                    }
                    Some(end) => (Token::BadPath, end + 2),
                    None => (Token::Other, self.rest.len()),
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let end = self
                    .rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(self.rest.len());
                (Token::Word(&self.rest[..end]), end)
            }
            c => (Token::Other, c.len_utf8()),
        };
        self.rest = &self.rest[len..];
        Some(token)
    }

    /// The next token after the package clause, where a `//go:build` line is just a comment.
    fn next_code(&mut self) -> Option<Token<'a>> {
        loop {
            match self.next()? {
                Token::Constraint(_) => {}
                token => return Some(token),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux_amd64() -> BuildContext {
        BuildContext {
            goos: "linux".into(),
            goarch: "amd64".into(),
            cgo: false,
            go_minor: 27,
            tags: vec!["netgo".into()],
        }
    }

    #[test]
    fn imports_in_every_form() {
        let header = Header::parse(concat!(
            "/* Copyright */\n//go:build linux && !cgo\npackage main\n",
            "import \"fmt\"\nimport (\n\t\"net/http\"\n\tlog \"example.com/log\"\n",
            "\t_ \"embed\"; . `example.com/dot`\n)\n",
            "import x \"example.com/x\"\n"
        ));
        assert_eq!(header.constraint.as_deref(), Some("linux && !cgo"));
        assert_eq!(
            header.imports,
            [
                "fmt",
                "net/http",
                "example.com/log",
                "embed",
                "example.com/dot",
                "example.com/x"
            ]
        );
    }

    #[test]
    fn a_cgo_preamble_is_a_comment_and_c_is_an_import() {
        let header =
            Header::parse("package db\n/*\n#include <x.h>\nimport \"no\"\n*/\nimport \"C\"\n");
        assert_eq!(header.imports, ["C"]);
        assert!(!linux_amd64().includes("db/db.go", &header));
    }

    #[test]
    fn a_constraint_after_the_package_clause_is_a_comment() {
        let header = Header::parse("package a\n//go:build ignore\nimport \"os\"\n");
        assert_eq!(header.constraint, None);
        assert_eq!(header.imports, ["os"]);
    }

    #[test]
    fn parsing_stops_at_anything_else() {
        let header = Header::parse("package a\nimport \"os\"\nvar x = \"y\"\nimport \"z\"\n");
        assert_eq!(header.imports, ["os"]);
        assert_eq!(Header::parse("garbage \"x\""), Header::default());
    }

    #[test]
    fn only_valid_import_paths_are_imports() {
        let header = Header::parse(
            "package a\nimport (\n\t\"-toolexec=sh\"\n\t\"a b\"\n\t\"x'y\"\n\t\"C\"\n\t\"example.com/v2+x~y\"\n)\n",
        );
        assert_eq!(header.imports, ["C", "example.com/v2+x~y"]);
    }

    #[test]
    fn the_scan_output_is_split_by_file() {
        let scan = "\u{1}./a.go\npackage a\nimport \"os\"\n\u{1}./b/b_test.go\npackage b\n";
        let headers = parse_scan(scan);
        assert_eq!(headers["a.go"].imports, ["os"]);
        assert!(headers["b/b_test.go"].imports.is_empty());
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn file_names_constrain_like_go() {
        let target = linux_amd64();
        let plain = Header::default();
        for (name, included) in [
            ("a.go", true),
            ("a_linux.go", true),
            ("a_windows.go", false),
            ("a_linux_amd64.go", true),
            ("a_linux_arm64.go", false),
            ("a_darwin_amd64.go", false),
            ("a_amd64_test.go", true),
            ("linux.go", true),
            ("a_unknown.go", true),
            ("_a.go", false),
            (".a.go", false),
        ] {
            assert_eq!(target.includes(name, &plain), included, "{name}");
        }
    }

    #[test]
    fn constraints_evaluate_like_go() {
        let target = linux_amd64();
        for (expr, included) in [
            ("linux", true),
            ("unix && amd64", true),
            ("!linux", false),
            ("windows || (linux && netgo)", true),
            ("cgo", false),
            ("go1.21 && !go1.28", true),
            ("ignore", false),
            ("linux &&", true),
        ] {
            let header = Header {
                constraint: Some(expr.to_string()),
                imports: Vec::new(),
            };
            assert_eq!(target.includes("a.go", &header), included, "{expr}");
        }
    }
}

//! The one way the plan writes shell (`sh -c` scripts, and strings git hands to `sh`).
//!
//! A script is made of lines; a line is a sequence of tokens that are either shell syntax or
//! values. Syntax can only be a `&'static str`, written in this crate's source; everything
//! else — spec fields, go.mod paths, build args, context file names — is a value and is
//! single-quoted when the line is rendered. So no value can become shell syntax, whatever it
//! contains, by construction.

/// One shell line: syntax and quoted values, space-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line {
    text: String,
}

impl Line {
    /// A line that starts with shell syntax (`if`, `[`, a command name, ...).
    pub fn syntax(syntax: &'static str) -> Line {
        Line::default().then(syntax)
    }

    /// A command line: `program` followed by the quoted `args`.
    pub fn command<S: AsRef<str>>(
        program: &'static str,
        args: impl IntoIterator<Item = S>,
    ) -> Line {
        Line::syntax(program).values(args)
    }

    /// Appends shell syntax.
    pub fn then(mut self, syntax: &'static str) -> Line {
        self.push(syntax);
        self
    }

    /// Appends one value as one quoted word.
    pub fn value(mut self, value: impl AsRef<str>) -> Line {
        self.push(&quote(value.as_ref()));
        self
    }

    /// Appends each value as its own quoted word.
    pub fn values<S: AsRef<str>>(self, values: impl IntoIterator<Item = S>) -> Line {
        values.into_iter().fold(self, |line, v| line.value(v))
    }

    /// Appends `NAME=value` (the value quoted), e.g. as a command's environment prefix.
    pub fn assign(mut self, name: &'static str, value: impl AsRef<str>) -> Line {
        self.push(&format!("{name}={}", quote(value.as_ref())));
        self
    }

    /// Appends one word: a quoted value, or a word with shell parameters in it.
    pub fn word(mut self, word: &Word) -> Line {
        match word {
            Word::Value(value) => self.push(&quote(value)),
            Word::Expanding(pieces) => self.push(&expanding(pieces)),
        }
        self
    }

    /// Appends each word.
    pub fn words<'w>(self, words: impl IntoIterator<Item = &'w Word>) -> Line {
        words.into_iter().fold(self, Line::word)
    }

    /// Appends `NAME=value` for a checked name (the value quoted).
    pub fn assign_to(mut self, name: &Parameter, value: impl AsRef<str>) -> Line {
        self.push(&format!("{}={}", name.0, quote(value.as_ref())));
        self
    }

    /// Appends another line's tokens (to join commands with `&&`, `||`, `;`, `|`).
    pub fn line(mut self, other: Line) -> Line {
        self.push(&other.text);
        self
    }

    fn push(&mut self, token: &str) {
        if token.is_empty() {
            return;
        }
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        self.text.push_str(token);
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// One word of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Word {
    /// A value, passed as it is.
    Value(String),
    /// Text with shell parameters the shell expands when the script runs (a Dockerfile's build
    /// args): written in double quotes, the text escaped.
    Expanding(Vec<Piece>),
}

/// A piece of an [`Word::Expanding`] word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// `${NAME}`; only a name of letters, digits and `_` (not first) is a parameter.
    Parameter(Parameter),
    /// Shell syntax, e.g. a command substitution.
    Syntax(&'static str),
}

/// A shell parameter name, checked when it is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter(String);

impl Parameter {
    /// `None` unless `name` is a shell name (`[A-Za-z_][A-Za-z0-9_]*`).
    pub fn new(name: &str) -> Option<Parameter> {
        let mut chars = name.chars();
        let first = chars.next()?;
        let valid = (first.is_ascii_alphabetic() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        valid.then(|| Parameter(name.to_string()))
    }
}

/// A double-quoted word: text escaped (`\`, `"`, `$`, backquote), parameters as `${NAME}`.
fn expanding(pieces: &[Piece]) -> String {
    let mut word = String::from("\"");
    for piece in pieces {
        match piece {
            Piece::Text(text) => {
                for c in text.chars() {
                    if matches!(c, '\\' | '"' | '$' | '`') {
                        word.push('\\');
                    }
                    word.push(c);
                }
            }
            Piece::Parameter(parameter) => word.push_str(&format!("${{{}}}", parameter.0)),
            Piece::Syntax(syntax) => word.push_str(syntax),
        }
    }
    word.push('"');
    word
}

/// `echo MESSAGE >&2`: a message for the build log.
pub fn say(message: impl AsRef<str>) -> Line {
    Line::command("echo", [message]).then(">&2")
}

/// A POSIX shell script, one line after another.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    lines: Vec<String>,
}

impl Script {
    pub fn new() -> Script {
        Script::default()
    }

    pub fn line(mut self, line: Line) -> Script {
        self.lines.push(line.text);
        self
    }

    pub fn lines(self, lines: impl IntoIterator<Item = Line>) -> Script {
        lines.into_iter().fold(self, Script::line)
    }

    /// A line of pure shell syntax.
    pub fn syntax(self, syntax: &'static str) -> Script {
        self.line(Line::syntax(syntax))
    }

    pub fn render(&self) -> String {
        self.lines.join("\n")
    }

    /// `["sh", "-c", SCRIPT]`: the argv of a step.
    pub fn argv(&self) -> Vec<String> {
        vec!["sh".into(), "-c".into(), self.render()]
    }
}

/// Single-quotes a value for sh: `it's` → `'it'\''s'`.
pub fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_quoted_and_syntax_is_not() {
        let line = Line::syntax("if [ $rc -ne 0 ] && grep -q")
            .value("it's; rm -rf / $(x) `y`")
            .then("/tmp/log; then")
            .line(say("a message"))
            .then("; fi");
        assert_eq!(
            line.as_str(),
            r#"if [ $rc -ne 0 ] && grep -q 'it'\''s; rm -rf / $(x) `y`' /tmp/log; then echo 'a message' >&2 ; fi"#
        );
        assert_eq!(
            Line::command("go", ["build", "-o", "/out/a b"]).as_str(),
            "go 'build' '-o' '/out/a b'"
        );
        assert_eq!(Line::syntax("go").assign("X", "a b").as_str(), "go X='a b'");
    }

    #[test]
    fn expanding_words_expand_parameters_and_nothing_else() {
        let version = Parameter::new("VERSION").expect("a name");
        let word = Word::Expanding(vec![
            Piece::Text("-X main.v=".into()),
            Piece::Parameter(version),
            Piece::Text(r#" $(x) `y` "q" \"#.into()),
        ]);
        assert_eq!(
            Line::syntax("printf %s").word(&word).as_str(),
            r#"printf %s "-X main.v=${VERSION} \$(x) \`y\` \"q\" \\""#
        );
        for bad in ["", "1A", "A-B", "A B", "A}"] {
            assert_eq!(Parameter::new(bad), None, "{bad}");
        }
    }
}

/// Property: whatever a value holds, `sh` hands it to the command unchanged.
#[cfg(test)]
mod roundtrip {
    use proptest::prelude::*;

    use super::*;

    fn through_sh(line: &Line) -> Vec<u8> {
        let out = std::process::Command::new("sh")
            .args(["-c", line.as_str()])
            .output()
            .expect("run sh");
        assert!(out.status.success(), "sh failed on {:?}", line.as_str());
        out.stdout
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        #[test]
        fn any_value_reaches_the_command_unchanged(value in "[^\u{0}]{0,40}") {
            let line = Line::command("printf", ["%s", value.as_str()]);
            prop_assert_eq!(through_sh(&line), value.as_bytes());
        }

        #[test]
        fn expanding_text_reaches_the_command_unchanged(value in "[^\u{0}]{0,40}") {
            let word = Word::Expanding(vec![Piece::Text(value.clone())]);
            let line = Line::syntax("printf %s").word(&word);
            prop_assert_eq!(through_sh(&line), value.as_bytes());
        }

        #[test]
        fn shell_metacharacters_reach_the_command_unchanged(
            value in r#"[ '"\\$`;&|<>(){}*?\[\]!#~=%\n\t-]{0,30}"#
        ) {
            let line = Line::syntax("printf %s").value(&value).then(">&1");
            prop_assert_eq!(through_sh(&line), value.as_bytes());
        }
    }
}

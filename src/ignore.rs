//! `.dockerignore` files: the context patterns a build must never see.

/// Parses a `.dockerignore` like moby's `ignorefile.ReadAll`: comments and blank lines dropped,
/// paths cleaned to slash form without a leading `/`, `!` exceptions kept.
pub fn parse(text: &str) -> Vec<String> {
    // Editors on Windows start files with a byte-order mark; it is not part of a pattern.
    text.trim_start_matches('\u{feff}')
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| {
            let (negated, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(pattern);
            (!cleaned.is_empty()).then(|| {
                if negated {
                    format!("!{cleaned}")
                } else {
                    cleaned
                }
            })
        })
        .collect()
}

/// Go's `path.Clean` for relative patterns, minus the leading `/`.
pub fn clean(pattern: &str) -> String {
    let pattern = pattern.replace('\\', "/");
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.trim_start_matches('/').split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    // An empty result (`/`, `.`) would exclude the whole context; it is dropped.
    parts.join("/")
}

/// Whether `.dockerignore` patterns leave `path` out of the context, as moby's
/// `patternmatcher` decides it: the last pattern that matches the path or one of its parent
/// directories wins, `!` patterns bring a path back.
pub struct Matcher {
    patterns: Vec<(globset::GlobMatcher, bool)>,
}

impl Matcher {
    /// Patterns as [`parse`] returns them; invalid globs never match (BuildKit refuses them
    /// when it transfers the context, which names the pattern).
    pub fn new(patterns: &[String]) -> Matcher {
        let patterns = patterns
            .iter()
            .filter_map(|pattern| {
                let (exclusion, glob) = match pattern.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, pattern.as_str()),
                };
                globset::GlobBuilder::new(glob)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .ok()
                    .map(|g| (g.compile_matcher(), exclusion))
            })
            .collect();
        Matcher { patterns }
    }

    pub fn excludes(&self, path: &str) -> bool {
        let mut candidates = vec![path];
        let mut rest = path;
        while let Some((dir, _)) = rest.rsplit_once('/') {
            candidates.push(dir);
            rest = dir;
        }
        let mut excluded = false;
        for (glob, exclusion) in &self.patterns {
            if candidates.iter().any(|c| glob.is_match(c)) {
                excluded = !exclusion;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_moby() {
        let text = "# comment\n\n/bin\n./docs/\n!docs/keep.md\n  *.log  \nsub/../tmp\n/\n";
        assert_eq!(
            parse(text),
            ["bin", "docs", "!docs/keep.md", "*.log", "tmp"]
        );
        assert_eq!(
            parse("\u{feff}go.mod\n"),
            ["go.mod"],
            "a BOM is not part of a pattern"
        );
    }

    #[test]
    fn matcher_follows_moby() {
        let m = Matcher::new(&parse("docs\n*.md\n!README.md\nvendor/**/testdata\n"));
        assert!(
            m.excludes("docs/guide.txt"),
            "a directory excludes its contents"
        );
        assert!(m.excludes("NOTES.md") && !m.excludes("README.md"));
        assert!(!m.excludes("sub/NOTES.md"), "* does not cross /");
        assert!(m.excludes("vendor/a/b/testdata/x.go"));
        assert!(!m.excludes("main.go"));
    }
}

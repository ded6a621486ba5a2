//! `.dockerignore` files: the context patterns a build must never see.

/// Parses a `.dockerignore` like moby's `ignorefile.ReadAll`: comments and blank lines dropped,
/// paths cleaned to slash form without a leading `/`, `!` exceptions kept.
pub fn parse(text: &str) -> Vec<String> {
    text.lines()
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
fn clean(pattern: &str) -> String {
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
    }
}

//! Property tests over hostile input (proptest): the spec loader, go.mod/go.work parsing and
//! `.dockerignore` handling never panic, and what they accept is internally consistent. The
//! test command runs a short bounded pass; `PROPTEST_CASES=20000 cargo test --test fuzz` runs
//! a longer one.

use proptest::prelude::*;

use gobuild_frontend::gomod::{GoMod, GoWork};
use gobuild_frontend::ignore;
use gobuild_frontend::spec;

/// YAML-ish text: the spec's keys, indentation, flow collections, anchors, quotes, comments.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("binaries:".to_string()),
        Just("  - package: .".to_string()),
        Just("    name: x".to_string()),
        Just("runtime:".to_string()),
        Just("  entrypoint: [a, b]".to_string()),
        Just("  env: {A: b}".to_string()),
        Just("build:".to_string()),
        Just("  tags: &t [x]".to_string()),
        Just("  flags: *t".to_string()),
        Just("private:".to_string()),
        Just("  - modules: a.example/*".to_string()),
        Just("    netrc: {secret: n}".to_string()),
        Just("modules: {proxy: off, cache: layer}".to_string()),
        Just("---".to_string()),
        Just("# comment".to_string()),
        "[ -~]{0,20}",
        "[\\PC]{0,12}",
    ];
    prop::collection::vec(token, 0..12).prop_map(|lines| lines.join("\n"))
}

proptest! {
    // 300 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(300),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_spec_loader_never_panics(text in yamlish()) {
        if let Err(error) = spec::load("go-build.yaml", text.as_bytes()) {
            // Every problem is located in the file it is about.
            for d in &error.diagnostics {
                prop_assert_eq!(&d.file, "go-build.yaml");
            }
        }
    }

    #[test]
    fn the_spec_loader_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = spec::load("go-build.yaml", &bytes);
    }

    #[test]
    fn go_mod_and_go_work_parsing_never_panics(
        lines in prop::collection::vec(
            prop_oneof![
                "(module|go|toolchain|require|replace|use|exclude|retract|godebug) [ -~]{0,30}",
                Just("require (".to_string()),
                Just(")".to_string()),
                "[\\PC]{0,20}",
                "\"[^\"]{0,10}\"?",
            ],
            0..10,
        )
    ) {
        let text = lines.join("\n");
        if let Ok(gomod) = GoMod::parse("go.mod", &text) {
            prop_assert!(!gomod.module.is_empty());
        }
        let _ = GoWork::parse("go.work", &text);
    }

    #[test]
    fn dockerignore_parsing_and_matching_never_panic(
        text in "[\\PC\\n!*?\\[\\]/\\\\.]{0,60}",
        path in "[a-z/._\\[\\] ]{0,20}",
    ) {
        let patterns = ignore::parse(&text);
        for p in &patterns {
            prop_assert!(!p.is_empty() && !p.starts_with('/'));
        }
        let _ = ignore::Matcher::new(&patterns).excludes(&path);
    }
}

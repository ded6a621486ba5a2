//! The JSON Schema of go-build.yaml (`gobuild-frontend schema`): the committed copy editors use
//! is the generated one, it accepts every example, and it refuses what the loader refuses
//! where JSON Schema can say so.

use std::path::Path;

use gobuild_frontend::spec;

fn schema() -> serde_json::Value {
    spec::json_schema()
}

/// A spec as the schema sees it; a file of comments only is an empty spec to the loader (and
/// editors do not validate an empty document).
fn as_json(yaml: &str) -> serde_json::Value {
    match serde_saphyr::from_str::<serde_json::Value>(yaml) {
        Ok(serde_json::Value::Null) => serde_json::json!({}),
        Ok(value) => value,
        Err(e) => panic!("not YAML: {e}\n{yaml}"),
    }
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/go-build.schema.json");
    let committed = std::fs::read_to_string(&committed).expect("schema/go-build.schema.json");
    let generated = serde_json::to_string_pretty(&schema()).expect("JSON") + "\n";
    assert!(
        committed == generated,
        "schema/go-build.schema.json is stale: run `cargo run -- schema > schema/go-build.schema.json`"
    );
}

#[test]
fn every_example_spec_is_valid_against_the_schema() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in walkdir::WalkDir::new(&examples) {
        let entry = entry.expect("readable examples");
        let name = entry.file_name().to_string_lossy();
        if !(name.ends_with("go-build.yaml") || name.ends_with("go-build.base.yaml")) {
            continue;
        }
        let text = std::fs::read_to_string(entry.path()).expect("readable spec");
        let errors: Vec<String> = validator
            .iter_errors(&as_json(&text))
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", entry.path().display());
        checked += 1;
    }
    assert!(checked > 10, "only {checked} specs found");
}

#[test]
fn the_schema_refuses_what_the_loader_refuses() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    for text in [
        "binaries:\n  - package: .\n    nmae: typo\n",
        "binaries: []\n",
        "binaries:\n  - name: api\n",
        "binaries:\n  - package: .\n    name: a/b\n",
        "version: 2\n",
        "platforms: linux/amd64\n",
        "modules:\n  vendor: maybe\n",
        "modules:\n  cache: disk\n",
        "modules:\n  network: sometimes\n",
        "runtime:\n  ports: [http]\n",
        "runtime:\n  entrypoint: {binary: api}\n",
        "build:\n  cgo: 1\n",
        "private:\n  - git: https://git.corp/\n",
        "extends: [a, b]\n",
    ] {
        assert!(
            spec::load("go-build.yaml", text.as_bytes()).is_err(),
            "the loader refuses {text:?}"
        );
        assert!(
            !validator.is_valid(&as_json(text)),
            "the schema refuses {text:?}"
        );
    }
    // Scalars the loader reads as text are text to the schema too.
    for text in [
        "go: \"1.27\"\nruntime:\n  user: \"1000\"\n  labels:\n    tier: backend\n",
        "go: 1.27\nruntime:\n  user: 1000\n  labels:\n    replicas: 3\n    public: true\n",
        "modules:\n  vendor: auto\n",
        "modules:\n  vendor: true\n",
        "runtime:\n  ports: [8080, \"53/udp\"]\n",
    ] {
        spec::load("go-build.yaml", text.as_bytes()).expect("the loader takes it");
        assert!(
            validator.is_valid(&as_json(text)),
            "the schema takes {text:?}"
        );
    }
}

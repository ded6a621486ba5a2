//! The effective spec: every value a build uses and where it comes from — built in, the org's
//! defaults, the shared spec the spec extends, the repository's spec, go.mod or a build arg.
//! `render` prints it, so a platform team (or a developer puzzled by a label) sees what the
//! layers made of a spec.

use serde::Serialize;
use serde_json::Value;

use super::{BuilderChoice, Known};
use crate::spec::{Origin, Pos};

/// One effective value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Setting {
    /// The field's path, e.g. `modules.proxy`, `runtime.labels.team`, `binaries[0].package`.
    pub field: String,
    pub value: String,
    /// `built-in`, `org FILE:LINE`, `extends FILE:LINE`, `repository FILE:LINE`, `go.mod:LINE`
    /// or `build arg NAME`.
    pub from: String,
}

/// Build args that stand in for a field when given.
const STANDING_IN: &[(&str, &str)] = &[
    ("GOPROXY", "modules.proxy"),
    ("GOSUMDB", "modules.sumdb"),
    ("GOPRIVATE", "modules.private"),
    ("GOFLAGS", "modules.goflags"),
    ("GOBUILD_RUNTIME_BASE", "runtime.base"),
];

/// Every effective value of the spec: the Go version and builder, then by field name.
pub fn settings(known: &Known, builder: &BuilderChoice) -> Vec<Setting> {
    let spec = known.spec;
    let (go_file, go_line) = &builder.chosen_at;
    let go_from = match &spec.go {
        Some(go) => from(known, go.pos),
        None => format!("{go_file}:{go_line}"),
    };
    let builder_from = match &spec.builder {
        Some(written) => from(known, written.pos),
        None => "built-in (golang:<go>-bookworm)".to_string(),
    };
    let mut out = vec![
        Setting {
            field: "go".to_string(),
            value: builder.go.to_string(),
            from: go_from,
        },
        Setting {
            field: "builder".to_string(),
            value: builder.reference.clone(),
            from: builder_from,
        },
    ];
    let mut fields = Vec::new();
    if let Ok(Value::Object(spec_fields)) = serde_json::to_value(spec) {
        for (name, value) in spec_fields
            .into_iter()
            .filter(|(name, _)| !matches!(name.as_str(), "go" | "builder"))
        {
            flatten(&name, value, &mut fields);
        }
    }
    for setting in &mut fields {
        // A list's items and an entry's fields come from where the list is written.
        setting.from = match written_at(known, &setting.field) {
            Some(pos) => from(known, pos),
            None => "built-in".to_string(),
        };
    }
    out.extend(fields);
    for (arg, field) in STANDING_IN {
        let Some(value) = known.options.build_args.get(*arg) else {
            continue;
        };
        if let Some(setting) = out.iter_mut().find(|s| s.field == *field) {
            setting.value = value.clone();
            setting.from = format!("build arg {arg}");
        }
    }
    out
}

/// `repository go-build.yaml:3`, `org /etc/gobuild-frontend/org.yaml:5`, `extends FILE:4`.
fn from(known: &Known, pos: Pos) -> String {
    let kind = match pos.origin {
        Origin::Spec => "repository",
        Origin::Org => "org",
        Origin::Extends => "extends",
    };
    format!("{kind} {}:{}", known.file_of(pos), pos.line)
}

/// Where `field`, or else its nearest ancestor, is written: `binaries` for
/// `binaries[0].package`.
fn written_at(known: &Known, field: &str) -> Option<Pos> {
    let mut path = field;
    loop {
        if let Some(pos) = known.spec.written.get(path) {
            return Some(*pos);
        }
        path = &path[..path.rfind(['.', '['])?];
    }
}

/// A field's JSON as settings: a value where it is written (`{value, pos}`), lists of plain
/// values on one line, objects and lists of objects field by field; `runtime.env`'s
/// `KEY=VALUE` items as `runtime.env.KEY`.
fn flatten(path: &str, value: Value, out: &mut Vec<Setting>) {
    let value = match value {
        Value::Object(mut map) if map.contains_key("value") && map.contains_key("pos") => {
            map.remove("value").unwrap_or(Value::Null)
        }
        other => other,
    };
    match value {
        Value::Object(map) => {
            for (key, item) in map.into_iter().filter(|(key, _)| key != "pos") {
                flatten(&format!("{path}.{key}"), item, out);
            }
        }
        Value::Array(items) if path == "runtime.env" => {
            for item in items {
                let text = plain(&item);
                let (key, value) = text.split_once('=').unwrap_or((&text, ""));
                out.push(setting(&format!("{path}.{key}"), value.to_string()));
            }
        }
        Value::Array(items) if items.iter().any(|i| i.is_object() && !is_located(i)) => {
            for (i, item) in items.into_iter().enumerate() {
                flatten(&format!("{path}[{i}]"), item, out);
            }
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(plain).collect();
            out.push(setting(path, format!("[{}]", items.join(", "))));
        }
        Value::Null => out.push(setting(path, "(not set)".to_string())),
        scalar => out.push(setting(path, plain(&scalar))),
    }
}

fn setting(field: &str, value: String) -> Setting {
    Setting {
        field: field.to_string(),
        value,
        from: String::new(),
    }
}

fn is_located(value: &Value) -> bool {
    value.get("value").is_some() && value.get("pos").is_some()
}

/// A scalar (or a located one) as text; anything else as JSON.
fn plain(value: &Value) -> String {
    match value
        .get("value")
        .filter(|_| is_located(value))
        .unwrap_or(value)
    {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

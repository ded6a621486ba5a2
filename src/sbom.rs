//! A module-accurate SBOM: what Go embedded in each binary (`go version -m`), as an SPDX 2.3
//! document — the modules Go linked with their versions and go.sum hashes, the Go version and
//! the build settings. Exact where a file scanner guesses, and no scanner image to pull.
//!
//! [`parse`] reads `go version -m` output; [`document`] writes the SPDX JSON that the frontend
//! returns as the image's `https://spdx.dev/Document` attestation (BuildKit then skips its own
//! scan).

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use packageurl::PackageUrl;
use serde_json::{Value, json};

/// The in-toto predicate type of an SPDX document.
pub const PREDICATE_SPDX: &str = "https://spdx.dev/Document";

/// One binary's build information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildInfo {
    /// Where the binary is in the image.
    pub file: String,
    /// `go1.27.3`.
    pub go: String,
    /// The main package's import path (`path`).
    pub package: String,
    /// The main module (`mod`).
    pub main: Module,
    /// The modules linked in (`dep`, each after its replacement when `=>` follows it).
    pub deps: Vec<Module>,
    /// `build` lines: `-trimpath=true`, `CGO_ENABLED=0`, `GOARCH=amd64`, …
    pub settings: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module {
    pub path: String,
    pub version: String,
    /// `h1:…` from go.sum; none for the main module or a directory replacement.
    pub sum: Option<String>,
    /// What a `replace` did: `replaces example.com/x v1.0.0`, or `replaced by the directory
    /// ../x` (the module then keeps its path, and its version is `(devel)`).
    pub note: Option<String>,
}

/// Parses `go version -m FILE…` output; `prefix` (the image's mount point) is cut from the
/// file names.
pub fn parse(output: &str, prefix: &str) -> Result<Vec<BuildInfo>> {
    let mut binaries: Vec<BuildInfo> = Vec::new();
    for (n, line) in output.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let context = || format!("go version -m, line {}: {line:?}", n + 1);
        if !line.starts_with('\t') {
            let (file, go) = line.rsplit_once(": ").with_context(context)?;
            binaries.push(BuildInfo {
                file: file.strip_prefix(prefix).unwrap_or(file).to_string(),
                go: go.to_string(),
                package: String::new(),
                main: Module::default(),
                deps: Vec::new(),
                settings: Vec::new(),
            });
            continue;
        }
        let Some(binary) = binaries.last_mut() else {
            bail!("{}: no binary before it", context());
        };
        let module = || -> Result<Module> {
            Ok(Module {
                path: fields.get(2).with_context(context)?.to_string(),
                version: fields.get(3).unwrap_or(&"").to_string(),
                sum: fields
                    .get(4)
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_string()),
                note: None,
            })
        };
        match fields.get(1).copied() {
            Some("path") => binary.package = fields.get(2).unwrap_or(&"").to_string(),
            Some("mod") => binary.main = module()?,
            Some("dep") => binary.deps.push(module()?),
            Some("=>") => {
                let original = binary.deps.pop().with_context(context)?;
                let replacement = module()?;
                binary
                    .deps
                    .push(if replacement.path.starts_with(['.', '/']) {
                        Module {
                            version: "(devel)".to_string(),
                            sum: None,
                            note: Some(format!("replaced by the directory {}", replacement.path)),
                            ..original
                        }
                    } else {
                        Module {
                            note: Some(format!("replaces {} {}", original.path, original.version)),
                            ..replacement
                        }
                    });
            }
            Some("build") => binary.settings.push(fields[2..].join("\t")),
            _ => bail!("{}: not a build information line", context()),
        }
    }
    Ok(binaries)
}

/// The SPDX 2.3 document of one platform's image: a package per binary (the application),
/// Go's standard library, and each module once, with what depends on what.
pub fn document(
    image: &str,
    platform: &str,
    binaries: &[BuildInfo],
    created: &str,
    namespace_key: &str,
) -> Result<Value> {
    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    let mut modules: Vec<(Module, String)> = Vec::new();
    for (i, binary) in binaries.iter().enumerate() {
        let id = format!("SPDXRef-Binary-{i}");
        let main_version = match binary.main.version.as_str() {
            "" => "(devel)",
            version => version,
        };
        // A module built from its own tree has no version a purl could name.
        let purl_version = if main_version == "(devel)" {
            ""
        } else {
            main_version
        };
        packages.push(json!({
            "SPDXID": id,
            "name": binary.package,
            "versionInfo": main_version,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": false,
            "primaryPackagePurpose": "APPLICATION",
            "externalRefs": [purl_ref(&binary.main.path, purl_version)?],
            "comment": format!(
                "{} built by {} from module {}; build settings: {}",
                binary.file,
                binary.go,
                binary.main.path,
                binary.settings.join(" ")
            ),
        }));
        relationships.push(relationship("SPDXRef-DOCUMENT", "DESCRIBES", &id));
        let stdlib = Module {
            path: "stdlib".to_string(),
            version: binary.go.clone(),
            ..Module::default()
        };
        for module in std::iter::once(&stdlib).chain(&binary.deps) {
            let module_id = match modules.iter().find(|(m, _)| m == module) {
                Some((_, module_id)) => module_id.clone(),
                None => {
                    let module_id = format!("SPDXRef-Module-{}", modules.len());
                    packages.push(module_package(module, &module_id)?);
                    modules.push((module.clone(), module_id.clone()));
                    module_id
                }
            };
            relationships.push(relationship(&id, "DEPENDS_ON", &module_id));
        }
    }
    Ok(json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": format!("{image} ({platform})"),
        "documentNamespace": format!(
            "https://github.com/gobuild-frontend/gobuild-frontend/spdx/{}/{namespace_key}",
            platform.replace('/', "-")
        ),
        "creationInfo": {
            "created": created,
            "creators": [format!("Tool: gobuild-frontend-{}", env!("CARGO_PKG_VERSION"))],
            "comment": "From the build information Go embeds in each binary (go version -m).",
        },
        "packages": packages,
        "relationships": relationships,
    }))
}

/// A module as an SPDX package: its purl, and its go.sum hash as the SHA-256 it is. Go's
/// standard library is `pkg:golang/stdlib@1.27.3` with the CPE of Go itself, as scanners match
/// Go's vulnerabilities.
fn module_package(module: &Module, id: &str) -> Result<Value> {
    let stdlib = module.path == "stdlib";
    let version = match module.version.as_str() {
        "(devel)" => "",
        v if stdlib => v.trim_start_matches("go"),
        v => v,
    };
    let mut refs = vec![purl_ref(&module.path, version)?];
    if stdlib {
        refs.push(json!({
            "referenceCategory": "SECURITY",
            "referenceType": "cpe23Type",
            "referenceLocator": format!("cpe:2.3:a:golang:go:{version}:-:*:*:*:*:*:*"),
        }));
    }
    let mut package = json!({
        "SPDXID": id,
        "name": module.path,
        "versionInfo": module.version,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": false,
        "primaryPackagePurpose": "LIBRARY",
        "externalRefs": refs,
    });
    if let Some(sha256) = module.sum.as_deref().and_then(h1_sha256) {
        package["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": sha256 }]);
    }
    if let Some(note) = &module.note {
        package["comment"] = json!(note);
    }
    Ok(package)
}

/// `h1:BASE64` (go.sum's SHA-256 of the module's file hashes) as hex.
fn h1_sha256(sum: &str) -> Option<String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(sum.strip_prefix("h1:")?)
        .ok()?;
    Some(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// `pkg:golang/NAMESPACE/NAME@VERSION` as an SPDX external reference.
fn purl_ref(path: &str, version: &str) -> Result<Value> {
    let (namespace, name) = match path.rsplit_once('/') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, path),
    };
    let mut purl =
        PackageUrl::new("golang", name).with_context(|| format!("a package URL for {path}"))?;
    if let Some(namespace) = namespace {
        purl.with_namespace(namespace)?;
    }
    if !version.is_empty() {
        purl.with_version(version)?;
    }
    Ok(json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": purl.to_string(),
    }))
}

fn relationship(from: &str, kind: &str, to: &str) -> Value {
    json!({ "spdxElementId": from, "relationshipType": kind, "relatedSpdxElement": to })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What Go 1.27's `go version -m` prints for two binaries, one with a replaced module.
    const OUTPUT: &str = "/gobuild/image/usr/local/bin/api: go1.27.3
\tpath\texample.com/multi/cmd/api
\tmod\texample.com/multi\t(devel)\t
\tdep\texample.com/greet\tv1.1.0\th1:dXiU0HH7DlyyYSASO90rFy0OtBm29dANWQbO3rqs1gk=
\tdep\texample.com/color\tv1.0.0\t
\t=>\t../color\t(devel)\t
\tbuild\t-buildmode=exe
\tbuild\t-ldflags=\"-s -w\"
\tbuild\tCGO_ENABLED=0
\tbuild\tGOARCH=amd64
/gobuild/image/usr/local/bin/worker: go1.27.3
\tpath\texample.com/multi/cmd/worker
\tmod\texample.com/multi\t(devel)\t
\tdep\texample.com/greet\tv1.1.0\th1:dXiU0HH7DlyyYSASO90rFy0OtBm29dANWQbO3rqs1gk=
\tbuild\tGOARCH=amd64
";

    #[test]
    fn go_version_m_is_read_per_binary() {
        let binaries = parse(OUTPUT, "/gobuild/image").expect("parses");
        assert_eq!(binaries.len(), 2);
        let api = &binaries[0];
        assert_eq!(api.file, "/usr/local/bin/api");
        assert_eq!(api.go, "go1.27.3");
        assert_eq!(api.package, "example.com/multi/cmd/api");
        assert_eq!(api.main.path, "example.com/multi");
        assert_eq!(api.deps.len(), 2);
        assert_eq!(
            api.deps[1],
            Module {
                path: "example.com/color".into(),
                version: "(devel)".into(),
                sum: None,
                note: Some("replaced by the directory ../color".into()),
            }
        );
        assert_eq!(api.settings[1], "-ldflags=\"-s -w\"");
        assert!(
            parse("\tdep\tx\tv1\n", "").is_err(),
            "a line before any binary"
        );
        assert!(parse("bin: go1.27\n\tnonsense\tx\n", "").is_err());
    }

    #[test]
    fn the_document_lists_each_module_once_with_its_hash_and_purl() {
        let binaries = parse(OUTPUT, "/gobuild/image").expect("parses");
        let doc = document(
            "example",
            "linux/amd64",
            &binaries,
            "2026-01-01T00:00:00Z",
            "k",
        )
        .expect("a document");
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        let packages = doc["packages"].as_array().expect("packages");
        let names: Vec<&str> = packages
            .iter()
            .map(|p| p["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(
            names,
            [
                "example.com/multi/cmd/api",
                "stdlib",
                "example.com/greet",
                "example.com/color",
                "example.com/multi/cmd/worker"
            ]
        );
        let greet = &packages[2];
        assert_eq!(greet["versionInfo"], "v1.1.0");
        assert_eq!(
            greet["externalRefs"][0]["referenceLocator"],
            "pkg:golang/example.com/greet@v1.1.0"
        );
        assert_eq!(greet["checksums"][0]["algorithm"], "SHA256");
        assert_eq!(
            greet["checksums"][0]["checksumValue"]
                .as_str()
                .map(str::len),
            Some(64)
        );
        assert_eq!(packages[1]["versionInfo"], "go1.27.3");
        assert_eq!(
            packages[1]["externalRefs"][0]["referenceLocator"],
            "pkg:golang/stdlib@1.27.3"
        );
        assert_eq!(
            packages[1]["externalRefs"][1]["referenceLocator"],
            "cpe:2.3:a:golang:go:1.27.3:-:*:*:*:*:*:*"
        );
        assert_eq!(
            packages[0]["externalRefs"][0]["referenceLocator"], "pkg:golang/example.com/multi",
            "a (devel) build has no version to name"
        );
        let relationships = doc["relationships"].as_array().expect("relationships");
        // Each binary is described and depends on stdlib and its modules; the worker's
        // greet is the api's package.
        assert_eq!(relationships.len(), 1 + 3 + 1 + 2);
        assert_eq!(relationships[6]["relatedSpdxElement"], "SPDXRef-Module-1");
    }
}

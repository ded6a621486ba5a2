//! The SBOM: `docker buildx build --sbom=true` on the current BuildKit returns the frontend's
//! SPDX document, made from the build information Go embedded in the binaries. BuildKit's own
//! scanner (an image from Docker Hub, unreachable here) never runs. dockerd 20.10 takes no
//! attestations: asking for one there changes nothing.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

use super::goproxy::GoProxy;
use super::support::{Daemon, Env, ImageTag, Project, unique};

const SPDX: &str = "https://spdx.dev/Document";

#[test]
fn an_sbom_lists_the_modules_go_linked_with_their_versions() {
    let env = Env::get();
    let proxy = GoProxy::start();
    let project = Project::example(&env, "with-deps");
    let goproxy = format!("GOPROXY={}", proxy.url());
    let namespace = format!("BUILDKIT_CACHE_MOUNT_NS=e2e-{}", unique());
    let online = [
        "--network=host",
        "--build-arg",
        goproxy.as_str(),
        "--build-arg",
        "GOSUMDB=off",
        "--build-arg",
        namespace.as_str(),
    ];
    if env.daemon == Daemon::Dockerd {
        // The 20.10 client has no --sbom; the build arg is how it asks. The daemon lacks
        // reference.attestations, so the frontend neither reads build information nor fails.
        let tag = ImageTag::new(&env, "sbom-v08");
        let mut args = online.to_vec();
        args.extend(["--build-arg", "BUILDKIT_ATTEST_SBOM=true", "-t", tag.name()]);
        let build = env.build_with(&project, &args);
        build.assert_success();
        assert!(!build.output.contains("[sbom]"), "{}", build.output);
        return;
    }
    let layout = tempfile::tempdir().expect("tempdir");
    let tar = layout.path().join("image.tar");
    // Named: BuildKit makes the statement's subject from the image's name and digest.
    let output = format!(
        "type=oci,dest={},name=example.com/withdeps:e2e",
        tar.display()
    );
    let mut args = online.to_vec();
    args.extend(["--sbom=true", "--output", output.as_str()]);
    let build = env.build_with(&project, &args);
    build.assert_success();
    assert_eq!(build.some_vertices("[sbom] go version -m").len(), 1);

    let untar = Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(layout.path())
        .status()
        .expect("tar runs");
    assert!(untar.success());
    let statements: Vec<Value> = blobs(layout.path())
        .into_iter()
        .filter(|blob| blob["predicateType"] == SPDX)
        .collect();
    let [statement] = statements.as_slice() else {
        panic!("one SPDX statement, got {}", statements.len());
    };
    let document = &statement["predicate"];
    let creators = document["creationInfo"]["creators"].to_string();
    assert!(
        creators.contains("gobuild-frontend"),
        "ours, not a scanner's: {creators}"
    );
    let versions: BTreeMap<&str, &str> = document["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default(),
                p["versionInfo"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    for (module, version) in [
        ("example.com/greet", "v1.1.0"),
        ("example.com/color", "v1.0.0"),
        ("example.com/banner", "v0.1.0"),
    ] {
        assert_eq!(versions.get(module), Some(&version), "{versions:?}");
    }
    assert!(
        versions
            .get("stdlib")
            .is_some_and(|v| v.starts_with("go1.")),
        "{versions:?}"
    );
    assert_eq!(versions.get("example.com/withdeps"), Some(&"(devel)"));
    // The statement is about the image: its subject is the image manifest.
    let subject = &statement["subject"][0];
    assert!(subject["digest"]["sha256"].is_string(), "{subject}");
    assert!(
        subject["name"]
            .as_str()
            .is_some_and(|n| n.contains("example.com/withdeps")),
        "{subject}"
    );
}

/// Every blob of an OCI layout that is JSON.
fn blobs(layout: &std::path::Path) -> Vec<Value> {
    let dir = layout.join("blobs/sha256");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect()
}

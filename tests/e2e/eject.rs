//! `gobuild-frontend eject`: the Dockerfile it prints builds, through the Dockerfile frontend
//! (`# syntax=docker/dockerfile:1`, the image scripts/buildkit.sh builds from the pinned
//! BuildKit), an image that does what the frontend's does.

use std::process::Command;

use super::goproxy::GoProxy;
use super::support::{Env, ImageTag, Project, unique};

/// The examples without private modules or an org image, as in the `init` test.
const EXAMPLES: &[&str] = &[
    "hello",
    "multi",
    "cgo",
    "embed",
    "workspace",
    "replace",
    "vendored",
    "with-deps",
    "monorepo",
];

/// Every example, built by the frontend and from its ejected Dockerfile with the same build
/// args: both images print the same, with the same entrypoint, user, ports and labels (the
/// OCI labels from VERSION, REVISION and SOURCE too); an ldflags template takes VERSION in
/// both.
#[test]
fn ejected_dockerfiles_build_images_that_do_the_same() {
    let env = Env::get();
    let proxy = GoProxy::start();
    let goproxy = format!("GOPROXY={}", proxy.url());
    let namespace = format!("BUILDKIT_CACHE_MOUNT_NS=e2e-{}", unique());
    for name in EXAMPLES {
        let project = Project::example(&env, name);
        let eject = Command::new(env!("CARGO_BIN_EXE_gobuild-frontend"))
            .arg("eject")
            .arg(project.dir().join("go-build.yaml"))
            .output()
            .expect("gobuild-frontend eject runs");
        assert!(eject.status.success(), "{name}: {eject:?}");
        project.write("Dockerfile", &String::from_utf8_lossy(&eject.stdout));

        let images = ["go-build.yaml", "Dockerfile"].map(|file| {
            let tag = ImageTag::new(
                &env,
                &format!("eject-{name}-{}", file.replace('.', "-").to_lowercase()),
            );
            let args = [
                "--network=host",
                "--build-arg",
                &goproxy,
                "--build-arg",
                "GOSUMDB=off",
                "--build-arg",
                &namespace,
                "--build-arg",
                "VERSION=9.8.7",
                "--build-arg",
                "REVISION=0123abc",
                "--build-arg",
                "SOURCE=https://git.example.com/team/app",
                "-t",
                tag.name(),
            ];
            env.build_file(&project, file, &args, &[]).assert_success();
            tag
        });
        let [ours, ejected] = images.each_ref().map(|tag| {
            let run = env.run(&[], tag.name(), &[]);
            assert!(run.status.success(), "{name}: {run:?}");
            let config = env.inspect(tag.name())["Config"].clone();
            (String::from_utf8_lossy(&run.stdout).into_owned(), config)
        });
        assert!(!ours.0.trim().is_empty(), "{name}: the program prints");
        assert_eq!(ours.0, ejected.0, "{name}: the same output");
        for key in ["Entrypoint", "Cmd", "User", "ExposedPorts", "Labels"] {
            assert_eq!(ours.1[key], ejected.1[key], "{name}: config {key}");
        }
        // Docker starts a program in `/` when the config names no directory.
        let workdir = |config: &serde_json::Value| match config["WorkingDir"].as_str() {
            Some("") | None => "/".to_string(),
            Some(dir) => dir.to_string(),
        };
        assert_eq!(workdir(&ours.1), workdir(&ejected.1), "{name}: WorkingDir");
        if *name == "multi" {
            assert!(
                ours.0.contains("9.8.7"),
                "{name}: VERSION reached -ldflags: {}",
                ours.0
            );
        }
    }
}

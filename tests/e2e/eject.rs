//! `gobuild-frontend eject`: the Dockerfile it prints builds, through the Dockerfile frontend
//! (`# syntax=docker/dockerfile:1`, the image scripts/buildkit.sh builds from the pinned
//! BuildKit), an image that does what the frontend's does.

use std::process::Command;

use super::goproxy::GoProxy;
use super::support::{Env, ImageTag, PUBLIC_EXAMPLES, Project, unique};

/// Every example, built by the frontend and from its ejected Dockerfile with the same build
/// args: both images print the same, with the same entrypoint, user, ports and labels (the
/// OCI labels from VERSION, REVISION and SOURCE too); an ldflags template takes VERSION in
/// both.
#[test]
fn ejected_dockerfiles_build_images_that_do_the_same() {
    let env = Env::get();
    let proxy = GoProxy::start();
    let namespace = format!("e2e-{}", unique());
    for name in PUBLIC_EXAMPLES {
        let project = Project::example(&env, name);
        eject_into(&project);

        let images = ["go-build.yaml", "Dockerfile"].map(|file| {
            let tag = ImageTag::new(
                &env,
                &format!("eject-{name}-{}", file.replace('.', "-").to_lowercase()),
            );
            let mut args = super::online_args(&proxy, &namespace);
            for stamp in [
                "VERSION=9.8.7",
                "REVISION=0123abc",
                "SOURCE=https://git.example.com/team/app",
            ] {
                args.extend(["--build-arg".to_string(), stamp.to_string()]);
            }
            args.extend(["-t".to_string(), tag.name().to_string()]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
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

/// Writes the project's spec, ejected, to its `Dockerfile`.
pub fn eject_into(project: &Project) -> String {
    eject_with(project, &[])
}

/// [`eject_into`] with more `gobuild-frontend eject` arguments (`--org FILE`).
pub fn eject_with(project: &Project, args: &[&std::ffi::OsStr]) -> String {
    let eject = Command::new(env!("CARGO_BIN_EXE_gobuild-frontend"))
        .arg("eject")
        .arg(project.dir().join("go-build.yaml"))
        .args(args)
        .output()
        .expect("gobuild-frontend eject runs");
    assert!(eject.status.success(), "{eject:?}");
    let dockerfile = String::from_utf8_lossy(&eject.stdout).into_owned();
    project.write("Dockerfile", &dockerfile);
    dockerfile
}

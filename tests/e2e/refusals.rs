//! Builds that used to "succeed" and ship a broken image now fail, saying why.

use super::support::{Env, ImageTag, Project};

/// A `binaries[].package` that is a library: Go would write a package archive where the
/// image expects a program (`exec format error` at run time). The build step refuses it.
#[test]
fn a_library_package_is_not_shipped_as_a_program() {
    let env = Env::get();
    let project = Project::hello(&env);
    std::fs::create_dir_all(project.dir().join("lib")).expect("mkdir lib");
    project.write(
        "lib/lib.go",
        "package lib\n\nfunc Answer() int { return 42 }\n",
    );
    let spec = project.read("go-build.yaml");
    let first_line = spec.lines().next().unwrap_or_default();
    project.write(
        "go-build.yaml",
        &format!("{first_line}\nbinaries:\n  - package: ./lib\n"),
    );
    let tag = ImageTag::new(&env, "library");
    let build = env.build(&project, &tag);
    assert!(!build.success, "a library is no program:\n{}", build.output);
    assert!(
        build
            .output
            .contains("example.com/hello/lib is package lib, not a main package"),
        "the build says which package is not main:\n{}",
        build.output
    );
}

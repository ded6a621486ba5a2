use std::collections::BTreeMap;

use super::*;
use crate::image::ImageFacts;
use crate::spec;

const GO_MOD: &str = "module example.com/shop/v2\n\ngo 1.26\n";

struct Fixture {
    spec: Spec,
    runtime_bases: BTreeMap<Platform, ResolvedImage>,
    context_files: Vec<String>,
    modules: ModuleFacts,
    embeds: Vec<EmbedDirective>,
    options: Options,
    build_platform: Platform,
    dockerignore: Vec<String>,
    daemon: Daemon,
    headers: BTreeMap<String, crate::gosource::Header>,
    gocache_seeds: BTreeMap<Platform, ResolvedImage>,
}

impl Fixture {
    fn new(spec_text: &str, go_mod: &str, opts: &[(&str, &str)]) -> Fixture {
        let opts: BTreeMap<String, String> = opts
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let spec = spec::load("go-build.yaml", spec_text.as_bytes()).expect("valid spec");
        let file = modules::in_dir(&spec.module.value, "go.mod");
        let context_files = [
            "README.md",
            "asm_amd64.s",
            "cmd/shop/main.go",
            "cmd/shop/templates/index.html",
            "docs/guide.md",
            "go-build.yaml",
            "go.mod",
            "go.sum",
            "internal/x/x.go",
            "testdata/in.txt",
            "vendor/example.com/x/x.go",
            "vendor/modules.txt",
        ]
        .map(String::from)
        .to_vec();
        Fixture {
            runtime_bases: BTreeMap::new(),
            context_files,
            modules: ModuleFacts::module(
                crate::gomod::GoMod::parse(&file, go_mod).expect("valid go.mod"),
            ),
            spec,
            embeds: Vec::new(),
            options: Options::parse(&opts).expect("valid options"),
            build_platform: Platform::new("linux", "amd64", None),
            dockerignore: vec!["docs".to_string(), "!docs/embed.txt".to_string()],
            daemon: Daemon {
                mounts_by_definition: true,
                filtered_copies: true,
            },
            headers: BTreeMap::new(),
            gocache_seeds: BTreeMap::new(),
        }
    }

    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            known: Known {
                spec: &self.spec,
                spec_file: "go-build.yaml",
                org_file: None,
                modules: &self.modules,
                options: &self.options,
                build_platform: &self.build_platform,
                dockerignore: &self.dockerignore,
                daemon: self.daemon,
            },
            context_files: &self.context_files,
            embedded_files: &[],
            context_includes: None,
            embed_includes: &[],
            embeds: &self.embeds,
            headers: &self.headers,
            runtime_bases: &self.runtime_bases,
            gocache_seeds: &self.gocache_seeds,
        }
    }

    fn plan(&self) -> Plan {
        let inputs = self.inputs();
        let choice = builder_choice(&inputs).expect("builder choice");
        let builder = ResolvedImage {
            reference: format!("{}@sha256:{}", choice.reference, "ab".repeat(32)),
            facts: ImageFacts {
                env: vec![
                    "PATH=/go/bin:/usr/local/go/bin:/usr/bin".into(),
                    "GOPATH=/go".into(),
                ],
                working_dir: "/go".into(),
                ..ImageFacts::default()
            },
        };
        let deps = deps(&inputs, &builder).expect("deps");
        plan(&inputs, &choice, builder, deps).expect("plan")
    }
}

#[test]
fn go_version_comes_from_spec_then_toolchain_then_go_line() {
    let choice = |spec: &str, go_mod: &str| {
        let fixture = Fixture::new(spec, go_mod, &[]);
        builder_choice(&fixture.inputs()).expect("choice")
    };
    let from_go_line = choice("", GO_MOD);
    assert_eq!(
        from_go_line.reference,
        "docker.io/library/golang:1.26-bookworm"
    );
    assert_eq!(from_go_line.chosen_at, ("go.mod".to_string(), 3));

    let from_toolchain = choice("", "module m\ngo 1.26\ntoolchain go1.27.3\n");
    assert_eq!(
        from_toolchain.reference,
        "docker.io/library/golang:1.27-bookworm"
    );
    assert_eq!(from_toolchain.go.to_string(), "1.27.3");

    let from_spec = choice("\ngo: \"1.28\"\n", GO_MOD);
    assert_eq!(
        from_spec.reference,
        "docker.io/library/golang:1.28-bookworm"
    );
    assert_eq!(from_spec.chosen_at, ("go-build.yaml".to_string(), 2));

    let custom = choice("builder: ghcr.io/acme/go:1.26\n", GO_MOD);
    assert_eq!(custom.reference, "ghcr.io/acme/go:1.26");
}

#[test]
fn unknown_go_version_is_a_spec_error() {
    let fixture = Fixture::new("", "module m\n", &[]);
    let diagnostic = builder_choice(&fixture.inputs()).expect_err("no go version anywhere");
    assert_eq!(diagnostic.path, "go");
    assert!(
        diagnostic
            .to_string()
            .starts_with("go-build.yaml:1:1: go: go.mod has no `go` line")
    );
}

#[test]
fn invalid_builder_reference_points_at_the_builder_field() {
    let fixture = Fixture::new("\nbuilder: Golang:1.26\n", GO_MOD, &[]);
    let diagnostic = builder_choice(&fixture.inputs()).expect_err("uppercase repository");
    assert_eq!(
        (diagnostic.pos.line, diagnostic.path.as_str()),
        (2, "builder")
    );
}

#[test]
fn deps_step_sees_only_module_files_and_fetches_with_the_client_network() {
    let fixture = Fixture::new(
        "module: services/api\n",
        "module example.com/shop/v2\n\ngo 1.26\n",
        &[
            ("build-arg:GOPROXY", "http://127.0.0.1:3000"),
            ("force-network-mode", "host"),
        ],
    );
    let mut fixture = fixture;
    fixture.context_files.extend(
        [
            "services/api/go.mod",
            "services/api/go.sum",
            "services/api/main.go",
        ]
        .map(String::from),
    );
    let plan = fixture.plan();
    assert_eq!(
        plan.mod_files,
        ["services/api/go.mod", "services/api/go.sum"]
    );
    let deps = plan.deps.as_ref().expect("a deps step");
    assert_eq!(deps.name, "[deps 1/1] go mod download");
    assert_eq!(deps.args[..2], ["sh", "-c"]);
    assert!(
        deps.args[2].starts_with(
            "( set -e\nGOMODCACHE='/var/cache/gobuild/gomod' go mod download\n\
{ GOMODCACHE='/var/cache/gobuild/gomod' GOFLAGS=-mod=mod GOPROXY=off go mod download -json > '/tmp/gobuild-downloaded.json' \
&& sed -n 's|^[[:space:]]*\"Dir\": \"/var/cache/gobuild/gomod/\\([^\"]*\\)\".*|\\1|p' '/tmp/gobuild-downloaded.json' > '/tmp/gobuild-module-files' \
&& ( cd '/var/cache/gobuild/gomod' \
&& find cache/download -type f ! -name '*.zip' ! -name '*.lock' ! -name '*.partial' >> '/tmp/gobuild-module-files' \
&& mkdir -p '/go/pkg/mod' && xargs -r -d '\\n' cp -a --parents -t '/go/pkg/mod' < '/tmp/gobuild-module-files' ) ; } \
|| { echo 'gobuild-frontend: copying from the download cache failed, extracting again' >&2 ; rm -rf '/go/pkg/mod' ; GOMODCACHE='/go/pkg/mod' GOPROXY='file:///var/cache/gobuild/gomod/cache/download' GOSUMDB=off GOPRIVATE= GONOPROXY= GONOSUMDB= go mod download ; }\n\
) 2>/tmp/gobuild-fetch"
        ),
        "layer mode: download into the cache mount, then fill the layer from it, copying what \
         it extracted (or extracting again if that fails): {}",
        deps.args[2]
    );
    assert_eq!(deps.root, StepRoot::Builder);
    assert_eq!(deps.cwd, "/src/services/api");
    assert_eq!(deps.network, NetMode::Host);
    assert_eq!(deps.env["GOPROXY"], "http://127.0.0.1:3000");
    assert_eq!(deps.env["GOPATH"], "/go", "the image env applies");
    assert_eq!(deps.env["GOTOOLCHAIN"], "local");
    assert_eq!(
        deps.mounts,
        [
            StepMount {
                dest: SRC.into(),
                source: MountSource::ModFiles
            },
            StepMount {
                dest: DOWNLOAD_CACHE.into(),
                source: MountSource::Cache {
                    id: "gobuild/gomod-download".into()
                }
            },
        ]
    );
    assert_eq!(deps.at.line, 1, "points at the module field");
}

/// A module with two requirements, one replaced by another version and one by a directory.
fn layered_fixture() -> Fixture {
    let go_mod = "module example.com/shop\n\ngo 1.22\n\nrequire (\n\texample.com/a v1.0.0\n\texample.com/b v1.2.0\n\texample.com/local v0.0.0\n)\n\nreplace example.com/b => example.com/b v1.1.0\n\nreplace example.com/local => ./local\n";
    let mut fixture = Fixture::new("binaries:\n  - package: .\n", go_mod, &[]);
    fixture.modules.go_sum = [
        "example.com/a v1.0.0 h1:AAA=",
        "example.com/a v1.0.0/go.mod h1:AAM=",
        "example.com/b v1.1.0 h1:BBB=",
        "example.com/b v1.1.0/go.mod h1:BBM=",
        "example.com/b v1.2.0/go.mod h1:BB2=",
        "example.com/old v0.1.0/go.mod h1:OLD=",
    ]
    .join("\n");
    fixture
}

#[test]
fn layer_mode_on_a_current_daemon_extracts_modules_in_parts() {
    let plan = layered_fixture().plan();
    assert!(
        plan.deps.is_none(),
        "the layer steps download: no step before them"
    );
    let layers = plan.module_layers.as_ref().expect("module layers");
    let [graph, group] = layers.steps.as_slice() else {
        panic!("a graph and one group: {:#?}", layers.steps)
    };
    assert_eq!(
        plan.module_fetch().map(|s| &s.name),
        Some(&graph.name),
        "eject fetches like the graph step"
    );
    assert_eq!(graph.name, "[deps 1/2] module graph");
    assert!(
        graph.args[2].contains("go mod graph >/dev/null\n"),
        "{}",
        graph.args[2]
    );
    assert!(
        graph.args[2].starts_with(
            "( set -e\nGOMODCACHE='/var/cache/gobuild/gomod' GOFLAGS= go mod graph >/dev/null\n\
             mkdir '-p' '/gobuild/layer/cache/download'\n\
             cd '/var/cache/gobuild/gomod/cache/download'\n\
             awk 'function escape"
        ) && graph.args[2].contains(
            "' '/src/go.sum' > '/tmp/gobuild-graph-mod-files'\n\
             xargs -r -d '\\n' cp -a --parents -t '/gobuild/layer/cache/download' < '/tmp/gobuild-graph-mod-files'\n"
        ),
        "the graph on the download cache (fetching what it lacks), then the go.mod files \
         go.sum names copied from there: {}",
        graph.args[2]
    );
    assert!(
        graph.args[2].contains(
            "printf '%s' 'h1:BBB=' > '/gobuild/layer/cache/download/example.com/b/@v/v1.1.0.ziphash'"
        ),
        "Go finds the verified hash beside each extracted module: {}",
        graph.args[2]
    );
    assert!(graph.mounts.contains(&StepMount {
        dest: SRC.into(),
        source: MountSource::ModFiles
    }));
    assert_eq!(
        layers.links,
        [
            ("/go/pkg/mod/cache", "/gobuild/modules/0/cache"),
            ("/go/pkg/mod/example.com", "/gobuild/modules/1/example.com"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let build = &plan.targets[0].step;
    for i in 0..2 {
        assert!(
            build.mounts.contains(&StepMount {
                dest: format!("/gobuild/modules/{i}"),
                source: MountSource::ModuleLayer {
                    index: i,
                    by_definition: true
                }
            }),
            "the build reads layer {i}"
        );
    }
    assert_eq!(group.name, "[deps 2/2] modules: example.com/a and 1 more");
    assert!(
        group.args[2].contains(
            "printf '%s\\n' 'example.com/a v1.0.0 h1:AAA=' 'example.com/a v1.0.0/go.mod h1:AAM=' \
'example.com/b v1.1.0 h1:BBB=' 'example.com/b v1.1.0/go.mod h1:BBM=' >go.sum\n\
ln '-s' '/var/cache/gobuild/gomod/cache' '/gobuild/layer/cache'\n\
GOMODCACHE='/gobuild/layer' GOFLAGS= go mod download -- 'example.com/a@v1.0.0' 'example.com/b@v1.1.0'\n\
rm '/gobuild/layer/cache'\n"
        ),
        "exactly the group's go.sum lines (a go.mod change elsewhere leaves the group cached), \
         the zips in the download cache, the trees extracted into the layer; the \
         replacement's version, not the directory: {}",
        group.args[2]
    );
    let mut one_step = layered_fixture();
    one_step.modules.go_sum = one_step
        .modules
        .go_sum
        .replace("example.com/a v1.0.0 h1:AAA=", "");
    let one_step = one_step.plan().deps.expect("the one-step deps step");
    for step in &layers.steps {
        // Both fetch like the one-step deps step: its environment, network and cache.
        assert_eq!(step.env, one_step.env, "{}", step.name);
        assert_eq!(step.network, one_step.network, "{}", step.name);
        assert_eq!(step.root, StepRoot::Builder, "{}", step.name);
        assert!(step.mounts.contains(&StepMount {
            dest: DOWNLOAD_CACHE.into(),
            source: MountSource::Cache {
                id: "gobuild/gomod-download".into()
            }
        }));
        assert!(
            step.mounts.iter().all(|m| matches!(
                m.source,
                MountSource::ModFiles | MountSource::Cache { .. } | MountSource::Output
            )),
            "{}: no other step's output, no file op: nothing orders or re-keys it: {:?}",
            step.name,
            step.mounts
        );
    }
}

#[test]
fn a_step_makes_the_module_cache_links_into_a_layer_of_their_own() {
    let plan = layered_fixture().plan();
    let layers = plan.module_layers.as_ref().expect("module layers");
    let links = &layers.links_step;
    assert_eq!(links.name, "[deps] module cache: 2 links");
    assert_eq!(links.network, NetMode::None);
    assert_eq!(
        links.args[2],
        "set -e\n\
         mkdir '-p' '/gobuild/links'\n\
         ln '-s' '/gobuild/modules/0/cache' '/gobuild/modules/1/example.com' '/gobuild/links/'",
        "one group holds all of example.com: one link, one `ln` per directory of links"
    );
    let build = &plan.targets[0].step;
    assert!(build.mounts.contains(&StepMount {
        dest: "/go/pkg/mod".into(),
        source: MountSource::ModuleLinks
    }));
}

#[test]
fn buildkit_v0_8_mounts_the_module_layers_writable() {
    let mut old_daemon = layered_fixture();
    old_daemon.daemon = Daemon {
        mounts_by_definition: false,
        filtered_copies: false,
    };
    let plan = old_daemon.plan();
    assert!(
        plan.deps.is_none() && plan.module_layers.is_some(),
        "in parts"
    );
    let layer_mounts: Vec<MountSource> = plan.targets[0]
        .step
        .mounts
        .iter()
        .map(|m| m.source.clone())
        .filter(|source| matches!(source, MountSource::ModuleLayer { .. }))
        .collect();
    assert_eq!(
        layer_mounts,
        (0..2)
            .map(|index| MountSource::ModuleLayer {
                index,
                by_definition: false
            })
            .collect::<Vec<_>>(),
        "v0.8 would checksum read-only layers for the build step's key"
    );
}

#[test]
fn layer_mode_keeps_one_step_where_parts_cannot_be_known() {
    let mut missing_sum = layered_fixture();
    missing_sum.modules.go_sum = missing_sum
        .modules
        .go_sum
        .replace("example.com/a v1.0.0 h1:AAA=", "");
    let mut mount_mode = layered_fixture();
    mount_mode.spec.modules.cache.value = ModuleCache::Mount;
    for (why, fixture) in [
        ("a requirement without its zip sum", missing_sum),
        ("modules.cache: mount", mount_mode),
    ] {
        let plan = fixture.plan();
        assert!(plan.module_layers.is_none(), "{why}");
        assert_eq!(
            plan.deps.as_ref().expect("deps").name,
            "[deps 1/1] go mod download",
            "{why}"
        );
    }
}

#[test]
fn build_step_is_offline_static_and_reproducible() {
    let plan = Fixture::new("binaries:\n  - package: ./cmd/shop\n", GO_MOD, &[]).plan();
    let [target] = plan.targets.as_slice() else {
        panic!("one target")
    };
    let step = &target.step;
    assert_eq!(target.binaries, ["shop"]);
    assert_eq!(
        step.name,
        "[build 1/1] go build -o /out/usr/local/bin/shop ./cmd/shop"
    );
    assert_eq!(step.args[..2], ["sh", "-c"]);
    assert!(
        step.args[2].starts_with(
            "( set -e\nmkdir '-p' '/out/.gobuild-work'\n\
go build '-trimpath' '-buildvcs=false' -o '/out/usr/local/bin/shop' './cmd/shop'\n\
for f in '/out/usr/local/bin/shop' ; do if [ \"$(head -c 7 \"$f\")\" = '!<arch>' ]; then go list -f '{{if ne .Name \"main\"}}{{.ImportPath}} is package {{.Name}}, not a main package: binaries[].package must name a program{{end}}' './cmd/shop' >&2; exit 1; fi; done\n\
rm '-rf' '/out/.gobuild-work'\n) 2>/tmp/gobuild-stderr"
        ),
        "{}",
        step.args[2]
    );
    assert_eq!(
        step.env["GOTMPDIR"], "/out/.gobuild-work",
        "Go's work directory on the output mount: the binary moves into place by a rename"
    );
    assert!(
        step.args[2].contains("this step builds offline"),
        "explains offline failures"
    );
    assert_eq!(step.env["GOFLAGS"], "-mod=readonly");
    assert_eq!(step.root, StepRoot::Deps, "ordered after the download");
    assert_eq!(step.network, NetMode::None);
    assert_eq!(step.env["CGO_ENABLED"], "0");
    assert_eq!(step.env["GOPROXY"], "off");
    assert_eq!(step.env["GOOS"], "linux");
    assert_eq!(step.env["GOARCH"], "amd64");
    assert_eq!(step.env["PATH"], "/go/bin:/usr/local/go/bin:/usr/bin");
    let mounts: Vec<(&str, &MountSource)> = step
        .mounts
        .iter()
        .map(|m| (m.dest.as_str(), &m.source))
        .collect();
    assert_eq!(
        mounts,
        [
            (SRC, &MountSource::Sources),
            (
                GOCACHE,
                &MountSource::Cache {
                    id: "gobuild/gocache/1.26/linux-amd64".into()
                }
            ),
            (OUT, &MountSource::ScratchRuntime),
        ]
    );
    let runtime = target.runtime.as_ref().expect("an image");
    assert!(
        runtime.binaries_in_place,
        "the build writes the binary into the scratch runtime: no copy after it"
    );
    assert_eq!(runtime.binaries_name, "[runtime] shop from the build step");
    assert_eq!(step.at.line, 2, "points at the binary entry");
    assert_eq!(
        plan.sources,
        [
            "asm_amd64.s",
            "cmd/shop/main.go",
            "go.mod",
            "go.sum",
            "internal/x/x.go"
        ],
        "exactly what Go reads: no spec, docs, vendor/ or testdata"
    );
}

#[test]
fn sources_follow_embeds_vendoring_and_the_spec() {
    let mut fixture = Fixture::new(
        "sources:\n  include: [\"docs/*.md\"]\n  exclude: [\"internal/**\"]\n",
        GO_MOD,
        &[],
    );
    fixture.embeds = vec![EmbedDirective {
        dir: "cmd/shop".into(),
        patterns: vec!["templates".into()],
    }];
    fixture.modules.vendor_manifest = true;
    let plan = fixture.plan();
    assert_eq!(
        plan.sources,
        [
            "asm_amd64.s",
            "cmd/shop/main.go",
            "cmd/shop/templates/index.html",
            "docs/guide.md",
            "go.mod",
            "go.sum",
            "vendor/example.com/x/x.go",
            "vendor/modules.txt"
        ]
    );
    assert!(plan.deps.is_none(), "vendored: nothing to download");
    let step = &plan.targets[0].step;
    assert_eq!(step.root, StepRoot::Builder);
    assert_eq!(step.env["GOFLAGS"], "-mod=vendor");
    assert_eq!(
        step.name,
        "[build 1/1] go build -mod=vendor -o /out/usr/local/bin/shop ."
    );
}

#[test]
fn vendoring_can_be_forced_either_way() {
    let mut off = Fixture::new("modules:\n  vendor: false\n", GO_MOD, &[]);
    off.modules.vendor_manifest = true;
    let planned = off.plan();
    assert!(planned.deps.is_some());
    assert_eq!(planned.targets[0].step.env["GOFLAGS"], "-mod=readonly");

    let on = Fixture::new("modules:\n  vendor: true\n", GO_MOD, &[]);
    let diagnostic = plan_error(&on);
    assert!(
        diagnostic
            .to_string()
            .starts_with("go-build.yaml:2:11: modules.vendor: there is no vendor/modules.txt"),
        "{diagnostic}"
    );
}

#[test]
fn module_settings_become_go_variables_and_build_args_win() {
    let spec = "modules:\n  proxy: https://proxy.corp\n  private: [git.corp/*, github.com/corp]\n  sumdb: sum.corp\n  goflags: [-tags=netgo]\n  verify: true\n  cache: mount\n";
    let plan = Fixture::new(spec, GO_MOD, &[("build-arg:GOPROXY", "http://127.0.0.1:1")]).plan();
    let deps = plan.deps.as_ref().expect("deps");
    assert_eq!(
        deps.env["GOPROXY"], "http://127.0.0.1:1",
        "the build arg wins"
    );
    assert_eq!(deps.env["GOPRIVATE"], "git.corp/*,github.com/corp");
    assert_eq!(deps.env["GONOSUMDB"], "git.corp/*,github.com/corp");
    assert_eq!(deps.env["GONOPROXY"], "git.corp/*,github.com/corp");
    assert_eq!(deps.env["GOSUMDB"], "sum.corp");
    assert_eq!(deps.name, "[deps 1/1] go mod download && go mod verify");
    assert!(
        deps.args[2].starts_with("( set -e\ngo mod download\ngo mod verify\n)"),
        "{}",
        deps.args[2]
    );
    assert_eq!(
        deps.mounts[1],
        StepMount {
            dest: GOMODCACHE.into(),
            source: MountSource::Cache {
                id: "gobuild/gomodcache".into()
            }
        },
        "mount mode: the module cache is only a cache mount"
    );
    let build = &plan.targets[0].step;
    assert_eq!(build.env["GOFLAGS"], "-mod=readonly -tags=netgo");
    assert!(
        build.mounts.contains(&deps.mounts[1]),
        "the build mounts the same cache"
    );
    assert_eq!(build.env["GOPROXY"], "off");
}

#[test]
fn network_for_the_build_step_is_opt_in() {
    let plan = Fixture::new(
        "modules:\n  network: true\n",
        GO_MOD,
        &[("build-arg:GOPROXY", "http://p")],
    )
    .plan();
    let build = &plan.targets[0].step;
    assert_eq!(build.network, NetMode::Sandbox);
    assert_eq!(build.env["GOPROXY"], "http://p");
}

#[test]
fn client_network_never_reaches_the_build_step() {
    let plan = Fixture::new("", GO_MOD, &[("force-network-mode", "host")]).plan();
    assert_eq!(plan.targets[0].step.network, NetMode::None);
}

#[test]
fn module_proxy_build_args_only_reach_the_deps_step() {
    let plan = Fixture::new(
        "",
        GO_MOD,
        &[("build-arg:GOPRIVATE", "example.com/private")],
    )
    .plan();
    let deps = plan.deps.as_ref().expect("a deps step");
    assert_eq!(deps.env["GOPRIVATE"], "example.com/private");
    assert!(!plan.targets[0].step.env.contains_key("GOPRIVATE"));
}

#[test]
fn cache_ids_are_namespaced_on_request() {
    let plan = Fixture::new(
        "",
        GO_MOD,
        &[("build-arg:BUILDKIT_CACHE_MOUNT_NS", "team-a")],
    )
    .plan();
    assert_eq!(
        plan.deps.as_ref().expect("deps").mounts[1].source,
        MountSource::Cache {
            id: "team-a/gobuild/gomod-download".into()
        }
    );
    assert_eq!(
        plan.targets[0].step.mounts[1].source,
        MountSource::Cache {
            id: "team-a/gobuild/gocache/1.26/linux-amd64".into()
        }
    );
}

#[test]
fn binary_names_follow_go_build_and_must_be_unique() {
    let planned = Fixture::new(
        "binaries:\n  - package: .\n  - package: ./cmd/worker\n  - package: ./tools/x\n    name: xtool\n",
        GO_MOD,
        &[],
    )
    .plan();
    let target = &planned.targets[0];
    assert_eq!(
        target.binaries,
        ["shop", "worker", "xtool"],
        "module root named without /v2"
    );
    assert_eq!(
        target.step.name, "[build 1/1] go build -o /out/usr/local/bin/ . ./cmd/worker ./tools/x",
        "one go build for all binaries"
    );
    assert!(
        target.step.args[2]
            .contains(" mv '/out/.gobuild-work/staged/x' '/out/usr/local/bin/xtool'\n"),
        "{}",
        target.step.args[2]
    );
    assert_eq!(
        target.runtime.as_ref().expect("an image").config.entrypoint,
        ["/usr/local/bin/shop"]
    );

    let fixture = Fixture::new(
        "binaries:\n  - package: ./a/server\n  - package: ./b/server\n",
        GO_MOD,
        &[],
    );
    let diagnostic = plan_error(&fixture);
    assert_eq!(
        (diagnostic.pos.line, diagnostic.path.as_str()),
        (3, "binaries[1]")
    );
    assert!(diagnostic.to_string().contains("give one of them a `name`"));
}

/// The image of the first target, and its scratch passwd and group.
fn scratch_runtime(plan: &Plan) -> (&Runtime, &str, &str) {
    let runtime = plan.targets[0].runtime.as_ref().expect("an image");
    match &runtime.base {
        RuntimeBase::Scratch { passwd, group, .. } => (runtime, passwd, group),
        RuntimeBase::Image { reference } => panic!("expected scratch, got {reference}"),
    }
}

#[test]
fn runtime_is_scratch_with_a_nonroot_user_by_default() {
    let plan = Fixture::new("", GO_MOD, &[]).plan();
    let (runtime, passwd, group) = scratch_runtime(&plan);
    assert_eq!(runtime.config.user, "65532:65532");
    assert!(passwd.contains("nonroot:x:65532:65532:"));
    assert!(group.contains("nonroot:x:65532:"));
    assert_eq!(
        runtime.config.history,
        [
            "[runtime 1/1] users, CA certificates and /tmp",
            "[runtime] shop from the build step"
        ],
        "one history entry per layer"
    );
    assert_eq!(runtime.timestamp, None);
    assert_eq!(runtime.config.created, None);

    let root = Fixture::new("runtime:\n  user: root\n", GO_MOD, &[]).plan();
    let (runtime, passwd, _) = scratch_runtime(&root);
    assert_eq!(runtime.config.user, "0:0");
    assert_eq!(passwd.lines().count(), 1);

    let custom = Fixture::new("runtime:\n  user: \"1000:1001\"\n", GO_MOD, &[]).plan();
    assert!(scratch_runtime(&custom).1.contains("app:x:1000:1001:"));
}

#[test]
fn every_target_platform_cross_compiles_on_the_build_platform() {
    let plan = Fixture::new("", GO_MOD, &[("platform", "linux/arm64,linux/arm/v7")]).plan();
    assert_eq!(plan.build_platform.to_string(), "linux/amd64");
    let summary: Vec<(String, String, String)> = plan
        .targets
        .iter()
        .map(|t| {
            let step = &t.step;
            (
                t.platform.to_string(),
                step.env["GOARCH"].clone(),
                step.name.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "linux/arm64".into(),
                "arm64".into(),
                "[linux/arm64 build 1/1] go build -o /out/usr/local/bin/shop .".into()
            ),
            (
                "linux/arm/v7".into(),
                "arm".into(),
                "[linux/arm/v7 build 1/1] go build -o /out/usr/local/bin/shop .".into()
            ),
        ]
    );
    assert_eq!(plan.targets[1].step.env["GOARM"], "7");
    assert_eq!(
        plan.targets[1].step.mounts[1].source,
        MountSource::Cache {
            id: "gobuild/gocache/1.26/linux-arm-v7".into()
        }
    );
}

#[test]
fn go_target_env_maps_every_supported_platform() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("linux/amd64", &[("GOARCH", "amd64")]),
        ("linux/amd64/v2", &[("GOARCH", "amd64"), ("GOAMD64", "v2")]),
        ("linux/amd64/v3", &[("GOARCH", "amd64"), ("GOAMD64", "v3")]),
        ("linux/amd64/v4", &[("GOARCH", "amd64"), ("GOAMD64", "v4")]),
        ("linux/386", &[("GOARCH", "386")]),
        ("linux/arm64", &[("GOARCH", "arm64")]),
        ("linux/arm64/v8", &[("GOARCH", "arm64")]),
        (
            "linux/arm64/v8.2",
            &[("GOARCH", "arm64"), ("GOARM64", "v8.2")],
        ),
        (
            "linux/arm64/v9",
            &[("GOARCH", "arm64"), ("GOARM64", "v9.0")],
        ),
        (
            "linux/arm64/v9.5",
            &[("GOARCH", "arm64"), ("GOARM64", "v9.5")],
        ),
        ("linux/arm/v5", &[("GOARCH", "arm"), ("GOARM", "5")]),
        ("linux/arm/v6", &[("GOARCH", "arm"), ("GOARM", "6")]),
        ("linux/arm/v7", &[("GOARCH", "arm"), ("GOARM", "7")]),
        ("linux/arm", &[("GOARCH", "arm"), ("GOARM", "7")]),
        ("linux/ppc64le", &[("GOARCH", "ppc64le")]),
        (
            "linux/ppc64le/power9",
            &[("GOARCH", "ppc64le"), ("GOPPC64", "power9")],
        ),
        ("linux/s390x", &[("GOARCH", "s390x")]),
        ("linux/riscv64", &[("GOARCH", "riscv64")]),
        (
            "linux/riscv64/rva22u64",
            &[("GOARCH", "riscv64"), ("GORISCV64", "rva22u64")],
        ),
        ("linux/loong64", &[("GOARCH", "loong64")]),
        ("linux/mips64le", &[("GOARCH", "mips64le")]),
    ];
    for (platform, want) in cases {
        let env = go_target_env(&Platform::parse(platform).expect("platform"))
            .unwrap_or_else(|e| panic!("{platform}: {e}"));
        let mut want: BTreeMap<String, String> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        want.insert("GOOS".into(), "linux".into());
        assert_eq!(env, want, "{platform}");
    }
}

#[test]
fn go_target_env_rejects_what_go_cannot_build() {
    for (platform, says) in [
        ("windows/amd64", "only linux images"),
        (
            "linux/sparc64",
            "does not build for the `sparc64` architecture",
        ),
        ("linux/arm/v8", "the `v8` variant of arm has no Go setting"),
        ("linux/arm64/v10", "the `v10` variant of arm64"),
        ("linux/amd64/v5", "the `v5` variant of amd64"),
    ] {
        let error =
            go_target_env(&Platform::parse(platform).expect("platform")).expect_err(platform);
        assert!(error.contains(says), "{platform}: {error}");
    }
}

#[test]
fn spec_platforms_are_the_default_and_the_option_wins() {
    let spec = "platforms:\n  - linux/arm64\n  - linux/arm/v7\n";
    let from_spec = Fixture::new(spec, GO_MOD, &[]).plan();
    let names: Vec<String> = from_spec
        .targets
        .iter()
        .map(|t| t.platform.to_string())
        .collect();
    assert_eq!(names, ["linux/arm64", "linux/arm/v7"]);

    let from_option = Fixture::new(spec, GO_MOD, &[("platform", "linux/s390x")]).plan();
    let names: Vec<String> = from_option
        .targets
        .iter()
        .map(|t| t.platform.to_string())
        .collect();
    assert_eq!(names, ["linux/s390x"]);
    assert_eq!(
        from_option.targets[0].step.name,
        "[linux/s390x build 1/1] go build -o /out/usr/local/bin/shop .",
        "a cross-compiled build says for which platform"
    );
}

#[test]
fn unsupported_platforms_are_reported_where_they_were_asked_for() {
    let fixture = Fixture::new(
        "platforms:\n  - linux/amd64\n  - linux/sparc64\n",
        GO_MOD,
        &[],
    );
    let diagnostic = plan_error(&fixture);
    assert!(
        diagnostic
            .to_string()
            .starts_with("go-build.yaml:3:5: platforms[1]: `linux/sparc64`"),
        "{diagnostic}"
    );

    let diagnostic = plan_error(&Fixture::new("", GO_MOD, &[("platform", "windows/amd64")]));
    assert!(
        diagnostic
            .to_string()
            .starts_with("--platform: `windows/amd64`"),
        "{diagnostic}"
    );
}

#[test]
fn planning_is_pure() {
    let fixture = Fixture::new("binaries:\n  - package: ./cmd/a\n", GO_MOD, &[]);
    let first = serde_json::to_string(&fixture.plan()).expect("serializes");
    let second = serde_json::to_string(&fixture.plan()).expect("serializes");
    assert_eq!(first, second);
}

fn plan_error(fixture: &Fixture) -> Diagnostic {
    let inputs = fixture.inputs();
    let choice = builder_choice(&inputs).expect("choice");
    let builder = ResolvedImage {
        reference: choice.reference.clone(),
        facts: ImageFacts::default(),
    };
    deps(&inputs, &builder)
        .and_then(|deps| plan(&inputs, &choice, builder, deps))
        .expect_err("the plan must be refused")
}

#[test]
fn image_config_comes_from_the_spec_build_args_and_labels() {
    let spec = "runtime:\n  cmd: [serve]\n  env: {MODE: prod}\n  workdir: /srv\n  ports: [8080]\n  volumes: [/data]\n  labels: {team: core}\n  stop_signal: SIGINT\n";
    let plan = Fixture::new(
        spec,
        GO_MOD,
        &[
            ("build-arg:SOURCE_DATE_EPOCH", "1700000000"),
            ("build-arg:VERSION", "1.4.0"),
            ("build-arg:REVISION", "abc123"),
            (
                "build-arg:SOURCE",
                "https://x-access-token:ghs_secret@github.com/o/r?x=1",
            ),
            ("label:team", "platform"),
        ],
    )
    .plan();
    let runtime = plan.targets[0].runtime.as_ref().expect("an image");
    let config = &runtime.config;
    assert_eq!(config.cmd, ["serve"]);
    assert!(config.env.contains(&"MODE=prod".to_string()));
    assert!(config.env.iter().any(|e| e.starts_with("PATH=")));
    assert_eq!(config.working_dir, "/srv");
    assert_eq!(config.ports, ["8080/tcp"]);
    assert_eq!(config.volumes, ["/data"]);
    assert_eq!(config.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(config.created.as_deref(), Some("2023-11-14T22:13:20Z"));
    assert_eq!(runtime.timestamp, Some(1_700_000_000_000_000_000));
    assert!(
        !runtime.binaries_in_place,
        "a copy sets the epoch's times: a new epoch must not re-run the build"
    );
    assert!(
        plan.targets[0]
            .step
            .mounts
            .iter()
            .any(|m| m.dest == OUT && m.source == MountSource::Output)
    );
    assert_eq!(runtime.binaries_name, "[runtime 2/2] copy shop");
    assert_eq!(
        config.labels["team"], "platform",
        "--label wins over the spec"
    );
    assert_eq!(config.labels["org.opencontainers.image.version"], "1.4.0");
    assert_eq!(config.labels["org.opencontainers.image.revision"], "abc123");
    assert_eq!(
        config.labels["org.opencontainers.image.source"], "https://github.com/o/r?x=1",
        "a clone URL's token is never published"
    );
    assert_eq!(
        config.labels["org.opencontainers.image.created"],
        "2023-11-14T22:13:20Z"
    );

    // A bad SOURCE_DATE_EPOCH is refused when the options are parsed (options::BuildArgs).
}

#[test]
fn a_base_image_is_merged_under_our_config() {
    let mut fixture = Fixture::new(
        "runtime:\n  base: debian-slim\n  env: {MODE: prod}\n",
        GO_MOD,
        &[],
    );
    let inputs = fixture.inputs();
    assert_eq!(
        runtime::runtime_base(&inputs).expect("base").as_deref(),
        Some("docker.io/library/debian:bookworm-slim")
    );
    fixture.runtime_bases.insert(
        Platform::new("linux", "amd64", None),
        ResolvedImage {
            reference: "docker.io/library/debian:bookworm-slim@sha256:00".into(),
            facts: ImageFacts {
                env: vec![
                    "PATH=/usr/bin:/bin".into(),
                    "MODE=dev".into(),
                    "LANG=C.UTF-8".into(),
                ],
                working_dir: "/home".into(),
                user: "1000".into(),
                labels: BTreeMap::from([("vendor".into(), "debian".into())]),
                history: Vec::new(),
            },
        },
    );
    let plan = fixture.plan();
    let runtime = plan.targets[0].runtime.as_ref().expect("an image");
    assert!(
        matches!(&runtime.base, RuntimeBase::Image { reference } if reference.ends_with("@sha256:00"))
    );
    assert_eq!(
        runtime.config.env,
        ["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "MODE=prod"]
    );
    assert_eq!(
        runtime.config.working_dir, "/home",
        "the base's workdir when the spec has none"
    );
    assert_eq!(
        runtime.config.user, "65532:65532",
        "still non-root by default"
    );
    assert_eq!(runtime.config.labels["vendor"], "debian");
    assert_eq!(runtime.binaries_name, "[runtime 1/1] copy shop");
    assert!(
        !runtime.binaries_in_place,
        "the build never writes into an image base: its symlinks could lead out of it"
    );
}

#[test]
fn runtime_base_choices() {
    let base = |spec: &str, args: &[(&str, &str)]| {
        let fixture = Fixture::new(spec, GO_MOD, args);
        runtime::runtime_base(&fixture.inputs()).map_err(|d| d.to_string())
    };
    assert_eq!(base("", &[]), Ok(None), "scratch by default");
    assert_eq!(
        base("build:\n  cgo: true\n", &[]),
        Ok(Some("docker.io/library/debian:bookworm-slim".into())),
        "cgo needs a C library"
    );
    assert_eq!(
        base(
            "runtime:\n  base: ghcr.io/acme/base:1\n",
            &[("build-arg:GOBUILD_RUNTIME_BASE", "alpine:3.20")]
        ),
        Ok(Some("docker.io/library/alpine:3.20".into())),
        "the build arg overrides the spec"
    );
    let refused =
        base("runtime:\n  base: scratch\nbuild:\n  cgo: true\n", &[]).expect_err("scratch + cgo");
    assert!(
        refused.starts_with("go-build.yaml:2:9: runtime.base: scratch has no C library"),
        "{refused}"
    );
}

#[test]
fn targets_select_what_the_build_returns() {
    let spec = "binaries:\n  - package: ./cmd/api\n  - package: ./cmd/worker\n";
    let only = Fixture::new(spec, GO_MOD, &[("target", "worker")]).plan();
    assert_eq!(only.output, Output::Image);
    assert_eq!(only.targets[0].binaries, ["worker"]);
    assert_eq!(
        only.targets[0].step.name,
        "[build 1/1] go build -o /out/usr/local/bin/worker ./cmd/worker"
    );
    assert_eq!(
        only.targets[0]
            .runtime
            .as_ref()
            .expect("an image")
            .config
            .entrypoint,
        ["/usr/local/bin/worker"]
    );

    let files = Fixture::new(spec, GO_MOD, &[("target", "binaries")]).plan();
    assert_eq!(files.output, Output::Binaries);
    assert!(files.targets[0].runtime.is_none());
    assert_eq!(
        files.targets[0].step.name, "[build 1/1] go build -o /out/ ./cmd/api ./cmd/worker",
        "the files land at the output's root, which is the result"
    );

    let test = Fixture::new(spec, GO_MOD, &[("target", "test")]).plan();
    assert_eq!(test.output, Output::Test);
    assert_eq!(test.targets[0].step.name, "[test 1/1] go test ./...");
    assert!(test.targets[0].step.args[2].contains("go test '-trimpath' '-buildvcs=false' ./..."));
    assert!(
        test.sources.contains(&"testdata/in.txt".to_string()),
        "tests read testdata"
    );

    let unknown = plan_error(&Fixture::new(spec, GO_MOD, &[("target", "web")]));
    assert_eq!(
        unknown.to_string(),
        "--target: `web` is not a target; this spec has image, binaries, test, gocache, api, worker"
    );
}

#[test]
fn build_settings_reach_go_build() {
    let spec = "build:\n  tags: [netgo, osusergo]\n  ldflags: -s -w -X main.version={{ .Version }}\n  gcflags: all=-N\n  trimpath: false\n  flags: [-v]\n  env: {GOEXPERIMENT: rangefunc}\n";
    let plan = Fixture::new(spec, GO_MOD, &[("build-arg:VERSION", "2.0.0")]).plan();
    let step = &plan.targets[0].step;
    assert!(
        step.args[2].contains("go build '-buildvcs=false' '-tags=netgo,osusergo' '-ldflags=-s -w -X main.version=2.0.0' '-gcflags=all=-N' '-v' -o '/out/usr/local/bin/shop' '.'"),
        "{}",
        step.args[2]
    );
    assert_eq!(step.env["GOEXPERIMENT"], "rangefunc");

    // Where the template's flag is, for eject: after -buildvcs and -tags, before -gcflags.
    let template = plan.go_build.ldflags.as_ref().expect("the template");
    assert_eq!((template.index, template.in_flags), (2, true));
    assert!(plan.go_build.flags[2].starts_with("-ldflags="));
    // Expanded to nothing it adds no flag; its place is still before -gcflags.
    let empty = Fixture::new(
        "build:\n  ldflags: \"{{ .Arg.EXTRA }}\"\n  gcflags: all=-N\n",
        GO_MOD,
        &[],
    )
    .plan();
    let template = empty.go_build.ldflags.as_ref().expect("the template");
    assert_eq!((template.index, template.in_flags), (2, false));
    assert_eq!(
        empty.go_build.flags,
        ["-trimpath", "-buildvcs=false", "-gcflags=all=-N"]
    );

    let bad = plan_error(&Fixture::new(
        "build:\n  ldflags: -X a={{ .Nope }}\n",
        GO_MOD,
        &[],
    ));
    assert!(
        bad.to_string()
            .starts_with("go-build.yaml:2:12: build.ldflags: `{{ .Nope }}`"),
        "{bad}"
    );
}

#[test]
fn cgo_builds_with_the_c_toolchain_and_never_cross_compiles() {
    let plan = Fixture::new("build:\n  cgo: true\n", GO_MOD, &[]).plan();
    assert_eq!(plan.targets[0].step.env["CGO_ENABLED"], "1");
    let cross = plan_error(&Fixture::new(
        "build:\n  cgo: true\n",
        GO_MOD,
        &[("platform", "linux/arm64")],
    ));
    assert!(
        cross
            .to_string()
            .starts_with("go-build.yaml:2:8: build.cgo: cgo for linux/arm64"),
        "{cross}"
    );
}

#[test]
fn private_modules_get_credentials_only_in_the_fetching_step() {
    let spec = "private:\n  - modules: private.example/*\n    git: ssh://git@127.0.0.1:2222/\n    ssh:\n      known_hosts: [\"[127.0.0.1]:2222 ssh-ed25519 AAAAkey\"]\n  - modules: tokens.example/*\n    git: http://127.0.0.1:8080/\n    token:\n      secret: git_token\n      username: git\n  - modules: netrc.example/*\n    netrc:\n      secret: netrc\n";
    let plan = Fixture::new(spec, GO_MOD, &[]).plan();
    let deps = plan.deps.as_ref().expect("deps");
    let env = &deps.env;
    assert_eq!(
        env["GOPRIVATE"],
        "private.example/*,tokens.example/*,netrc.example/*"
    );
    assert_eq!(env["GONOSUMDB"], env["GOPRIVATE"]);
    assert_eq!(env["GIT_CONFIG_COUNT"], "7");
    // Every scheme Go tries for a `.git` path goes to the server: no DNS for the fake host.
    for (n, scheme) in ["https", "git+ssh", "ssh"].iter().enumerate() {
        assert_eq!(
            env[&format!("GIT_CONFIG_KEY_{n}")],
            "url.ssh://git@127.0.0.1:2222/.insteadOf"
        );
        assert_eq!(
            env[&format!("GIT_CONFIG_VALUE_{n}")],
            format!("{scheme}://private.example/")
        );
    }
    assert_eq!(
        env["GIT_CONFIG_KEY_3"],
        "url.http://127.0.0.1:8080/.insteadOf"
    );
    assert_eq!(
        env["GIT_CONFIG_KEY_6"],
        "credential.http://127.0.0.1:8080/.helper"
    );
    assert_eq!(
        env["GIT_CONFIG_VALUE_6"],
        r#"!f() { test "$1" = get || exit 0; echo 'username=git' ; printf 'password=%s\n' "$(cat '/run/secrets/git_token' )"; }; f"#
    );
    assert!(deps.args[2].contains("ssh-keyscan -p 2222 127.0.0.1"));
    assert!(
        deps.args[2].contains("git ls-remote"),
        "git's own error is shown"
    );
    assert!(env["GIT_SSH_COMMAND"].contains("StrictHostKeyChecking=yes"));
    assert_eq!(env["SSH_AUTH_SOCK"], "/run/buildkit/ssh_agent.0");
    let sources: Vec<&MountSource> = deps.mounts.iter().map(|m| &m.source).collect();
    assert!(sources.contains(&&MountSource::Ssh {
        id: "default".into()
    }));
    assert!(sources.contains(&&MountSource::Secret {
        id: "git_token".into()
    }));
    assert!(sources.contains(&&MountSource::Secret { id: "netrc".into() }));
    assert!(sources.iter().any(|s| matches!(s, MountSource::File { contents, .. } if contents == "[127.0.0.1]:2222 ssh-ed25519 AAAAkey\n")));
    let script = &deps.args[2];
    assert!(
        script.contains("add --ssh default to docker build"),
        "{script}"
    );
    assert!(
        script.contains("add --secret id=git_token,src=FILE"),
        "{script}"
    );
    assert!(
        script.contains("add --secret id=netrc,src=FILE"),
        "{script}"
    );
    assert!(script.contains("Host key verification failed"), "{script}");

    // The offline build step sees none of it.
    let build = &plan.targets[0].step;
    assert!(build.mounts.iter().all(|m| !matches!(
        m.source,
        MountSource::Ssh { .. } | MountSource::Secret { .. }
    )));
    assert!(!build.env.contains_key("GIT_CONFIG_COUNT"));
}

#[test]
fn one_ssh_agent_per_build() {
    let spec = "private:\n  - modules: a.example/*\n    git: ssh://git@a/\n    ssh: {id: one, known_hosts: [a]}\n  - modules: b.example/*\n    git: ssh://git@b/\n    ssh: {id: two, known_hosts: [b]}\n";
    let error = plan_error(&Fixture::new(spec, GO_MOD, &[]));
    assert!(
        error
            .to_string()
            .starts_with("go-build.yaml:5:5: private[1].ssh.id:"),
        "{error}"
    );
}

#[test]
fn vcs_stamping_sees_the_repository() {
    let mut fixture = Fixture::new("build:\n  vcs: true\n", GO_MOD, &[]);
    fixture
        .context_files
        .extend([".git/HEAD".to_string(), ".git/objects/ab/cdef".to_string()]);
    let plan = fixture.plan();
    assert!(plan.sources.contains(&".git/HEAD".to_string()));
    assert!(plan.sources.contains(&".git/objects/ab/cdef".to_string()));
    let step = &plan.targets[0].step;
    assert!(
        step.args[2].contains("'-buildvcs=true'"),
        "{}",
        step.args[2]
    );
    assert_eq!(step.env["GIT_CONFIG_KEY_0"], "safe.directory");

    let mut off = Fixture::new("", GO_MOD, &[]);
    off.context_files.push(".git/HEAD".to_string());
    assert!(!off.plan().sources.iter().any(|f| f.starts_with(".git/")));
}

/// A secret id or user name is a value in every script and git helper: with a space it works,
/// with shell syntax it stays text (issue 10: `tok;touch${IFS}/x` ran `touch` before).
#[test]
fn secret_ids_and_user_names_stay_values_in_scripts_and_git_helpers() {
    let spec = "private:\n  - modules: tokens.example/*\n    git: https://git.corp/\n    token:\n      secret: my token\n      username: \"u'; touch /tmp/pwned; echo '\"\n";
    let plan = Fixture::new(spec, GO_MOD, &[]).plan();
    let deps = plan.deps.as_ref().expect("deps");
    assert!(
        deps.args[2].starts_with("[ -s '/run/secrets/my token' ] || {"),
        "{}",
        deps.args[2]
    );
    let n = (0..)
        .map(|n| deps.env.get(&format!("GIT_CONFIG_KEY_{n}")))
        .take_while(Option::is_some)
        .position(|key| key.is_some_and(|k| k.ends_with(".helper")))
        .expect("a credential helper");
    let helper = &deps.env[&format!("GIT_CONFIG_VALUE_{n}")];
    // Run it as git does (`!` stripped, through sh, with the action as argument).
    let dir = tempfile::tempdir().expect("tempdir");
    let script = helper.trim_start_matches('!').replace(
        "/run/secrets/my token",
        &dir.path().join("tok").display().to_string(),
    );
    std::fs::write(dir.path().join("tok"), "s3cret").expect("write token");
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("{script} \"$@\""), "helper", "get"])
        .output()
        .expect("run sh");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "username=u'; touch /tmp/pwned; echo '\npassword=s3cret\n"
    );
    assert!(!std::path::Path::new("/tmp/pwned").exists());
}

/// On a builder shared by several projects, caches that hold private module sources (or code
/// compiled from them) are never the shared ones (issue 10).
#[test]
fn private_modules_get_caches_of_their_own() {
    let cache_ids = |spec: &str| -> Vec<String> {
        let plan = Fixture::new(spec, GO_MOD, &[]).plan();
        let deps = plan.deps.iter().flat_map(|d| d.mounts.iter());
        let build = plan.targets.iter().flat_map(|t| t.step.mounts.iter());
        deps.chain(build)
            .filter_map(|m| match &m.source {
                MountSource::Cache { id } => Some(id.clone()),
                _ => None,
            })
            .collect()
    };
    let public = cache_ids("");
    assert_eq!(
        public,
        ["gobuild/gomod-download", "gobuild/gocache/1.26/linux-amd64"]
    );
    let private = |secret: &str| {
        cache_ids(&format!(
            "private:\n  - modules: corp.example/*\n    netrc: {{secret: {secret}}}\n"
        ))
    };
    let a = private("netrc");
    assert_eq!(a.len(), 2);
    for id in &a {
        assert!(id.starts_with("gobuild/private-"), "{id}");
        assert!(!public.contains(id));
    }
    assert_eq!(
        private("netrc"),
        a,
        "the same private setup shares its caches"
    );
    assert_ne!(private("other"), a, "another secret, other caches");
}

/// VCS stamping with a networked build and git-configuring private modules keeps every git
/// setting (safe.directory used to overwrite the first one), and modules.goflags reach the
/// download (issue 10).
#[test]
fn git_settings_add_up_and_goflags_reach_the_download() {
    let spec = "modules:\n  network: true\n  goflags: [-tags=netgo]\nbuild:\n  vcs: true\nprivate:\n  - modules: tokens.example/*\n    git: https://git.corp/\n    token: {secret: t}\n";
    let plan = Fixture::new(spec, GO_MOD, &[]).plan();
    let env = &plan.targets[0].step.env;
    let count: usize = env["GIT_CONFIG_COUNT"].parse().expect("a count");
    let keys: Vec<&str> = (0..count)
        .map(|n| env[&format!("GIT_CONFIG_KEY_{n}")].as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "url.https://git.corp/.insteadOf",
            "url.https://git.corp/.insteadOf",
            "url.https://git.corp/.insteadOf",
            "credential.https://git.corp/.helper",
            "safe.directory"
        ]
    );
    let deps = plan.deps.as_ref().expect("deps");
    assert_eq!(deps.env["GOFLAGS"], "-tags=netgo");
}

/// `--target test` must mean the tests: a binary may not be called like a target keyword.
#[test]
fn binaries_named_like_target_keywords_are_refused() {
    let fixture = Fixture::new("binaries:\n  - package: ./cmd/test\n", GO_MOD, &[]);
    let error = plan_error(&fixture).to_string();
    assert!(
        error.contains("binaries[0]: a binary called `test`"),
        "{error}"
    );
}

/// 10,000 binaries would make one `sh -c` argument over Linux's 128 KiB: refused early.
#[test]
fn a_build_command_over_the_argument_limit_is_refused() {
    let mut spec = String::from("binaries:\n");
    for i in 0..10_000 {
        spec.push_str(&format!("  - package: ./cmd/tool{i}\n"));
    }
    let error = plan_error(&Fixture::new(&spec, GO_MOD, &[])).to_string();
    assert!(error.contains("over Linux's limit of 128 KiB"), "{error}");
}

/// A bad `GOBUILD_RUNTIME_BASE` is blamed on the build arg, not on go-build.yaml:1:1.
#[test]
fn a_bad_runtime_base_build_arg_names_the_build_arg() {
    let fixture = Fixture::new(
        "",
        GO_MOD,
        &[("build-arg:GOBUILD_RUNTIME_BASE", "UPPER/case")],
    );
    let error = runtime::runtime_base(&fixture.inputs()).expect_err("refused");
    assert_eq!(error.file, "--build-arg");
    assert!(
        error
            .to_string()
            .starts_with("--build-arg: GOBUILD_RUNTIME_BASE: `UPPER/case`"),
        "{error}"
    );
}

fn compiled_fixture(spec: &str) -> Fixture {
    let mut fixture = layered_fixture();
    fixture.spec = Fixture::new(spec, "module example.com/shop\n\ngo 1.22\n", &[])
        .spec
        .clone();
    fixture
        .context_files
        .extend(["main.go", "local/l.go"].map(String::from));
    let header = |imports: &[&str]| crate::gosource::Header {
        constraint: None,
        imports: imports.iter().map(|i| i.to_string()).collect(),
    };
    fixture.headers = [
        (
            "main.go",
            header(&["fmt", "example.com/shop/internal/x", "example.com/local"]),
        ),
        ("internal/x/x.go", header(&["example.com/a/pkg"])),
        ("local/l.go", header(&["example.com/b"])),
        ("cmd/shop/main.go", header(&["example.com/unused"])),
    ]
    .into_iter()
    .map(|(f, h)| (f.to_string(), h))
    .collect();
    fixture
}

/// A fixture whose build imports a cache (`docker build --cache-from REF`).
fn importing_a_cache(fixture: Fixture) -> Fixture {
    Fixture {
        options: Options::parse(&BTreeMap::from([(
            "cache-from".to_string(),
            "127.0.0.1:5000/app:cache".to_string(),
        )]))
        .expect("valid options"),
        ..fixture
    }
}

#[test]
fn dependencies_compile_ahead_into_a_layer_that_seeds_the_build_cache() {
    let fixture = importing_a_cache(compiled_fixture(
        "binaries:\n  - package: .\nbuild:\n  ldflags: -X main.v={{ .Version }}\n  tags: [netgo]\n",
    ));
    let plan = fixture.plan();
    let target = &plan.targets[0];
    let compile = target.compile.as_ref().expect("a compile step");
    assert_eq!(
        compile.name,
        "[compile 1/1] go build 3 imported packages ahead"
    );
    let list = compile
        .mounts
        .iter()
        .find_map(|m| match &m.source {
            MountSource::File { contents, .. } => Some(contents.as_str()),
            _ => None,
        })
        .expect("the package list");
    // Through the main module and the local replacement, not into cmd/shop (not built).
    assert_eq!(list, "example.com/a/pkg\nexample.com/b\nfmt\n");
    let script = &compile.args[2];
    assert!(
        script.contains("-tags=netgo") && !script.contains("-ldflags"),
        "{script}"
    );
    assert!(
        !compile
            .mounts
            .iter()
            .any(|m| m.source == MountSource::Sources),
        "the step sees no code"
    );
    assert_eq!(compile.env["GOPROXY"], "off");
    assert_eq!(compile.env["GOCACHE"], compiled::STEP_GOCACHE);
    assert!(
        !compile.env.contains_key("GOTMPDIR"),
        "the build's work directory is on its output, which the compile step lacks"
    );
    assert!(
        target
            .step
            .mounts
            .iter()
            .any(|m| m.dest == compiled::COMPILED
                && m.source
                    == MountSource::CompiledDeps {
                        by_definition: true
                    })
    );
    assert!(
        target.step.args[2].starts_with(
            "( set -e\nmkdir '-p' '/out/.gobuild-work'\ncmp -s '/gobuild/compiled/gobuild-compiled-id' '/root/.cache/go-build/gobuild-compiled-id' || cp -au '/gobuild/compiled/.' '/root/.cache/go-build' || true\n"
        ),
        "the build takes the layer first: {}",
        target.step.args[2]
    );
    // Module layers reach the compile step too.
    assert!(
        compile
            .mounts
            .iter()
            .any(|m| matches!(m.source, MountSource::ModuleLayer { .. }))
    );
}

#[test]
fn dependencies_compile_ahead_where_a_cache_is_imported_unless_the_spec_says_otherwise() {
    let compiles = |fixture: Fixture| {
        let plan = fixture.plan();
        let mounts_layer = plan.targets[0]
            .step
            .mounts
            .iter()
            .any(|m| m.dest == compiled::COMPILED);
        assert_eq!(plan.targets[0].compile.is_some(), mounts_layer);
        mounts_layer
    };
    let spec = |setting: &str| format!("binaries:\n  - package: .\n{setting}");
    // A builder with its own warm build cache: the step would only cost.
    assert!(!compiles(compiled_fixture(&spec(""))));
    assert!(!compiles(compiled_fixture(&spec(
        "build:\n  compiled_deps: auto\n"
    ))));
    assert!(compiles(importing_a_cache(compiled_fixture(&spec("")))));
    assert!(compiles(compiled_fixture(&spec(
        "build:\n  compiled_deps: true\n"
    ))));
    assert!(!compiles(importing_a_cache(compiled_fixture(&spec(
        "build:\n  compiled_deps: false\n"
    )))));
}

#[test]
fn the_build_cache_is_a_target_and_a_seed() {
    let spec = "binaries:\n  - package: .\n";
    let exported = compiled_fixture(spec);
    let exported = Fixture {
        options: Options::parse(&BTreeMap::from([(
            "target".to_string(),
            "gocache".to_string(),
        )]))
        .expect("valid options"),
        ..exported
    }
    .plan();
    assert_eq!(exported.output, Output::GoCache);
    let script = &exported.targets[0].step.args[2];
    assert!(
        script.contains("-o '/tmp/gobuild-binaries/")
            && script.contains(
                "cp -a '/root/.cache/go-build/.' '/out'\nrm '-rf' '/out/.gobuild-work'\n)"
            ),
        "the binaries are discarded, the cache is the output: {script}"
    );

    let mut seeded = compiled_fixture(spec);
    seeded.gocache_seeds.insert(
        Platform::new("linux", "amd64", None),
        ResolvedImage {
            reference: "registry.example/app:gocache@sha256:abc".to_string(),
            facts: ImageFacts::default(),
        },
    );
    let plan = seeded.plan();
    let step = &plan.targets[0].step;
    let gocache = step.mounts.iter().find(|m| m.dest == GOCACHE);
    assert!(
        matches!(
            gocache.map(|m| &m.source),
            Some(MountSource::SeededCache { image, .. })
                if image == "registry.example/app:gocache@sha256:abc"
        ),
        "the build cache starts from the seed: {gocache:?}"
    );
    assert!(
        !step.args[2].contains("cp -a"),
        "nothing is copied: {}",
        step.args[2]
    );
    assert!(
        plan.targets[0].compile.is_none(),
        "the seed has the compiled dependencies"
    );
}

#[test]
fn the_outline_names_template_args_and_credentials_where_the_spec_uses_them() {
    let spec = spec::load(
        "go-build.yaml",
        b"build:\n  ldflags: -X main.channel={{ .Arg.CHANNEL }} -X main.v={{ .Version }}\nprivate:\n  - modules: tokens.example/*\n    token:\n      secret: git_token\n",
    )
    .expect("valid spec");
    let given = BTreeMap::from([("CHANNEL".to_string(), "beta".to_string())]);
    let outline = outline(&spec, &given);
    let channel = outline
        .args
        .iter()
        .find(|a| a.name == "CHANNEL")
        .expect("the template's build arg");
    assert_eq!((channel.value.as_str(), channel.line), ("beta", 2));
    let version = outline.args.iter().find(|a| a.name == "VERSION");
    assert_eq!(version.map(|a| a.value.as_str()), Some("dev"));
    assert_eq!(outline.secrets.len(), 1);
    assert_eq!(
        (outline.secrets[0].name.as_str(), outline.secrets[0].line),
        ("git_token", 4)
    );
    assert!(outline.ssh.is_empty());
}

fn findings(spec: &str, go_mod: &str, opts: &[(&str, &str)]) -> Vec<lint::Finding> {
    let fixture = Fixture::new(spec, go_mod, opts);
    lint::findings(&fixture.inputs().known)
}

fn rules(found: &[lint::Finding]) -> Vec<&'static str> {
    found.iter().map(|f| f.rule.name()).collect()
}

#[test]
fn a_plain_spec_has_nothing_to_report() {
    assert_eq!(findings("", GO_MOD, &[]), []);
    // The default builder follows go.mod: it cannot drift.
    assert_eq!(
        findings("", "module m\ngo 1.27\ntoolchain go1.27.3\n", &[]),
        []
    );
}

#[test]
fn go_version_drift_points_at_the_line_that_pins_the_builder() {
    let found = findings("go: \"1.25\"\n", GO_MOD, &[]);
    assert_eq!(rules(&found), ["GoVersionDrift"]);
    assert_eq!(found[0].at, Some(("go-build.yaml".to_string(), 1)));
    assert!(
        found[0].detail.contains("go.mod:3 needs Go 1.26 or newer")
            && found[0].detail.contains("the build fails"),
        "{}",
        found[0].detail
    );
    // A builder tag pins the Go too; a newer toolchain line is a drift, not a failure.
    let found = findings(
        "builder: registry.corp/golang:1.26-bookworm@sha256:aaaa\n",
        "module m\ngo 1.26\ntoolchain go1.27.1\n",
        &[],
    );
    assert_eq!(rules(&found), ["GoVersionDrift"]);
    assert!(
        found[0]
            .detail
            .contains("go.mod:3 asks for toolchain go1.27.1"),
        "{}",
        found[0].detail
    );
    // `1.26` is that line's newest release: go 1.26.2 fits.
    assert_eq!(findings("go: \"1.26\"\n", "module m\ngo 1.26.2\n", &[]), []);
    assert_eq!(
        rules(&findings("go: \"1.26.1\"\n", "module m\ngo 1.26.2\n", &[])),
        ["GoVersionDrift"]
    );
    // `go:` and the builder's tag disagree.
    let found = findings(
        "go: \"1.27\"\nbuilder: golang:1.26-bookworm@sha256:aaaa\n",
        GO_MOD,
        &[],
    );
    assert_eq!(rules(&found), ["GoVersionDrift"]);
    assert_eq!(found[0].at, Some(("go-build.yaml".to_string(), 1)));
}

#[test]
fn unpinned_images_root_network_and_credentials_are_reported_where_written() {
    let spec = "builder: golang:1.26-bookworm\nmodules:\n  network: true\nruntime:\n  base: debian:bookworm-slim\n  user: root\n";
    let found = findings(
        spec,
        GO_MOD,
        &[
            ("build-arg:GITHUB_TOKEN", "ghp_x"),
            ("build-arg:MIRROR", "https://u:p@mirror.corp"),
            ("build-arg:VERSION", "1.2.3"),
            ("build-arg:NPM_TOKEN", ""),
        ],
    );
    let at: Vec<(&str, Option<u32>)> = found
        .iter()
        .map(|f| (f.rule.name(), f.at.as_ref().map(|(_, line)| *line)))
        .collect();
    assert_eq!(
        at,
        [
            ("UnpinnedImage", Some(1)),
            ("UnpinnedImage", Some(5)),
            ("RunsAsRoot", Some(6)),
            ("ModuleNetwork", Some(3)),
            ("CredentialsInBuildArg", None),
            ("CredentialsInBuildArg", None),
        ]
    );
    assert!(found[4].detail.starts_with("--build-arg GITHUB_TOKEN:"));
    assert!(found[5].detail.starts_with("--build-arg MIRROR:"));
}

#[test]
fn the_effective_spec_says_where_each_value_comes_from() {
    let fixture = Fixture::new(
        "go: \"1.27\"\nruntime:\n  labels:\n    team: payments\n",
        GO_MOD,
        &[("build-arg:GOPROXY", "https://proxy.corp")],
    );
    let known = fixture.inputs().known;
    let builder = builder_choice(&known).expect("builder choice");
    let settings = effective::settings(&known, &builder);
    let row = |field: &str| {
        settings
            .iter()
            .find(|s| s.field == field)
            .map(|s| (s.value.as_str(), s.from.as_str()))
            .unwrap_or_else(|| panic!("{field} in {settings:#?}"))
    };
    assert_eq!(row("go"), ("1.27", "repository go-build.yaml:1"));
    assert_eq!(
        row("builder"),
        (
            "docker.io/library/golang:1.27-bookworm",
            "built-in (golang:<go>-bookworm)"
        )
    );
    assert_eq!(
        row("runtime.labels.team"),
        ("payments", "repository go-build.yaml:4")
    );
    assert_eq!(row("runtime.user"), ("65532:65532", "built-in"));
    assert_eq!(
        row("modules.proxy"),
        ("https://proxy.corp", "build arg GOPROXY")
    );
    assert_eq!(row("binaries[0].package"), (".", "built-in"));
    // Without `go:`, go.mod's line chose the version.
    let fixture = Fixture::new("", GO_MOD, &[]);
    let known = fixture.inputs().known;
    let builder = builder_choice(&known).expect("builder choice");
    let go = &effective::settings(&known, &builder)[0];
    assert_eq!((go.value.as_str(), go.from.as_str()), ("1.26", "go.mod:3"));
}

#[test]
fn outline_entries_name_the_shared_spec_their_default_comes_from() {
    let shared = spec::SharedSpec {
        file: "build/base.yaml",
        source: b"build:\n  ldflags: -X main.commit={{ .Arg.COMMIT }}\nmodules:\n  proxy: https://goproxy.corp\n",
    };
    let spec = spec::load_under(
        "go-build.yaml",
        b"extends: build/base.yaml\n",
        Some(shared),
        None,
    )
    .expect("a valid spec");
    let outline = outline(&spec, &BTreeMap::new());
    let entry = |name: &str| {
        outline
            .args
            .iter()
            .find(|a| a.name == name)
            .unwrap_or_else(|| panic!("{name} is listed"))
    };
    assert_eq!(entry("COMMIT").line, 0, "not a line of the spec");
    assert!(
        entry("COMMIT")
            .description
            .ends_with("(default from build/base.yaml:2)"),
        "{:?}",
        entry("COMMIT")
    );
    assert_eq!(entry("GOPROXY").value, "https://goproxy.corp");
    assert!(
        entry("GOPROXY")
            .description
            .ends_with("(default from build/base.yaml:4)")
    );
}

#[test]
fn only_compiled_files_embed_lines_move_files() {
    let fixture = Fixture::new("binaries: [{package: ./cmd/shop}]", GO_MOD, &[]);
    let known = fixture.inputs().known;
    let needs = needs(&known).expect("needs");
    let header = |constraint: Option<&str>| crate::gosource::Header {
        constraint: constraint.map(String::from),
        imports: Vec::new(),
    };
    let headers = BTreeMap::from([
        ("cmd/shop/main.go".to_string(), header(None)),
        ("cmd/shop/bindata.go".to_string(), header(Some("bindata"))),
        ("cmd/shop/main_test.go".to_string(), header(None)),
    ]);
    let scan = "./cmd/shop/main.go://go:embed templates\n\
                ./cmd/shop/bindata.go://go:embed bindata.dat\n\
                ./cmd/shop/main_test.go://go:embed testdata\n\
                ./cmd/shop/unheaded.go://go:embed static\n";
    assert_eq!(
        compiled_embed_lines(&known, &needs, &headers, scan),
        "./cmd/shop/main.go://go:embed templates\n./cmd/shop/unheaded.go://go:embed static\n"
    );
    let tests = Fixture::new(
        "binaries: [{package: ./cmd/shop}]",
        GO_MOD,
        &[("target", "test")],
    );
    let known = tests.inputs().known;
    assert!(compiled_embed_lines(&known, &needs, &headers, scan).contains("main_test.go"));
}

#[test]
fn buildkit_v0_8_copies_the_sources_by_path_out_of_the_whole_context() {
    let mut old_daemon = Fixture::new("", GO_MOD, &[]);
    old_daemon.daemon.filtered_copies = false;
    // Any byte but NUL and / may be in a name; neither a newline nor a dash may reach `cp`
    // as anything but a path.
    old_daemon
        .context_files
        .extend(["-flag.go", "odd\nname.go"].map(String::from));
    old_daemon.context_files.sort();
    let plan = old_daemon.plan();
    assert!(plan.sources.contains(&"odd\nname.go".to_string()));
    assert!(plan.sources.contains(&"-flag.go".to_string()));
    let SourceSelection::Step(step) = &plan.source_selection else {
        panic!("copies on BuildKit v0.8: {:?}", plan.source_selection)
    };
    assert_eq!(
        step.name,
        format!(
            "[internal] select Go sources ({} files)",
            plan.sources.len()
        )
    );
    // No shell; `--` ends cp's options before the paths.
    assert_eq!(step.args[0], "xargs");
    assert_eq!(step.args.last().map(String::as_str), Some("--"));
    assert_eq!(step.network, NetMode::None);
    let list: String = plan.sources.iter().map(|f| format!("{f}\0")).collect();
    let sources: Vec<&MountSource> = step.mounts.iter().map(|m| &m.source).collect();
    assert_eq!(
        sources,
        [
            &MountSource::Context,
            &MountSource::Output,
            &MountSource::File {
                name: "list".into(),
                contents: list
            },
        ]
    );

    let current = Fixture::new("", GO_MOD, &[]).plan();
    assert!(matches!(
        current.source_selection,
        SourceSelection::Parts(_)
    ));
}

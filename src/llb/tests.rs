use super::*;

fn amd64() -> Platform {
    Platform::new("linux", "amd64", None)
}

fn decode(bytes: &[u8]) -> pb::Op {
    pb::Op::decode(bytes).expect("our own op decodes")
}

/// A small graph that exercises every op kind and mount kind.
fn sample(spec: &Arc<SourceFile>) -> State {
    let base = Image::new("docker.io/library/golang:1.27").state(OpMeta::new().platform(&amd64()));
    let context = Local::new("context")
        .session("s1")
        .include_patterns(&["go.mod".to_string()])
        .state(OpMeta::new().name("[internal] load go.mod"));
    let run = base.run(
        Exec::new(["go", "build", "-o", "/out/app", "."])
            .env("CGO_ENABLED", "0")
            .cwd("/src")
            .network(NetMode::None)
            .mount(Mount::ssh("/run/ssh", "default", false))
            .mount(Mount::bind(&State::scratch(), "/out"))
            .mount(Mount::cache(
                "/root/.cache",
                "gocache",
                CacheSharing::Shared,
            ))
            .mount(Mount::secret("/run/secrets/token", "token", true))
            .mount(Mount::bind(&context, "/src").readonly())
            .mount(Mount::tmpfs("/tmp")),
        OpMeta::new()
            .platform(&amd64())
            .name("[build 1/1] go build")
            .location(Some(SourceLocation {
                file: spec.clone(),
                line: 3,
                column: 5,
            })),
    );
    State::scratch().file(
        FileOp::new()
            .mkdir("/etc", 0o755)
            .mkfile("/etc/passwd", 0o644, "root:x:0:0::/:/sbin/nologin\n")
            .copy(&run.output("/out"), "/app", "/app", CopyOptions::default())
            .copy(&base, "/etc/ssl", "/etc/ssl", CopyOptions::default()),
        OpMeta::new().platform(&amd64()),
    )
}

fn spec_file() -> Arc<SourceFile> {
    Arc::new(SourceFile {
        filename: "go-build.yaml".into(),
        data: b"binaries:\n  - package: .\n".to_vec(),
        language: "YAML".into(),
    })
}

#[test]
fn marshal_is_deterministic() {
    let first = sample(&spec_file()).marshal();
    for _ in 0..5 {
        let again = sample(&spec_file()).marshal();
        assert_eq!(again.def, first.def);
        assert_eq!(again.encode_to_vec(), first.encode_to_vec());
    }
}

#[test]
fn ops_come_inputs_first_deduplicated_with_a_terminal_op() {
    let definition = sample(&spec_file()).marshal();
    let digests: Vec<String> = definition.def.iter().map(|b| digest_of(b)).collect();
    // image, local, exec, file, terminal; the image is used twice but sent once.
    assert_eq!(digests.len(), 5);
    let mut sorted = digests.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), digests.len());
    for (position, bytes) in definition.def.iter().enumerate() {
        for input in decode(bytes).inputs {
            let at = digests
                .iter()
                .position(|d| *d == input.digest)
                .expect("every input is in the definition");
            assert!(at < position, "inputs come before the ops that use them");
        }
    }
    let terminal = decode(definition.def.last().expect("terminal op"));
    assert!(terminal.op.is_none());
    assert!(terminal.platform.is_none());
    assert_eq!(terminal.inputs.len(), 1);
    assert_eq!(terminal.inputs[0].digest, digests[3]);
    let caps = &definition.metadata[&digests[4]].caps;
    for cap in ["constraints", "platform", "meta.description"] {
        assert_eq!(caps.get(cap), Some(&true), "terminal declares {cap}");
    }
    assert_eq!(definition.metadata.len(), 5);
}

#[test]
fn scratch_marshals_to_an_empty_definition() {
    assert_eq!(State::scratch().marshal(), pb::Definition::default());
}

/// The top-level field numbers of an encoded message, in wire order.
fn field_order(mut bytes: &[u8]) -> Vec<u32> {
    let mut fields = Vec::new();
    while !bytes.is_empty() {
        let key = prost::encoding::decode_varint(&mut bytes).expect("key");
        fields.push((key >> 3) as u32);
        match key & 7 {
            0 => {
                prost::encoding::decode_varint(&mut bytes).expect("varint");
            }
            2 => {
                let len = prost::encoding::decode_varint(&mut bytes).expect("length") as usize;
                bytes = &bytes[len..];
            }
            other => panic!("unexpected wire type {other}"),
        }
    }
    fields
}

#[test]
fn op_oneof_is_encoded_after_regular_fields_like_protobuf_go() {
    let definition = sample(&spec_file()).marshal();
    for bytes in &definition.def[..definition.def.len() - 1] {
        let order = field_order(bytes);
        let oneof_at = order
            .iter()
            .position(|f| (2..=4).contains(f))
            .expect("every op has a kind");
        assert_eq!(oneof_at, order.len() - 1, "oneof last in {order:?}");
        let mut regular = order[..oneof_at].to_vec();
        let sorted = {
            let mut s = regular.clone();
            s.sort();
            s
        };
        assert_eq!(regular, sorted, "regular fields ascending in {order:?}");
        regular.dedup();
        assert!(
            regular.contains(&11),
            "constraints are present (empty) in {order:?}"
        );
        // Still one valid message: decoding and re-encoding the parts gives the same bytes.
        assert_eq!(encode_op(&decode(bytes)), *bytes);
    }
}

#[test]
fn exec_mounts_follow_the_go_client_conventions() {
    let definition = sample(&spec_file()).marshal();
    let exec = definition
        .def
        .iter()
        .find_map(|b| match decode(b).op {
            Some(pb::op::Op::Exec(exec)) => Some(exec),
            _ => None,
        })
        .expect("an exec op");
    let mounts: Vec<(&str, i64, i64, bool)> = exec
        .mounts
        .iter()
        .map(|m| (m.dest.as_str(), m.input, m.output, m.readonly))
        .collect();
    assert_eq!(
        mounts,
        [
            ("/", 0, 0, false),
            ("/out", -1, 1, false),
            ("/root/.cache", -1, -1, false),
            ("/src", 1, -1, true),
            ("/tmp", -1, -1, false),
            ("/run/ssh", -1, -1, false),
            ("/run/secrets/token", -1, -1, false),
        ]
    );
    assert_eq!(
        exec.mounts[2].cache_opt.as_ref().map(|c| c.id.as_str()),
        Some("gocache")
    );
    assert_eq!(
        exec.mounts[6]
            .secret_opt
            .as_ref()
            .map(|s| (s.mode, s.optional)),
        Some((0o400, true))
    );
    assert_eq!(exec.network(), pb::NetMode::None);
    let meta = exec.meta.expect("meta");
    assert_eq!(meta.env, ["CGO_ENABLED=0"]);
    assert_eq!(meta.cwd, "/src");
}

#[test]
fn op_metadata_names_caps_and_source_locations() {
    let spec = spec_file();
    let definition = sample(&spec).marshal();
    let exec_digest = definition
        .def
        .iter()
        .find(|b| matches!(decode(b).op, Some(pb::op::Op::Exec(_))))
        .map(|b| digest_of(b))
        .expect("exec op");
    let metadata = &definition.metadata[&exec_digest];
    assert_eq!(
        metadata.description.get(CUSTOM_NAME).map(String::as_str),
        Some("[build 1/1] go build")
    );
    for cap in [
        "exec.meta.base",
        "exec.meta.network",
        "exec.mount.bind",
        "exec.mount.cache",
        "exec.mount.cache.sharing",
        "exec.mount.secret",
        "exec.mount.ssh",
        "exec.mount.tmpfs",
    ] {
        assert_eq!(metadata.caps.get(cap), Some(&true), "exec declares {cap}");
    }
    let source = definition.source.expect("source map");
    assert_eq!(source.infos.len(), 1);
    assert_eq!(source.infos[0].filename, "go-build.yaml");
    assert_eq!(source.infos[0].data, spec.data);
    let location = &source.locations[&exec_digest].locations[0];
    assert_eq!(location.source_index, 0);
    assert_eq!(location.ranges[0].start.map(|p| p.line), Some(3));
    assert_eq!(source.locations.len(), 1, "only the exec has a location");

    let caps = required_caps(&sample(&spec).marshal());
    assert!(caps.contains(&"file.base".to_string()));
    assert!(caps.contains(&"source.local.includepatterns".to_string()));
    assert!(caps.windows(2).all(|w| w[0] < w[1]), "sorted and unique");
}

#[test]
fn file_actions_chain_and_number_secondary_inputs() {
    let definition = sample(&spec_file()).marshal();
    let (inputs, file) = definition
        .def
        .iter()
        .find_map(|b| {
            let op = decode(b);
            match op.op {
                Some(pb::op::Op::File(file)) => Some((op.inputs, file)),
                _ => None,
            }
        })
        .expect("a file op");
    assert_eq!(
        inputs.len(),
        2,
        "scratch base: only the two copy sources are inputs"
    );
    assert_eq!(
        inputs[0].index, 1,
        "the exec's /out mount is its second output"
    );
    let chain: Vec<(i64, i64, i64)> = file
        .actions
        .iter()
        .map(|a| (a.input, a.secondary_input, a.output))
        .collect();
    assert_eq!(chain, [(-1, -1, -1), (2, -1, -1), (3, 0, -1), (4, 1, 0)]);
}

#[test]
fn empty_attribute_values_are_never_sent() {
    let state = Local::new("context")
        .session("")
        .include_patterns(&[])
        .shared_key_hint("")
        .state(OpMeta::new());
    let definition = state.marshal();
    match decode(&definition.def[0]).op {
        Some(pb::op::Op::Source(source)) => {
            assert_eq!(source.identifier, "local://context");
            assert!(source.attrs.is_empty(), "{:?}", source.attrs);
        }
        _ => panic!("expected a source op"),
    }
    let caps = &definition.metadata[&digest_of(&definition.def[0])].caps;
    assert_eq!(caps.keys().collect::<Vec<_>>(), ["source.local"]);
}

#[test]
fn local_sources_drop_the_platform_and_images_keep_it() {
    let local = Local::new("context").state(OpMeta::new().platform(&amd64()));
    assert!(decode(&local.marshal().def[0]).platform.is_none());
    let image = Image::new("docker.io/library/alpine:3")
        .resolve_mode(ResolveMode::Pull)
        .state(OpMeta::new().platform(&amd64()));
    let op = decode(&image.marshal().def[0]);
    assert_eq!(
        op.platform.map(|p| p.architecture).as_deref(),
        Some("amd64")
    );
    match op.op {
        Some(pb::op::Op::Source(source)) => {
            assert_eq!(source.attrs["image.resolvemode"], "pull");
        }
        _ => panic!("expected a source op"),
    }
}

#[test]
fn dump_lists_every_op_with_names_and_locations() {
    let text = dump(&sample(&spec_file()).marshal());
    assert!(text.contains("name: [build 1/1] go build"), "{text}");
    assert!(text.contains("source: go-build.yaml:3:5"), "{text}");
    assert!(
        text.contains("mount /root/.cache: cache id=gocache sharing=shared"),
        "{text}"
    );
    assert!(text.contains("result <- "), "{text}");
    assert_eq!(text.matches("sha256:").count(), 5, "{text}");
}

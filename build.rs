//! Generates the BuildKit gateway client and LLB types from our minimal protos in `proto/`.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "github.com/moby/buildkit/frontend/gateway/pb/gateway.proto",
    "github.com/moby/buildkit/solver/pb/ops.proto",
    "github.com/moby/buildkit/util/apicaps/pb/caps.proto",
    "github.com/moby/buildkit/api/types/worker.proto",
    "github.com/tonistiigi/fsutil/types/stat.proto",
    "google/rpc/status.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A vendored protoc keeps a fresh machine free of hand-installed tools.
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let well_known = protoc_bin_vendored::include_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC from the environment.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let protos: Vec<PathBuf> = PROTOS
        .iter()
        .map(|p| PathBuf::from("proto").join(p))
        .collect();
    tonic_prost_build::configure()
        // The server half is used by the in-process fake gateway in the protocol tests.
        .build_server(true)
        // BTreeMap keeps every map in key order: marshalled ops are byte-for-byte deterministic.
        .btree_map(".")
        .compile_protos(&protos, &[PathBuf::from("proto"), well_known])?;
    println!("cargo:rerun-if-changed=proto");
    Ok(())
}

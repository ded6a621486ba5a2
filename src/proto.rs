//! Code generated from `proto/` (our minimal subset of BuildKit's wire format).
//!
//! The modules nest like the proto packages because prost refers across packages with
//! `super::` paths.
#![allow(clippy::all, missing_docs, rustdoc::all)]

pub mod pb {
    tonic::include_proto!("pb");
}

pub mod fsutil {
    pub mod types {
        tonic::include_proto!("fsutil.types");
    }
}

pub mod google {
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

pub mod moby {
    pub mod buildkit {
        pub mod v1 {
            pub mod apicaps {
                tonic::include_proto!("moby.buildkit.v1.apicaps");
            }
            pub mod types {
                tonic::include_proto!("moby.buildkit.v1.types");
            }
            pub mod frontend {
                tonic::include_proto!("moby.buildkit.v1.frontend");
            }
        }
    }
}

pub use moby::buildkit::v1::frontend as gateway;

//! gobuild-frontend: a BuildKit frontend that turns `go-build.yaml` into a container build for a
//! Go program. See ARCHITECTURE.md for where things live.

pub mod cli;
pub mod eject;
pub mod frontend;
pub mod gateway;
pub mod gomod;
pub mod gosource;
pub mod ignore;
pub mod image;
pub mod init;
pub mod llb;
pub mod options;
pub mod pipeline;
pub mod plan;
pub mod platform;
pub mod proto;
pub mod render;
pub mod sbom;
pub mod spec;

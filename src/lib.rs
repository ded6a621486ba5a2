//! gobuild-frontend: a BuildKit frontend that turns `go-build.yaml` into a container build for a
//! Go program. See ARCHITECTURE.md for where things live.

pub mod llb;
pub mod platform;
pub mod proto;
pub mod spec;

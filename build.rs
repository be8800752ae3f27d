//! Compiles `proto/` with the pure-Rust `protox` compiler, so building needs no system `protoc`.
//!
//! The encoded descriptor set is also written to `OUT_DIR` because gRPC reflection serves it.
//!
//! `proto/third_party/kserve/` (a subset of the KServe V2 inference protocol, for the load
//! generator's `--protocol kserve-v2`) is compiled on its own, so the descriptor set that
//! reflection serves holds attache's contract only.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/attache/v1/classifier.proto"];
    let kserve = "proto/third_party/kserve/v2/inference.proto";
    // `compile_fds` registers no rerun trigger of its own: without these, edits to the
    // contract would not rebuild the generated code.
    println!("cargo:rerun-if-changed=proto");
    for p in protos.iter().chain([&kserve]) {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let descriptor_path = out_dir.join("attache_descriptor.bin");
    std::fs::write(&descriptor_path, prost::Message::encode_to_vec(&fds))?;
    embed_default_model(&out_dir)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    // Client for the load generator, server for the fake peer in tests/bench.rs.
    let kserve_fds = protox::compile([kserve], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(kserve_fds)?;
    Ok(())
}

/// The default model ships inside the binary so `attache classify --text ...` and
/// `attache serve` work from any directory. Before the model has been trained (a fresh
/// corpus checkout), the binary embeds nothing and says so at run time.
fn embed_default_model(out_dir: &std::path::Path) -> std::io::Result<()> {
    let model = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"))
        .join("models/diplomatic-news.attache");
    println!("cargo:rerun-if-changed={}", model.display());
    let code = if model.is_file() {
        format!("Some(include_bytes!({:?}))", model.display().to_string())
    } else {
        "None".to_owned()
    };
    std::fs::write(out_dir.join("default_model.rs"), code)
}

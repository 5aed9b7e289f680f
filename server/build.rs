//! Rebuilds release binaries when the web client in `dist/` changes.
//!
//! Release builds embed `dist/` (see `src/web.rs`), but the embedding macro lists the folder
//! when it expands: cargo tracks the files it found, not the folder, so a client rebuilt
//! under new content-hashed names could leave an old client embedded. Debug builds read
//! `dist/` from disk and need no rebuild.

fn main() {
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        println!("cargo:rerun-if-changed=../dist");
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }
}

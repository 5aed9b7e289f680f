//! wasm-split (scripts/split-wasm.mjs) needs the linker's relocations (the reloc.*
//! and linking sections) in the raw wasm to cut it into lazily loaded chunks. A link
//! arg scoped to this package's bins: unlike RUSTFLAGS it does not rebuild every
//! dependency and is not lost when a caller sets RUSTFLAGS.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-link-arg-bins=--emit-relocs");
    }
    println!("cargo:rerun-if-changed=build.rs");
}

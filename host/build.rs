//! Hashes the embedded guest component at build time, so starting clambot never
//! spends milliseconds on it: the hash keys the precompiled-component cache.

use sha2::{Digest, Sha256};

fn main() {
    const GUEST: &str = "../guest-quickjs/dist/clambot-guest.wasm";
    println!("cargo:rerun-if-changed={GUEST}");
    let bytes = std::fs::read(GUEST).expect("the committed guest component exists");
    let hash = hex::encode(Sha256::digest(&bytes));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("guest_sha256.rs"), format!("\"{hash}\"")).expect("writing the hash");
    // `clambot --version` names the guest it embeds (a prefix is enough to tell builds apart).
    println!("cargo:rustc-env=CLAMBOT_GUEST_SHA256_SHORT={}", &hash[..12]);
}

//! Saved clams start from QuickJS bytecode instead of source: compiled once by
//! the guest ([`Sandbox::compile`]), kept in memory and in
//! `$CLAMBOT_HOME/cache/bytecode/`, keyed by the guest build and the script's
//! SHA-256, so a new guest or a changed script never meets stale bytecode.
//! A file that fails its checksum is compiled again, not loaded.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use sha2::{Digest, Sha256};

use super::{RunError, Sandbox};

/// Compiled scripts, by source hash.
#[derive(Debug)]
pub struct BytecodeCache {
    dir: Option<PathBuf>,
    loaded: Mutex<HashMap<String, Arc<Vec<u8>>>>,
}

impl BytecodeCache {
    /// A cache under `dir` (`None`: in memory only).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    fn file(dir: &Path, source_sha: &str) -> PathBuf {
        dir.join(format!("{}-{source_sha}.qjsbc", &crate::GUEST_SHA256[..16]))
    }

    /// The bytecode of `source`, compiling it on first use.
    pub async fn get(&self, sandbox: &Sandbox, source: &str) -> Result<Arc<Vec<u8>>, RunError> {
        let sha = crate::sha256_hex(source.as_bytes());
        if let Some(found) = self
            .loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&sha)
        {
            return Ok(Arc::clone(found));
        }
        let from_disk = self
            .dir
            .as_deref()
            .and_then(|dir| std::fs::read(Self::file(dir, &sha)).ok())
            .and_then(|bytes| checked(&bytes).map(<[u8]>::to_vec));
        let bytecode = match from_disk {
            Some(bytecode) => bytecode,
            None => {
                let bytecode = sandbox.compile(source).await?;
                if let Some(dir) = &self.dir {
                    // A cache that cannot be written only costs the next process a compile.
                    let _ = std::fs::create_dir_all(dir).and_then(|()| {
                        crate::atomic::write(&Self::file(dir, &sha), &with_checksum(&bytecode))
                            .map_err(std::io::Error::other)
                    });
                }
                bytecode
            }
        };
        let bytecode = Arc::new(bytecode);
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(sha, Arc::clone(&bytecode));
        Ok(bytecode)
    }
}

/// `bytecode` followed by its SHA-256.
fn with_checksum(bytecode: &[u8]) -> Vec<u8> {
    let mut out = bytecode.to_vec();
    out.extend_from_slice(&Sha256::digest(bytecode));
    out
}

/// The bytecode of a cache file whose checksum holds.
fn checked(file: &[u8]) -> Option<&[u8]> {
    let (bytecode, sum) = file.split_at_checked(file.len().checked_sub(32)?)?;
    (Sha256::digest(bytecode).as_slice() == sum).then_some(bytecode)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_catch_damage() {
        let file = with_checksum(b"bytecode");
        assert_eq!(checked(&file), Some(&b"bytecode"[..]));
        let mut damaged = file.clone();
        damaged[2] ^= 1;
        assert_eq!(checked(&damaged), None);
        assert_eq!(checked(&file[..10]), None);
        assert_eq!(checked(b""), None);
    }
}

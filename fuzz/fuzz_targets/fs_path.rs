//! The workspace path normaliser and path globs the gate and the fs tool rely
//! on: never a panic; a normalised path is NFC, holds no refused (invisible,
//! bidi, control) character, has no empty, `.` or `..` segment, no name over
//! 255 bytes, and normalises to itself; a path's own NFC spelling, as a deny
//! glob (with glob metacharacters escaped), always covers it, in every case
//! spelling of its ASCII letters.
#![no_main]

use clambot::policy::fs::{PathGlob, PathIndex, WorkspacePath, refused_character};
use libfuzzer_sys::fuzz_target;

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '{' | '}') {
            out.push('[');
            out.push(c);
            out.push(']');
        } else {
            out.push(c);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (raw, pattern) = text.split_once('\n').unwrap_or((text, ""));
    let _ = PathGlob::parse(pattern);
    let Ok(path) = WorkspacePath::normalise(raw) else {
        return;
    };
    let normal = path.as_str();
    assert!(refused_character(normal).is_none(), "{raw:?}");
    assert!(
        normal == "." || normal.split('/').all(|s| !s.is_empty() && s != "." && s != ".." && s.len() <= 255),
        "{raw:?} -> {normal:?}"
    );
    let again = WorkspacePath::normalise(normal);
    assert_eq!(again.as_ref(), Ok(&path), "{raw:?}");
    if path.is_root() || normal.trim().is_empty() {
        return;
    }
    let glob = PathGlob::parse(&escape(normal)).expect("a normalised path is a valid glob");
    let index = PathIndex::new([(0, std::slice::from_ref(&glob))], 1).expect("index");
    assert!(index.coverage(&[path.clone()]).any.contains(0), "{raw:?}");
    assert!(index.coverage(&[path.clone()]).all.contains(0), "{raw:?}");
    if let Ok(upper) = WorkspacePath::normalise(&normal.to_ascii_uppercase()) {
        assert!(index.coverage(&[upper]).any.contains(0), "{raw:?} upper");
    }
});

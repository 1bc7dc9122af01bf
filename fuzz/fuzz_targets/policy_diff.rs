//! `policy diff` against the gate, at scale: the input is two policy texts
//! separated by a line `~~~`. Whenever both load and `diff` says nothing
//! widened, the real decision function must agree on every call derived from
//! either policy's patterns (repeated to spend every budget), no effective
//! limit may have grown, and each policy must be unchanged against itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (old, new) = text.split_once("\n~~~\n").unwrap_or((text, text));
    if let Err(disagreement) = clambot::policy::diff::check_pair(old, new) {
        panic!("{disagreement}\n--- old\n{old}\n--- new\n{new}");
    }
});

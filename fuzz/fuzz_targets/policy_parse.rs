//! Any text given to the policy parser gives a policy or diagnostics, never a
//! panic; a diagnostic always points inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = clambot::policy::Policy::parse("fuzz.toml", text) {
        let lines = text.split('\n').count().max(1);
        for d in &error.diagnostics {
            assert!(d.line <= lines + 1, "line {} beyond the text ({lines} lines)", d.line);
            assert!(!d.message.is_empty());
        }
    }
});

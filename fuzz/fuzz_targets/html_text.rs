//! HTML to text (`http.fetchText`'s converter) on any bytes: never a panic;
//! the work is linear in the input (counted in steps); the text never passes
//! its cap, and a cap that is hit is a `Stop`, not a cut; the list stack and
//! the kept `href` stay within their bounds.
#![no_main]

use clambot::html_text::{self, Bounds, MAX_HREF_BYTES, MAX_LIST_DEPTH, Stop};
use libfuzzer_sys::fuzz_target;

/// Steps a byte, with room over the worst measured case (8.3, named
/// character reference prefixes).
const STEPS_PER_BYTE: u64 = 16;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the cap, so small caps are explored too.
    let (cap, html) = match data.split_first() {
        Some((first, rest)) => (usize::from(*first) * 64, rest),
        None => (0, data),
    };
    let base = url::Url::parse("https://example.org/dir/page.html").expect("base");
    let (result, stats) = html_text::to_text_with_stats(
        html,
        Some(&base),
        Bounds {
            max_output: cap,
            deadline: None,
        },
    );
    assert!(
        stats.work() <= STEPS_PER_BYTE * (html.len() as u64 + 1),
        "{} bytes took {stats:?}",
        html.len()
    );
    assert!(stats.max_list_depth <= MAX_LIST_DEPTH);
    assert!(stats.max_href_bytes <= MAX_HREF_BYTES);
    assert!(stats.output_bytes <= cap);
    match result {
        Ok(text) => assert!(text.len() <= cap),
        Err(stop) => assert_eq!(stop, Stop::Output(cap)),
    }
});

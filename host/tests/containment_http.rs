//! Containment of the http tool's host-side work and of the gate's URL judging:
//! HTML-to-text is linear in the page whatever the markup (counted in steps,
//! not timed) and holds the run's deadline end to end; a deny on a path holds
//! against every spelling a server could read as that path, and an allow never
//! stretches past what it names.

mod common;

use std::time::{Duration, Instant};

use clambot::html_text::{self, Bounds, MAX_HREF_BYTES, MAX_LIST_DEPTH, Stats, Stop};
use clambot::policy::{Call, Decision, Policy, Usage};
use clambot::sandbox::RunRequest;
use clambot::tools::http::HttpLimits;
use common::http_server::{Reply, Server};
use common::world::World;
use proptest::prelude::*;
use serde_json::{Value as Json, json};

// ---- HTML to text: linear work, bounded state --------------------------------

/// Steps of work allowed per input byte. Measured: 1 to 3 for most shapes,
/// 7.5 for nested lists (indentation written), 8.3 for named character
/// reference prefixes (`&Counter…` tries every name sharing two letters).
const STEPS_PER_BYTE: u64 = 16;

/// Builds a page of about `n` bytes.
type PageOfSize = fn(usize) -> String;

/// Hostile page shapes.
fn hostile_pages() -> Vec<(&'static str, PageOfSize)> {
    fn repeat(unit: &str, n: usize) -> String {
        unit.repeat(n / unit.len() + 1)
    }
    vec![
        ("deep nesting", |n| repeat("<div>", n)),
        ("unclosed formatting tags", |n| {
            repeat("<b><i><u><s><font><em><strong><nobr>x", n)
        }),
        ("misnested tables", |n| {
            repeat("<table><tr><td><b><table><i><tr></b><td></i>x</table>", n)
        }),
        ("nested anchors", |n| repeat("<a href=/x>a", n)),
        ("nested lists", |n| repeat("<ul><li><ol><li>x", n)),
        ("huge attribute", |n| {
            format!(
                "<a href=\"{}\">t</a><p title='{}'>",
                "x".repeat(n / 2),
                "&amp;".repeat(n / 10)
            )
        }),
        ("many attributes", |n| {
            format!("<a {}>t</a>", repeat("href=/x ", n))
        }),
        ("unclosed comment", |n| format!("<!--{}", repeat("a-", n))),
        ("plaintext", |n| {
            format!("<plaintext>{}", repeat("<b>&amp;", n))
        }),
        ("entity prefixes", |n| {
            repeat("&Counter&CounterClockwiseContourIntegral", n)
        }),
        ("long numeric references", |n| {
            repeat("&#000000000000000000000000065;", n)
        }),
        ("script false end tags", |n| {
            format!("<script>{}", repeat("</scrip<!--<script>", n))
        }),
        ("line breaks", |n| repeat("<br>\r\n", n)),
        ("unclosed tags", |n| repeat("<a", n)),
        ("unclosed attribute quote", |n| {
            format!("<a href=\"{}", repeat("x", n))
        }),
        ("doctype junk", |n| {
            repeat("<!DOCTYPE x PUBLIC \"a\" \"b\">", n)
        }),
        ("skipped elements", |n| {
            repeat("<svg><template><select>x", n)
        }),
    ]
}

fn convert(page: &str, max_output: usize) -> (Result<String, Stop>, Stats) {
    let base = url::Url::parse("https://example.org/a/b").expect("base");
    html_text::to_text_with_stats(
        page.as_bytes(),
        Some(&base),
        Bounds {
            max_output,
            deadline: None,
        },
    )
}

#[test]
fn html_to_text_work_is_linear_in_the_page_for_hostile_markup() {
    for (name, page) in hostile_pages() {
        let mut work = Vec::new();
        for n in [50_000, 200_000] {
            let html = page(n);
            let (result, stats) = convert(&html, usize::MAX);
            let len = html.len() as u64;
            assert!(result.is_ok(), "{name}: {result:?}");
            assert!(
                stats.work() <= STEPS_PER_BYTE * len,
                "{name} at {len} bytes: {stats:?} is more than {STEPS_PER_BYTE} steps a byte"
            );
            assert!(stats.max_list_depth <= MAX_LIST_DEPTH, "{name}: {stats:?}");
            assert!(stats.max_href_bytes <= MAX_HREF_BYTES, "{name}: {stats:?}");
            work.push((len, stats.work()));
        }
        // Four times the page is about four times the work, not sixteen.
        let (small, large) = (work[0], work[1]);
        let per_byte = |(len, steps): (u64, u64)| steps as f64 / len as f64;
        eprintln!(
            "{name}: {:.2} then {:.2} steps a byte",
            per_byte(small),
            per_byte(large)
        );
        assert!(
            per_byte(large) <= per_byte(small) * 1.1 + 0.5,
            "{name}: {small:?} then {large:?}"
        );
    }
}

#[test]
fn a_hundred_thousand_nested_anchors_cost_a_few_steps_each() {
    for count in [25_000, 100_000] {
        let html = format!("{}{}", "<a href=/x>a".repeat(count), "</a>".repeat(count));
        let (result, stats) = convert(&html, usize::MAX);
        let text = result.expect("converts");
        // Anchors do not nest: each one closes the one before it.
        assert_eq!(text.matches("](https://example.org/x)").count(), count);
        assert!(
            stats.work() <= STEPS_PER_BYTE * html.len() as u64,
            "{count} anchors: {stats:?}"
        );
    }
}

#[test]
fn html_text_output_never_passes_its_cap() {
    for (name, page) in hostile_pages() {
        let html = page(100_000);
        let (result, stats) = convert(&html, 1000);
        assert!(stats.output_bytes <= 1000, "{name}: {stats:?}");
        match result {
            Ok(text) => assert!(text.len() <= 1000, "{name}"),
            Err(stop) => assert_eq!(stop, Stop::Output(1000), "{name}"),
        }
    }
}

#[test]
fn links_resolved_against_a_long_page_url_stay_bounded() {
    // Each `<a href=x>t</a>` is 16 bytes; resolved against a long base it could
    // be kilobytes of output: the cap is what stops it, as a `Stop`.
    let long = format!("https://example.org/{}/", "d".repeat(1500));
    let base = url::Url::parse(&long).expect("base");
    let html = "<a href=x>t</a>".repeat(10_000);
    let (result, stats) = html_text::to_text_with_stats(
        html.as_bytes(),
        Some(&base),
        Bounds {
            max_output: 1 << 20,
            deadline: None,
        },
    );
    assert_eq!(result, Err(Stop::Output(1 << 20)));
    assert!(
        stats.work() <= STEPS_PER_BYTE * html.len() as u64 + 4 * (1 << 20),
        "{stats:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_markup_converts_within_bounds(
        parts in prop::collection::vec(prop_oneof![
            Just("<a href=/x>".to_owned()), Just("</a>".to_owned()), Just("<ul>".to_owned()),
            Just("<li>".to_owned()), Just("</ul>".to_owned()), Just("<pre>".to_owned()),
            Just("</pre>".to_owned()), Just("<script>".to_owned()), Just("</script>".to_owned()),
            Just("<svg>".to_owned()), Just("</svg>".to_owned()), Just("<!--".to_owned()),
            Just("-->".to_owned()), Just("<table><td>".to_owned()), Just("&amp".to_owned()),
            Just("<h2>".to_owned()), Just("<br/>".to_owned()), Just("<plaintext>".to_owned()),
            "\\PC{0,12}",
        ], 0..200),
    ) {
        let html = parts.concat();
        let (result, stats) = convert(&html, 4096);
        prop_assert!(stats.work() <= STEPS_PER_BYTE * (html.len() as u64 + 1));
        prop_assert!(stats.max_list_depth <= MAX_LIST_DEPTH);
        if let Ok(text) = result {
            prop_assert!(text.len() <= 4096);
            prop_assert!(!text.contains("<script>") || html.contains("<plaintext>") || html.contains("<pre>"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_convert_within_bounds(bytes in prop::collection::vec(any::<u8>(), 0..4000), cap in 0usize..2000) {
        let base = url::Url::parse("https://example.org/a/b").expect("base");
        let (result, stats) = html_text::to_text_with_stats(
            &bytes,
            Some(&base),
            Bounds { max_output: cap, deadline: None },
        );
        prop_assert!(stats.work() <= STEPS_PER_BYTE * (bytes.len() as u64 + 1));
        prop_assert!(stats.output_bytes <= cap);
        match result {
            Ok(text) => prop_assert!(text.len() <= cap),
            Err(stop) => prop_assert_eq!(stop, Stop::Output(cap)),
        }
    }
}

// ---- HTML to text end to end: the run's deadline holds ------------------------

fn html_world() -> World {
    World::with_limits(HttpLimits {
        max_response_bytes: 8 * 1024 * 1024,
        connect: Duration::from_secs(2),
        first_byte: Duration::from_secs(2),
        total: Duration::from_secs(10),
    })
}

fn html_server(page: String) -> Server {
    Server::start("127.0.0.1", 0, move |_| {
        Reply::text(200, "text/html; charset=utf-8", page.clone())
    })
}

fn allow_fetching(server: &Server) -> String {
    format!(
        "version = 1\n[[allow]]\ncall = \"http.*\"\nurl = [\"http://127.0.0.1:*/**\"]\n[net]\nallow-private = [\"{}\"]\n",
        server.addr
    )
}

const FETCH_TEXT: &str = "try { const t = await http.fetchText(args.url); return { length: t.length, head: t.slice(0, 40) }; } \
     catch (e) { return { code: e.code, message: e.message }; }";

/// Runs `fetchText` on `page` under a run timeout; returns the outcome and how long the host took.
fn fetch_text_under(page: String, timeout: Duration) -> (Result<Json, String>, Duration) {
    let world = html_world();
    let server = html_server(page);
    let mut request = RunRequest::new(FETCH_TEXT);
    request.args_json =
        json!({ "url": format!("http://127.0.0.1:{}/", server.port()) }).to_string();
    request.limits.timeout = timeout;
    request.gate = world.gate(&allow_fetching(&server));
    let started = Instant::now();
    let outcome = common::runtime().block_on(world.sandbox.run(&request));
    let took = started.elapsed();
    let result = outcome
        .result
        .map(|text| serde_json::from_str(&text).expect("JSON"))
        .map_err(|e| e.to_string());
    (result, took)
}

#[test]
fn a_five_megabyte_hostile_page_ends_within_the_run_deadline() {
    let timeout = Duration::from_secs(2);
    let unit = "<table><tr><td><b><i><a href=/x><u><table><tr></b></i><td>text ";
    let page = unit.repeat(5 * 1024 * 1024 / unit.len());
    let (result, took) = fetch_text_under(page, timeout);
    eprintln!("5 MB hostile page: {took:?}, {result:?}");
    assert!(
        took < timeout + Duration::from_millis(1500),
        "the host took {took:?} under a {timeout:?} deadline: {result:?}"
    );
    match &result {
        Ok(value) if value.get("length").is_some() => {}
        Ok(value) => assert_eq!(value["code"], "limit", "{value}"),
        // The run itself was stopped at its deadline.
        Err(e) => assert!(e.contains("time") || e.contains("deadline"), "{e}"),
    }
}

#[test]
fn unclosed_formatting_tags_convert_promptly() {
    // The page that kept the old converter busy for minutes past a 2 s deadline.
    let page = "<b><i><u><s><font><em>".repeat(33 * 1024 / 22);
    let timeout = Duration::from_secs(2);
    let (result, took) = fetch_text_under(page, timeout);
    assert!(took < timeout, "{took:?}: {result:?}");
    let value = result.expect("the run ends normally");
    assert_eq!(value["length"], 0, "{value}");
}

#[test]
fn fetch_text_keeps_headings_links_and_lists() {
    let page = "<html><head><title>T</title><style>p{}</style></head><body>\
        <h2>Prices</h2><p>BTC is <b>up</b> &amp; rising.</p>\
        <ul><li>one</li><li><a href='/more'>more</a></li></ul>\
        <script>alert('x')</script></body></html>"
        .to_owned();
    let world = html_world();
    let server = html_server(page);
    let out = world.ok(
        &allow_fetching(&server),
        &format!(
            "return await http.fetchText('http://127.0.0.1:{}/page')",
            server.port()
        ),
    );
    assert_eq!(
        out,
        format!(
            "## Prices\n\nBTC is up & rising.\n\n* one\n* [more](http://127.0.0.1:{}/more)",
            server.port()
        )
    );
}

#[test]
fn text_longer_than_the_response_cap_is_a_limit_error() {
    let world = World::with_limits(HttpLimits {
        max_response_bytes: 64 * 1024,
        connect: Duration::from_secs(2),
        first_byte: Duration::from_secs(2),
        total: Duration::from_secs(5),
    });
    // 20 KB of markup that resolves to more than 64 KiB of link text.
    let page = "<a href=z>t</a>".repeat(1400);
    let server = html_server(page);
    let out = world.ok(
        &allow_fetching(&server),
        &format!(
            "try {{ await http.fetchText('http://127.0.0.1:{}/{}/'); return 'no error'; }} catch (e) {{ return e.code; }}",
            server.port(),
            "p".repeat(40)
        ),
    );
    assert_eq!(out, "limit");
}

// ---- URL judging: a deny holds against every reading ---------------------------

fn policy(text: &str) -> Policy {
    Policy::parse("p.toml", &format!("version = 1\n{text}")).expect("policy parses")
}

fn decide(policy: &Policy, url: &str) -> Decision {
    let args = json!({ "req": { "method": "GET", "url": url, "headers": [], "body": null, "bearer-secret": null } });
    policy.decide(
        &Call {
            interface: "http",
            function: "fetch",
            args: &args,
        },
        &mut Usage::default(),
    )
}

/// Everything allowed except what the deny on `/admin/**` covers.
fn deny_admin() -> Policy {
    policy(
        "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://*:*/**\", \"http://*:*/**\"]\n\
         [[deny]]\ncall = \"http.*\"\nurl = [\"https://x.org/admin/**\", \"https://x.org/root\"]\n",
    )
}

/// Only `/public/**` allowed.
fn allow_public() -> Policy {
    policy("[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://x.org/public/**\"]\n")
}

fn is_denied_or_invalid(decision: &Decision) -> bool {
    matches!(decision, Decision::Deny { .. } | Decision::Invalid { .. })
}

/// Spellings of `/admin/users` (or of `/root`) that some server reads as it.
const ADMIN_SPELLINGS: &[&str] = &[
    "/admin/users",
    "/admin",
    "/admin/",
    "/admin;x/users",
    "/admin;/users",
    "/admin;jsessionid=1/users",
    "/admin/users;x",
    "/public/..;/admin/users",
    "/public/..;x/admin/users",
    "/public;x/../admin/users",
    "/%61dmin/users",
    "/%61%64%6D%69%6E/users",
    "/ADMIN/users",
    "/Admin/users",
    "/admin./users",
    "/admin%20/users",
    "/admin%2e/users",
    "/admin%2fusers",
    "/admin%2Fusers",
    "/admin%5cusers",
    "/public/..%2fadmin/users",
    "/public/..%2Fadmin%2Fusers",
    "/public/%2e%2e%2fadmin/users",
    "/public%2f..%2fadmin/users",
    "/public/..%5cadmin/users",
    "/public/%252e%252e/admin/users",
    "/public/%252e%252e%252fadmin/users",
    "/%2561dmin/users",
    "/admin%252fusers",
    "/public/%u002e%u002e/admin/users",
    "/%u0061dmin/users",
    "//admin/users",
    "///admin//users",
    "/./admin/users",
    "/admin/./users",
    "/admin/.",
    "/admin/x/..",
    "/x/../admin/users",
    "/%2e/admin/users",
    "/x/%2E%2e/admin/users",
    "/\u{ff41}dmin/users",
    "/public/\u{ff0e}\u{ff0e}\u{ff0f}admin/users",
    "/admin\u{ff0f}users",
    "/root",
    "/root/",
    "/ROOT",
    "/root.",
    "/root;x",
    "/root%3bx",
    "/root%2f",
    "/root%3f/x",
    "/root%23x",
    "/public/..%20/root",
    "/admin%3b/users",
    "/;/admin/users",
    "/root%00.png",
    "/root%0a",
    "/%c0%ae%c0%ae/root",
    "/public/%25252e%25252e/root",
];

#[test]
fn a_path_deny_holds_against_every_reading_of_the_path() {
    let deny = deny_admin();
    let allow = allow_public();
    for path in ADMIN_SPELLINGS {
        for host in ["x.org", "X.ORG", "x.org.", "x.org:443"] {
            let url = format!("https://{host}{path}");
            let decision = decide(&deny, &url);
            assert!(is_denied_or_invalid(&decision), "{url}: {decision:?}");
            let decision = decide(&allow, &url);
            assert!(
                !matches!(decision, Decision::Allow { .. }),
                "the allow on /public/** stretched to {url}"
            );
        }
    }
}

#[test]
fn a_host_deny_holds_against_other_spellings_of_the_host() {
    let p = policy(
        "[[allow]]\ncall = \"http.fetch\"\nurl = [\"https://*:*/**\", \"http://*:*/**\"]\n\
         [[deny]]\ncall = \"http.*\"\nurl = [\"https://x.org/admin/**\", \"http://127.0.0.1:8080/**\", \"https://[::ffff:10.0.0.1]/**\"]\n",
    );
    for url in [
        "http://x.org/admin/",
        "HTTP://X.ORG:80/admin",
        "http://127.0.0.1:8080/",
        "http://127.1:8080/x",
        "http://2130706433:8080/x",
        "http://0x7f.0.0.1:8080/x",
        "http://[::ffff:127.0.0.1]:8080/x",
        "http://[::FFFF:7F00:1]:8080/x",
        "http://127.0.0.1.:8080/x",
        "https://10.0.0.1/x",
        "https://[::ffff:a00:1]/x",
    ] {
        let decision = decide(&p, url);
        assert!(is_denied_or_invalid(&decision), "{url}: {decision:?}");
    }
    for url in [
        "http://127.0.0.1:8081/",
        "https://x.org:8443/admin",
        "https://[::1]:8080/",
    ] {
        assert!(matches!(decide(&p, url), Decision::Allow { .. }), "{url}");
    }
}

#[test]
fn ordinary_paths_are_still_allowed() {
    let deny = deny_admin();
    let allow = allow_public();
    for path in [
        "/public/a",
        "/public/a;v=1",
        "/public/a%2Fb",
        "/public/%E2%82%AC",
        "/public/100%25",
        "/public/a.b/c",
        "/public/a?q=%00&x=..%2f",
        "/public/a#..;/admin",
        "/public/x/../y",
        "/public/Admin",
        "/public",
    ] {
        let url = format!("https://x.org{path}");
        assert!(
            matches!(decide(&deny, &url), Decision::Allow { .. }),
            "{url}: {:?}",
            decide(&deny, &url)
        );
        assert!(
            matches!(decide(&allow, &url), Decision::Allow { .. }),
            "{url}: {:?}",
            decide(&allow, &url)
        );
    }
    for path in [
        "/administrator",
        "/adminx/users",
        "/rooted",
        "/a/admin/users",
    ] {
        let url = format!("https://x.org{path}");
        assert!(
            matches!(decide(&deny, &url), Decision::Allow { .. }),
            "{url}"
        );
    }
}

#[test]
fn ambiguous_spellings_are_invalid_not_guessed() {
    let deny = deny_admin();
    for url in [
        "https://x.org/a%00",
        "https://x.org/a%0d%0aHost:%20y",
        "https://x.org/%c0%af",
        "https://x.org/%25252e",
        "https://x.org\\admin",
        "https://user@x.org/",
        "https://x.org/a\u{200b}",
        "https://xn--80ak6aa92e.com/",
    ] {
        let decision = decide(&deny, url);
        if url.contains("xn--") {
            // An ASCII (punycode) name is an ordinary name.
            assert!(
                matches!(decision, Decision::Allow { .. }),
                "{url}: {decision:?}"
            );
        } else {
            assert!(
                matches!(decision, Decision::Invalid { .. }),
                "{url}: {decision:?}"
            );
        }
    }
}

#[test]
fn non_ascii_host_names_are_refused_not_mapped() {
    let deny = deny_admin();
    for url in [
        "https://\u{ff58}.org/admin/users",
        "https://x\u{3002}org/admin/users",
        "https://m\u{fc}nchen.de/",
        "https://\u{430}pple.com/",
        "https://x.org\u{2024}/",
        "https://%78.org/admin/users",
    ] {
        let decision = decide(&deny, url);
        assert!(
            matches!(decision, Decision::Invalid { .. }),
            "{url}: {decision:?}"
        );
    }
}

fn load_error(text: &str) -> String {
    Policy::parse("p.toml", &format!("version = 1\n{text}"))
        .expect_err("refused")
        .to_string()
}

#[test]
fn url_patterns_with_invisible_or_unplain_paths_are_refused_at_load() {
    for (pattern, says) in [
        ("https://x.org/ad\u{200b}min/**", "U+200B"),
        ("https://x.org/admin\u{202e}/**", "U+202E"),
        ("https://x.org\u{2066}/**", "U+2066"),
        ("https://x.org/\u{feff}a", "U+FEFF"),
        ("https://x.org/\u{ad}admin", "U+00AD"),
        ("https://x.org/admin;x/**", "`;`"),
        ("https://x.org/%61dmin/**", "`%`"),
        ("https://x.org//admin/**", "`//`"),
        ("https://x.org/a/../admin/**", "`..`"),
        ("https://x.org/./admin", "`.`"),
        ("https://m\u{fc}nchen.de/**", "xn--mnchen-3ya.de"),
        ("https://ex%61mple.org/**", "ex%61mple.org"),
    ] {
        let message = load_error(&format!(
            "[[deny]]\ncall = \"http.*\"\nurl = [\"{pattern}\"]\n"
        ));
        assert!(message.starts_with("p.toml:4:8: "), "{pattern}: {message}");
        assert!(message.contains(says), "{pattern}: {message}");
        assert!(
            !message.chars().any(clambot::unicode::is_hidden),
            "the message shows invisible characters escaped: {message:?}"
        );
    }
}

/// One way of writing a segment that some server reads as `segment`.
fn spelled(segment: &str, how: u8) -> String {
    match how {
        0 => segment.to_owned(),
        1 => format!("{segment};p=1"),
        2 => segment.replacen('a', "%61", 1).replacen('m', "%6D", 1),
        3 => segment.to_uppercase(),
        4 => format!("{segment}."),
        5 => segment.replacen('a', "%2561", 1),
        6 => segment.replacen('d', "%u0064", 1),
        _ => segment.replacen('i', "\u{ff49}", 1),
    }
}

/// One way of writing a `/` between segments.
fn separator(how: u8) -> &'static str {
    match how {
        0 => "/",
        1 => "//",
        2 => "%2f",
        3 => "%2F",
        4 => "%5c",
        5 => "/./",
        6 => "/zz/../",
        7 => "/zz/..;/",
        8 => "/zz/%2e%2e/",
        9 => "/zz/..%2f",
        10 => "%252f",
        _ => "/zz;q/%2E./",
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn no_spelling_of_an_admin_path_passes_the_deny(
        prefix in prop::sample::select(vec!["", "/public/..", "/public/..;", "/zz/%2e%2e", "/public%2f..", "/public/%252e%252e"]),
        rest in prop::collection::vec(prop::sample::select(vec!["users", "a", "data.json", "x y"]), 0..3),
        hows in prop::collection::vec((0u8..8, 0u8..12), 4),
        host in prop::sample::select(vec!["x.org", "X.org", "x.org.", "x.org:443"]),
    ) {
        let mut path = format!("{prefix}{}{}", separator(hows[0].1 % 2 * 5), spelled("admin", hows[0].0));
        for (i, segment) in rest.iter().enumerate() {
            let (how, sep) = hows[(i + 1) % hows.len()];
            path.push_str(separator(sep));
            path.push_str(&spelled(&segment.replace(' ', "%20"), how));
        }
        let url = format!("https://{host}{path}");
        let decision = decide(&deny_admin(), &url);
        prop_assert!(is_denied_or_invalid(&decision), "{} was {:?}", url, decision);
        let decision = decide(&allow_public(), &url);
        prop_assert!(!matches!(decision, Decision::Allow { .. }), "the allow on /public/** covered {}", url);
    }
}

// ---- the same, through the real guest and a loopback server -------------------

#[test]
fn a_script_cannot_reach_a_denied_path_by_spelling_it_differently() {
    let world = World::new();
    let server = Server::start("127.0.0.1", 0, |seen| {
        Reply::text(200, "text/plain", format!("saw {}", seen.path))
    });
    let port = server.port();
    let policy = format!(
        "version = 1\n[[allow]]\ncall = \"http.*\"\nurl = [\"http://127.0.0.1:{port}/**\"]\n\
         [[deny]]\ncall = \"http.*\"\nurl = [\"http://127.0.0.1:{port}/admin/**\"]\n\
         [net]\nallow-private = [\"{}\"]\n",
        server.addr
    );
    let script = |path: &str| {
        format!(
            "try {{ const r = await http.fetch({{ method: 'GET', url: 'http://127.0.0.1:{port}{path}', headers: [], body: null, bearerSecret: null }}); return {{ status: r.status, body: r.body }}; }} \
             catch (e) {{ return {{ code: e.code }}; }}"
        )
    };
    for path in [
        "/admin;x/secret",
        "/public/..;/admin/secret",
        "/admin%2fsecret",
        "/ADMIN/secret",
        "/public/%252e%252e/admin/secret",
        "/admin%00/secret",
    ] {
        let out = world.ok(&policy, &script(path));
        let code = out["code"].as_str().unwrap_or_default();
        assert!(code == "denied" || code == "invalid", "{path}: {out}");
        let text = world.ok(&policy, &format!("try {{ await http.fetchText('http://127.0.0.1:{port}{path}'); return 'fetched'; }} catch (e) {{ return e.code; }}"));
        assert!(text == "denied" || text == "invalid", "{path}: {text}");
    }
    assert_eq!(server.connections(), 0, "no spelling reached the server");
    let out = world.ok(&policy, &script("/public/a;v=1"));
    assert_eq!(out["body"], "saw /public/a;v=1", "{out}");
}

#[test]
fn a_non_ascii_host_is_invalid_for_scripts() {
    let world = World::new();
    let policy = "version = 1\n[[allow]]\ncall = \"http.*\"\nurl = [\"https://*/**\"]\n";
    let out = world.ok(
        policy,
        "try { await http.fetch({ method: 'GET', url: 'https://m\u{fc}nchen.de/', headers: [], body: null, bearerSecret: null }); return 'sent'; } catch (e) { return e.code; }",
    );
    assert_eq!(out, "invalid");
    assert_eq!(world.resolver.lookups(), 0);
}

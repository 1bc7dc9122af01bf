//! The http tool through the real guest and gate: loopback servers, a resolver
//! the test controls, and the SSRF rules judging what it answers.

mod common;

use common::http_server::{Reply, Server};
use common::world::World;
use serde_json::json;

/// Any http URL may be fetched by policy; the address rules are what is tested.
fn policy_allowing(private: &[String]) -> String {
    let list = private
        .iter()
        .map(|a| format!("\"{a}\""))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "version = 1\n[[allow]]\ncall = \"http.*\"\nurl = [\"http://*:*/**\", \"https://*:*/**\"]\nsecrets = [\"api_token\"]\n[[allow]]\ncall = \"log.write\"\n[net]\nallow-private = [{list}]\n"
    )
}

/// A script that fetches `url` and returns the outcome as `{ok}` or `{code, rule, message}`.
fn fetch_script(url: &str, extra: &str) -> String {
    format!(
        r#"try {{
            const r = await http.fetch({{ method: 'GET', url: {url:?}, headers: [], body: null, bearerSecret: null, {extra} }});
            return {{ ok: r }};
        }} catch (e) {{ return {{ code: e.code, rule: e.rule ?? null, message: e.message }}; }}"#
    )
}

fn hello_server() -> Server {
    Server::start("127.0.0.1", 0, |seen| {
        if seen.path == "/redirect" {
            return Reply::Respond {
                status: 302,
                headers: vec![("location".into(), "http://169.254.169.254/latest/".into())],
                body: Vec::new(),
            };
        }
        Reply::text(200, "text/plain", format!("hello {}", seen.path))
    })
}

#[test]
fn an_allowed_private_address_is_reached_with_host_kept() {
    let world = World::new();
    let server = hello_server();
    world.resolver.answer("api.example.com", &["127.0.0.1"]);
    let url = format!("http://api.example.com:{}/v1/items", server.port());
    let out = world.ok(
        &policy_allowing(&[server.addr.to_string()]),
        &fetch_script(&url, ""),
    );
    assert_eq!(out["ok"]["status"], 200, "{out}");
    assert_eq!(out["ok"]["body"], "hello /v1/items");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].header("host"),
        Some(format!("api.example.com:{}", server.port()).as_str()),
        "the Host header is the name from the URL, not the address"
    );
    assert_eq!(world.resolver.lookups(), 1, "one lookup per request");
}

#[test]
fn every_blocked_address_class_is_denied_without_a_connection() {
    let world = World::new();
    let server = hello_server();
    let port = server.port();
    let cases = [
        ("127.0.0.1", "loopback"),
        ("127.9.9.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "cloud-metadata"),
        ("168.63.129.16", "cloud-metadata"),
        ("100.64.0.1", "shared-cgnat"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("192.0.2.10", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fc00::1", "private"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "cloud-metadata"),
        ("::127.0.0.1", "loopback"),
        ("64:ff9b::a00:1", "private"),
        ("2002:7f00:1::", "loopback"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback"),
        ("fd00:ec2::254", "cloud-metadata"),
    ];
    for (i, (address, class)) in cases.iter().enumerate() {
        let name = format!("host{i}.example.com");
        world.resolver.answer(&name, &[address]);
        let out = world.ok(
            &policy_allowing(&[]),
            &fetch_script(&format!("http://{name}:{port}/"), ""),
        );
        assert_eq!(out["code"], "denied", "{address}: {out}");
        assert_eq!(out["rule"], format!("ssrf:{class}"), "{address}: {out}");
        assert!(
            out["message"]
                .as_str()
                .unwrap_or_default()
                .contains("allow-private"),
            "the message says how to allow it: {out}"
        );
    }
    assert_eq!(
        server.connections(),
        0,
        "no connection was made to any of them"
    );
}

#[test]
fn numeric_host_spellings_are_judged_as_the_address_they_mean() {
    let world = World::new();
    let server = hello_server();
    let port = server.port();
    for host in [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "0177.0.0.1",
        "127.1",
        "[::1]",
        "[::ffff:7f00:1]",
        "[::ffff:127.0.0.1]",
        "LOCALHOST.",
    ] {
        world.resolver.answer("localhost", &["127.0.0.1"]);
        let out = world.ok(
            &policy_allowing(&[]),
            &fetch_script(&format!("http://{host}:{port}/"), ""),
        );
        assert_eq!(out["code"], "denied", "{host}: {out}");
        assert_eq!(out["rule"], "ssrf:loopback", "{host}: {out}");
    }
    assert_eq!(server.connections(), 0);
}

#[test]
fn malformed_urls_are_refused_before_any_lookup() {
    let world = World::new();
    let server = hello_server();
    let port = server.port();
    world.resolver.answer("api.example.com", &["127.0.0.1"]);
    for url in [
        format!("http://user:pass@api.example.com:{port}/"),
        format!("http://@api.example.com:{port}/"),
        format!("http://api.example.com:{port}\\@evil.com/"),
        format!("http://api.exa mple.com:{port}/"),
        format!("http://api.example.com:{port}/\ta"),
        format!("http://ex\u{0430}mple.com:{port}/"),
        format!("http://api%2eexample.com:{port}/"),
        format!("ftp://api.example.com:{port}/"),
        format!("http:api.example.com:{port}/"),
    ] {
        let out = world.ok(
            &policy_allowing(&[server.addr.to_string()]),
            &fetch_script(&url, ""),
        );
        assert_eq!(out["code"], "invalid", "{url:?}: {out}");
    }
    assert_eq!(world.resolver.lookups(), 0, "nothing was looked up");
    assert_eq!(server.connections(), 0);
}

#[test]
fn rebinding_cannot_reach_the_private_address() {
    let world = World::new();
    // 127.0.0.1 plays the private target; 127.0.0.2, listed in allow-private,
    // plays the "public" first answer, so no test leaves the machine.
    let private = hello_server();
    let public = Server::start("127.0.0.2", private.port(), |_| {
        Reply::text(200, "text/plain", "public")
    });
    let policy = policy_allowing(&[public.addr.to_string()]);
    world.resolver.answer("rebind.example.com", &["127.0.0.2"]);
    world.resolver.answer("rebind.example.com", &["127.0.0.1"]);
    let url = format!("http://rebind.example.com:{}/", private.port());

    let first = world.ok(&policy, &fetch_script(&url, ""));
    assert_eq!(first["ok"]["body"], "public", "{first}");
    assert_eq!(
        world.resolver.lookups(),
        1,
        "the client did not look up again"
    );
    let second = world.ok(&policy, &fetch_script(&url, ""));
    assert_eq!(second["rule"], "ssrf:loopback", "{second}");
    assert_eq!(
        private.connections(),
        0,
        "the private address was never reached"
    );

    // A mixed answer (one allowed, one not) is refused whole.
    world
        .resolver
        .answer("mixed.example.com", &["127.0.0.2", "127.0.0.1"]);
    let mixed = world.ok(
        &policy,
        &fetch_script(&format!("http://mixed.example.com:{}/", private.port()), ""),
    );
    assert_eq!(mixed["rule"], "ssrf:loopback", "{mixed}");
    assert_eq!(public.connections(), 1, "only the first request connected");
    assert_eq!(private.connections(), 0);
}

#[test]
fn redirects_come_back_to_the_script_unfollowed() {
    let world = World::new();
    let server = hello_server();
    let url = format!("http://127.0.0.1:{}/redirect", server.port());
    let out = world.ok(
        &policy_allowing(&[server.addr.to_string()]),
        &fetch_script(&url, ""),
    );
    assert_eq!(out["ok"]["status"], 302, "{out}");
    let location = out["ok"]["headers"]
        .as_array()
        .and_then(|hs| hs.iter().find(|h| h["name"] == "location"))
        .map(|h| h["value"].clone());
    assert_eq!(location, Some(json!("http://169.254.169.254/latest/")));
    assert_eq!(server.seen().len(), 1, "the redirect was not followed");
}

#[test]
fn forbidden_headers_and_header_injection_are_refused_before_connecting() {
    let world = World::new();
    let server = hello_server();
    let url = format!("http://127.0.0.1:{}/", server.port());
    let policy = policy_allowing(&[server.addr.to_string()]);
    for header in [
        "{ name: 'Host', value: 'internal.example' }",
        "{ name: 'Transfer-Encoding', value: 'chunked' }",
        "{ name: 'Connection', value: 'keep-alive, x' }",
        "{ name: 'Proxy-Authorization', value: 'Basic eA==' }",
        "{ name: 'Content-Length', value: '5' }",
        "{ name: 'X-Ok', value: 'a\\r\\nX-Evil: 1' }",
        "{ name: 'X-Ok', value: 'a\\nb' }",
        "{ name: 'Bad Name', value: 'x' }",
    ] {
        let out = world.ok(
            &policy,
            &fetch_script(&url, "").replace("headers: []", &format!("headers: [{header}]")),
        );
        assert_eq!(out["code"], "invalid", "{header}: {out}");
    }
    assert_eq!(server.connections(), 0);
}

#[test]
fn a_secret_is_injected_for_the_listed_rule_and_never_seen_by_the_script() {
    const CANARY: &str = "sk-canary-7d1f0c2e9b";
    let world = World::new();
    world.secrets.set("api_token", CANARY).expect("set");
    // The server echoes the Authorization header back, in the body and a header.
    let server = Server::start("127.0.0.1", 0, |seen| {
        let auth = seen.header("authorization").unwrap_or("none").to_owned();
        Reply::Respond {
            status: 200,
            headers: vec![("x-echo".into(), auth.clone())],
            body: format!("you sent {auth}").into_bytes(),
        }
    });
    let url = format!("http://127.0.0.1:{}/me", server.port());
    let policy = policy_allowing(&[server.addr.to_string()]);
    let outcome = world.run(
        &policy,
        &format!(
            r#"const r = await http.fetch({{ method: 'GET', url: {url:?}, headers: [], body: null, bearerSecret: 'api_token' }});
            console.log(r.body);
            log.writeSync('info', JSON.stringify(r.headers));
            if (r.body.includes('sk-')) return 'leaked';
            throw new Error('the body was ' + r.body);"#
        ),
    );
    assert_eq!(
        server.seen()[0].header("authorization"),
        Some(format!("Bearer {CANARY}").as_str()),
        "the host injected the value on the wire"
    );
    let error = outcome.result.expect_err("the script throws");
    let error = error.to_string();
    assert!(error.contains("[REDACTED]"), "{error}");
    assert!(!error.contains(CANARY), "{error}");
    assert!(!outcome.console.text().contains(CANARY));

    // A secret the allowing rule does not list is refused by the gate.
    let out = world.ok(
        &policy.replace("secrets = [\"api_token\"]", "secrets = [\"unrelated\"]"),
        &fetch_script(&url, "bearerSecret: 'api_token'").replace("bearerSecret: null, ", ""),
    );
    assert_eq!(out["code"], "denied", "{out}");
    // And a listed one that is not set is `not-found`.
    let out = world.ok(
        &policy.replace("\"api_token\"", "\"other\""),
        &fetch_script(&url, "bearerSecret: 'other'").replace("bearerSecret: null, ", ""),
    );
    assert_eq!(out["code"], "not-found", "{out}");

    // Nothing the host wrote down holds the value.
    for entry in walk(world.dir.path()) {
        if entry.ends_with("secrets.json") {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap_or_default();
        assert!(
            !bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes()),
            "{} holds the secret",
            entry.display()
        );
    }
}

#[test]
fn response_size_and_time_are_capped() {
    let world = World::new();
    let server = Server::start("127.0.0.1", 0, |seen| match seen.path.as_str() {
        "/big" => Reply::text(200, "text/plain", vec![b'x'; 2 * 1024 * 1024]),
        _ => Reply::Hang,
    });
    let policy = policy_allowing(&[server.addr.to_string()]);
    let big = world.ok(
        &policy,
        &fetch_script(&format!("http://127.0.0.1:{}/big", server.port()), ""),
    );
    assert_eq!(big["code"], "limit", "{big}");
    let started = std::time::Instant::now();
    let slow = world.ok(
        &policy,
        &fetch_script(&format!("http://127.0.0.1:{}/hang", server.port()), ""),
    );
    assert_eq!(slow["code"], "limit", "{slow}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn fetch_text_turns_html_into_readable_text() {
    let world = World::new();
    let server = Server::start("127.0.0.1", 0, |_| {
        Reply::text(
            200,
            "text/html; charset=utf-8",
            "<html><head><title>T</title><script>var x=1;</script></head><body><h1>Prices</h1><p>Bitcoin is <b>up</b>.</p></body></html>",
        )
    });
    let out = world.ok(
        &policy_allowing(&[server.addr.to_string()]),
        &format!(
            "return await http.fetchText('http://127.0.0.1:{}/')",
            server.port()
        ),
    );
    let text = out.as_str().expect("text");
    assert!(
        text.contains("Prices") && text.contains("Bitcoin is"),
        "{text}"
    );
    assert!(!text.contains("<p>") && !text.contains("var x"), "{text}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn tls_certificates_are_always_verified() {
    use std::sync::Arc;
    let certified =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .expect("certificate");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(
        vec![certified.cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into()),
    )
    .expect("server config");
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let requests = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    {
        let requests = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let connection = rustls::ServerConnection::new(Arc::clone(&config)).expect("tls");
                let mut tls = rustls::StreamOwned::new(connection, stream);
                let mut buffer = [0u8; 1024];
                // The handshake fails on the client's side; a request never arrives.
                if std::io::Read::read(&mut tls, &mut buffer).unwrap_or(0) > 0 {
                    requests.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            }
        });
    }
    let world = World::new();
    world.resolver.answer("localhost", &["127.0.0.1"]);
    let out = world.ok(
        &policy_allowing(&[addr.to_string()]),
        &fetch_script(&format!("https://localhost:{}/", addr.port()), ""),
    );
    assert_eq!(out["code"], "failed", "{out}");
    let message = out["message"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(message.contains("certificate"), "{message}");
    assert_eq!(requests.load(std::sync::atomic::Ordering::SeqCst), 0);
}

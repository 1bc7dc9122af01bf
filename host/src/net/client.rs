//! The one way out: every HTTP client clambot makes is built here.
//!
//! The http host interface, the model providers, the Telegram gateway and
//! onboard's probe all get their client from [`build`], so what holds for one
//! holds for all:
//! - **No redirect is followed.** A 3xx is an answer; a caller that wants to go
//!   on decides itself (the http tool hands it to the script, whose next call is
//!   judged again; the others report it). A redirect followed inside the client
//!   would carry a request, and its credentials, somewhere nobody checked.
//! - **No proxy from the environment.** `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`
//!   (either case) are ignored: a variable in the environment must not route the
//!   host's traffic, bot token and API keys included, through another machine.
//! - **No `Referer`**, and one `User-Agent`.
//! - **Bodies are read with a cap** ([`read_body`]): past it the read stops with
//!   [`BodyError::TooLarge`], a declared `Content-Length` over it before any byte.
//! - **Error text carries no secret** ([`describe`]): the request URL (whose
//!   path may hold a token, as the Bot API's does) is left out, and the
//!   caller's secrets are replaced.
//!
//! What it does not do: judge addresses (that is [`super::address`], applied by
//! the http tool to what it pins with [`Lookup::Pinned`]) or decide what may be
//! fetched (the gate). `clippy.toml` forbids building a reqwest client anywhere
//! else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("clambot/", env!("CARGO_PKG_VERSION"));

/// How names are turned into addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Lookup {
    /// The system resolver (providers, Telegram, the probe: configured hosts).
    #[default]
    System,
    /// Only `name` (when given) is reachable, at exactly `addresses`; every
    /// other lookup fails. The http tool pins what it has judged, so there is
    /// no second lookup to rebind.
    Pinned {
        name: Option<String>,
        addresses: Vec<SocketAddr>,
    },
}

/// What a caller may choose about its client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Resolving plus TCP and TLS set-up.
    pub connect_timeout: Option<Duration>,
    /// The whole request, body included.
    pub timeout: Option<Duration>,
    /// How long an idle connection is kept for reuse.
    pub pool_idle_timeout: Option<Duration>,
    pub lookup: Lookup,
}

/// A client with clambot's rules: no redirects, no proxy, no referer.
pub fn build(options: &ClientOptions) -> Result<reqwest::Client, reqwest::Error> {
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place a reqwest client is built"
    )]
    let mut builder = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .user_agent(USER_AGENT);
    if let Some(timeout) = options.connect_timeout {
        builder = builder.connect_timeout(timeout);
    }
    if let Some(timeout) = options.timeout {
        builder = builder.timeout(timeout);
    }
    if let Some(idle) = options.pool_idle_timeout {
        builder = builder.pool_idle_timeout(idle);
    }
    if let Lookup::Pinned { name, addresses } = &options.lookup {
        builder = builder.dns_resolver(Arc::new(NoLookup));
        if let Some(name) = name {
            builder = builder.resolve_to_addrs(name, addresses);
        }
    }
    builder.build()
}

/// The resolver of a pinned client: every lookup fails, because the only
/// names it may reach are pinned to judged addresses.
#[derive(Debug)]
struct NoLookup;

impl reqwest::dns::Resolve for NoLookup {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            Err(format!("`{name}` was not judged by the http tool; refusing to resolve it").into())
        })
    }
}

/// The client of an MCP server's Streamable HTTP transport (rmcp is built on
/// reqwest 0.13): the same rules as [`build`] — no redirects, no proxy, no
/// referer, one `User-Agent` — and always pinned: only `name` is reachable, at
/// the addresses the caller judged; any other lookup fails. TLS is rustls
/// with the ring provider and the webpki roots, verification always on.
pub fn build_for_mcp(
    name: &str,
    addresses: &[SocketAddr],
    connect_timeout: Duration,
) -> Result<reqwest_mcp::Client, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place an MCP HTTP client is built"
    )]
    let builder = reqwest_mcp::Client::builder();
    builder
        .no_proxy()
        .redirect(reqwest_mcp::redirect::Policy::none())
        .referer(false)
        .user_agent(USER_AGENT)
        .connect_timeout(connect_timeout)
        .tls_backend_preconfigured(tls)
        .dns_resolver(Arc::new(NoLookup))
        .resolve_to_addrs(name, addresses)
        .build()
        .map_err(|e| format!("building the HTTP client: {e}"))
}

impl reqwest_mcp::dns::Resolve for NoLookup {
    fn resolve(&self, name: reqwest_mcp::dns::Name) -> reqwest_mcp::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            Err(
                format!("`{name}` was not judged for this MCP server; refusing to resolve it")
                    .into(),
            )
        })
    }
}

/// Why a body was not read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than the cap (declared or as read).
    TooLarge {
        limit: u64,
    },
    Transport(reqwest::Error),
}

/// Reads `response`'s body, at most `limit` bytes: a larger declared length is
/// refused before reading, and reading stops at the first chunk past the cap.
pub async fn read_body(mut response: reqwest::Response, limit: u64) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error in words fit for a log or a user: its causes ("error
/// sending request: client error (Connect): tcp connect error: Connection
/// refused"), without the request URL (a path or query can hold a token; any
/// other mention of it is cut to its origin), and every one of `secrets`
/// replaced by `[REDACTED]`.
pub fn describe(error: &reqwest::Error, secrets: &[&str]) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if let Some(url) = error.url() {
        // The caller knows which endpoint it called; any other mention of the
        // URL keeps only its origin.
        text = text.replace(&format!(" for url ({url})"), "");
        text = text.replace(url.as_str(), &url.origin().ascii_serialization());
    }
    scrub(&text, secrets)
}

/// `text` with every non-empty one of `secrets` replaced by `[REDACTED]`.
pub fn scrub(text: &str, secrets: &[&str]) -> String {
    let mut text = text.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret, "[REDACTED]");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrub_replaces_every_secret_and_ignores_empty_ones() {
        assert_eq!(
            scrub("bot123:ABC/getMe failed for 123:ABC", &["123:ABC", ""]),
            "bot[REDACTED]/getMe failed for [REDACTED]"
        );
    }
}

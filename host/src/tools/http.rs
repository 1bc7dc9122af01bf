//! `clambot:host/http`: outbound HTTP(S) that cannot be pointed at the host's
//! own network.
//!
//! The gate has judged the URL, method and any secret against policy. This tool
//! then, in order: vets the raw URL (userinfo, backslashes, whitespace, non-ASCII
//! or percent-encoded hosts, schemes other than http/https — refused before any
//! lookup); checks the headers (no Host, hop-by-hop or Proxy-* headers, no CR/LF);
//! resolves the name **once** and judges **every** address (loopback, private,
//! link-local, CGNAT, metadata, … and their IPv6 spellings) — one bad address
//! refuses the request, so a mixed answer cannot be raced; then connects only to
//! the judged addresses: the client is built with those addresses pinned for that
//! name and a resolver that refuses every other lookup, so there is no second
//! lookup to rebind. Host and SNI stay the name from the URL. A private address is
//! reachable only when `[net] allow-private` in the policy lists it with its port.
//!
//! Redirects are never followed: a 3xx comes back to the script as it is, and
//! the script's next call (to the `Location`) is judged by the gate again. Proxy
//! variables are ignored. TLS certificates are always verified (rustls with the
//! Mozilla roots). Caps: response bytes, connect time, time to the response head,
//! total time (never beyond the run's own deadline). A secret named by
//! `bearer-secret` is read from the store only now, after the gate allowed it.
//!
//! `fetch-text` turns HTML into text with [`html_text`]: no tree is built, the
//! work is linear in the page, and it stops with a `limit` error at the run's
//! deadline or when the text would pass the response cap.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value as Json, json};

use crate::gate::{BoxFuture, HostInterface, RunContext, ToolError};
use crate::html_text;
use crate::net::address::{self, Verdict};
use crate::net::client;
use crate::net::url_vet::{Destination, VettedUrl, vet_url};
use crate::net::{Resolver, SystemResolver};
use crate::secrets::SecretStore;

/// Caps on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Largest response body read.
    pub max_response_bytes: u64,
    /// Resolving plus connecting (TCP and TLS).
    pub connect: Duration,
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// The whole request, body included.
    pub total: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_response_bytes: 10 * 1024 * 1024,
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(30),
            total: Duration::from_secs(60),
        }
    }
}

/// Most request headers a script may send, and their total size.
const MAX_HEADERS: usize = 64;
const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Clients kept for connection reuse, keyed by name and judged addresses.
const MAX_CACHED_CLIENTS: usize = 64;

/// Request headers a script may not set: the host decides these, and a script
/// that could would smuggle requests (Host, Transfer-Encoding), talk to a proxy,
/// or break framing.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    "http2-settings",
];

/// The http tool.
#[derive(Debug)]
pub struct Http {
    resolver: Arc<dyn Resolver>,
    limits: HttpLimits,
    secrets: Arc<SecretStore>,
    clients: Mutex<HashMap<ClientKey, reqwest::Client>>,
}

/// A client is only ever reused for the same name pinned to the same addresses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    name: Option<String>,
    addresses: Vec<SocketAddr>,
}

/// A request as the script wrote it, checked.
#[derive(Debug)]
struct Outgoing {
    method: reqwest::Method,
    target: VettedUrl,
    headers: HeaderMap,
    body: Option<String>,
    bearer_secret: Option<String>,
}

impl Http {
    /// With the system resolver and default limits.
    pub fn new(secrets: Arc<SecretStore>) -> Self {
        Self::with(Arc::new(SystemResolver), HttpLimits::default(), secrets)
    }

    /// With a chosen resolver (tests) and limits.
    pub fn with(
        resolver: Arc<dyn Resolver>,
        limits: HttpLimits,
        secrets: Arc<SecretStore>,
    ) -> Self {
        Self {
            resolver,
            limits,
            secrets,
            clients: Mutex::new(HashMap::new()),
        }
    }

    async fn fetch(&self, outgoing: Outgoing, run: &RunContext) -> Result<Json, ToolError> {
        let response = self.send(outgoing, run).await?;
        Ok(json!({
            "status": response.status,
            "headers": response.headers.iter().map(|(n, v)| json!({ "name": n, "value": v })).collect::<Vec<_>>(),
            "body": String::from_utf8_lossy(&response.body),
        }))
    }

    async fn fetch_text(&self, raw_url: &str, run: &RunContext) -> Result<Json, ToolError> {
        let target = vet(raw_url)?;
        let url = target.url.clone();
        let outgoing = Outgoing {
            method: reqwest::Method::GET,
            target,
            headers: HeaderMap::new(),
            body: None,
            bearer_secret: None,
        };
        let response = self.send(outgoing, run).await?;
        if (300..400).contains(&response.status) {
            let location = response
                .header("location")
                .unwrap_or("(no Location header)");
            return Err(ToolError::Failed(format!(
                "{raw_url} redirects ({}) to {location}; fetch that URL instead (it is checked again)",
                response.status
            )));
        }
        if !(200..300).contains(&response.status) {
            return Err(ToolError::Failed(format!(
                "{raw_url} answered HTTP {}",
                response.status
            )));
        }
        let content_type = response
            .header("content-type")
            .unwrap_or("")
            .to_ascii_lowercase();
        if content_type.contains("html") || content_type.is_empty() {
            self.html_to_text(raw_url, url, response.body, run).await
        } else if content_type.starts_with("text/")
            || content_type.contains("json")
            || content_type.contains("xml")
        {
            Ok(Json::String(
                String::from_utf8_lossy(&response.body).into_owned(),
            ))
        } else {
            Err(ToolError::Invalid(format!(
                "{raw_url} is `{content_type}`, not text; use http.fetch"
            )))
        }
    }

    /// Converts a fetched page with [`html_text`]: off the async workers, with
    /// the run's deadline and a text cap of the tool's response limit (the
    /// text is never larger than the body `http.fetch` would have returned).
    async fn html_to_text(
        &self,
        raw_url: &str,
        url: url::Url,
        body: Vec<u8>,
        run: &RunContext,
    ) -> Result<Json, ToolError> {
        let bounds = html_text::Bounds {
            max_output: usize::try_from(self.limits.max_response_bytes).unwrap_or(usize::MAX),
            deadline: Some(run.deadline.at()),
        };
        let converted =
            tokio::task::spawn_blocking(move || html_text::to_text(&body, Some(&url), bounds))
                .await
                .map_err(|e| ToolError::Failed(format!("converting {raw_url} to text: {e}")))?;
        converted
            .map(Json::String)
            .map_err(|stop| ToolError::Limit(format!("{raw_url}: {stop}")))
    }

    async fn send(&self, outgoing: Outgoing, run: &RunContext) -> Result<Received, ToolError> {
        let run_left = run.deadline.remaining();
        let total = self.limits.total.min(run_left);
        let started = tokio::time::Instant::now();
        let port = outgoing.target.port;
        let addresses = self.judged_addresses(&outgoing.target, run).await?;

        let mut headers = outgoing.headers;
        if let Some(name) = &outgoing.bearer_secret {
            let secret = self
                .secrets
                .get(name)
                .map_err(|e| ToolError::Failed(format!("the secrets store: {e:#}")))?
                .ok_or_else(|| {
                    ToolError::NotFound(format!(
                        "no secret is named `{name}`; set it with `clambot secrets set {name}`"
                    ))
                })?;
            // A value too short to redact is never sent (older stores may hold
            // one); one that is sent is known to the run's redactor before any
            // byte of the answer can echo it.
            if secret.expose().len() < crate::gate::redact::MIN_SECRET_LEN {
                return Err(ToolError::Failed(format!(
                    "the secret `{name}` is shorter than {} bytes, so clambot could not keep it out of \
                     results and logs; set a longer value with `clambot secrets set {name}`",
                    crate::gate::redact::MIN_SECRET_LEN
                )));
            }
            run.gate.redactor.register(secret.expose());
            let mut value =
                HeaderValue::from_str(&format!("Bearer {}", secret.expose())).map_err(|_| {
                    ToolError::Failed(format!("the secret `{name}` cannot be sent in a header"))
                })?;
            value.set_sensitive(true);
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }

        let name = match &outgoing.target.destination {
            Destination::Name(name) => Some(name.clone()),
            Destination::Ip(_) => None,
        };
        let client = self.client(ClientKey {
            name,
            addresses: addresses
                .iter()
                .map(|ip| SocketAddr::new(*ip, port))
                .collect(),
        })?;
        let mut request = client
            .request(outgoing.method, outgoing.target.url.clone())
            .headers(headers);
        if let Some(body) = outgoing.body {
            request = request.body(body);
        }
        let head_within = self.limits.first_byte.min(total);
        let response = match tokio::time::timeout(head_within, request.send()).await {
            Err(_) => {
                return Err(ToolError::Limit(format!(
                    "no response from {} within {}",
                    outgoing.target.url,
                    humantime::format_duration(head_within)
                )));
            }
            Ok(Err(e)) => return Err(send_error(&outgoing.target, &e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status().as_u16();
        let response_headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let left = total.saturating_sub(started.elapsed());
        let read = client::read_body(response, self.limits.max_response_bytes);
        let body = match tokio::time::timeout(left, read).await {
            Err(_) => {
                return Err(ToolError::Limit(format!(
                    "{} took longer than {} to answer",
                    outgoing.target.url,
                    humantime::format_duration(total)
                )));
            }
            Ok(Err(client::BodyError::TooLarge { .. })) => {
                return Err(self.too_large(&outgoing.target));
            }
            Ok(Err(client::BodyError::Transport(e))) => {
                return Err(send_error(&outgoing.target, &e));
            }
            Ok(Ok(body)) => body,
        };
        Ok(Received {
            status,
            headers: response_headers,
            body,
        })
    }

    /// Resolves once and judges every address; all must pass.
    async fn judged_addresses(
        &self,
        target: &VettedUrl,
        run: &RunContext,
    ) -> Result<Vec<IpAddr>, ToolError> {
        let addresses = match &target.destination {
            Destination::Ip(ip) => vec![*ip],
            Destination::Name(name) => {
                let lookup = self.resolver.resolve(name, target.port);
                match tokio::time::timeout(self.limits.connect, lookup).await {
                    Err(_) => {
                        return Err(ToolError::Limit(format!(
                            "resolving `{name}` took longer than {}",
                            humantime::format_duration(self.limits.connect)
                        )));
                    }
                    Ok(Err(e)) => {
                        return Err(ToolError::Failed(format!("cannot resolve `{name}`: {e}")));
                    }
                    Ok(Ok(addresses)) if addresses.is_empty() => {
                        return Err(ToolError::Failed(format!("`{name}` has no addresses")));
                    }
                    Ok(Ok(addresses)) => addresses,
                }
            }
        };
        let allowed = &run.gate.policy.net().allow_private;
        for ip in &addresses {
            let socket = SocketAddr::new(ip.to_canonical(), target.port);
            if let Some(verdict) = address::classify(*ip)
                && !allowed
                    .iter()
                    .any(|a| a.ip().to_canonical() == socket.ip() && a.port() == socket.port())
            {
                return Err(blocked(target, *ip, verdict));
            }
        }
        Ok(addresses)
    }

    fn client(&self, key: ClientKey) -> Result<reqwest::Client, ToolError> {
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        // No lookup ever happens inside the client: the judged addresses are
        // pinned, and any other name fails.
        let client = client::build(&client::ClientOptions {
            connect_timeout: Some(self.limits.connect),
            timeout: None,
            pool_idle_timeout: Some(Duration::from_secs(30)),
            lookup: client::Lookup::Pinned {
                name: key.name.clone(),
                addresses: key.addresses.clone(),
            },
        })
        .map_err(|e| ToolError::Failed(format!("building the HTTP client: {e}")))?;
        if clients.len() >= MAX_CACHED_CLIENTS {
            clients.clear();
        }
        clients.insert(key, client.clone());
        Ok(client)
    }

    fn too_large(&self, target: &VettedUrl) -> ToolError {
        ToolError::Limit(format!(
            "the response from {} is larger than {} bytes, the http tool's limit",
            target.url, self.limits.max_response_bytes
        ))
    }
}

/// A response as received.
#[derive(Debug)]
struct Received {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl HostInterface for Http {
    fn call<'a>(
        &'a self,
        function: &'a str,
        args: Json,
        run: &'a RunContext,
    ) -> BoxFuture<'a, Result<Json, ToolError>> {
        Box::pin(async move {
            match function {
                "fetch" => {
                    let outgoing = outgoing(&args["req"])?;
                    self.fetch(outgoing, run).await
                }
                "fetch-text" => self.fetch_text(super::string_arg(&args, "url")?, run).await,
                other => Err(super::unknown_function("http", other)),
            }
        })
    }
}

fn vet(raw: &str) -> Result<VettedUrl, ToolError> {
    vet_url(raw)
        .map_err(|problem| ToolError::Invalid(format!("url ({}): {problem}", problem.code())))
}

/// Checks a request record.
fn outgoing(request: &Json) -> Result<Outgoing, ToolError> {
    let raw_url = super::string_arg(request, "url")?;
    let target = vet(raw_url)?;
    let method = match request["method"].as_str().unwrap_or("") {
        "" => reqwest::Method::GET,
        text => match text.to_ascii_uppercase().as_str() {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "PATCH" => reqwest::Method::PATCH,
            "DELETE" => reqwest::Method::DELETE,
            "HEAD" => reqwest::Method::HEAD,
            "OPTIONS" => reqwest::Method::OPTIONS,
            _ => {
                return Err(ToolError::Invalid(format!(
                    "`{text}` is not a method the http tool sends (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS)"
                )));
            }
        },
    };
    let bearer_secret = request["bearer-secret"].as_str().map(str::to_owned);
    let headers = headers(
        request["headers"].as_array().map_or(&[][..], Vec::as_slice),
        bearer_secret.is_some(),
    )?;
    Ok(Outgoing {
        method,
        target,
        headers,
        body: request["body"].as_str().map(str::to_owned),
        bearer_secret,
    })
}

fn headers(list: &[Json], has_bearer_secret: bool) -> Result<HeaderMap, ToolError> {
    if list.len() > MAX_HEADERS {
        return Err(ToolError::Invalid(format!(
            "{} headers; at most {MAX_HEADERS} may be sent",
            list.len()
        )));
    }
    let mut map = HeaderMap::new();
    let mut bytes = 0;
    for header in list {
        let name = super::string_arg(header, "name")?;
        let value = super::string_arg(header, "value")?;
        bytes += name.len() + value.len();
        let lower = name.to_ascii_lowercase();
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) || lower.starts_with("proxy-") {
            return Err(ToolError::Invalid(format!(
                "the header `{name}` is set by the host, not by scripts"
            )));
        }
        if has_bearer_secret && lower == "authorization" {
            return Err(ToolError::Invalid(
                "`Authorization` and `bearerSecret` both given; use one".into(),
            ));
        }
        if value.contains(['\r', '\n', '\0']) {
            return Err(ToolError::Invalid(format!(
                "the value of `{name}` contains CR, LF or NUL"
            )));
        }
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| ToolError::Invalid(format!("`{name}` is not a valid header name")))?;
        let header_value = HeaderValue::from_str(value).map_err(|_| {
            ToolError::Invalid(format!(
                "the value of `{name}` has characters a header cannot carry"
            ))
        })?;
        map.append(header_name, header_value);
    }
    if bytes > MAX_HEADER_BYTES {
        return Err(ToolError::Invalid(format!(
            "the headers are {bytes} bytes; at most {MAX_HEADER_BYTES} may be sent"
        )));
    }
    Ok(map)
}

/// The denial for an address the tool will not connect to.
fn blocked(target: &VettedUrl, ip: IpAddr, verdict: Verdict) -> ToolError {
    let via = match &target.destination {
        Destination::Name(name) => format!("`{name}` resolves to {ip}"),
        Destination::Ip(_) => format!("{ip}"),
    };
    let embedded = verdict
        .embedded
        .map(|v4| format!(" (it embeds the IPv4 address {v4})"))
        .unwrap_or_default();
    let socket = SocketAddr::new(ip, target.port);
    ToolError::Denied {
        rule: format!("ssrf:{}", verdict.class.code()),
        reason: format!(
            "{via}, which is {}{embedded}; clambot does not connect to it unless policy.toml lists `{socket}` under [net] allow-private",
            verdict.class.describe()
        ),
    }
}

/// Describes a failed request without echoing anything the script did not write.
fn send_error(target: &VettedUrl, error: &reqwest::Error) -> ToolError {
    use std::error::Error as _;
    let mut cause = String::new();
    let mut source = error.source();
    while let Some(s) = source {
        cause = s.to_string();
        source = s.source();
    }
    let what = if error.is_connect() {
        "could not connect"
    } else if error.is_timeout() {
        return ToolError::Limit(format!("{} timed out", target.url));
    } else if error.is_body() || error.is_decode() {
        "the response body failed"
    } else {
        "the request failed"
    };
    ToolError::Failed(format!("{}: {what}: {cause}", target.url))
}

//! The rule clambot suggests after a denied call: built as a typed value,
//! serialised by the TOML serialiser, as narrow as the call, and verified
//! against the real decision function before anyone sees it.
//!
//! Threat model: the denied call's arguments were chosen by the script, so they
//! may be crafted to make the suggestion say more than the call did (a path
//! `a", "**/x` spliced into formatted text becomes a second glob). Here no
//! argument is ever formatted into policy text: it becomes a string field of a
//! typed rule, its glob characters are escaped so they match only themselves,
//! and the TOML serialiser quotes it. The rule names the exact function, caller,
//! method, scheme, host, port and path of the call — nothing wider — and is
//! offered only if, appended to the current policy, the gate then allows exactly
//! that call. When an `[[ask]]` or `[[deny]]` refused the call, an extra allow
//! cannot help, so the advice names that rule instead. What this does not do:
//! guess the owner's intent (a wider rule is theirs to write and to review).

use std::net::{IpAddr, SocketAddr};

use serde::Serialize;
use serde_json::Value as Json;

use super::http::{HttpTarget, Method};
use super::{Call, Caller, Decision, Policy, Usage, fs};

/// One `[[allow]]` rule, as the policy file spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AllowRule {
    pub call: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<String>>,
}

#[derive(Serialize)]
struct Rules<'a> {
    allow: [&'a AllowRule; 1],
}

impl AllowRule {
    /// The rule as policy text (`[[allow]]` and its keys).
    pub fn to_toml(&self) -> String {
        toml::to_string(&Rules { allow: [self] }).unwrap_or_default()
    }
}

/// What to tell the owner about a denied call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advice {
    /// Add this rule (verified: with it the call is allowed); a private address
    /// also needs the `[net] allow-private` entry.
    Add {
        rule: AllowRule,
        allow_private: Option<SocketAddr>,
    },
    /// An `[[ask]]` rule covers the call: a person decides; an allow cannot help.
    Ask { rule: String },
    /// A `[[deny]]` rule refuses the call; an allow cannot help.
    Denied { rule: String },
    /// No rule is suggested, and why.
    Nothing { why: String },
}

impl Advice {
    /// The advice in words, for answers, chat and the terminal.
    pub fn render(&self, policy: &Policy) -> String {
        match self {
            Self::Add {
                rule,
                allow_private,
            } => {
                let mut text = format!(
                    "To allow exactly this call, add to {}:\n\n{}",
                    policy.name(),
                    rule.to_toml()
                );
                if let Some(addr) = allow_private {
                    text.push_str(&format!(
                        "\nand, since {addr} is a private address, list it under [net]:\n\n[net]\nallow-private = [\"{addr}\"]\n"
                    ));
                }
                text
            }
            Self::Ask { rule } => format!(
                "{rule} covers this call, so a person must approve it; adding an [[allow]] cannot help. Run it where someone can answer, or, to allow it unattended, change that [[ask]] rule into an [[allow]] rule."
            ),
            Self::Denied { rule } => format!(
                "{rule} refuses this call, and a deny wins over any allow; change that rule only if the call should be possible."
            ),
            Self::Nothing { why } => format!("No rule is suggested: {why}."),
        }
    }
}

/// The advice for `call` by `caller`, which `policy` refused.
pub fn advise(policy: &Policy, caller: &Caller, call: &Call<'_>) -> Advice {
    // With no rule naming the server, it was not started, so the tool's name is
    // as the script wrote it (perhaps camelCase), not as the server spells it.
    if let Some(server) = call.interface.strip_prefix("mcp.")
        && !policy.may_let_through(call.interface)
    {
        return Advice::Nothing {
            why: format!(
                "no rule names a tool of {}; add an [[allow]] or [[ask]] rule for `mcp.{server}.TOOL` with the tool as the server spells it (`clambot mcp inspect {server}` lists them)",
                call.interface
            ),
        };
    }
    match policy.decide_for(caller, call, &mut Usage::default()) {
        Decision::Ask { rule, .. } => return Advice::Ask { rule },
        Decision::Deny { rule, .. } if rule != super::DEFAULT_DENY_RULE => {
            return Advice::Denied { rule };
        }
        Decision::Invalid { reason } => {
            return Advice::Nothing {
                why: format!("the call itself is invalid ({})", super::escape(&reason)),
            };
        }
        Decision::Limit { rule, .. } => {
            return Advice::Nothing {
                why: format!(
                    "{} allows the call, but a per-run budget ran out; raise it only if the script needs more calls",
                    super::escape(&rule)
                ),
            };
        }
        Decision::Allow { .. } => {
            return Advice::Nothing {
                why: "the policy allows this call now".into(),
            };
        }
        Decision::Deny { .. } => {}
    }
    let (rule, allow_private) = match build(caller, call) {
        Ok(built) => built,
        Err(why) => return Advice::Nothing { why },
    };
    // Verified: appended to the policy as it is, the rule allows this call.
    let text = if policy.source().is_empty() {
        format!("version = {}\n\n{}", super::VERSION, rule.to_toml())
    } else {
        format!("{}\n\n{}", policy.source(), rule.to_toml())
    };
    let verified = Policy::parse(policy.name(), &text).map(|p| {
        matches!(
            p.decide_for(caller, call, &mut Usage::default()),
            Decision::Allow { .. }
        )
    });
    match verified {
        Ok(true) => Advice::Add {
            rule,
            allow_private,
        },
        Ok(false) => Advice::Nothing {
            why: "no rule for exactly this call would allow it".into(),
        },
        Err(e) => Advice::Nothing {
            why: format!(
                "a rule for exactly this call does not load ({})",
                super::escape(&e.to_string())
            ),
        },
    }
}

/// Escapes a literal so a glob matches exactly it: each glob character in
/// a one-character class (`*` → `[*]`).
fn glob_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '*' | '?' | '[' | ']' | '{' | '}' => {
                out.push('[');
                out.push(c);
                out.push(']');
            }
            _ => out.push(c),
        }
    }
    out
}

/// The narrowest rule for the call, and the private address it needs.
fn build(caller: &Caller, call: &Call<'_>) -> Result<(AllowRule, Option<SocketAddr>), String> {
    let mut rule = AllowRule {
        call: call.name(),
        caller: match caller {
            Caller::Script => None,
            Caller::Tool(_) => Some(caller.to_string()),
        },
        url: None,
        method: None,
        path: None,
        secrets: None,
    };
    let mut private = None;
    match call.interface {
        "http" => {
            let request = call.args.get("req");
            let raw = request
                .and_then(|r| r.get("url"))
                .or_else(|| call.args.get("url"))
                .and_then(Json::as_str)
                .ok_or("the call has no URL")?;
            let (url, scheme, host, port, path) = HttpTarget::parse(raw)?;
            let scheme = match scheme {
                super::http::Scheme::Http => "http",
                super::http::Scheme::Https => "https",
            };
            // Always an explicit port: the pattern then says exactly which.
            let host_text = match url.host() {
                Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
                _ => host.clone(),
            };
            if host_text.is_empty() {
                return Err("the URL has no host".into());
            }
            rule.url = Some(vec![format!(
                "{scheme}://{host_text}:{port}{}",
                glob_literal(path.primary())
            )]);
            if call.function == "fetch" {
                let method = request
                    .and_then(|r| r.get("method"))
                    .and_then(Json::as_str)
                    .map_or(Some(Method::Get), Method::parse)
                    .ok_or("the method is not one clambot knows")?;
                rule.method = Some(vec![method.as_str().to_owned()]);
                if let Some(secret) = request
                    .and_then(|r| r.get("bearer-secret"))
                    .and_then(Json::as_str)
                {
                    rule.secrets = Some(vec![secret.to_owned()]);
                }
            }
            let ip = match url.host() {
                Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
                Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
                _ => None,
            };
            if let Some(ip) = ip
                && crate::net::address::classify(ip).is_some()
            {
                private = Some(SocketAddr::new(ip, port));
            }
        }
        "fs" => {
            let mut paths = Vec::new();
            for name in fs::PATH_ARGUMENTS {
                if let Some(raw) = call.args.get(*name).and_then(Json::as_str) {
                    let path = fs::WorkspacePath::normalise(raw)?;
                    if path.as_str() == "." {
                        return Err("the call names the whole workspace".into());
                    }
                    let glob = glob_literal(path.as_str());
                    if !paths.contains(&glob) {
                        paths.push(glob);
                    }
                }
            }
            if paths.is_empty() {
                return Err("the call names no path".into());
            }
            rule.path = Some(paths);
        }
        _ => {}
    }
    Ok((rule, private))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_match_only_themselves() {
        assert_eq!(glob_literal("a*b?[c]{d,e}"), "a[*]b[?][[]c[]][{]d,e[}]");
    }
}

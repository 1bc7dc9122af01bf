//! `scaffold-check`: what `clambot tools new` promises, checked end to end for
//! each language. Scaffold with the real binary, build with [`crate::tools`],
//! pin it in a policy, then load it and call it from a script through the gate,
//! once allowed, once failing with the tool's own error, and once denied.

use std::path::Path;
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

/// Runs `clambot ARGS` (built by cargo) with `home` as its home.
fn clambot(root: &Path, home: &Path, args: &[&str]) -> Result<Output> {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["run", "--quiet", "-p", "clambot", "--"])
        .args(args)
        .current_dir(root)
        .env("CLAMBOT_HOME", home)
        .env_remove("CLAMBOT_POLICY")
        .output()
        .context("running clambot")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn run(root: &Path) -> Result<()> {
    let scratch = root.join("target/scaffold-check");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("clearing {}", scratch.display()))?;
    }
    for lang in ["rust", "js", "python"] {
        let name = format!("hello-{lang}");
        let project = scratch.join(lang);
        let home = project.join("home");
        let dir = project.join("tools").join(&name);
        let dir_text = dir.display().to_string();

        let made = clambot(
            root,
            &home,
            &["tools", "new", &name, "--lang", lang, "--dir", &dir_text],
        )?;
        if !made.status.success() {
            bail!("clambot tools new {name} failed: {}", text(&made.stderr));
        }
        let (dist, component) = crate::tools::build_tool(root, &dir)?;
        std::fs::write(&dist, &component)?;

        let policy = project.join("policy.toml");
        std::fs::write(
            &policy,
            format!(
                "version = 1\n[tools.{name}]\nsha256 = \"{}\"\n\n[[allow]]\ncall = \"tools.{name}.hello\"\n",
                crate::sha256(&component)
            ),
        )?;
        let policy_text = policy.display().to_string();
        let inspected = clambot(
            root,
            &home,
            &["tools", "inspect", &name, "--policy", &policy_text],
        )?;
        let signatures = text(&inspected.stdout);
        if !inspected.status.success() || !signatures.contains("hello(name: string)") {
            bail!(
                "clambot tools inspect {name} did not show `hello(name: string)`:\n{signatures}{}",
                text(&inspected.stderr)
            );
        }

        let script = project.join("call.js");
        std::fs::write(
            &script,
            format!(
                r#"const fails = async (f) => {{ try {{ return await f(); }} catch (e) {{ return `${{e.code}}: ${{e.message}}`; }} }};
return [await fails(() => tools["{name}"].hello("clambot")), await fails(() => tools["{name}"].hello(" "))];"#
            ),
        )?;
        let script_text = script.display().to_string();
        let call = |policy: &str| -> Result<serde_json::Value> {
            let ran = clambot(
                root,
                &home,
                &["run", "--non-interactive", "--policy", policy, &script_text],
            )?;
            serde_json::from_slice(&ran.stdout).with_context(|| {
                format!(
                    "the script calling {name} printed no JSON: {}{}",
                    text(&ran.stdout),
                    text(&ran.stderr)
                )
            })
        };
        let allowed = call(&policy_text)?;
        let expected = serde_json::json!([
            "Hello, clambot!",
            format!("failed: tools.{name}.hello: the name is empty"),
        ]);
        if allowed != expected {
            bail!("{name}: expected {expected}, got {allowed}");
        }
        // The same component with no rule for it: both calls denied.
        let unruled = project.join("deny.toml");
        std::fs::write(
            &unruled,
            format!(
                "version = 1\n[tools.{name}]\nsha256 = \"{}\"\n",
                crate::sha256(&component)
            ),
        )?;
        let denied = call(&unruled.display().to_string())?;
        if !denied[0]
            .as_str()
            .unwrap_or_default()
            .starts_with("denied: ")
        {
            bail!("{name}: expected a denial without a rule, got {denied}");
        }
        let result = serde_json::json!({"allowed": allowed, "without a rule": denied[0]});
        println!(
            "{lang}: scaffolded, built ({} bytes), loaded and called: {result}",
            component.len()
        );
    }
    Ok(())
}

//! The third-party Bot API emulator (npm `telegram-test-api`, installed into
//! `tests/telegram-emulator/` by `.ci/run`), run as a child process on
//! 127.0.0.1, and driven through its client API: people send messages and
//! press buttons; the test reads what the bot sent, as the emulator stored it
//! (edits applied, deleted messages gone).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::fault_proxy::post_json;

pub struct Emulator {
    pub addr: SocketAddr,
    child: Child,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// Starts the emulator; fails with how to install it if it is missing.
    pub fn start() -> Self {
        let dir = super::repo_root().join("tests/telegram-emulator");
        assert!(
            dir.join("node_modules/telegram-test-api").is_dir(),
            "the Bot API emulator is not installed in {}: run `scripts/install-test-deps.sh` \
             (the README's set-up line; .ci/run does)",
            dir.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new("node")
            .arg("serve.js")
            .arg(port.to_string())
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs (Node.js is needed for the emulator tests)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the emulator starts");
        assert_eq!(line.trim(), "ready", "the emulator did not start");
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
        }
    }

    /// A person sends `text` to the bot, in their private chat.
    pub fn message(&self, token: &str, user: i64, username: &str, text: &str) {
        post_json(
            self.addr,
            "/sendMessage",
            &json!({
                "botToken": token,
                "date": 0,
                "from": {"id": user, "is_bot": false, "first_name": username, "username": username},
                "chat": {"id": user, "type": "private", "first_name": username},
                "text": text,
            }),
        );
    }

    /// Everything stored for the bot: the bot's messages as they stand now
    /// (`message.chat_id` set) and the people's messages.
    fn history(&self, token: &str) -> Vec<Value> {
        post_json(self.addr, "/getUpdatesHistory", &json!({"token": token}))["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// What the bot sent to `chat` and has not deleted, as bodies of its sendMessage calls.
    pub fn bot_messages(&self, token: &str, chat: i64) -> Vec<Value> {
        self.history(token)
            .into_iter()
            .filter(|u| u["message"]["chat_id"].to_string().trim_matches('"') == chat.to_string())
            .map(|u| u["message"].clone())
            .collect()
    }

    /// Their texts.
    pub fn bot_texts(&self, token: &str, chat: i64) -> Vec<String> {
        self.bot_messages(token, chat)
            .iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

//! What the agent carries between turns: the session (compacted when it grows
//! past its budget, with a model-written summary) and durable facts about the
//! user (extracted after each answer, in the background).

use std::sync::Arc;

use anyhow::Result;

use super::Agent;
use super::parse;
use super::prompt::{self, estimate_tokens};
use super::provider::{CompletionRequest, Message, Provider};
use crate::store::memory::Memory;
use crate::store::sessions::SessionContext;

/// Facts put in a prompt, at most (the budget trims further).
const MAX_PROMPT_FACTS: u32 = 50;
/// Exchanges shorter than this have no facts worth a model call.
const MIN_EXCHANGE_CHARS: usize = 20;

impl Agent {
    /// Remembered facts for a prompt: those matching the message first, then the
    /// newest, without repeats.
    pub(super) fn facts_for(&self, message: &str) -> Result<Vec<String>> {
        let mut facts: Vec<String> = self
            .memory
            .recall(message, MAX_PROMPT_FACTS)?
            .into_iter()
            .map(|f| f.text)
            .collect();
        let mut all = self.memory.all_facts()?;
        all.reverse();
        for fact in all {
            if facts.len() >= MAX_PROMPT_FACTS as usize {
                break;
            }
            if !facts.contains(&fact.text) {
                facts.push(fact.text);
            }
        }
        Ok(facts)
    }

    /// The session's messages for a model, compacting first if over budget.
    pub(super) async fn session_messages(&self, session: &str) -> Result<Vec<Message>> {
        let mut context = self.sessions.context(session)?;
        if needs_compaction(&context, &self.settings) {
            self.compact(session, &context).await?;
            context = self.sessions.context(session)?;
        }
        let mut messages = Vec::new();
        if let Some(summary) = &context.summary {
            messages.push(Message::user(format!(
                "(Summary of our earlier conversation)\n{summary}"
            )));
            messages.push(Message::assistant("Understood."));
        }
        for turn in context.turns {
            messages.push(match turn.role.as_str() {
                "assistant" => Message::assistant(turn.text),
                _ => Message::user(turn.text),
            });
        }
        Ok(messages)
    }

    /// Summarises all but the most recent turns.
    async fn compact(&self, session: &str, context: &SessionContext) -> Result<()> {
        let keep = self.settings.keep_recent_turns.min(context.turns.len());
        let upto = context.turns.len() - keep;
        if upto == 0 {
            return Ok(());
        }
        let request = CompletionRequest {
            messages: vec![Message::user(prompt::compaction_request(
                context.summary.as_deref(),
                context,
                upto,
            ))],
            max_tokens: 600,
            temperature: Some(0.0),
            json: false,
        };
        let summary = self.provider.complete(&request).await?.text;
        let through = context.turns[upto - 1].id;
        self.sessions.compact(session, summary.trim(), through)
    }

    /// Starts fact extraction for one exchange; the reply does not wait for it.
    pub(super) fn extract_facts_later(&self, user: &str, assistant: &str) {
        if !self.settings.remember_facts || user.len() + assistant.len() < MIN_EXCHANGE_CHARS {
            return;
        }
        let provider = Arc::clone(&self.provider);
        let memory = self.memory.clone();
        let (user, assistant) = (user.to_owned(), assistant.to_owned());
        self.background.spawn(async move {
            // A failure here costs only a fact; the answer was already given.
            let _ = extract_facts(provider.as_ref(), &memory, &user, &assistant).await;
        });
    }
}

fn needs_compaction(context: &SessionContext, settings: &super::AgentSettings) -> bool {
    let tokens: usize = context
        .turns
        .iter()
        .map(|t| estimate_tokens(&t.text))
        .sum::<usize>()
        + context.summary.as_deref().map_or(0, estimate_tokens);
    tokens > settings.session_budget_tokens && context.turns.len() > settings.keep_recent_turns
}

/// Asks the model for new durable facts in one exchange and remembers them.
pub async fn extract_facts(
    provider: &dyn Provider,
    memory: &Memory,
    user: &str,
    assistant: &str,
) -> Result<Vec<String>> {
    let known: Vec<String> = memory.all_facts()?.into_iter().map(|f| f.text).collect();
    let request = CompletionRequest {
        messages: vec![Message::user(prompt::facts_request(
            user, assistant, &known,
        ))],
        max_tokens: 512,
        temperature: Some(0.0),
        json: true,
    };
    let answer = provider.complete(&request).await?;
    let facts = parse::facts(&answer.text)?;
    let mut added = Vec::new();
    for fact in facts {
        if !known.contains(&fact) {
            memory.remember(&fact)?;
            added.push(fact);
        }
    }
    Ok(added)
}

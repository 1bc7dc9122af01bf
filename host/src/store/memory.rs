//! Memory: durable facts the agent remembers, and the conversation history, both
//! searchable with SQLite's FTS5 (ranked by BM25, newest first among equals).
//!
//! A search query is never handed to FTS5 as syntax: it is split into words and
//! each word is quoted, so `"`, `*`, `NEAR` or `-` in what a script or a person
//! typed cannot make a query error or change its meaning.

use std::sync::Arc;

use anyhow::{Result, bail};
use rusqlite::{OptionalExtension, params};

use super::{Store, now_ms};

/// Longest fact, in characters.
pub const MAX_FACT_CHARS: usize = 2_000;
/// Most results one search returns.
pub const MAX_RESULTS: u32 = 100;
/// Results when the caller asks for 0.
pub const DEFAULT_RESULTS: u32 = 10;

/// A remembered fact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    pub id: String,
    pub text: String,
    pub created_ms: u64,
}

/// Who said something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One message of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub session: String,
    pub role: String,
    pub text: String,
    pub created_ms: u64,
}

/// Facts and history over the state database.
#[derive(Debug, Clone)]
pub struct Memory {
    store: Arc<Store>,
}

impl Memory {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Stores a fact and returns it; remembering the same text twice returns the
    /// fact already stored.
    pub fn remember(&self, text: &str) -> Result<Fact> {
        let text = text.trim();
        if text.is_empty() {
            bail!("a fact cannot be empty");
        }
        let chars = text.chars().count();
        if chars > MAX_FACT_CHARS {
            bail!("a fact may be at most {MAX_FACT_CHARS} characters; this one has {chars}");
        }
        let fresh = Fact {
            id: format!("fact-{}", uuid::Uuid::now_v7().simple()),
            text: text.to_owned(),
            created_ms: now_ms(),
        };
        self.store.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let existing = tx
                .query_row(
                    "SELECT id, text, created_ms FROM facts WHERE text = ?1",
                    [text],
                    fact_from_row,
                )
                .optional()?;
            let fact = match existing {
                Some(fact) => fact,
                None => {
                    tx.execute(
                        "INSERT INTO facts (id, text, created_ms) VALUES (?1, ?2, ?3)",
                        params![fresh.id, fresh.text, fresh.created_ms],
                    )?;
                    fresh
                }
            };
            tx.commit()?;
            Ok(fact)
        })
    }

    /// Facts matching `query` (best first), or all facts newest first when the
    /// query is blank.
    pub fn recall(&self, query: &str, limit: u32) -> Result<Vec<Fact>> {
        let limit = clamp_limit(limit);
        self.store.with(|c| match match_expression(query) {
            None if query.trim().is_empty() => {
                let mut statement = c.prepare_cached(
                    "SELECT id, text, created_ms FROM facts ORDER BY created_ms DESC, rowid DESC LIMIT ?1",
                )?;
                let rows = statement.query_map([limit], fact_from_row)?;
                rows.collect()
            }
            None => Ok(Vec::new()),
            Some(expression) => {
                let mut statement = c.prepare_cached(
                    "SELECT f.id, f.text, f.created_ms FROM facts_fts
                     JOIN facts f ON f.rowid = facts_fts.rowid
                     WHERE facts_fts MATCH ?1
                     ORDER BY bm25(facts_fts), f.created_ms DESC LIMIT ?2",
                )?;
                let rows = statement.query_map(params![expression, limit], fact_from_row)?;
                rows.collect()
            }
        })
    }

    /// Every fact, oldest first.
    pub fn all_facts(&self) -> Result<Vec<Fact>> {
        self.store.with(|c| {
            let mut statement =
                c.prepare("SELECT id, text, created_ms FROM facts ORDER BY created_ms, rowid")?;
            let rows = statement.query_map([], fact_from_row)?;
            rows.collect()
        })
    }

    /// Deletes a fact; false when there was none with this id.
    pub fn forget(&self, id: &str) -> Result<bool> {
        Ok(self
            .store
            .with(|c| c.execute("DELETE FROM facts WHERE id = ?1", [id]))?
            > 0)
    }

    /// Appends a message to a session's history.
    pub fn append_history(&self, session: &str, role: Role, text: &str) -> Result<()> {
        self.store.with(|c| {
            c.execute(
                "INSERT INTO history (session, role, text, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![session, role.as_str(), text, now_ms()],
            )
            .map(drop)
        })
    }

    /// Past messages matching `query`, best first (newest first among equals).
    pub fn search_history(&self, query: &str, limit: u32) -> Result<Vec<HistoryEntry>> {
        let Some(expression) = match_expression(query) else {
            return Ok(Vec::new());
        };
        let limit = clamp_limit(limit);
        self.store.with(|c| {
            let mut statement = c.prepare_cached(
                "SELECT h.session, h.role, h.text, h.created_ms FROM history_fts
                 JOIN history h ON h.id = history_fts.rowid
                 WHERE history_fts MATCH ?1
                 ORDER BY bm25(history_fts), h.id DESC LIMIT ?2",
            )?;
            let rows = statement.query_map(params![expression, limit], |row| {
                Ok(HistoryEntry {
                    session: row.get(0)?,
                    role: row.get(1)?,
                    text: row.get(2)?,
                    created_ms: row.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The facts as a Markdown document a person can read.
    pub fn export_markdown(&self) -> Result<String> {
        let facts = self.all_facts()?;
        let mut out = String::from("# What clambot remembers\n\n");
        if facts.is_empty() {
            out.push_str("Nothing yet.\n");
        }
        for fact in facts {
            let when = chrono::DateTime::from_timestamp_millis(fact.created_ms as i64)
                .map_or_else(String::new, |t| t.format("%Y-%m-%d %H:%M UTC").to_string());
            // One fact per bullet: continuation lines are indented so a
            // multi-line fact cannot start a heading or a new bullet.
            let text = fact.text.replace('\n', "\n  ");
            out.push_str(&format!("- {text}\n  <sub>{when} · `{}`</sub>\n", fact.id));
        }
        Ok(out)
    }
}

fn fact_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Fact> {
    Ok(Fact {
        id: row.get(0)?,
        text: row.get(1)?,
        created_ms: row.get(2)?,
    })
}

fn clamp_limit(limit: u32) -> u32 {
    match limit {
        0 => DEFAULT_RESULTS,
        n => n.min(MAX_RESULTS),
    }
}

/// Words too common to say anything about relevance: with OR semantics, "the"
/// would match every fact.
const STOP_WORDS: &[&str] = &[
    "a", "about", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from",
    "how", "i", "in", "is", "it", "me", "my", "of", "on", "or", "that", "the", "this", "to", "was",
    "what", "when", "where", "which", "who", "why", "with", "you",
];

/// The FTS5 expression for a free-text query: its words, each quoted, any of
/// them matching (BM25 ranks documents with more of them higher). Stop words
/// are dropped unless nothing else is left. None when the query has no words.
fn match_expression(query: &str) -> Option<String> {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(32)
        .map(str::to_lowercase)
        .collect();
    let meaningful: Vec<&String> = words
        .iter()
        .filter(|w| !STOP_WORDS.contains(&w.as_str()))
        .collect();
    let chosen: Vec<&String> = if meaningful.is_empty() {
        words.iter().collect()
    } else {
        meaningful
    };
    (!chosen.is_empty()).then(|| {
        chosen
            .iter()
            .map(|w| format!("\"{w}\""))
            .collect::<Vec<_>>()
            .join(" OR ")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Memory {
        Memory::new(Arc::new(Store::in_memory().expect("store")))
    }

    #[test]
    fn query_syntax_is_never_passed_through() {
        assert_eq!(
            match_expression("a\" OR * NEAR(b)").as_deref(),
            Some("\"near\" OR \"b\"")
        );
        assert_eq!(match_expression("  !!! "), None);
        assert_eq!(match_expression("The").as_deref(), Some("\"the\""));
    }

    #[test]
    fn remember_recall_forget() {
        let m = memory();
        let a = m.remember("The user's cat is called Miso").expect("a");
        let again = m
            .remember("  The user's cat is called Miso ")
            .expect("again");
        assert_eq!(a, again, "the same fact is stored once");
        m.remember("The user prefers metric units").expect("b");
        let cats = m.recall("what is the cat called?", 5).expect("recall");
        assert_eq!(cats.first().map(|f| f.id.as_str()), Some(a.id.as_str()));
        assert_eq!(m.recall("", 0).expect("all").len(), 2);
        assert!(m.forget(&a.id).expect("forget"));
        assert!(!m.forget(&a.id).expect("forget twice"));
        assert!(m.recall("cat", 5).expect("recall").is_empty());
        assert!(m.remember("   ").is_err());
        assert!(m.remember(&"x".repeat(MAX_FACT_CHARS + 1)).is_err());
    }

    #[test]
    fn history_search_ranks_better_matches_first() {
        let m = memory();
        m.append_history("s1", Role::User, "what is the bitcoin price")
            .expect("1");
        m.append_history(
            "s1",
            Role::Assistant,
            "bitcoin bitcoin price is 90k, bitcoin up",
        )
        .expect("2");
        m.append_history("s2", Role::User, "remind me about the dentist")
            .expect("3");
        let hits = m.search_history("bitcoin", 10).expect("search");
        assert_eq!(hits.len(), 2);
        assert!(hits[0].text.starts_with("bitcoin bitcoin"), "{hits:?}");
        assert_eq!(m.search_history("dentist", 1).expect("one").len(), 1);
        assert!(m.search_history("\"", 10).expect("quote").is_empty());
    }

    #[test]
    fn export_is_markdown_one_bullet_per_fact() {
        let m = memory();
        m.remember("line one\n# not a heading").expect("fact");
        let md = m.export_markdown().expect("export");
        assert!(md.starts_with("# What clambot remembers"));
        assert!(md.contains("- line one\n  # not a heading"), "{md}");
    }
}

//! Load errors that point at the offending text: `file:line:col: message`.

use std::fmt;
use std::ops::Range;

/// One problem in a policy file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// How many characters of the line the problem covers (0: not known).
    pub width: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages quote the policy's text: shown escaped, so a crafted file
        // cannot repaint the reviewer's terminal.
        write!(
            f,
            "{}:{}:{}: {}",
            super::escape(&self.file),
            self.line,
            self.column,
            super::escape(&self.message)
        )
    }
}

/// Every problem found while loading, in file order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Turns byte offsets into 1-based line and column (in characters).
#[derive(Debug)]
pub struct Locator<'a> {
    file: &'a str,
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub fn new(file: &'a str, text: &'a str) -> Self {
        Self { file, text }
    }

    pub fn at(&self, offset: usize, message: impl Into<String>) -> Diagnostic {
        let offset = offset.min(self.text.len());
        let before = &self.text[..floor_char_boundary(self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Diagnostic {
            file: self.file.to_owned(),
            line,
            column,
            width: 0,
            message: message.into(),
        }
    }

    pub fn span(&self, span: &Range<usize>, message: impl Into<String>) -> Diagnostic {
        let mut d = self.at(span.start, message);
        let start = floor_char_boundary(self.text, span.start.min(self.text.len()));
        let end = floor_char_boundary(self.text, span.end.min(self.text.len())).max(start);
        let covered = &self.text[start..end];
        d.width = covered
            .split('\n')
            .next()
            .unwrap_or_default()
            .chars()
            .count();
        d
    }

    pub fn line_of(&self, span: &Range<usize>) -> usize {
        self.at(span.start, "").line
    }

    pub fn file(&self) -> &str {
        self.file
    }

    pub fn text(&self) -> &str {
        self.text
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// The candidate closest to `word` by edit distance, when it is close enough to
/// be a likely typo (at most a third of the word, and at least one edit).
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Edit distance with adjacent transpositions counted as one edit
/// (optimal string alignment): `fecth` is one edit from `fetch`.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// A diagnostic with the line it points at and the offending text underlined,
/// as `policy check` prints it; `text` is the policy's source.
pub fn render(d: &Diagnostic, text: Option<&str>) -> String {
    let mut out = d.to_string();
    let Some(line) = text.and_then(|t| t.split('\n').nth(d.line.checked_sub(1)?)) else {
        return out;
    };
    let line = line.trim_end_matches('\r');
    let shown: String = line
        .chars()
        .map(|c| {
            if c != '\t' && crate::unicode::is_hidden(c) {
                '�'
            } else {
                c
            }
        })
        .collect();
    let pad: String = line
        .chars()
        .take(d.column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let width = d.width.max(1);
    out.push_str(&format!(
        "\n    | {shown}\n    | {pad}{}",
        "^".repeat(width)
    ));
    out
}

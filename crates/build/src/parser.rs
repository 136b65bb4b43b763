//! Physical lines to logical instructions, as BuildKit's `parser.go`: the parser directives at
//! the top, comments, line continuations with the escape token (comment and empty lines inside
//! a continuation are skipped), the heredoc bodies after their line, and each instruction's
//! arguments split in the form its keyword takes.

use crate::error::{ParseError, Span};
use crate::heredoc::{heredocs_from_line, Heredoc};
use crate::words::{
    parse_json, parse_name_val, parse_words, split_command, split_ws, JsonError, NOT_STRINGS,
};

/// The parser directives found at the top of the file (`# syntax=`, `# escape=`, `# check=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` as written: recorded only, the built-in frontend is always used.
    pub syntax: Option<String>,
    /// The escape token: `\` by default, or `` ` `` from `# escape=`.
    pub escape: char,
    /// `# check=` as written (BuildKit's build checks configuration), recorded only.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// The arguments of a logical line, in the form its keyword takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Args {
    /// Plain arguments (whitespace-split words, a JSON array, or the whole rest as one).
    List(Vec<String>),
    /// ENV and LABEL pairs.
    Pairs(Vec<(String, String)>),
    /// ONBUILD's wrapped line.
    Sub(Box<Node>),
}

/// One logical instruction before typing (BuildKit's `parser.Node`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// The keyword as written (`run`, `RUN`...).
    pub keyword: String,
    pub flags: Vec<String>,
    pub args: Args,
    /// The arguments were a JSON array (exec form).
    pub json: bool,
    /// The logical line, continuations joined (BuildKit's `Original`).
    pub original: String,
    pub heredocs: Vec<Heredoc>,
    pub span: Span,
    /// The first physical line, for column look-ups of flags.
    pub first_line: String,
}

/// The result of the line-level pass.
pub(crate) struct Lines {
    pub directives: Directives,
    pub nodes: Vec<Node>,
    pub warnings: Vec<String>,
}

struct DirectiveParser {
    d: Directives,
    done: bool,
    seen: Vec<String>,
}

impl DirectiveParser {
    /// `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on a left-trimmed line; anything else ends
    /// the directives (`possibleParserDirective`).
    fn feed(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !matches!(key.as_str(), "escape" | "syntax" | "check") {
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        match key.as_str() {
            "escape" => match value {
                "\\" => self.d.escape = '\\',
                "`" => self.d.escape = '`',
                _ => {
                    return Err(format!(
                        "invalid escape token '{value}' does not match ` or \\"
                    ))
                }
            },
            "syntax" => self.d.syntax = Some(value.to_owned()),
            _ => self.d.check = Some(value.to_owned()),
        }
        Ok(())
    }
}

fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let key_len = rest
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_alphabetic() || (*i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if key_len == 0 {
        return None;
    }
    let (key, rest) = rest.split_at(key_len);
    let value = rest.trim_start().strip_prefix('=')?.trim();
    if value.is_empty() {
        return None;
    }
    Some((key, value))
}

/// Whether the line, left-trimmed, starts with `#`.
fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// `\r\n` or `\n` at the end removed.
fn trim_newline(line: &str) -> &str {
    let l = line.strip_suffix('\n').unwrap_or(line);
    l.strip_suffix('\r').unwrap_or(l)
}

/// The line without its trailing escape token (and blanks after it), and whether it ended the
/// instruction (had none).
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(l) => (l, false),
        None => (line, true),
    }
}

/// 1-based column (in characters) of `needle` on `line`, or of its first non-blank.
pub(crate) fn column_of(line: &str, needle: &str) -> usize {
    let at = line
        .find(needle)
        .unwrap_or_else(|| line.len() - line.trim_start().len());
    line[..at].chars().count() + 1
}

/// Splits `src` into logical instructions.
pub(crate) fn parse_lines(file: &str, src: &str) -> Result<Lines, ParseError> {
    let src = src.strip_prefix('\u{FEFF}').unwrap_or(src);
    let mut physical = src.split_inclusive('\n');
    let mut dp = DirectiveParser {
        d: Directives::default(),
        done: false,
        seen: Vec::new(),
    };
    let mut nodes = Vec::new();
    let mut warnings = Vec::new();
    let mut current = 0usize;
    let located = |line: usize, column: usize, message: String| ParseError {
        file: file.to_owned(),
        line,
        column,
        end_line: line,
        message,
    };

    while let Some(raw) = physical.next() {
        let first = trim_newline(raw);
        current += 1;
        let trimmed = first.trim_start();
        dp.feed(trimmed).map_err(|m| located(current, 1, m))?;
        let bytes_read = if is_comment(trimmed) { "" } else { trimmed };
        let start = current;
        let escape = dp.d.escape;
        let (mut line, mut end) = {
            let (l, e) = trim_continuation(bytes_read, escape);
            (l.to_owned(), e)
        };
        if end && line.is_empty() {
            continue;
        }
        let mut empty_continuation = false;
        while !end {
            let Some(raw) = physical.next() else { break };
            let next = trim_newline(raw);
            current += 1;
            dp.feed(next).map_err(|m| located(current, 1, m))?;
            if is_comment(next) {
                continue;
            }
            if next.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            let (l, e) = trim_continuation(next, escape);
            line.push_str(l);
            end = e;
        }
        if empty_continuation {
            warnings.push(format!("Empty continuation line found in: {line}"));
        }
        let column = first.chars().take_while(|c| c.is_whitespace()).count() + 1;
        let mut span = Span {
            start_line: start,
            end_line: current,
            column,
        };
        let mut node = node_from_line(&line, escape, span).map_err(|m| span.error(file, m))?;
        node.first_line = first.to_owned();

        if can_contain_heredoc(&node) && line.contains("<<") {
            for mut heredoc in heredocs_from_line(&line) {
                let mut terminated = false;
                for raw in physical.by_ref() {
                    current += 1;
                    let candidate = trim_newline(raw);
                    let candidate = if heredoc.chomp {
                        candidate.trim_start_matches('\t')
                    } else {
                        candidate
                    };
                    if candidate == heredoc.name {
                        terminated = true;
                        break;
                    }
                    heredoc.content.push_str(raw);
                    if !raw.ends_with('\n') {
                        heredoc.content.push('\n');
                    }
                }
                if !terminated {
                    span.end_line = current;
                    return Err(span.error(file, "unterminated heredoc"));
                }
                node.heredocs.push(heredoc);
            }
        }
        span.end_line = current;
        node.span = span;
        nodes.push(node);
        dp.done = true;
    }
    if nodes.is_empty() {
        return Err(located(
            current.max(1),
            1,
            "file with no instructions".to_owned(),
        ));
    }
    Ok(Lines {
        directives: dp.d,
        nodes,
        warnings,
    })
}

fn can_contain_heredoc(node: &Node) -> bool {
    let node = match &node.args {
        Args::Sub(sub) if node.keyword.eq_ignore_ascii_case("onbuild") => sub,
        _ => node,
    };
    matches!(
        node.keyword.to_ascii_lowercase().as_str(),
        "run" | "copy" | "add"
    ) && !node.json
}

/// The keyword, flags and arguments of one logical line (`newNodeFromLine`).
pub(crate) fn node_from_line(line: &str, escape: char, span: Span) -> Result<Node, String> {
    node_from_line_nested(line, escape, span, false)
}

fn node_from_line_nested(
    line: &str,
    escape: char,
    span: Span,
    nested: bool,
) -> Result<Node, String> {
    let (keyword, flags, rest) = split_command(line);
    let mut json = false;
    let list = |v: Vec<String>| Ok::<_, String>(Args::List(v));
    let args = match keyword.to_ascii_lowercase().as_str() {
        // parseMaybeJSONToList
        "add" | "copy" | "volume" => match parse_json(&rest) {
            Ok(v) => {
                json = true;
                list(v)
            }
            Err(JsonError::NotStrings) => return Err(NOT_STRINGS.to_owned()),
            Err(JsonError::NotJson) => list(whitespace_delimited(&rest)),
        },
        // parseMaybeJSON
        "cmd" | "entrypoint" | "run" | "shell" => {
            if rest.is_empty() {
                list(Vec::new())
            } else {
                match parse_json(&rest) {
                    Ok(v) => {
                        json = true;
                        list(v)
                    }
                    Err(JsonError::NotStrings) => return Err(NOT_STRINGS.to_owned()),
                    Err(JsonError::NotJson) => list(vec![rest.clone()]),
                }
            }
        }
        "arg" => list(parse_words(&rest, escape)),
        "env" => Ok(Args::Pairs(parse_name_val(&rest, "ENV", escape)?)),
        "label" => Ok(Args::Pairs(parse_name_val(&rest, "LABEL", escape)?)),
        "expose" | "from" => list(whitespace_delimited(&rest)),
        "healthcheck" => {
            // The first word is the type (NONE or CMD); the rest is maybe-JSON.
            let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if sep == 0 {
                list(Vec::new())
            } else {
                let typ = rest[..sep].to_owned();
                let cmd = rest[sep..].trim_start();
                let mut v = vec![typ];
                if !cmd.is_empty() {
                    match parse_json(cmd) {
                        Ok(c) => {
                            json = true;
                            v.extend(c);
                        }
                        Err(JsonError::NotStrings) => return Err(NOT_STRINGS.to_owned()),
                        Err(JsonError::NotJson) => v.push(cmd.to_owned()),
                    }
                }
                list(v)
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if rest.is_empty() {
                list(Vec::new())
            } else {
                list(vec![rest.clone()])
            }
        }
        // Only one level is parsed: `ONBUILD ONBUILD` is refused when typed, and a chain of
        // them must not recurse without bound.
        "onbuild" => {
            if rest.is_empty() || nested {
                list(Vec::new())
            } else {
                let sub = node_from_line_nested(&rest, escape, span, true)?;
                Ok(Args::Sub(Box::new(sub)))
            }
        }
        // Unknown keywords are refused when typed, with the instruction's location.
        _ => list(Vec::new()),
    }?;
    Ok(Node {
        keyword,
        flags,
        args,
        json,
        original: line.to_owned(),
        heredocs: Vec::new(),
        span,
        first_line: String::new(),
    })
}

/// `parseStringsWhitespaceDelimited`: nothing for an empty rest, else the whitespace-split words.
fn whitespace_delimited(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        Vec::new()
    } else {
        split_ws(rest)
    }
}

/// BuildKit's `Node.Dump` of one instruction (`(run ["--mount=x"] "echo hi")`), to compare
/// with the parse trees BuildKit's own tests expect.
#[cfg(test)]
pub(crate) fn dump(node: &Node) -> String {
    let mut s = format!("({}", node.keyword.to_ascii_lowercase());
    if !node.flags.is_empty() {
        let f: Vec<String> = node.flags.iter().map(|f| format!("{f:?}")).collect();
        s.push_str(&format!(" [{}]", f.join(" ")));
    }
    match &node.args {
        Args::List(v) => v.iter().for_each(|a| s.push_str(&format!(" {a:?}"))),
        Args::Pairs(p) => p
            .iter()
            .for_each(|(k, v)| s.push_str(&format!(" {k:?} {v:?}"))),
        Args::Sub(sub) => s.push_str(&format!(" {}", dump(sub))),
    }
    s.push(')');
    s
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;

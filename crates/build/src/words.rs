//! Splitting an instruction's text into its parts, as BuildKit's `line_parsers.go` and
//! `split_command.go`: the keyword, the leading `--flags`, then the arguments in the form the
//! instruction takes (JSON array, whitespace-separated words, key=value pairs...). Quotes and
//! escapes are kept here: expansion ([`crate::lex`]) removes them later, with the variables.

/// `[\t\v\f\r ]+` of BuildKit's `reWhitespace`.
pub(crate) fn is_ws(c: char) -> bool {
    matches!(c, '\t' | '\u{0B}' | '\u{0C}' | '\r' | ' ')
}

/// Splits at runs of [`is_ws`], as `reWhitespace.Split(s, -1)` (empty ends are kept, as Go).
pub(crate) fn split_ws(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_sep = false;
    for c in s.chars() {
        if is_ws(c) {
            if !in_sep {
                out.push(std::mem::take(&mut cur));
                in_sep = true;
            }
        } else {
            in_sep = false;
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Splits at the first run of [`is_ws`], as `reWhitespace.Split(s, 2)`.
pub(crate) fn split_ws2(s: &str) -> (String, Option<String>) {
    match s.find(is_ws) {
        None => (s.to_owned(), None),
        Some(i) => {
            let rest = s[i..].trim_start_matches(is_ws);
            (s[..i].to_owned(), Some(rest.to_owned()))
        }
    }
}

/// The keyword, the `--flags` and the rest of a logical line (`splitCommand`).
pub(crate) fn split_command(line: &str) -> (String, Vec<String>, String) {
    let (cmd, rest) = split_ws2(line.trim());
    match rest {
        None => (cmd, Vec::new(), String::new()),
        Some(rest) => {
            let (flags, args) = extract_builder_flags(&rest);
            (cmd, flags, args)
        }
    }
}

/// The leading words starting with `--` (quotes grouped, `\` escaping), and the rest of the line
/// (`extractBuilderFlags`); a lone `--` ends the flags.
pub(crate) fn extract_builder_flags(line: &str) -> (Vec<String>, String) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        let cur = chars.get(i).copied();
        if phase == Phase::Spaces {
            let Some((at, ch)) = cur else { break };
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            if ch != '-' || chars.get(i + 1).map(|c| c.1) != Some('-') {
                return (words, line[at..].to_owned());
            }
            phase = Phase::Word;
        }
        let Some((at, ch)) = cur else {
            if word != "--" && (blank_ok || !word.is_empty()) {
                words.push(word);
            }
            break;
        };
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if word == "--" {
                    return (words, line[at..].to_owned());
                }
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                word.clear();
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
                i += 1;
                continue;
            }
            let mut ch = ch;
            if ch == '\\' {
                match chars.get(i + 1) {
                    None => {
                        i += 1;
                        continue;
                    }
                    Some(&(_, next)) => {
                        i += 1;
                        ch = next;
                    }
                }
            }
            word.push(ch);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
            i += 1;
            continue;
        }
        let mut ch = ch;
        if ch == '\\' {
            match chars.get(i + 1) {
                None => {
                    phase = Phase::Word;
                    i += 1;
                    continue;
                }
                Some(&(_, next)) => {
                    i += 1;
                    ch = next;
                }
            }
        }
        word.push(ch);
        i += 1;
    }
    (words, String::new())
}

/// Words split at whitespace, quotes and escapes kept but grouping (`parseWords`): the
/// arguments of ARG, and of ENV and LABEL in their `k=v` form.
pub(crate) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut i = 0;
    loop {
        if phase == Phase::Spaces {
            let Some(&ch) = chars.get(i) else { break };
            if ch.is_whitespace() {
                i += 1;
                continue;
            }
            phase = Phase::Word;
        }
        let Some(&ch) = chars.get(i) else {
            if blank_ok || !word.is_empty() {
                words.push(word);
            }
            break;
        };
        let mut ch = ch;
        if phase == Phase::Word {
            if ch.is_whitespace() {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                i += 1;
                continue;
            }
            if ch == '\'' || ch == '"' {
                quote = ch;
                blank_ok = true;
                phase = Phase::Quote;
            }
            if ch == escape {
                if i + 1 == chars.len() {
                    i += 1;
                    continue;
                }
                // Unquoted, the escape and what it escapes are both kept, even a quote.
                word.push(ch);
                i += 1;
                ch = chars[i];
            }
            word.push(ch);
            i += 1;
            continue;
        }
        // Phase::Quote
        if ch == quote {
            phase = Phase::Word;
        }
        // Inside '...' the escape token is an ordinary character.
        if ch == escape && quote != '\'' {
            if i + 1 == chars.len() {
                phase = Phase::Word;
                i += 1;
                continue;
            }
            i += 1;
            word.push(ch);
            ch = chars[i];
        }
        word.push(ch);
        i += 1;
    }
    words
}

/// Why a JSON form was refused.
pub(crate) enum JsonError {
    /// Not JSON, or not an array: the instruction falls back to its shell form.
    NotJson,
    /// A JSON array with something else than strings: an error, as BuildKit.
    NotStrings,
}

pub(crate) const NOT_STRINGS: &str =
    "when using JSON array syntax, arrays must be comprised of strings only";

/// The exec form `["a", "b"]` (`parseJSON`).
pub(crate) fn parse_json(rest: &str) -> Result<Vec<String>, JsonError> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Err(JsonError::NotJson);
    }
    let values: Vec<serde_json::Value> =
        serde_json::from_str(rest).map_err(|_| JsonError::NotJson)?;
    values
        .into_iter()
        .map(|v| match v {
            serde_json::Value::String(s) => Ok(s),
            _ => Err(JsonError::NotStrings),
        })
        .collect()
}

/// `KEY=VALUE ...` or the legacy `KEY VALUE` form of ENV and LABEL (`parseNameVal`), as pairs.
pub(crate) fn parse_name_val(
    rest: &str,
    key: &str,
    escape: char,
) -> Result<Vec<(String, String)>, String> {
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (name, value) = split_ws2(rest);
        return match value {
            Some(v) => Ok(vec![(name, v)]),
            None => Err(format!("{key} must have two arguments")),
        };
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Ok((k.to_owned(), v.to_owned())),
            None => Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

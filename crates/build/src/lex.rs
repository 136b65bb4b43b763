//! Variable expansion and word splitting with the Dockerfile's shell-like rules, as BuildKit's
//! `frontend/dockerfile/shell/lex.go`: `$v`, `${v}`, `${v:-w}`, `${v-w}`, `${v:+w}`, `${v+w}`,
//! `${v:?msg}`, `${v?msg}`, `${v#pat}`, `${v##pat}`, `${v%pat}`, `${v%%pat}`, `${v/pat/r}`,
//! `${v//pat/r}`, single and double quotes, and the escape token. It is not a shell: no command
//! substitution, no globbing, and `$(...)` is left alone except for its `$`.

use std::collections::{BTreeMap, HashMap};

/// The variables an expansion reads (build args and ENV of the stage, in BuildKit).
pub trait Environment {
    /// The value of `name`, `None` when unset (an empty value is set).
    fn lookup(&self, name: &str) -> Option<&str>;
}

impl Environment for HashMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl Environment for BTreeMap<String, String> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

/// `KEY=VALUE` strings, as a container's environment; the last of a key wins.
impl Environment for [String] {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.iter().rev().find_map(|e| match e.split_once('=') {
            Some((k, v)) if k == name => Some(v),
            None if e == name => Some(""),
            _ => None,
        })
    }
}

/// No variable set.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEnv;

impl Environment for NoEnv {
    fn lookup(&self, _: &str) -> Option<&str> {
        None
    }
}

/// Why a word could not be expanded; shown as BuildKit does (`failed to process "${a": ...`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {reason}")]
pub struct ExpandError {
    /// The word as given.
    pub word: String,
    /// What is wrong in it.
    pub reason: ExpandErrorReason,
}

/// What is wrong in a word; the messages are BuildKit's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandErrorReason {
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    UnsupportedModifier(String),
    #[error("invalid pattern ({pattern}) in substitution: invalid escape '\\{escaped}'")]
    InvalidPattern { pattern: String, escaped: char },
    /// `${v?message}` / `${v:?message}` with `v` unset (or empty).
    #[error("{name}: {message}")]
    Required { name: String, message: String },
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(char),
    /// More than [`MAX_NESTING`] `${...}` inside one another: refused rather than recursing
    /// without bound (BuildKit has no limit; no real Dockerfile comes near it).
    #[error("syntax error: substitutions nested too deeply")]
    TooDeep,
}

/// How many `${...}` may nest inside one another.
pub const MAX_NESTING: usize = 64;

/// A configured lexer, as BuildKit's `shell.Lex`.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
    /// Keep quote characters in the output (they still group words).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Treat quotes as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written (`$v`, `${v:-w}`).
    pub skip_unset_env: bool,
}

impl Lexer {
    /// A lexer with `escape` (`\` or `` ` ``, from the `# escape=` directive) as escape token.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_process_quotes: false,
            skip_unset_env: false,
        }
    }

    /// The escape token.
    pub fn escape(&self) -> char {
        self.escape
    }

    /// The word with its variables expanded and its quotes and escapes removed
    /// (BuildKit's `ProcessWord`): what ENV, ARG, LABEL, COPY... see of their arguments.
    pub fn expand_word(&self, word: &str, env: &dyn Environment) -> Result<String, ExpandError> {
        self.process(word, env).map(|(w, _)| w)
    }

    /// The word expanded then split at unquoted whitespace (BuildKit's `ProcessWords`);
    /// whitespace coming from a variable's value splits too, as in a shell.
    pub fn expand_words(
        &self,
        word: &str,
        env: &dyn Environment,
    ) -> Result<Vec<String>, ExpandError> {
        self.process(word, env).map(|(_, ws)| ws)
    }

    fn process(
        &self,
        word: &str,
        env: &dyn Environment,
    ) -> Result<(String, Vec<String>), ExpandError> {
        let mut sw = ShellWord {
            lex: self,
            chars: word.chars().collect(),
            pos: 0,
            env,
            raw_escapes: self.raw_escapes,
            depth: 0,
        };
        let raw = sw.raw_escapes;
        sw.process_stop_on(None, raw).map_err(|reason| ExpandError {
            word: word.to_owned(),
            reason,
        })
    }
}

/// Expands `word` with the default escape token `\` (BuildKit's `ProcessWord`).
pub fn expand(word: &str, env: &dyn Environment) -> Result<String, ExpandError> {
    Lexer::new('\\').expand_word(word, env)
}

type Reason = ExpandErrorReason;

struct ShellWord<'a> {
    lex: &'a Lexer,
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Environment,
    raw_escapes: bool,
    depth: usize,
}

/// Words being assembled: whitespace splits unless it was quoted or escaped.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

impl ShellWord<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), Reason> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(
        &mut self,
        stop: Option<char>,
    ) -> Result<(String, Vec<String>), Reason> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, words.finish()));
            }
            let quotes = !self.lex.skip_process_quotes;
            if ch == '$' {
                let tmp = self.process_dollar()?;
                result.push_str(&tmp);
                words.add_string(&tmp);
            } else if quotes && (ch == '\'' || ch == '"') {
                let tmp = if ch == '\'' {
                    self.process_single_quote()?
                } else {
                    self.process_double_quote()?
                };
                result.push_str(&tmp);
                words.add_raw_string(&tmp);
            } else {
                self.pos += 1;
                let mut ch = ch;
                if ch == self.lex.escape {
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    // The escape token escapes the next character, except at the end.
                    match self.next() {
                        None => break,
                        Some(c) => ch = c,
                    }
                    words.add_raw_char(ch);
                } else {
                    words.add_char(ch);
                }
                result.push(ch);
            }
        }
        if let Some(stop) = stop {
            return Err(Reason::Unterminated(stop));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> Result<String, Reason> {
        // Everything up to the next ' is literal; ' cannot be escaped inside.
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(Reason::UnterminatedSingleQuote),
                Some('\'') => {
                    if self.lex.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, Reason> {
        // Literal except `$` and the escape token, which escapes only " $ and itself.
        let mut result = String::new();
        let open = self.next();
        if self.lex.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(Reason::UnterminatedDoubleQuote),
                Some('"') => {
                    self.pos += 1;
                    if self.lex.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(mut ch) => {
                    self.pos += 1;
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.lex.escape => {
                                self.pos += 1;
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn get_env(&self, name: &str) -> Option<String> {
        self.env.lookup(name).map(str::to_owned)
    }

    fn process_dollar(&mut self) -> Result<String, Reason> {
        if self.depth >= MAX_NESTING {
            return Err(Reason::TooDeep);
        }
        self.depth += 1;
        let r = self.process_dollar_inner();
        self.depth -= 1;
        r
    }

    fn process_dollar_inner(&mut self) -> Result<String, Reason> {
        self.pos += 1; // the '$'
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_owned());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.pos += 1; // the '{'
        match self.peek() {
            None => return Err(Reason::MissingBrace),
            Some('{' | '}' | ':') => return Err(Reason::BadSubstitution),
            Some(_) => {}
        }
        let name = self.process_name();
        let Some(first) = self.next() else {
            return Err(Reason::MissingBrace);
        };
        match first {
            '}' => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.lex.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                let (null_is_unset, modifier) = if first == ':' {
                    (true, self.next())
                } else {
                    (false, Some(first))
                };
                let mut chs = String::from(first);
                if first == ':' {
                    chs.extend(modifier);
                }
                let raw = matches!(modifier, Some('#' | '%'));
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(_) if self.peek().is_none() => return Err(Reason::MissingBrace),
                    Err(e) => return Err(e),
                };
                let value = self.get_env(&name);
                if self.lex.skip_unset_env && value.is_none() {
                    return Ok(format!("${{{name}{chs}{word}}}"));
                }
                let unset = value.is_none() || (null_is_unset && value.as_deref() == Some(""));
                match modifier {
                    Some('-') => Ok(if unset {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    Some('+') => Ok(if unset { String::new() } else { word }),
                    Some('?') => {
                        let default = match value {
                            None => "is not allowed to be unset",
                            Some(_) if unset => "is not allowed to be empty",
                            Some(v) => return Ok(v),
                        };
                        let message = if word.is_empty() {
                            default.to_owned()
                        } else {
                            word
                        };
                        Err(Reason::Required { name, message })
                    }
                    Some(m @ ('#' | '%')) => {
                        let (greedy, pattern) = match word.strip_prefix(m) {
                            Some(rest) => (true, rest.to_owned()),
                            None => (false, word),
                        };
                        let pat = Pattern::compile(&pattern)?;
                        let value = value.unwrap_or_default();
                        Ok(if m == '#' {
                            pat.trim_prefix(&value, greedy)
                        } else {
                            pat.trim_suffix(&value, greedy)
                        })
                    }
                    _ => Err(Reason::UnsupportedModifier(chs)),
                }
            }
            '/' => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(_) if self.peek().is_none() => return Err(Reason::MissingSlash),
                    Err(e) => return Err(e),
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(_) if self.peek().is_none() => return Err(Reason::MissingBrace),
                    Err(e) => return Err(e),
                };
                let value = self.get_env(&name);
                let Some(value) = value else {
                    if self.lex.skip_unset_env {
                        return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
                    }
                    return Ok(String::new());
                };
                let pat = Pattern::compile(&pattern)?;
                Ok(pat.replace(&value, &replacement, all))
            }
            other => Err(Reason::UnsupportedModifier(other.to_string())),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one special parameter.
    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(d) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(d);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

/// A shell pattern of `${v#pat}` and friends: `*` any string, `?` any character, `\` escapes
/// `*`, `?` and `\` (and, dropped, `}` and `/`). No bracket expressions, as BuildKit.
enum PatTok {
    Lit(char),
    Any,
    Star,
}

struct Pattern(Vec<PatTok>);

impl Pattern {
    fn compile(pattern: &str) -> Result<Pattern, Reason> {
        let mut toks = Vec::new();
        let mut it = pattern.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '*' => toks.push(PatTok::Star),
                '?' => toks.push(PatTok::Any),
                '\\' => match it.peek().copied() {
                    Some('}' | '/') => {}
                    Some(e @ ('*' | '?' | '\\')) => {
                        it.next();
                        toks.push(PatTok::Lit(e));
                    }
                    other => {
                        return Err(Reason::InvalidPattern {
                            pattern: pattern.to_owned(),
                            escaped: other.unwrap_or('\u{FFFD}'),
                        })
                    }
                },
                c => toks.push(PatTok::Lit(c)),
            }
        }
        Ok(Pattern(toks))
    }

    /// Whether the whole of `s` matches (iterative glob matching with one backtrack point).
    fn matches(&self, s: &[char]) -> bool {
        let p = &self.0;
        let (mut pi, mut si) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            match p.get(pi) {
                Some(PatTok::Star) => {
                    star = Some((pi, si));
                    pi += 1;
                }
                Some(PatTok::Any) => {
                    pi += 1;
                    si += 1;
                }
                Some(PatTok::Lit(c)) if *c == s[si] => {
                    pi += 1;
                    si += 1;
                }
                _ => match star {
                    Some((sp, ss)) => {
                        pi = sp + 1;
                        si = ss + 1;
                        star = Some((sp, ss + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|t| matches!(t, PatTok::Star))
    }

    fn trim_prefix(&self, value: &str, greedy: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let mut lens: Box<dyn Iterator<Item = usize>> = if greedy {
            Box::new((0..=v.len()).rev())
        } else {
            Box::new(0..=v.len())
        };
        match lens.find(|&n| self.matches(&v[..n])) {
            Some(n) => v[n..].iter().collect(),
            None => value.to_owned(),
        }
    }

    fn trim_suffix(&self, value: &str, greedy: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let mut starts: Box<dyn Iterator<Item = usize>> = if greedy {
            Box::new(0..=v.len())
        } else {
            Box::new((0..=v.len()).rev())
        };
        match starts.find(|&n| self.matches(&v[n..])) {
            Some(n) => v[..n].iter().collect(),
            None => value.to_owned(),
        }
    }

    /// Replaces the leftmost-longest match (every match with `all`), as Go's regexp with `.*`.
    fn replace(&self, value: &str, replacement: &str, all: bool) -> String {
        let v: Vec<char> = value.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        let mut replaced = false;
        while i <= v.len() {
            let found = if replaced && !all {
                None
            } else {
                (i..=v.len()).rev().find(|&end| self.matches(&v[i..end]))
            };
            match found {
                Some(end) => {
                    out.push_str(replacement);
                    replaced = true;
                    if end > i {
                        i = end;
                        continue;
                    }
                    // An empty match: keep the character and move on, as Go's regexp does.
                    if let Some(c) = v.get(i) {
                        out.push(*c);
                    }
                    i += 1;
                }
                None => {
                    if let Some(c) = v.get(i) {
                        out.push(*c);
                    }
                    i += 1;
                }
            }
        }
        out
    }
}

/// The instructions whose arguments are expanded with the stage's variables before use, as
/// BuildKit's `replaceEnvAllowed` (FROM is expanded too, with the global ARGs only; RUN, CMD,
/// ENTRYPOINT, SHELL and HEALTHCHECK are left to the shell at run time; ONBUILD when it fires).
pub const EXPANDING_INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "COPY",
    "ENV",
    "EXPOSE",
    "LABEL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// Whether `instruction` (any case) expands variables in its arguments.
pub fn expands_variables(instruction: &str) -> bool {
    EXPANDING_INSTRUCTIONS
        .iter()
        .any(|i| i.eq_ignore_ascii_case(instruction))
}

#[cfg(test)]
#[path = "lex_tests.rs"]
mod tests;

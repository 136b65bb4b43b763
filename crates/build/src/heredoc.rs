//! Heredocs (`<<EOF` ... `EOF`), as BuildKit's parser: recognised in RUN, COPY and ADD (also
//! behind ONBUILD) in shell form, several per instruction, bodies read in order after the line.

use crate::lex::{Lexer, NoEnv};

/// A here-document attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word, quotes removed (`EOF` for `<<"EOF"`): also the name of the file
    /// it becomes for COPY/ADD.
    pub name: String,
    /// The body as written, each line with its newline, up to (not including) the delimiter.
    pub content: String,
    /// `<<-`: leading tabs are stripped from the body's lines and from the delimiter line.
    pub chomp: bool,
    /// Variables in the body are expanded (the delimiter is not quoted, even partly).
    pub expand: bool,
    /// The file descriptor written before `<<` (`3<<EOF`), 0 when none.
    pub fd: u32,
}

impl Heredoc {
    /// The body the command or file receives: `content` with leading tabs removed from every
    /// line for `<<-` (BuildKit's `ChompHeredocContent`).
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}

/// The heredoc a word opens, if it is of the form `[N]<<[-]WORD` (BuildKit's `ParseHeredoc`).
pub fn parse_heredoc(word: &str) -> Option<Heredoc> {
    // ^(\d*)<<(-?)([^<]*)$
    let at = word.find("<<")?;
    let (digits, after) = (&word[..at], &word[at + 2..]);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (chomp, rest) = match after.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, after),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let fd = digits.parse::<u32>().unwrap_or(0);
    let mut lex = Lexer::new('\\');
    lex.skip_unset_env = true;
    let words = lex.expand_words(rest, &NoEnv).ok()?;
    let [name] = words.as_slice() else {
        return None;
    };
    lex.raw_quotes = true;
    let raw = lex.expand_words(rest, &NoEnv).ok()?;
    let [raw] = raw.as_slice() else {
        return None;
    };
    // A quote that the unquoting lexer removed means part of the delimiter is quoted.
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    Some(Heredoc {
        name: name.clone(),
        content: String::new(),
        chomp,
        expand: quotes(name) == quotes(raw),
        fd,
    })
}

/// The heredocs a logical line opens, in order (BuildKit's `heredocsFromLine`).
pub(crate) fn heredocs_from_line(line: &str) -> Vec<Heredoc> {
    let mut lex = Lexer::new('\\');
    lex.raw_quotes = true;
    lex.raw_escapes = true;
    let words = lex.expand_words(line, &NoEnv).unwrap_or_default();
    words.iter().filter_map(|w| parse_heredoc(w)).collect()
}

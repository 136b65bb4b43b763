//! # berth-build
//!
//! Berth's builder. For now its front end: a pure Dockerfile parser ([`parse`]) and the
//! variable expansion of the Dockerfile language ([`lex`]), matching BuildKit's Dockerfile
//! frontend (`frontend/dockerfile/parser`, `instructions`, `shell/lex.go`): parser directives,
//! continuations, comments, shell and exec forms with BuildKit's fallback, heredocs, every
//! instruction with its flags, and BuildKit's error messages. No I/O, no engine.
//!
//! Written by hand rather than with a parser generator or a grammar crate because the
//! Dockerfile language is not context-free in any useful way (the escape token is chosen by a
//! directive, each keyword splits its arguments its own way, a JSON form falls back to the shell
//! form when it is not valid JSON, heredoc bodies follow their line), because what a user sees
//! must be exactly what BuildKit does (the same lines accepted, the same words, the same
//! messages), which is easiest to keep when the code follows BuildKit's own step by step, and
//! because errors must point at `FILE:LINE:COLUMN`. It is the core of Berth's builder, so it is
//! fuzzed (`fuzz/fuzz_targets/dockerfile_parse.rs`).
#![forbid(unsafe_code)]

mod error;
mod flags;
pub mod heredoc;
mod instruction;
pub mod lex;
mod parser;
mod words;

pub use error::{ParseError, Span};
pub use heredoc::Heredoc;
pub use instruction::{
    parse_go_duration, Add, ArgDecl, Base, Command, CommandLine, Copy, Healthcheck, InlineSource,
    Instruction, KeyValue, MountFlag, Run, SourcesAndDest, INSTRUCTIONS,
};
pub use lex::{expand, expands_variables, Environment, ExpandError, Lexer};
pub use parser::Directives;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The parser directives at its top.
    pub directives: Directives,
    /// The ARGs before the first FROM (global: usable in every FROM).
    pub meta_args: Vec<Instruction>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// Non-fatal findings (empty continuation lines), as BuildKit warns.
    pub warnings: Vec<String>,
}

/// A build stage: a FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// What FROM says.
    pub base: Base,
    /// The FROM instruction itself (its `command` is [`Command::From`]).
    pub from: Instruction,
    /// The instructions after it, in order.
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// `AS name`, lower-cased.
    pub fn name(&self) -> Option<&str> {
        self.base.name.as_deref()
    }
}

impl Dockerfile {
    /// The stage named `name` (any case) or, for a number, the stage at that index.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name() == Some(lower.as_str()))
            .or_else(|| name.parse::<usize>().ok().and_then(|i| self.stages.get(i)))
    }
}

/// Parses `src`, the content of the Dockerfile called `file` (used in error locations).
pub fn parse(file: &str, src: &str) -> Result<Dockerfile, ParseError> {
    let lines = parser::parse_lines(file, src)?;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &lines.nodes {
        let ins = instruction::typed(file, node)?;
        match (&ins.command, stages.last_mut()) {
            (Command::From(base), _) => stages.push(Stage {
                base: base.clone(),
                from: ins,
                instructions: Vec::new(),
            }),
            (_, Some(stage)) => stage.instructions.push(ins),
            (Command::Arg(_), None) => meta_args.push(ins),
            (_, None) => return Err(node.span.error(file, "no build stage in current context")),
        }
    }
    Ok(Dockerfile {
        directives: lines.directives,
        meta_args,
        stages,
        warnings: lines.warnings,
    })
}

/// Parses an ONBUILD trigger (the text of [`Command::Onbuild`]) when it fires in a child build;
/// `span` is where the child's FROM is, as BuildKit reports trigger errors there.
pub fn parse_trigger(file: &str, expression: &str, span: Span) -> Result<Instruction, ParseError> {
    let src = format!("{expression}\n");
    let lines = parser::parse_lines(file, &src).map_err(|mut e| {
        e.line = span.start_line;
        e.end_line = span.end_line;
        e
    })?;
    let node = lines
        .nodes
        .first()
        .ok_or_else(|| span.error(file, "empty ONBUILD trigger"))?;
    let mut ins = instruction::typed(file, node)?;
    ins.span = span;
    Ok(ins)
}

/// The candidate closest to `word` (case-insensitive), if it is a plausible typo: BuildKit's
/// "did you mean" hint.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    // A truncated name (`--plat`) is a typo too.
    if w.len() >= 3 {
        if let Some(c) = candidates
            .iter()
            .find(|c| c.to_ascii_lowercase().starts_with(&w) && c.len() > w.len())
        {
            return Some(c);
        }
    }
    let (best, dist) = candidates
        .iter()
        .map(|c| (*c, levenshtein(&w, &c.to_ascii_lowercase())))
        .min_by_key(|(_, d)| *d)?;
    let max = if w.chars().count() <= 3 { 1 } else { 2 };
    (dist > 0 && dist <= max).then_some(best)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

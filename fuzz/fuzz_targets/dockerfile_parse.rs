//! Dockerfiles into Berth's parser (`berth_build::parse`), then every word of the result
//! through the variable expansion: any input may be refused, none may panic, hang or allocate
//! without bound. An error must point inside the file.
#![no_main]

use std::collections::HashMap;

use berth_build::{parse, Command, Lexer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let env: HashMap<String, String> = [("A", "a b"), ("E", ""), ("P", "/usr/local/bin")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    match parse("Dockerfile", src) {
        Err(e) => {
            let lines = src.split('\n').count().max(1);
            assert!(e.line >= 1 && e.line <= lines, "{e} outside 1..={lines}");
            assert!(e.column >= 1);
        }
        Ok(df) => {
            let lex = Lexer::new(df.directives.escape);
            let all = df
                .meta_args
                .iter()
                .chain(df.stages.iter().flat_map(|s| std::iter::once(&s.from).chain(&s.instructions)));
            for ins in all {
                let words: Vec<String> = match &ins.command {
                    Command::Env(kv) | Command::Label(kv) => {
                        kv.iter().flat_map(|p| [p.key.clone(), p.value.clone()]).collect()
                    }
                    Command::Copy(c) => c.paths.sources.clone(),
                    Command::Workdir(w) | Command::User(w) => vec![w.clone()],
                    Command::Expose(v) | Command::Volume(v) => v.clone(),
                    Command::From(f) => vec![f.image.clone()],
                    _ => Vec::new(),
                };
                for w in words {
                    let _ = lex.expand_word(&w, &env);
                    let _ = lex.expand_words(&w, &env);
                }
            }
        }
    }
    // The lexer alone, on the raw input.
    let _ = Lexer::new('\\').expand_words(src, &env);
});

//! An instruction's `--flags`, as BuildKit's `instructions/bflag.go`: each instruction declares
//! the flags it takes and their kind; anything else is refused with BuildKit's message.

use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    String,
    Strings,
}

/// The declared flags of one instruction and, after [`Flags::parse`], their values.
pub(crate) struct Flags<'a> {
    args: &'a [String],
    declared: Vec<(&'static str, Kind)>,
    values: BTreeMap<&'static str, Vec<String>>,
}

impl<'a> Flags<'a> {
    pub fn new(args: &'a [String]) -> Self {
        Flags {
            args,
            declared: Vec::new(),
            values: BTreeMap::new(),
        }
    }

    pub fn declare(mut self, name: &'static str, kind: Kind) -> Self {
        self.declared.push((name, kind));
        self
    }

    /// Checks and records every flag (`BFlags.Parse`). The error names the flag as written
    /// (`unknown flag: mout (did you mean mount?)`) and, second, the flag as written, to locate it.
    pub fn parse(&mut self) -> Result<(), (String, String)> {
        for arg in self.args {
            let Some(body) = arg.strip_prefix("--") else {
                return Err((format!("arg should start with -- : {arg}"), arg.clone()));
            };
            if body.is_empty() {
                return Ok(());
            }
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(key, kind)) = self.declared.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = self.declared.iter().map(|(n, _)| *n).collect();
                let mut msg = format!("unknown flag: {name}");
                if let Some(s) = crate::suggest(name, &names) {
                    msg.push_str(&format!(" (did you mean {s}?)"));
                }
                return Err((msg, arg.clone()));
            };
            if self.values.contains_key(key) && kind != Kind::Strings {
                return Err((format!("duplicate flag specified: {name}"), arg.clone()));
            }
            let stored = match kind {
                Kind::Bool => match value {
                    Some("") => {
                        return Err((format!("missing a value on flag: {name}"), arg.clone()))
                    }
                    None => "true".to_owned(),
                    Some(v) => match v.to_ascii_lowercase().as_str() {
                        l @ ("true" | "false") => l.to_owned(),
                        _ => {
                            return Err((
                                format!("expecting boolean value for flag {name}, not: {v}"),
                                arg.clone(),
                            ))
                        }
                    },
                },
                Kind::String | Kind::Strings => match value {
                    None => return Err((format!("missing a value on flag: {name}"), arg.clone())),
                    Some(v) => v.to_owned(),
                },
            };
            self.values.entry(key).or_default().push(stored);
        }
        Ok(())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.values.get(name).and_then(|v| v.last().cloned())
    }

    pub fn strings(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    pub fn bool(&self, name: &str) -> bool {
        self.string(name).as_deref() == Some("true")
    }

    /// The flags given, in declaration order (BuildKit's `FlagsUsed`).
    pub fn used(&self) -> Vec<String> {
        self.declared
            .iter()
            .filter(|(n, _)| self.values.contains_key(n))
            .map(|(n, _)| (*n).to_owned())
            .collect()
    }
}

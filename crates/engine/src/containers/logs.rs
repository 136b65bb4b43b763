//! Log drivers and reading logs back.

use std::collections::BTreeMap;

/// A container's log configuration, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct LogOptions {
    pub driver: String,
    pub max_size: u64,
    pub max_files: u32,
}

impl LogOptions {
    /// Parses Docker's log-opts for `driver` (max-size with k/m/g units, max-file).
    pub fn parse(driver: &str, opts: &BTreeMap<String, String>) -> Result<LogOptions, String> {
        let mut o = LogOptions {
            driver: driver.to_string(),
            max_size: if driver == "local" { 20 << 20 } else { 0 },
            max_files: if driver == "local" { 5 } else { 1 },
        };
        for (k, v) in opts {
            match k.as_str() {
                "max-size" => {
                    o.max_size = parse_size(v)
                        .ok_or_else(|| format!("max-size {v:?}: expected a size like 10m"))?
                }
                "max-file" => {
                    o.max_files = v
                        .parse::<u32>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("max-file {v:?}: expected a positive integer"))?
                }
                "compress" | "mode" | "max-buffer-size" | "labels" | "env" | "tag" => {}
                _ => return Err(format!("unknown log opt '{k}' for {driver} log driver")),
            }
        }
        Ok(o)
    }
}

/// `10m`, `1g`, `512k`, `100` (bytes).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.trim_end_matches('b');
    let (num, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    let n: f64 = num.parse().ok()?;
    (n >= 0.0).then(|| (n * mult as f64) as u64)
}

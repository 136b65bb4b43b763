//! /etc/passwd lookups: the owner name in `state` (host's file) and HOME for the container's
//! process (the container's file, read after pivot_root).

/// One /etc/passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub home: String,
}

/// The entry of `uid` in the passwd file at `/etc/passwd` of the current root.
pub(crate) fn by_uid(uid: u32) -> Option<Entry> {
    parse(&std::fs::read_to_string("/etc/passwd").ok()?, uid)
}

fn parse(text: &str, uid: u32) -> Option<Entry> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 7 && f[2].parse::<u32>().ok() == Some(uid)).then(|| Entry {
            name: f[0].to_string(),
            home: f[5].to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_name_and_home() {
        let text =
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\nbad line\n";
        assert_eq!(
            parse(text, 1000),
            Some(Entry {
                name: "user".into(),
                home: "/home/user".into()
            })
        );
        assert_eq!(parse(text, 5), None);
    }
}
